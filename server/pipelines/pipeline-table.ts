// The pool's pipelines: running ones, and a bounded history of finished ones (newest last in the
// map, listed newest first), with waiters for `?wait=` and the pipeline.* events.
import type { Pool } from '../pool/pool'
import { newId } from '../pool/ids'
import { PoolError } from '../pool/pool-error'
import type { PoolEventType } from '../pool/types'
import { planPipeline } from './pipeline-plan'
import { PipelineRun } from './pipeline-run'
import type { PipelineInfo, PipelineSpec, PipelineState } from './types'

/** Finished pipelines kept for get and list. */
const DEFAULT_HISTORY = 1000

export class Pipelines {
  readonly #pool: Pool
  readonly #runs = new Map<string, PipelineRun>()
  readonly #finished: string[] = []
  readonly #waiters = new Map<string, Array<() => void>>()
  readonly #historySize: number

  constructor (pool: Pool, options: { historySize?: number } = {}) {
    this.#pool = pool
    this.#historySize = options.historySize ?? pool.options.historySize ?? DEFAULT_HISTORY
  }

  #emit (type: PoolEventType, data: unknown): void {
    // The pool's own event stream: subscribers of /v1/events and library users see one sequence.
    if (this.#pool.listenerCount('event') === 0) return
    this.#pool.emit('event', { type, ts: new Date().toISOString(), data })
  }

  /** Checks the whole spec (refusing it creates nothing), then starts the steps that can start. */
  create (spec: PipelineSpec): PipelineInfo {
    if (this.#pool.closed) throw new PoolError('POOL_CLOSED', 'The pool is shutting down')
    const plan = planPipeline(spec, this.#pool)
    const run = new PipelineRun(newId('pl'), plan, this.#pool, {
      step: (r, step) => { this.#emit('pipeline.step', { pipeline: r.id, step }) },
      ended: (r) => { this.#ended(r) }
    })
    this.#runs.set(run.id, run)
    this.#emit('pipeline.created', run.info())
    run.start()
    return run.info()
  }

  #ended (run: PipelineRun): void {
    this.#emit(`pipeline.${run.state}` as PoolEventType, run.info())
    for (const wake of this.#waiters.get(run.id)?.splice(0) ?? []) wake()
    this.#waiters.delete(run.id)
    this.#finished.push(run.id)
    while (this.#finished.length > this.#historySize) this.#runs.delete(this.#finished.shift()!)
  }

  #lookup (id: string): PipelineRun {
    const run = typeof id === 'string' ? this.#runs.get(id) : undefined
    if (run === undefined) throw new PoolError('NOT_FOUND', `No pipeline ${JSON.stringify(id)}`)
    return run
  }

  get (id: string): PipelineInfo { return this.#lookup(id).info() }

  /** Resolves when the pipeline has finished, or after `ms` with its state then. */
  async wait (id: string, ms: number): Promise<PipelineInfo> {
    const run = this.#lookup(id)
    if (run.finished || ms <= 0) return run.info()
    return await new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null
      const waiters = this.#waiters.get(id) ?? []
      this.#waiters.set(id, waiters)
      const done = (): void => {
        if (timer !== null) clearTimeout(timer)
        resolve(run.info())
      }
      waiters.push(done)
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          const i = waiters.indexOf(done)
          if (i >= 0) waiters.splice(i, 1)
          resolve(run.info())
        }, ms)
      }
    })
  }

  /** Recent pipelines, newest first. */
  list (filter: { state?: PipelineState, limit?: number } = {}): PipelineInfo[] {
    const limit = Math.max(0, Math.min(filter.limit ?? 100, 1000))
    const all = [...this.#runs.values()]
    const out: PipelineInfo[] = []
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      if (filter.state === undefined || all[i].state === filter.state) out.push(all[i].info())
    }
    return out
  }

  /** Cancels every step not yet finished; the pipeline ends `cancelled` once they all have. */
  cancel (id: string): PipelineInfo {
    const run = this.#lookup(id)
    if (run.finished) throw new PoolError('PIPELINE_FINISHED', `Pipeline ${id} already ${run.state}`)
    run.cancel()
    return run.info()
  }
}

/** The pipeline table of a pool (Pool.pipelines makes one on first use). */
export function createPipelines (pool: Pool, options: { historySize?: number } = {}): Pipelines {
  return new Pipelines(pool, options)
}
