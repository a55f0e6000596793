// The server's buffers: one memfd each, named by a random id, counted against a memory quota and
// a buffer budget (one descriptor each; descriptor-budget.ts). The store owns exactly one
// descriptor per buffer: read-write while the buffer is writable, read-only from the moment it is
// sealed (or adopted, sealed already) — nothing may write to it then, the server included, and a
// job's input descriptor becomes a dup() of that one (~1 µs) instead of a reopen through /proc
// (15–23 µs per job, measured). Everything handed out is a reopen or duplicate that the receiver
// closes. Deleting hides a buffer at once and frees it when the last lease drops. What "sealed"
// means, and how a seal is refused, is seal-policy.ts.
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import * as native from '../../native'
import { newId, newToken } from '../pool/ids'
import { PoolError } from '../pool/pool-error'
import type { BufferDeleteReason, BufferInfo, BufferLineage, DescriptorHolder } from '../pool/types'
import { MAX_TTL_MS } from '../schemas/limits'
import type { BufferRecord } from './buffer-record'
import { BufferLease, type LeaseHost } from './buffer-lease'
import { defaultMaxBuffers } from './descriptor-budget'
import { requireSealedMemfd, sealForReaders, writeRefusal } from './seal-policy'

export { BufferLease } from './buffer-lease'

/** A Buffer cannot be longer than this on Node 20 (buffer.constants.MAX_LENGTH), and the
 * server reads and writes a buffer through one mapping. */
export const MAX_MAPPABLE_BYTES = 4 * 1024 ** 3

export { MAX_TTL_MS }

/** Refuses a ttl that is not a whole number of milliseconds a timer can wait. */
export function checkTtl (ttlMs: unknown, what = 'ttlMs'): void {
  if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > MAX_TTL_MS) {
    throw new PoolError('INVALID_PARAMS', `${what} must be an integer from 1 to ${MAX_TTL_MS} (milliseconds)`)
  }
}

/** Lifecycle settings of a new buffer. */
export interface BufferLifecycle {
  /** Deleted on its own (as delete() does) this long after creation. */
  ttlMs?: number
  /** The job (and pipeline step) that made it. */
  producedBy?: BufferLineage | null
}

export interface BufferStoreOptions {
  maxMemoryBytes: number
  maxBufferBytes: number
  /**
   * Buffers held at once (deleted ones still count while leased: each holds a descriptor). Default:
   * derived from RLIMIT_NOFILE, whose soft limit is raised to the hard one, minus a reserve for
   * connections and workers (descriptor-budget.ts).
   */
  maxBuffers?: number
}

export interface BufferStoreEvents {
  'buffer.created': [BufferInfo]
  'buffer.sealed': [BufferInfo]
  'buffer.deleted': [{ id: string, name: string, reason: BufferDeleteReason }]
  /** A live buffer's holders changed (a worker or attached client came or went): its info now. */
  'buffer.holders': [BufferInfo]
}

/** A descriptor-creating call, with running out of descriptors said in the pool's terms (503). */
function withDescriptor<T> (make: () => T): T {
  try {
    return make()
  } catch (err) {
    const code = (err as native.SystemError).code
    if (code === 'EMFILE' || code === 'ENFILE') throw new PoolError('RESOURCE_EXHAUSTED', `The server is at its open-file limit (${code}); retry later`)
    throw err
  }
}

export class BufferStore extends EventEmitter<BufferStoreEvents> {
  readonly maxMemoryBytes: number
  readonly maxBufferBytes: number
  readonly maxBuffers: number
  #records = new Map<string, BufferRecord>()
  #visible = new Map<string, BufferRecord>()
  #bytesInUse = 0
  #nextGeneration = 1
  #leaseHost: LeaseHost

  constructor (options: BufferStoreOptions) {
    super()
    this.maxMemoryBytes = options.maxMemoryBytes
    this.maxBufferBytes = Math.min(options.maxBufferBytes, options.maxMemoryBytes, MAX_MAPPABLE_BYTES)
    this.maxBuffers = options.maxBuffers ?? defaultMaxBuffers().maxBuffers
    this.#leaseHost = {
      mapping: (record) => this.#mapping(record),
      readOnlyDescriptor: (record, own) => this.#readOnlyDescriptor(record, own),
      addHolder: (record, holder) => this.#addHolder(record, holder),
      removeHolders: (record, keys) => this.#removeHolders(record, keys),
      released: (record) => { if (record.deleted && record.leases === 0) this.#free(record) }
    }
  }

  /** Bytes reserved by every buffer not yet freed (deleted ones still count until their last lease drops). */
  get bytesInUse (): number { return this.#bytesInUse }
  /** Live (visible) buffers. */
  get count (): number { return this.#visible.size }
  /** Buffers not yet freed, deleted ones still leased included: what counts against maxBuffers. */
  get held (): number { return this.#records.size }

  /** Bytes a new buffer may still take: the per-buffer maximum or what is left of the quota. */
  get available (): number {
    return Math.max(0, Math.min(this.maxBufferBytes, this.maxMemoryBytes - this.#bytesInUse))
  }

  #checkRoom (size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new PoolError('INVALID_SIZE', 'size must be a non-negative integer')
    if (size > this.maxBufferBytes) {
      throw new PoolError('PAYLOAD_TOO_LARGE', `A buffer may be at most ${this.maxBufferBytes} bytes; ${size} requested`)
    }
    if (this.#records.size >= this.maxBuffers) {
      throw new PoolError('TOO_MANY_BUFFERS', `The server holds ${this.#records.size} buffers, as many as its open-file limit allows (maxBuffers ${this.maxBuffers}); delete some and retry`)
    }
    // Reserved synchronously with the check, so concurrent creates can never pass the quota together.
    if (this.#bytesInUse + size > this.maxMemoryBytes) {
      throw new PoolError('QUOTA_EXCEEDED', `${size} bytes would exceed the memory quota (${this.#bytesInUse} of ${this.maxMemoryBytes} in use)`)
    }
  }

  /** A new zero-filled, writable buffer; its memory is reserved now so writes cannot SIGBUS later. */
  create (spec: { size: number, name?: string } & BufferLifecycle): BufferInfo {
    if (spec.ttlMs !== undefined) checkTtl(spec.ttlMs)
    this.#checkRoom(spec.size)
    const id = newId('buf')
    const fd = withDescriptor(() => native.memfdCreate(`memfd-pool:${id}`))
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
   * buffer. The store owns `fd` from this call on, and closes it when it refuses it: it must be an
   * ordinary memfd sealed for readers (seal-policy.ts; the store adds F_SEAL_WRITE to one sealed
   * with future-write only, and refuses it while a writable mapping exists), and fit the limits.
   */
  adopt (fd: number, spec: { name?: string } & BufferLifecycle = {}): BufferInfo {
    let size: number
    let readOnly: number
    try {
      if (spec.ttlMs !== undefined) checkTtl(spec.ttlMs)
      requireSealedMemfd(fd)
      size = native.fileSize(fd)
      this.#checkRoom(size)
      // Sealed already: the store keeps a read-only descriptor, as for a buffer sealed here.
      readOnly = withDescriptor(() => native.reopenReadOnly(fd))
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
      // Read-only: the store never writes through a mapping (see write()). It shows writes made by
      // anyone, since it is MAP_SHARED. While the buffer is writable it is mapped through a
      // read-only reopen: a MAP_SHARED mapping of a descriptor open for writing counts as writable
      // to the kernel even with PROT_READ (VM_MAYWRITE), and would make our own seal fail EBUSY.
      if (record.size === 0) {
        record.map = Buffer.alloc(0)
      } else if (record.sealed) {
        record.map = native.mapShared(record.fd, { length: record.size })
      } else {
        const readOnly = withDescriptor(() => native.reopenReadOnly(record.fd))
        try {
          record.map = native.mapShared(readOnly, { length: record.size })
        } finally {
          native.close(readOnly)
        }
      }
    }
    return record.map
  }

  #readOnlyDescriptor (record: BufferRecord, ownDescription: boolean): number {
    // The store's descriptor is read-only exactly when the buffer is sealed.
    return withDescriptor(() => record.sealed && !ownDescription ? native.dup(record.fd) : native.reopenReadOnly(record.fd))
  }

  #addHolder (record: BufferRecord, holder: DescriptorHolder): object {
    const key = {}
    record.holders.set(key, holder)
    this.#holdersChanged(record)
    return key
  }

  #removeHolders (record: BufferRecord, keys: object[]): void {
    let changed = false
    for (const key of keys) changed = record.holders.delete(key) || changed
    if (changed) this.#holdersChanged(record)
  }

  #holdersChanged (record: BufferRecord): void {
    // A deleted buffer is gone from every view; news about it would bring it back to listeners.
    // Every job start and end changes holders: build the info only for someone listening.
    if (!record.deleted && this.listenerCount('buffer.holders') > 0) this.emit('buffer.holders', this.#info(record))
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
   * (measured here). The pages were reserved by fallocate at creation: no ENOSPC now. A write
   * seal added by an `rw` holder makes it fail: BUFFER_SEALED (seal-policy.ts writeRefusal).
   */
  write (id: string, offset: number, chunk: Uint8Array): void {
    const record = this.#lookup(id)
    if (record.sealed) throw new PoolError('BUFFER_SEALED', `Buffer ${id} is sealed; its bytes can no longer change`)
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + chunk.length > record.size) {
      throw new PoolError('RANGE_NOT_SATISFIABLE', `Writing ${chunk.length} bytes at ${offset} goes past the end of buffer ${id} (${record.size} bytes)`)
    }
    if (chunk.length === 0) return
    try {
      for (let done = 0; done < chunk.length;) {
        done += fs.writeSync(record.fd, chunk, done, chunk.length - done, offset + done)
      }
    } catch (err) {
      throw writeRefusal(err, record.fd, id, () => this.#trySeal(record))
    } finally {
      // Some bytes may have gone in before a failure: any cache of the old contents is stale.
      record.generation = this.#nextGeneration++
    }
  }

  /**
   * Seals the buffer for readers: shrink, grow and write (seal-policy.ts), so no process can
   * resize it or change its bytes again, through any descriptor or mapping. Refused with
   * BUFFER_MAPPED_WRITABLE (409) while a process still maps it writable, SEAL_REFUSED when another
   * holder forbade seals, RESOURCE_EXHAUSTED at the open-file limit: the buffer then stays
   * writable and unchanged. Idempotent.
   */
  seal (id: string): BufferInfo {
    const record = this.#lookup(id)
    if (!record.sealed) this.#seal(record)
    return this.#info(record)
  }

  #seal (record: BufferRecord): void {
    // From now on nothing writes through the store's descriptor: it keeps a read-only one
    // instead. Opened first, so that running out of descriptors (EMFILE) refuses the seal before
    // the kernel has it, and the buffer stays as it was: unsealed and writable.
    const readOnly = withDescriptor(() => native.reopenReadOnly(record.fd))
    try {
      sealForReaders(record.fd, record.id)
    } catch (err) {
      native.close(readOnly)
      throw err
    }
    native.close(record.fd)
    record.fd = readOnly
    record.sealed = true
    record.generation = this.#nextGeneration++
    this.emit('buffer.sealed', this.#info(record))
  }

  /** Seals after a holder made the buffer unwritable behind the store's back; false if it cannot be. */
  #trySeal (record: BufferRecord): boolean {
    try {
      this.#seal(record)
      return true
    } catch {
      return false
    }
  }

  /** Hides the buffer now; its memory is freed once no lease holds it. */
  delete (id: string, reason: BufferDeleteReason = 'deleted'): void {
    const record = this.#lookup(id)
    record.deleted = true
    this.#clearExpiry(record)
    this.#visible.delete(id)
    this.emit('buffer.deleted', { id: record.id, name: record.name, reason })
    if (record.leases === 0) this.#free(record)
  }

  #clearExpiry (record: BufferRecord): void {
    if (record.expiryTimer !== null) clearTimeout(record.expiryTimer)
    record.expiryTimer = null
  }

  #free (record: BufferRecord): void {
    if (!this.#records.delete(record.id)) return
    // release() swaps the pages for zeros: a view still around reads zeros, never freed memory.
    if (record.map !== null && record.map.length > 0) native.release(record.map)
    record.map = null
    native.close(record.fd)
    this.#bytesInUse -= record.size
  }

  /** Holds a buffer's memory until `release()`, even across a delete. */
  acquire (id: string): BufferLease {
    const record = this.#lookup(id)
    return new BufferLease(record, this.#info(record), this.#leaseHost)
  }

  /**
   * A read-write descriptor of an unsealed buffer (attach `rw`), with an open file description of
   * its own (a reopen, not a dup()): what its holder does with fcntl(F_SETFL), such as O_APPEND,
   * or lseek never reaches the store's descriptor. The caller closes it.
   */
  writableDescriptor (id: string): number {
    const record = this.#lookup(id)
    if (record.sealed) throw new PoolError('BUFFER_SEALED', `Buffer ${id} is sealed; only read-only access is possible`)
    return withDescriptor(() => native.reopenReadWrite(record.fd))
  }

  /** Records a holder of a buffer (an attached client) until the returned function is called. */
  addHolder (id: string, holder: DescriptorHolder): () => void {
    const record = this.#lookup(id)
    const key = this.#addHolder(record, holder)
    return () => { this.#removeHolders(record, [key]) }
  }

  /** Frees every buffer (leases are ignored): the store's owner is shutting down. */
  closeAll (): void {
    for (const record of [...this.#records.values()]) {
      this.#clearExpiry(record)
      this.#visible.delete(record.id)
      this.#free(record)
    }
  }
}
