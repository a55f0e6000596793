// The one seal policy, for buffers sealed here and memfds taken from elsewhere (job outputs,
// attach `register`): "sealed" means no process can change the bytes or the size, ever. That takes
// F_SEAL_WRITE. F_SEAL_FUTURE_WRITE alone is never enough: it forbids new writes and new writable
// mappings but leaves existing writable mappings working, so a client that mapped a buffer `rw`
// before the seal could still change it under a job (issue 15, items 1 and 2). F_SEAL_WRITE fails
// with EBUSY while any writable shared mapping exists anywhere; a seal is then refused, and the
// buffer stays as it was.
//
// See memfd_create(2), fcntl(2) "File Sealing", and mm/memfd.c memfd_add_seals().
import fs from 'node:fs'
import * as native from '../../native'
import { PoolError } from '../pool/pool-error'

/** What a sealed buffer carries: no shrinking, no growing, no writes through any descriptor or mapping. */
export const READER_SEALS: readonly native.SealName[] = ['shrink', 'grow', 'write']

/** statfs(2) f_type of hugetlbfs, where a MFD_HUGETLB memfd lives (linux/magic.h). */
const HUGETLBFS_MAGIC = 0x958458f6

export function isSealedForReaders (seals: readonly native.SealName[]): boolean {
  return READER_SEALS.every((seal) => seals.includes(seal))
}

function errorCode (err: unknown): string | undefined {
  return (err as native.SystemError | undefined)?.code
}

/**
 * Adds shrink, grow and write to a buffer's memfd (`fd`, the store's read-write descriptor).
 * F_ADD_SEALS adds all three or none, so a refusal leaves the buffer writable and unchanged.
 * Throws PoolError BUFFER_MAPPED_WRITABLE (EBUSY: a writable mapping exists somewhere) or
 * SEAL_REFUSED (another holder set F_SEAL_SEAL first). A holder of an `rw` descriptor may have
 * added the seals itself: already sealed for readers counts as done.
 */
export function sealForReaders (fd: number, id: string): void {
  try {
    native.addSeals(fd, READER_SEALS)
  } catch (err) {
    if (errorCode(err) === 'EBUSY') {
      throw new PoolError('BUFFER_MAPPED_WRITABLE', `Buffer ${id} cannot be sealed: a process still maps it writable (F_SEAL_WRITE failed with EBUSY). Unmap it (or detach) and seal again; the buffer is still writable and unchanged`)
    }
    if (errorCode(err) === 'EPERM' && isSealedForReaders(native.getSeals(fd))) return
    if (errorCode(err) === 'EPERM') {
      throw new PoolError('SEAL_REFUSED', `Buffer ${id} cannot be sealed: another holder forbade new seals (F_SEAL_SEAL) before it was write-sealed`)
    }
    throw err
  }
}

/**
 * Checks a memfd handed to the store (a job's output, an attach `register`) and makes sure it is
 * sealed for readers, adding F_SEAL_WRITE where the sender gave only F_SEAL_FUTURE_WRITE. Throws
 * NOT_A_MEMFD or NOT_SEALED; the caller still owns (and closes) `fd` either way.
 */
export function requireSealedMemfd (fd: number): void {
  let seals: native.SealName[]
  try {
    seals = native.getSeals(fd)
  } catch {
    throw new PoolError('NOT_A_MEMFD', 'The descriptor is not a memfd (F_GET_SEALS failed)')
  }
  const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
  if (!target.startsWith('/memfd:')) {
    throw new PoolError('NOT_A_MEMFD', 'The descriptor is a shared-memory file but not a memfd')
  }
  // A MFD_HUGETLB memfd can be sealed and sized, but where no huge pages are reserved (the default)
  // mapping it fails with ENOMEM, so the server could not even serve its bytes. Refused at the door
  // rather than answered with a 500 on the first read (issue 15, item 15).
  if (fs.statfsSync(`/proc/self/fd/${fd}`).type === HUGETLBFS_MAGIC) {
    throw new PoolError('NOT_A_MEMFD', 'The memfd is a hugetlb one (MFD_HUGETLB); the pool takes only ordinary memfds')
  }
  if (!seals.includes('shrink') || !seals.includes('grow') || !(seals.includes('write') || seals.includes('future-write'))) {
    throw new PoolError('NOT_SEALED', `The memfd must carry the shrink, grow and write seals; it has: ${seals.join(', ') || 'none'}`)
  }
  if (seals.includes('write')) return
  // Future-write only: prove that no writable mapping is left by adding F_SEAL_WRITE ourselves.
  // F_ADD_SEALS needs a descriptor open for writing; the sender's may be read-only, so a reopen
  // O_RDWR of our own does it (seals bind the inode, whichever descriptor adds them).
  let writable: number | null = null
  try {
    const via = native.accessMode(fd) === 'r' ? (writable = native.reopenReadWrite(fd)) : fd
    native.addSeals(via, ['write'])
  } catch (err) {
    const code = errorCode(err)
    if (code === 'EBUSY') {
      throw new PoolError('NOT_SEALED', 'The memfd is sealed with future-write but a writable shared mapping of it still exists (F_SEAL_WRITE failed with EBUSY): unmap it and send it again')
    }
    if (code === 'EMFILE' || code === 'ENFILE') throw new PoolError('RESOURCE_EXHAUSTED', `The server is at its open-file limit (${code})`)
    // EPERM: F_SEAL_SEAL came before F_SEAL_WRITE, so nobody can ever prove the bytes are fixed.
    throw new PoolError('NOT_SEALED', `The memfd carries future-write but F_SEAL_WRITE could not be added (${code ?? 'error'}): seal it with F_SEAL_WRITE before F_SEAL_SEAL`)
  } finally {
    if (writable !== null) native.close(writable)
  }
}

/**
 * What a failed pwrite(2) on a writable buffer means to the caller. Holders of `rw` descriptors can
 * add write seals of their own; the store's next write then fails EPERM, which is the client's doing
 * (a 4xx), not the server's failure. `settle` lets the store bring its state in line (seal the
 * buffer for good when the holder already made it unwritable). Anything else is rethrown as is.
 */
export function writeRefusal (err: unknown, fd: number, id: string, settle: () => boolean): Error {
  const code = errorCode(err)
  if (code === 'EPERM') {
    let seals: native.SealName[] = []
    try { seals = native.getSeals(fd) } catch { /* not ours to explain */ }
    if (seals.includes('write') || seals.includes('future-write')) {
      const sealed = settle()
      return new PoolError('BUFFER_SEALED', sealed
        ? `Buffer ${id} was write-sealed by another holder of it; it is sealed now and its bytes can no longer change`
        : `Buffer ${id} can no longer be written: another holder of it added a write seal (${seals.join(', ')})`)
    }
  }
  if (code === 'ENOSPC' || code === 'ENOMEM') return new PoolError('QUOTA_EXCEEDED', `The system could not store the bytes of buffer ${id} (${code})`)
  return err as Error
}
