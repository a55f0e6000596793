// The pool's queue and the loop that empties it: jobs leave in order, each to the worker its
// policy (dispatch-policy.ts) picks among those that are ready and serve its kind, and the jobs
// one worker gets in a pass leave together (one message, one wake-up of that worker). The
// dispatcher sees workers only as DispatchTargets — an id, the kinds it serves, its capacity and
// load — never as processes: a worker over another transport is just another target.
import type { DispatchPolicy, LinkView } from './dispatch-policy'
import type { JobRecord } from './job-table'

export interface DispatchTarget {
  readonly id: string
  /** Jobs it runs at once. */
  readonly capacity: number
  /** Jobs it holds now (sent and not yet answered). */
  readonly load: number
  /** The distinct kinds of the jobs it holds. */
  readonly heldKinds: Iterable<string>
  /** Whether it takes jobs now (handshake done, answering, not on its way out). */
  readonly accepting: boolean
  serves: (kind: string) => boolean
  /**
   * Sends it these jobs. Returns those it could not take because it is going away (in order; it
   * is no longer `accepting` then); jobs that failed on their own were finished by it.
   */
  start: (records: JobRecord[]) => JobRecord[]
}

/** A target as the policy sees it during one pass: its load counts what this pass gave it. */
class PassView implements LinkView {
  readonly target: DispatchTarget
  readonly records: JobRecord[] = []
  #kinds: Set<string> | null = null

  constructor (target: DispatchTarget) { this.target = target }

  /** Ready for a new pass (views live as long as their target: a pass allocates nothing per worker). */
  reset (): void {
    this.records.length = 0
    this.#kinds = null
  }

  get id (): string { return this.target.id }
  get capacity (): number { return this.target.capacity }
  get load (): number { return this.target.load + this.records.length }
  get heldKinds (): Iterable<string> {
    if (this.#kinds === null) {
      this.#kinds = new Set(this.target.heldKinds)
      for (const record of this.records) this.#kinds.add(record.info.kind)
    }
    return this.#kinds
  }

  add (record: JobRecord): void {
    this.records.push(record)
    this.#kinds?.add(record.info.kind)
  }
}

export class Dispatcher {
  readonly policy: DispatchPolicy
  #queue: JobRecord[] = []
  #targets = new Map<DispatchTarget, PassView>()
  // Scratch of #pass, kept between passes (cleared at the start of each) so that the pass that
  // sends each job of a busy pool allocates as little as possible.
  readonly #views: PassView[] = []
  readonly #serving = new Map<string, PassView[]>()
  readonly #blockedKinds = new Set<string>()
  readonly #closed = new Set<PassView>()
  #dispatching = false
  #again = false
  #soon = false
  #atTurnEnd = false

  constructor (policy: DispatchPolicy) {
    this.policy = policy
  }

  get queueDepth (): number { return this.#queue.length }

  addTarget (target: DispatchTarget): void { if (!this.#targets.has(target)) this.#targets.set(target, new PassView(target)) }
  removeTarget (target: DispatchTarget): void { this.#targets.delete(target) }

  /** Queues a job behind the others. */
  push (record: JobRecord): void { this.#queue.push(record) }

  /** Puts jobs back at the head of the queue, in order (their worker gave them back). */
  pushFront (records: JobRecord[]): void { this.#queue.unshift(...records) }

  /** Takes a queued job out of the queue; false when it was not queued. */
  remove (record: JobRecord): boolean {
    const i = this.#queue.indexOf(record)
    if (i < 0) return false
    this.#queue.splice(i, 1)
    return true
  }

  /** Takes every queued job `matches` out of the queue, in order. */
  removeWhere (matches: (record: JobRecord) => boolean): JobRecord[] {
    const removed = this.#queue.filter(matches)
    if (removed.length > 0) this.#queue = this.#queue.filter((record) => !matches(record))
    return removed
  }

  /** Empties the queue, handing back what was in it (the pool is closing). */
  drain (): JobRecord[] { return this.#queue.splice(0) }

  /**
   * Sends queued jobs to workers, in order, skipping those no worker takes now (see #pass). Re-entrant calls (a job
   * that fails while being sent finishes, which dispatches) run once the current pass is over, so
   * a pass never hands a worker more than its policy allows.
   */
  dispatch (): void {
    if (this.#dispatching) {
      this.#again = true
      return
    }
    this.#dispatching = true
    try {
      do {
        this.#again = false
        this.#pass()
      } while (this.#again)
    } finally {
      this.#dispatching = false
    }
  }

  /**
   * A dispatch after the current message is handled: the answers of one batch free their slots
   * together and the worker is refilled once, in one message.
   */
  dispatchSoon (): void {
    if (this.#soon) return
    this.#soon = true
    queueMicrotask(() => {
      this.#soon = false
      this.dispatch()
    })
  }

  /**
   * A job was queued. When some worker has a free slot, it goes at once: its latency is then the
   * job's. When every worker is busy, the job could only be sent ahead (prefetch) to wait there,
   * so it leaves at the end of this turn of the event loop, with every other job queued in the
   * turn — one message, one sendmsg and one read by the worker for all of them, instead of one
   * each (a burst of requests read in one poll phase). Nothing waits longer for it: the worker
   * it goes to is busy with earlier jobs anyway.
   */
  dispatchQueued (): void {
    for (const target of this.#targets.keys()) {
      if (target.accepting && target.load < target.capacity) {
        this.dispatch()
        return
      }
    }
    if (this.#atTurnEnd) return
    this.#atTurnEnd = true
    setImmediate(() => {
      this.#atTurnEnd = false
      this.dispatch()
    })
  }

  #pass (): void {
    if (this.#queue.length === 0) return
    const views = this.#views
    views.length = 0
    for (const [target, view] of this.#targets) {
      if (!target.accepting) continue
      view.reset()
      views.push(view)
    }
    if (views.length === 0) return
    // Workers that serve a kind, worked out once per kind per pass.
    const serving = this.#serving
    serving.clear()
    // First come, first served, per kind and per worker: a job that waits keeps every later job
    // of its kind waiting, and the workers it could have gone to are closed to later jobs in this
    // pass (they will take it first once they have room). Jobs of other kinds still go to other
    // workers: a kind that no live worker serves (its external worker left) holds nothing up.
    const blockedKinds = this.#blockedKinds
    blockedKinds.clear()
    const closed = this.#closed
    closed.clear()
    const kept: JobRecord[] = []
    let i = 0
    for (; i < this.#queue.length && closed.size < views.length; i++) {
      const record = this.#queue[i]
      const kind = record.info.kind
      if (blockedKinds.has(kind)) {
        kept.push(record)
        continue
      }
      let candidates = serving.get(kind)
      if (candidates === undefined) {
        candidates = views.filter((view) => view.target.serves(kind))
        serving.set(kind, candidates)
      }
      // Only workers no earlier waiting job wants: taking one of those would jump that job.
      const open = closed.size === 0 ? candidates : candidates.filter((view) => !closed.has(view))
      const chosen = this.#policy(record, open)
      if (chosen === null) {
        blockedKinds.add(kind)
        for (const view of candidates) closed.add(view)
        kept.push(record)
        continue
      }
      chosen.add(record)
    }
    if (kept.length !== i) this.#queue = i === this.#queue.length ? kept : kept.concat(this.#queue.slice(i))
    let returned: JobRecord[] = []
    for (const view of views) {
      if (view.records.length === 0) continue
      // start() gets its own array: the view's is cleared by the next pass.
      const back = view.target.start(view.records.splice(0))
      if (back.length > 0) returned = returned.concat(back)
    }
    // A worker on its way out gave jobs back: they go first again, to the others.
    if (returned.length > 0) {
      this.#queue.unshift(...returned)
      this.#again = true
    }
  }

  #policy (head: JobRecord, candidates: PassView[]): PassView | null {
    if (candidates.length === 0) return null
    return this.policy.choose({ kind: head.info.kind }, candidates) as PassView | null
  }
}
