// `?wait=ms` for routes that hold a reply until a job or a pipeline ends. A shutdown must not sit
// out a minute-long poll: at preClose every held reply answers at once with the state then
// (Fastify waits for in-flight requests before the pool closes). A set of waiters rather than
// listeners on one AbortSignal: hundreds of concurrent waits are normal here, and EventTarget
// warns (MaxListenersExceededWarning) past ten.
import type { FastifyInstance } from 'fastify'

export interface Waitable<T> {
  /** Whether `value` has reached a final state (nothing to wait for). */
  ended: (value: T) => boolean
  /** Resolves with the value once it ends, or as it stands after `ms`. */
  wait: (id: string, ms: number) => Promise<T>
  /** The value as it stands now (throws when it is gone). */
  get: (id: string) => T
}

export interface LongPoll<T> {
  /** `value` once it ends, or as it stands after `ms` or at shutdown, whichever comes first. */
  settle: (value: T, ms: number) => Promise<T>
  /** Aborted at preClose: for waits held elsewhere (a cluster job's, in Redis) to end with the rest. */
  closing: AbortSignal
}

/** Registers the preClose hook on `app` and returns the holder for values of one kind. */
export function longPoll<T extends { id: string }> (app: FastifyInstance, source: Waitable<T>): LongPoll<T> {
  const waiting = new Set<() => void>()
  const closing = new AbortController()
  app.addHook('preClose', (done) => {
    closing.abort()
    for (const answerNow of waiting) answerNow()
    done()
  })
  async function settle (value: T, ms: number): Promise<T> {
    if (ms <= 0 || source.ended(value) || closing.signal.aborted) return value
    let answerNow = (): void => {}
    const cut = new Promise<T>((resolve) => {
      answerNow = () => {
        try { resolve(source.get(value.id)) } catch { resolve(value) }
      }
    })
    waiting.add(answerNow)
    try {
      return await Promise.race([source.wait(value.id, ms), cut])
    } finally {
      waiting.delete(answerNow)
    }
  }
  return { settle, closing: closing.signal }
}
