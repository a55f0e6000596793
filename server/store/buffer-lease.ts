// A lease keeps a buffer's memory alive (a running job, a download in flight, an attached client)
// until released, even across a DELETE: the store frees a deleted buffer when its last lease drops.
import { PoolError } from '../pool/pool-error'
import type { BufferInfo, DescriptorHolder } from '../pool/types'
import type { BufferRecord } from './buffer-record'

/** What a lease needs from its store; the store passes itself (these are its private operations). */
export interface LeaseHost {
  mapping: (record: BufferRecord) => Buffer
  readOnlyDescriptor: (record: BufferRecord, ownDescription: boolean) => number
  addHolder: (record: BufferRecord, holder: DescriptorHolder) => object
  /** Removes the holders registered under `keys`; one 'buffer.holders' event for all of them. */
  removeHolders: (record: BufferRecord, keys: object[]) => void
  released: (record: BufferRecord) => void
}

export class BufferLease {
  readonly info: BufferInfo
  readonly generation: number
  #record: BufferRecord
  #host: LeaseHost
  #holders: object[] = []
  #released = false

  constructor (record: BufferRecord, info: BufferInfo, host: LeaseHost) {
    this.info = info
    this.generation = record.generation
    this.#record = record
    this.#host = host
    record.leases++
  }

  get released (): boolean { return this.#released }

  #check (): void {
    if (this.#released) throw new PoolError('LEASE_RELEASED', 'The lease was released')
  }

  /** A zero-copy view of bytes [start, end) for reading. */
  view (start: number, end: number): Buffer {
    this.#check()
    return this.#host.mapping(this.#record).subarray(start, end)
  }

  /**
   * A read-only descriptor for the same memory; the caller closes it. For a sealed buffer it is a
   * dup() of the store's own read-only one, sharing its open file description (offset, status
   * flags): fine for the pool's workers, which only fstat and mmap it. `ownDescription` reopens
   * instead, for processes the server does not control (attach clients), so that one client's
   * lseek or fcntl(F_SETFL) cannot reach anyone else's descriptor.
   */
  readOnlyDescriptor (options?: { ownDescription?: boolean }): number {
    this.#check()
    return this.#host.readOnlyDescriptor(this.#record, options?.ownDescription === true)
  }

  /** Records that another process holds the buffer (shown in `descriptors`) until the returned
   * function is called or the lease ends. */
  addHolder (holder: DescriptorHolder): () => void {
    this.#check()
    const key = this.#host.addHolder(this.#record, holder)
    this.#holders.push(key)
    return () => {
      const at = this.#holders.indexOf(key)
      if (at < 0) return
      this.#holders.splice(at, 1)
      this.#host.removeHolders(this.#record, [key])
    }
  }

  release (): void {
    if (this.#released) return
    this.#released = true
    this.#host.removeHolders(this.#record, this.#holders.splice(0))
    this.#record.leases--
    this.#host.released(this.#record)
  }
}
