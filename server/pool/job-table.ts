// Every job the pool knows: its record while it lives, its waiters, and a bounded history of the
// finished ones (pool.list()). The table decides nothing about where or when a job
// runs; it keeps the facts and hands out copies of them.
import type { BufferLease } from './buffer-store'
import { newId } from './ids'
import { PoolError } from './pool-error'
import type { JobError, JobInfo, JobState } from './types'
import type { WorkerLink } from './worker-link'

export const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled'])

export interface JobRecord {
  info: JobInfo
  leases: BufferLease[]
  /** The worker running it, from dispatch until it ends or is given back. */
  link: WorkerLink | null
  /** Why the job is being stopped, once someone asked. */
  stopping: 'CANCELLED' | 'TIMEOUT' | null
  timeoutTimer: NodeJS.Timeout | null
  killTimer: NodeJS.Timeout | null
  removeHolders: Array<() => void>
  waiters: Array<() => void>
  lastProgressEvent: number
  /** Ttl of the job's outputs (null: they do not expire). */
  outputTtlMs: number | null
  /** Workers near its inputs (see dispatch-policy.ts preferNear), set when it is queued. */
  near: string[]
}

export interface NewJob {
  kind: string
  inputs: string[]
  params: Record<string, unknown>
  maxAttempts: number
  timeoutMs: number | null
  /** The pipeline and step it runs for (default null: outside pipelines). */
  pipeline?: string | null
  step?: string | null
  /** Ttl of its outputs (default null: they do not expire). */
  outputTtlMs?: number | null
}

/** Finish times kept for the throughput figure: trimmed by half when this many pile up. */
const FINISH_TIMES_KEPT = 200_000

export class JobTable {
  readonly historySize: number
  #jobs = new Map<string, JobRecord>()
  #finished: string[] = []
  #finishTimes: number[] = []
  #jobsDone = 0

  constructor (historySize: number) {
    this.historySize = historySize
  }

  /** A new queued record; the job holds `leases` (its inputs) until it ends. */
  create (job: NewJob, leases: BufferLease[]): JobRecord {
    const record: JobRecord = {
      info: {
        id: newId('job'),
        kind: job.kind,
        state: 'queued',
        inputs: [...job.inputs],
        outputs: [],
        params: job.params,
        result: null,
        error: null,
        attempts: 0,
        maxAttempts: job.maxAttempts,
        timeoutMs: job.timeoutMs,
        workerPid: null,
        progress: 0,
        queuedAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        pipeline: job.pipeline ?? null,
        step: job.step ?? null
      },
      leases,
      link: null,
      stopping: null,
      timeoutTimer: null,
      killTimer: null,
      removeHolders: [],
      waiters: [],
      lastProgressEvent: 0,
      outputTtlMs: job.outputTtlMs ?? null,
      near: []
    }
    this.#jobs.set(record.info.id, record)
    return record
  }

  /** The live or remembered record; NOT_FOUND when the id is unknown or has left the history. */
  lookup (id: string): JobRecord {
    const record = this.#jobs.get(id)
    if (record === undefined) throw new PoolError('NOT_FOUND', `No job ${JSON.stringify(id)}`)
    return record
  }

  /** The record of a job still in the table, or undefined (a worker may name any id). */
  find (id: unknown): JobRecord | undefined {
    return typeof id === 'string' ? this.#jobs.get(id) : undefined
  }

  /** A copy a caller may keep and change. */
  snapshot (record: JobRecord): JobInfo {
    const info = record.info
    return { ...info, inputs: [...info.inputs], outputs: [...info.outputs], error: info.error === null ? null : { ...info.error } }
  }

  /** Resolves when the job has finished, or after `ms` with its state then. */
  wait (id: string, ms: number): Promise<JobInfo> {
    const record = this.lookup(id)
    if (TERMINAL.has(record.info.state) || ms <= 0) return Promise.resolve(this.snapshot(record))
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null
      const done = (): void => {
        if (timer !== null) clearTimeout(timer)
        resolve(this.snapshot(record))
      }
      record.waiters.push(done)
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          const i = record.waiters.indexOf(done)
          if (i >= 0) record.waiters.splice(i, 1)
          resolve(this.snapshot(record))
        }, ms)
      }
    })
  }

  /** Recent jobs, newest first. */
  list (filter: { state?: JobState, limit?: number } = {}): JobInfo[] {
    const limit = Math.max(0, Math.min(filter.limit ?? 100, 1000))
    const out: JobInfo[] = []
    const all = [...this.#jobs.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      if (filter.state === undefined || all[i].info.state === filter.state) out.push(this.snapshot(all[i]))
    }
    return out
  }

  /** Jobs in state `running` now. */
  running (): JobRecord[] {
    return [...this.#jobs.values()].filter((r) => r.info.state === 'running')
  }

  /**
   * Records the end of a job (its state, error and time) and counts it. The caller announces it,
   * then calls `retire`, so that waiters see the event's state.
   */
  settle (record: JobRecord, state: JobState, error: JobError | null): JobInfo {
    const info = record.info
    info.state = state
    info.error = error
    info.finishedAt = new Date().toISOString()
    this.#jobsDone++
    this.#finishTimes.push(Date.now())
    if (this.#finishTimes.length > FINISH_TIMES_KEPT) this.#finishTimes.splice(0, FINISH_TIMES_KEPT / 2)
    return this.snapshot(record)
  }

  /** Wakes the finished job's waiters and keeps it in the history, dropping the oldest beyond its bound. */
  retire (record: JobRecord): void {
    for (const wake of record.waiters.splice(0)) wake()
    this.#finished.push(record.info.id)
    while (this.#finished.length > this.historySize) this.#jobs.delete(this.#finished.shift()!)
  }

  get jobsDone (): number { return this.#jobsDone }

  /** Jobs finished within the last second. */
  throughput (now = Date.now()): number {
    let recent = 0
    for (let i = this.#finishTimes.length - 1; i >= 0 && now - this.#finishTimes[i] <= 1000; i--) recent++
    return recent
  }
}
