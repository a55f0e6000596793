// 'worker.updated' at most so often per worker: a worker finishing thousands of jobs a second
// changes its counters thousands of times, and the dashboard needs ten pictures a second at
// most. The last change in a window is always sent (trailing edge), so the final counts arrive.
export class WorkerUpdates {
  readonly intervalMs: number
  #flush: (id: string) => void
  #active: () => boolean
  #last = new Map<string, number>()
  #timers = new Map<string, NodeJS.Timeout>()

  constructor (intervalMs: number, flush: (id: string) => void, active: () => boolean = () => true) {
    this.intervalMs = intervalMs
    this.#flush = flush
    this.#active = active
  }

  /** Worker `id` changed: announce it now, or at the end of its current window. */
  touch (id: string): void {
    if (this.#timers.has(id) || !this.#active()) return
    const now = Date.now()
    const wait = (this.#last.get(id) ?? -Infinity) + this.intervalMs - now
    if (wait <= 0) {
      this.#last.set(id, now)
      this.#flush(id)
      return
    }
    const timer = setTimeout(() => {
      this.#timers.delete(id)
      this.#last.set(id, Date.now())
      this.#flush(id)
    }, wait)
    timer.unref()
    this.#timers.set(id, timer)
  }

  /** Drops a pending announcement of `id` (its worker exited: worker.exited says it all). */
  cancel (id: string): void {
    const timer = this.#timers.get(id)
    if (timer !== undefined) clearTimeout(timer)
    this.#timers.delete(id)
  }

  close (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }
}
