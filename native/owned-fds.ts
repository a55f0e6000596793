// Descriptors received with a message, as an owned set: whoever holds an OwnedFds must either take
// each descriptor (and so own it) or let closeAll() close the rest, exactly once. The TypeScript
// form of systemd's `_cleanup_close_` / `TAKE_FD`: an error path that forgets a descriptor still
// closes it, because the holder's `finally { fds.closeAll() }` does.
// index.ts re-exports this class; the import cycle is safe because close() is looked up at call time.
import { close } from './index'

export class OwnedFds implements Iterable<number> {
  #fds: Array<number | null>

  private constructor (fds: readonly number[]) {
    this.#fds = [...fds]
  }

  /** Takes ownership of `fds` (an OwnedFds is moved: the old one is left empty). */
  static from (fds: readonly number[] | OwnedFds): OwnedFds {
    if (fds instanceof OwnedFds) return new OwnedFds(fds.takeAll())
    return new OwnedFds(fds)
  }

  static empty (): OwnedFds { return new OwnedFds([]) }

  /** How many descriptors came (taken or not). */
  get length (): number { return this.#fds.length }

  /** How many are still owned here (neither taken nor closed). */
  get remaining (): number { return this.#fds.reduce<number>((n, fd) => n + (fd === null ? 0 : 1), 0) }

  /** The descriptor at `index`, now the caller's to close. Throws if it was taken or closed. */
  take (index: number): number {
    const fd = this.#fds[index]
    if (fd === undefined || fd === null) throw new Error(`descriptor ${index} of ${this.#fds.length} was already taken or closed`)
    this.#fds[index] = null
    return fd
  }

  /** Every descriptor still owned here, in order, now the caller's. */
  takeAll (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.#fds.length; i++) {
      const fd = this.#fds[i]
      if (fd !== null) out.push(fd)
      this.#fds[i] = null
    }
    return out
  }

  /**
   * Moves the next `count` descriptors still owned here into a new OwnedFds (a batch's parts each
   * take theirs, in order). Throws if fewer remain.
   */
  split (count: number): OwnedFds {
    const out: number[] = []
    for (let i = 0; i < this.#fds.length && out.length < count; i++) {
      const fd = this.#fds[i]
      if (fd === null) continue
      out.push(fd)
      this.#fds[i] = null
    }
    if (out.length < count) {
      for (const fd of out) close(fd)
      throw new Error(`a message part wanted ${count} descriptors; fewer remained`)
    }
    return new OwnedFds(out)
  }

  /** Closes every descriptor still owned here; safe to call more than once. */
  closeAll (): void {
    for (let i = 0; i < this.#fds.length; i++) {
      const fd = this.#fds[i]
      if (fd === null) continue
      this.#fds[i] = null
      try { close(fd) } catch { /* already gone: nothing left to release */ }
    }
  }

  /** The numbers still owned here (for display and counting; ownership stays). */
  * [Symbol.iterator] (): Iterator<number> {
    for (const fd of this.#fds) if (fd !== null) yield fd
  }
}
