// The sha256 of a sealed buffer, which a node pulling it checks its copy against. Sealed bytes
// never change and ids are never reused, so a digest is computed once and remembered (a bounded
// map: the oldest go first).
import crypto from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { ApiError } from '../errors'
import type { BufferStore } from '../pool/buffer-store'

const HASH_CHUNK = 1024 * 1024
const REMEMBERED = 10_000

export class BufferDigests {
  readonly #store: BufferStore
  readonly #known = new Map<string, string>()

  constructor (store: BufferStore) {
    this.#store = store
  }

  async sha256 (id: string): Promise<{ id: string, size: number, sha256: string }> {
    const info = this.#store.get(id)
    if (!info.sealed) throw new ApiError('VALIDATION_ERROR', `Buffer ${id} is not sealed: only sealed buffers have a digest`)
    const known = this.#known.get(id)
    if (known !== undefined) return { id, size: info.size, sha256: known }
    const lease = this.#store.acquire(id)
    const hash = crypto.createHash('sha256')
    try {
      for (let at = 0; at < info.size; at += HASH_CHUNK) {
        hash.update(lease.view(at, Math.min(info.size, at + HASH_CHUNK)))
        // Other requests get a turn between chunks: a large buffer takes a while to hash.
        if ((at / HASH_CHUNK) % 16 === 15) await nextTurn()
      }
    } finally {
      lease.release()
    }
    const digest = hash.digest('hex')
    if (this.#known.size >= REMEMBERED) this.#known.delete(this.#known.keys().next().value as string)
    this.#known.set(id, digest)
    return { id, size: info.size, sha256: digest }
  }
}
