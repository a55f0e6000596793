// Where a job goes: a pure decision over views of the workers, like piscina's balancer
// ((task, workers) => worker | null). The dispatcher offers only workers that are ready and serve
// the job's kind; a policy picks one, or none (the job waits in the pool's queue). Policies know
// nothing of processes, channels or descriptors, so tests drive them with plain objects.

/** What a policy may know of a worker. */
export interface LinkView {
  readonly id: string
  /** Jobs it runs at once (its threads). */
  readonly capacity: number
  /** Jobs it holds now: running, waiting in it, and about to be sent in this pass. */
  readonly load: number
  /** The distinct kinds of the jobs counted in `load`. */
  readonly heldKinds: Iterable<string>
}

export interface JobView {
  readonly kind: string
}

export interface DispatchPolicy {
  /** The worker to send `job` to now, among `links`, or null: it waits in the queue. */
  choose: (job: JobView, links: readonly LinkView[]) => LinkView | null
  /** A job of `kind` ran `runMs` on its thread (not counting any wait for one). */
  observeRun: (kind: string, runMs: number) => void
}

/** `prefetch: 'auto'`: a kind is short while its runs average (EWMA) under this, on the thread. */
export const SHORT_RUN_MS = 1
/** `prefetch: 'auto'`: runs of a kind seen before it can count as short. */
export const SHORT_RUN_SAMPLES = 8
/** `prefetch: 'auto'`: short jobs sent to a worker ahead of its threads (measured best for no-ops). */
export const AUTO_PREFETCH = 16
/** Weight of the newest run in a kind's running mean. */
const EWMA_WEIGHT = 0.2

/** The least loaded of the links `accepts` lets take the job (the first of equals). */
function leastLoaded (links: readonly LinkView[], accepts: (link: LinkView) => boolean): LinkView | null {
  let best: LinkView | null = null
  for (const link of links) {
    if (!accepts(link)) continue
    if (best === null || link.load < best.load) best = link
  }
  return best
}

/**
 * A fixed number of jobs ahead of the threads, whatever their kind (0: never ahead). A job sent
 * ahead waits in its worker even if another goes idle; that is the price of fewer round trips.
 */
export class FixedPrefetch implements DispatchPolicy {
  readonly ahead: number
  constructor (ahead: number) { this.ahead = Math.max(0, Math.floor(ahead)) }

  choose (_job: JobView, links: readonly LinkView[]): LinkView | null {
    return leastLoaded(links, (link) => link.load < link.capacity + this.ahead)
  }

  observeRun (): void {}
}

/** How long a kind's jobs run on their threads: an exponentially weighted mean. */
interface RunTimes { meanMs: number, samples: number }

/**
 * Only short jobs go ahead — of kinds whose recent runs took under SHORT_RUN_MS — up to
 * AUTO_PREFETCH per worker, and only to a worker holding nothing but short jobs, so no job ever
 * waits behind a long one. Other jobs go only to a free thread.
 */
export class AutoPrefetch implements DispatchPolicy {
  #runTimes = new Map<string, RunTimes>()

  isShort (kind: string): boolean {
    const times = this.#runTimes.get(kind)
    return times !== undefined && times.samples >= SHORT_RUN_SAMPLES && times.meanMs < SHORT_RUN_MS
  }

  choose (job: JobView, links: readonly LinkView[]): LinkView | null {
    return leastLoaded(links, (link) => {
      if (link.load < link.capacity) return true
      if (link.load >= link.capacity + AUTO_PREFETCH || !this.isShort(job.kind)) return false
      for (const kind of link.heldKinds) if (!this.isShort(kind)) return false
      return true
    })
  }

  observeRun (kind: string, runMs: number): void {
    if (!Number.isFinite(runMs) || runMs < 0) return
    const times = this.#runTimes.get(kind)
    if (times === undefined) this.#runTimes.set(kind, { meanMs: runMs, samples: 1 })
    else {
      times.meanMs += (runMs - times.meanMs) * EWMA_WEIGHT
      times.samples++
    }
  }
}

export function createDispatchPolicy (prefetch: number | 'auto'): DispatchPolicy {
  return prefetch === 'auto' ? new AutoPrefetch() : new FixedPrefetch(prefetch)
}
