// The server's buffers: one memfd each, named by a random id, counted against a memory quota.
// The store owns exactly one descriptor per buffer: read-write while the buffer is writable,
// read-only from the moment it is sealed (or adopted, sealed already) — nothing may write to it
// then, the server included, and a job's input descriptor becomes a dup() of that one (~1 µs)
// instead of a reopen through /proc (15–23 µs per job, measured). Everything handed out is a
// reopen or duplicate that the receiver closes. Deleting hides a buffer at once and frees it when
// the last lease drops.
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import * as native from '../../native'
import { newId, newToken } from './ids'
import { PoolError } from './pool-error'
import type { BufferDeleteReason, BufferInfo, BufferLineage, DescriptorHolder } from './types'

/** A Buffer cannot be longer than this on Node 20 (buffer.constants.MAX_LENGTH), and the
 * server reads and writes a buffer through one mapping. */
export const MAX_MAPPABLE_BYTES = 4 * 1024 ** 3

/** The longest ttl a buffer may have: what one Node timer can wait (about 24.8 days). */
export const MAX_TTL_MS = 2 ** 31 - 1

/** Refuses a ttl that is not a whole number of milliseconds a timer can wait. */
export function checkTtl (ttlMs: unknown, what = 'ttlMs'): void {
  if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > MAX_TTL_MS) {
    throw new PoolError('INVALID_PARAMS', `${what} must be an integer from 1 to ${MAX_TTL_MS} (milliseconds)`)
  }
}

export interface BufferStoreOptions {
  maxMemoryBytes: number
  maxBufferBytes: number
}

interface BufferRecord {
  id: string
  name: string
  size: number
  fd: number
  /** Bumped whenever the bytes may have changed; (id, generation) keys any cache of contents. */
  generation: number
  sealed: boolean
  createdAt: string
  attachToken: string
  /** The server's own read-only mapping, made on first read (the store writes with pwrite). */
  map: Buffer | null
  leases: number
  deleted: boolean
  holders: Map<object, DescriptorHolder>
  producedBy: BufferLineage | null
  expiresAt: string | null
  expiryTimer: NodeJS.Timeout | null
}

/** Lifecycle settings of a new buffer. */
export interface BufferLifecycle {
  /** Deleted on its own (as delete() does) this long after creation. */
  ttlMs?: number
  /** The job (and pipeline step) that made it. */
  producedBy?: BufferLineage | null
}

/** Keeps a buffer's memory alive (a running job, a download in flight) until released. */
export interface BufferLease {
  readonly info: BufferInfo
  readonly generation: number
  /** A zero-copy view of bytes [start, end) for reading. */
  view (start: number, end: number): Buffer
  /**
   * A read-only descriptor for the same memory; the caller closes it. For a sealed buffer it is a
   * dup() of the store's own read-only one, sharing its open file description (offset, status
   * flags): fine for the pool's workers, which only fstat and mmap it. `ownDescription` reopens
   * instead, for processes the server does not control (attach clients), so that one client's
   * lseek or fcntl(F_SETFL) cannot reach anyone else's descriptor.
   */
  readOnlyDescriptor (options?: { ownDescription?: boolean }): number
  /** Records that another process holds the buffer (shown in `descriptors`) until the returned
   * function is called or the lease ends. */
  addHolder (holder: DescriptorHolder): () => void
  release (): void
}

export interface BufferStoreEvents {
  'buffer.created': [BufferInfo]
  'buffer.sealed': [BufferInfo]
  'buffer.deleted': [{ id: string, name: string, reason: BufferDeleteReason }]
}

/** Seals that make a memfd immutable for readers: no resize, no writes. */
function hasReaderSeals (seals: native.SealName[]): boolean {
  return seals.includes('shrink') && seals.includes('grow') && (seals.includes('write') || seals.includes('future-write'))
}

/** native.reopenReadOnly, with running out of descriptors said in the pool's terms. */
function reopenReadOnly (fd: number): number {
  try {
    return native.reopenReadOnly(fd)
  } catch (err) {
    const code = (err as native.SystemError).code
    if (code === 'EMFILE' || code === 'ENFILE') throw new PoolError('RESOURCE_EXHAUSTED', `The server is at its open-file limit (${code})`)
    throw err
  }
}

export class BufferStore extends EventEmitter<BufferStoreEvents> {
  readonly maxMemoryBytes: number
  readonly maxBufferBytes: number
  #records = new Map<string, BufferRecord>()
  #visible = new Map<string, BufferRecord>()
  #bytesInUse = 0
  #nextGeneration = 1

  constructor (options: BufferStoreOptions) {
    super()
    this.maxMemoryBytes = options.maxMemoryBytes
    this.maxBufferBytes = Math.min(options.maxBufferBytes, options.maxMemoryBytes, MAX_MAPPABLE_BYTES)
  }

  /** Bytes reserved by every buffer not yet freed (deleted ones still count until their last lease drops). */
  get bytesInUse (): number { return this.#bytesInUse }
  /** Live (visible) buffers. */
  get count (): number { return this.#visible.size }

  /** Bytes a new buffer may still take: the per-buffer maximum or what is left of the quota. */
  get available (): number {
    return Math.max(0, Math.min(this.maxBufferBytes, this.maxMemoryBytes - this.#bytesInUse))
  }

  #checkSize (size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new PoolError('INVALID_SIZE', 'size must be a non-negative integer')
    if (size > this.maxBufferBytes) {
      throw new PoolError('PAYLOAD_TOO_LARGE', `A buffer may be at most ${this.maxBufferBytes} bytes; ${size} requested`)
    }
    // Reserved synchronously with the check, so concurrent creates can never pass the quota together.
    if (this.#bytesInUse + size > this.maxMemoryBytes) {
      throw new PoolError('QUOTA_EXCEEDED', `${size} bytes would exceed the memory quota (${this.#bytesInUse} of ${this.maxMemoryBytes} in use)`)
    }
  }

  /** A new zero-filled, writable buffer; its memory is reserved now so writes cannot SIGBUS later. */
  create (spec: { size: number, name?: string } & BufferLifecycle): BufferInfo {
    if (spec.ttlMs !== undefined) checkTtl(spec.ttlMs)
    this.#checkSize(spec.size)
    const id = newId('buf')
    const fd = native.memfdCreate(`memfd-pool:${id}`)
    try {
      native.ftruncate(fd, spec.size)
      native.allocate(fd, 0, spec.size)
      // The size never changes after creation, so fix it in the kernel now: no holder of any
      // descriptor we hand out (a worker, an attached client with `rw`) can shrink the file
      // under the server's mapping and turn its next read into SIGBUS.
      native.addSeals(fd, ['shrink', 'grow'])
    } catch (err) {
      native.close(fd)
      const code = (err as native.SystemError).code
      if (code === 'ENOSPC' || code === 'ENOMEM') {
        throw new PoolError('QUOTA_EXCEEDED', `The system could not reserve ${spec.size} bytes (${code})`)
      }
      throw err
    }
    return this.#add(id, fd, spec.size, spec.name ?? id, false, spec)
  }

  /**
   * Takes a memfd made elsewhere (a job's output, an attached client's buffer) as a new sealed
   * buffer. The store owns `fd` from this call on, and closes it when it refuses it: it must be
   * a memfd carrying shrink, grow and a write seal, and fit the limits.
   */
  adopt (fd: number, spec: { name?: string } & BufferLifecycle = {}): BufferInfo {
    let size: number
    let readOnly: number
    try {
      if (spec.ttlMs !== undefined) checkTtl(spec.ttlMs)
      let seals: native.SealName[]
      try {
        seals = native.getSeals(fd)
      } catch {
        throw new PoolError('NOT_A_MEMFD', 'The descriptor is not a memfd (F_GET_SEALS failed)')
      }
      if (!fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:')) {
        throw new PoolError('NOT_A_MEMFD', 'The descriptor is a shared-memory file but not a memfd')
      }
      if (!hasReaderSeals(seals)) {
        throw new PoolError('NOT_SEALED', `The memfd must carry the shrink, grow and write (or future-write) seals; it has: ${seals.join(', ') || 'none'}`)
      }
      size = native.fileSize(fd)
      this.#checkSize(size)
      // Sealed already: the store keeps a read-only descriptor, as for a buffer sealed here.
      readOnly = reopenReadOnly(fd)
    } catch (err) {
      native.close(fd)
      throw err
    }
    native.close(fd)
    return this.#add(newId('buf'), readOnly, size, spec.name ?? '', true, spec)
  }

  #add (id: string, fd: number, size: number, name: string, sealed: boolean, lifecycle: BufferLifecycle): BufferInfo {
    const now = Date.now()
    const record: BufferRecord = {
      id,
      name: name === '' ? id : name,
      size,
      fd,
      generation: this.#nextGeneration++,
      sealed,
      createdAt: new Date(now).toISOString(),
      attachToken: newToken(),
      map: null,
      leases: 0,
      deleted: false,
      holders: new Map(),
      producedBy: lifecycle.producedBy ?? null,
      expiresAt: lifecycle.ttlMs === undefined ? null : new Date(now + lifecycle.ttlMs).toISOString(),
      expiryTimer: null
    }
    if (lifecycle.ttlMs !== undefined) {
      // Unref'd: a pending expiry must not keep a library user's process alive.
      record.expiryTimer = setTimeout(() => {
        record.expiryTimer = null
        if (!record.deleted) this.delete(record.id, 'expired')
      }, lifecycle.ttlMs).unref()
    }
    this.#records.set(id, record)
    this.#visible.set(id, record)
    this.#bytesInUse += size
    const info = this.#info(record)
    this.emit('buffer.created', info)
    return info
  }

  #lookup (id: string): BufferRecord {
    const record = typeof id === 'string' ? this.#visible.get(id) : undefined
    if (record === undefined) throw new PoolError('NOT_FOUND', `No buffer ${JSON.stringify(id)}`)
    return record
  }

  #info (record: BufferRecord): BufferInfo {
    return {
      id: record.id,
      name: record.name,
      size: record.size,
      sealed: record.sealed,
      state: record.sealed ? 'sealed' : 'writable',
      createdAt: record.createdAt,
      attachToken: record.attachToken,
      descriptors: [{ pid: process.pid, fd: record.fd, role: 'server' }, ...record.holders.values()],
      producedBy: record.producedBy === null ? null : { ...record.producedBy },
      expiresAt: record.expiresAt
    }
  }

  #mapping (record: BufferRecord): Buffer {
    if (record.map === null) {
      // Read-only: the store never writes through a mapping (see write()). It shows writes made
      // by anyone, since it is MAP_SHARED, and a write-sealed memfd (adopted) allows no other.
      record.map = record.size === 0 ? Buffer.alloc(0) : native.mapShared(record.fd, { length: record.size })
    }
    return record.map
  }

  has (id: string): boolean { return this.#visible.has(id) }

  get (id: string): BufferInfo { return this.#info(this.#lookup(id)) }

  list (): BufferInfo[] { return [...this.#visible.values()].map((r) => this.#info(r)) }

  /** The attach token of a buffer, for constant-time comparison by the caller. */
  attachToken (id: string): string { return this.#lookup(id).attachToken }

  /**
   * Copies `chunk` into the buffer at `offset` with pwrite(2) on the store's descriptor. Not
   * through a mapping: in this VM every first write to a 4 KiB page of a shared mapping costs a
   * page fault (~2.5 µs), and MAP_POPULATE costs as much up front; pwrite copies into the same
   * page-cache pages without touching page tables — 1 GiB in ~210 ms instead of ~650 ms
   * (measured here). The pages were reserved by fallocate at creation: no ENOSPC now.
   */
  write (id: string, offset: number, chunk: Uint8Array): void {
    const record = this.#lookup(id)
    if (record.sealed) throw new PoolError('BUFFER_SEALED', `Buffer ${id} is sealed; its bytes can no longer change`)
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + chunk.length > record.size) {
      throw new PoolError('RANGE_NOT_SATISFIABLE', `Writing ${chunk.length} bytes at ${offset} goes past the end of buffer ${id} (${record.size} bytes)`)
    }
    if (chunk.length === 0) return
    for (let done = 0; done < chunk.length;) {
      done += fs.writeSync(record.fd, chunk, done, chunk.length - done, offset + done)
    }
    record.generation = this.#nextGeneration++
  }

  /**
   * Seals the buffer: shrink, grow and future-write, so no process can resize it or write to it
   * again (F_SEAL_FUTURE_WRITE rather than F_SEAL_WRITE, which fails with EBUSY while any process
   * still has a writable shared mapping — an attached client's `rw` one). Idempotent.
   */
  seal (id: string): BufferInfo {
    const record = this.#lookup(id)
    if (record.sealed) return this.#info(record)
    // From now on nothing writes through the store's descriptor: it keeps a read-only one
    // instead. Opened first, so that running out of descriptors (EMFILE) refuses the seal before
    // the kernel has it, and the buffer stays as it was: unsealed and writable.
    const readOnly = reopenReadOnly(record.fd)
    try {
      native.addSeals(record.fd, ['shrink', 'grow', 'future-write'])
    } catch (err) {
      // A client holding an `rw` descriptor may have added seals of its own. Already
      // write-sealed is as good as our seal; `seal` alone (no more seals allowed) is not.
      const seals = native.getSeals(record.fd)
      if (!hasReaderSeals(seals)) {
        native.close(readOnly)
        throw new PoolError('SEAL_REFUSED', `Buffer ${id} cannot be sealed: another holder forbade new seals (${(err as native.SystemError).code})`)
      }
    }
    native.close(record.fd)
    record.fd = readOnly
    record.sealed = true
    record.generation = this.#nextGeneration++
    const info = this.#info(record)
    this.emit('buffer.sealed', info)
    return info
  }

  /** Hides the buffer now; its memory is freed once no lease holds it. */
  delete (id: string, reason: BufferDeleteReason = 'deleted'): void {
    const record = this.#lookup(id)
    record.deleted = true
    if (record.expiryTimer !== null) clearTimeout(record.expiryTimer)
    record.expiryTimer = null
    this.#visible.delete(id)
    this.emit('buffer.deleted', { id: record.id, name: record.name, reason })
    if (record.leases === 0) this.#free(record)
  }

  #free (record: BufferRecord): void {
    this.#records.delete(record.id)
    // release() swaps the pages for zeros: a view still around reads zeros, never freed memory.
    if (record.map !== null && record.map.length > 0) native.release(record.map)
    record.map = null
    native.close(record.fd)
    this.#bytesInUse -= record.size
  }

  /** Holds a buffer's memory until `release()`, even across a delete. */
  acquire (id: string): BufferLease {
    const record = this.#lookup(id)
    record.leases++
    const holders: object[] = []
    let released = false
    const store = this
    return {
      info: this.#info(record),
      generation: record.generation,
      view (start: number, end: number): Buffer {
        if (released) throw new PoolError('LEASE_RELEASED', 'The lease was released')
        return store.#mapping(record).subarray(start, end)
      },
      readOnlyDescriptor (options?: { ownDescription?: boolean }): number {
        if (released) throw new PoolError('LEASE_RELEASED', 'The lease was released')
        // The store's descriptor is read-only exactly when the buffer is sealed.
        return record.sealed && options?.ownDescription !== true ? native.dup(record.fd) : native.reopenReadOnly(record.fd)
      },
      addHolder (holder: DescriptorHolder): () => void {
        const key = {}
        holders.push(key)
        record.holders.set(key, holder)
        return () => { record.holders.delete(key) }
      },
      release (): void {
        if (released) return
        released = true
        for (const key of holders) record.holders.delete(key)
        record.leases--
        if (record.deleted && record.leases === 0) store.#free(record)
      }
    }
  }

  /** A read-write duplicate of an unsealed buffer's descriptor (attach `rw`); the caller closes it. */
  writableDescriptor (id: string): number {
    const record = this.#lookup(id)
    if (record.sealed) throw new PoolError('BUFFER_SEALED', `Buffer ${id} is sealed; only read-only access is possible`)
    return native.dup(record.fd)
  }

  /** Records a holder of a buffer (an attached client) until the returned function is called. */
  addHolder (id: string, holder: DescriptorHolder): () => void {
    const record = this.#lookup(id)
    const key = {}
    record.holders.set(key, holder)
    return () => { record.holders.delete(key) }
  }

  /** Frees every buffer (leases are ignored): the store's owner is shutting down. */
  closeAll (): void {
    for (const record of [...this.#records.values()]) {
      if (record.expiryTimer !== null) clearTimeout(record.expiryTimer)
      record.expiryTimer = null
      this.#visible.delete(record.id)
      this.#free(record)
    }
  }
}
