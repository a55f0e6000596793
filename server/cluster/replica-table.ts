// Copies of other nodes' buffers kept here after a pull, by the original's id. A replica is a
// local buffer of its own (its local id is what the local pool's jobs name); it counts in this
// node's quota and is the first thing freed when a pull needs room. Least recently used first.
import type { BufferStore } from '../pool/buffer-store'
import type { BufferInfo } from '../pool/types'

export class ReplicaTable {
  readonly #store: BufferStore
  /** original id → local id, in use order (oldest first). */
  readonly #local = new Map<string, string>()
  /**
   * Replicas a running pipeline will still read (original id → pipelines): a step may start long
   * after the pull, so eviction passes them over until the pipeline ends.
   */
  readonly #pins = new Map<string, number>()
  /** Local ids of replicas still being pulled (created in the store, not yet in the table). */
  readonly #pulling = new Set<string>()

  constructor (store: BufferStore) {
    this.#store = store
  }

  /** The local copy of `original`, if one is still here; marks it used. */
  lookup (original: string): string | null {
    const local = this.#local.get(original)
    if (local === undefined) return null
    this.#local.delete(original)
    if (!this.#store.has(local)) return null
    this.#local.set(original, local)
    return local
  }

  /** The replica of `original` as the original's id would show it, or null. */
  info (original: string): BufferInfo | null {
    const local = this.lookup(original)
    return local === null ? null : { ...this.#store.get(local), id: original }
  }

  add (original: string, local: string): void {
    this.#local.set(original, local)
    this.#pulling.delete(local)
  }

  /**
   * Says a buffer just created is a replica being pulled, before it is complete: the directory
   * (buffer-directory.ts) must not list it as this node's own. `pullFailed` when the pull failed and
   * the buffer is deleted (after the deletion, so that it too is known as a replica's).
   */
  pulling (local: string): void { this.#pulling.add(local) }
  pullFailed (local: string): void { this.#pulling.delete(local) }

  /** Replicas held here (and being pulled): the store's count minus this is what the node owns. */
  get held (): number {
    let live = this.#pulling.size
    for (const local of this.#local.values()) if (this.#store.has(local)) live++
    return live
  }

  /** Frees the least recently used replica; false when there is none. */
  evictOne (): boolean {
    for (const [original, local] of this.#local) {
      if ((this.#pins.get(original) ?? 0) > 0) continue
      // Deleted from the store while still listed, so its deletion is known as a replica's.
      const live = this.#store.has(local)
      if (live) this.#store.delete(local)
      this.#local.delete(original)
      if (live) return true
    }
    return false
  }

  pin (original: string): void { this.#pins.set(original, (this.#pins.get(original) ?? 0) + 1) }

  unpin (original: string): void {
    const left = (this.#pins.get(original) ?? 1) - 1
    if (left > 0) this.#pins.set(original, left)
    else this.#pins.delete(original)
  }

  /** Drops the replica of an original that its owner no longer has. */
  forget (original: string): void {
    const local = this.#local.get(original)
    if (local !== undefined && this.#store.has(local)) this.#store.delete(local)
    this.#local.delete(original)
  }

  get size (): number { return this.#local.size }

  /** True when `local` is the local id of some replica (its deletion is no news to other nodes). */
  isReplica (local: string): boolean {
    if (this.#pulling.has(local)) return true
    for (const id of this.#local.values()) if (id === local) return true
    return false
  }
}
