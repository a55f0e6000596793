// Streams a byte range of a buffer straight from its shared mapping: each chunk pushed to the
// socket is a zero-copy view. The stream holds a lease for its whole life, so a concurrent
// DELETE hides the buffer but cannot unmap memory a pending socket write still reads (the store
// unmaps explicitly when the last lease drops: invariant 3 of DESIGN.md).
import { Readable } from 'node:stream'
import type { BufferLease } from '../pool/buffer-store'

/** Size of each view pushed to the socket: large enough to keep syscalls few, small enough to pace. */
export const DOWNLOAD_CHUNK_BYTES = 1024 * 1024

export class BufferReadStream extends Readable {
  readonly #lease: BufferLease
  #position: number
  readonly #end: number

  /**
   * Reads through `lease`, which the caller releases once the bytes have left the process (the
   * route waits for the response's 'close'): destroying this stream is not enough, because the
   * socket may still be writing the last views.
   */
  constructor (lease: BufferLease, start: number, end: number) {
    // highWaterMark 1: at most one chunk sits in this stream's queue ahead of the socket.
    super({ highWaterMark: 1, objectMode: false })
    this.#lease = lease
    this.#position = start
    this.#end = end
  }

  override _read (): void {
    if (this.#position >= this.#end) {
      this.push(null)
      return
    }
    const next = Math.min(this.#position + DOWNLOAD_CHUNK_BYTES, this.#end)
    let view: Buffer
    try {
      view = this.#lease.view(this.#position, next)
    } catch (err) {
      this.destroy(err as Error)
      return
    }
    this.#position = next
    this.push(view)
  }
}
