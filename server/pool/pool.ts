// The engine, usable without HTTP: a buffer store, a bounded job queue, and worker processes
// that run each job with its input descriptors. The REST layer is a thin skin over this;
// applications can embed it directly:
//
//   const pool = await createPool({ workers: 2 })
//   await pool.whenReady()
//   const buf = pool.store.create({ size: 5 }); pool.store.write(buf.id, 0, Buffer.from('hello'))
//   pool.store.seal(buf.id)
//   const job = await pool.submit({ kind: 'checksum', inputs: [buf.id] })
//
// This class is the public face only (as piscina's Piscina over its #pool): every call goes to
// the private engine (engine.ts) and the parts it wires.
import { EventEmitter } from 'node:events'
import type { ExternalWorkerConnection } from '../worker-socket/external-worker-connection'
import { PoolError } from './pool-error'
import { createPipelines, type PipelineInfo, type PipelineSpec, type Pipelines } from '../pipelines'
import { checkTtl, type BufferStore } from './buffer-store'
import { Engine } from './engine'
import { resolvePoolOptions, type PoolOptions, type ResolvedPoolOptions } from './pool-options'
import type { JobInfo, JobOrigin, JobSpec, JobState, KindInfo, PoolEvent, PoolEventType, PoolStats, WorkerInfo } from './types'

export { resolvePoolOptions, type PoolOptions, type ResolvedPoolOptions } from './pool-options'
export { AUTO_PREFETCH, SHORT_RUN_MS } from './dispatch-policy'

export class Pool extends EventEmitter<{ event: [PoolEvent] }> {
  readonly options: ResolvedPoolOptions
  readonly store: BufferStore
  attachSocket: string | null
  /** The worker socket's path, when one is served (server/plugins/worker-socket.ts). */
  workerSocket: string | null = null
  #engine: Engine
  #statsTimer: NodeJS.Timeout

  constructor (options: PoolOptions = {}) {
    super()
    this.options = resolvePoolOptions(options)
    if (this.options.outputTtlMs !== null) checkTtl(this.options.outputTtlMs, 'outputTtlMs')
    this.attachSocket = options.attachSocket ?? null
    this.#engine = new Engine(this.options, options, {
      emit: (type, data) => this.#emit(type, data),
      listening: () => this.listenerCount('event') > 0
    })
    this.store = this.#engine.store
    this.#statsTimer = setInterval(() => this.#emit('pool.stats', this.stats()), 1000)
    this.#statsTimer.unref()
  }

  #emit (type: PoolEventType, data: unknown): void {
    if (this.listenerCount('event') === 0) return
    this.emit('event', { type, ts: new Date().toISOString(), data })
  }

  /**
   * True once every worker has completed its handshake at least once and none is hung now (a
   * worker silent past heartbeatTimeoutMs makes the pool unready until it is replaced).
   */
  get ready (): boolean { return this.#engine.ready }

  /** True while every worker is up and answering (none starting, restarting or hung). */
  get healthy (): boolean { return this.#engine.healthy }

  /**
   * Resolves once every worker is ready; rejects with the worker's own message when one cannot
   * start (a kind file that does not load, a params schema that does not compile).
   */
  whenReady (): Promise<void> { return this.#engine.whenReady() }

  get closed (): boolean { return this.#engine.closed }

  /**
   * Validates and queues a job; returns it at once (state `queued`, or `running` if a worker was
   * free). `origin` is for pipelines: the job's `pipeline` and `step`, and its outputs' ttl.
   */
  enqueue (spec: JobSpec, origin?: JobOrigin): JobInfo { return this.#engine.enqueue(spec, origin) }

  /** Queues a job and resolves with it once it has finished (in any terminal state). */
  async submit (spec: JobSpec): Promise<JobInfo> {
    const job = this.enqueue(spec)
    return await this.wait(job.id, Infinity)
  }

  get (id: string): JobInfo { return this.#engine.jobs.snapshot(this.#engine.jobs.lookup(id)) }

  /** Resolves when the job has finished, or after `ms` with its state then. */
  wait (id: string, ms: number): Promise<JobInfo> { return this.#engine.jobs.wait(id, ms) }

  /** Recent jobs, newest first. */
  list (filter: { state?: JobState, limit?: number } = {}): JobInfo[] { return this.#engine.jobs.list(filter) }

  /**
   * Cancels a job. A queued one is cancelled at once; a running one is asked to stop (its kind's
   * AbortSignal fires; its thread, then its worker, is killed if it will not) and becomes
   * `cancelled` when it has.
   */
  cancel (id: string): JobInfo { return this.#engine.cancel(id) }

  /** The kinds the workers reported, with who serves each. */
  kinds (): KindInfo[] { return this.#engine.kindList() }

  /**
   * The params a job of `kind` would run with (its schema's defaults filled in), or the PoolError
   * enqueue() would refuse them with (UNKNOWN_KIND, INVALID_PARAMS; NOT_READY before any worker
   * reported its kinds). Nothing is queued: pipelines check every step with it before starting any.
   */
  checkParams (kind: string, params: unknown): Record<string, unknown> {
    if (this.#engine.kinds.empty) throw new PoolError('NOT_READY', 'No worker has reported its kinds yet; await pool.whenReady() first')
    return this.#engine.kinds.validate(kind, params)
  }

  // ---- pipelines (server/pipelines/, built over this class's public methods) ---------------

  #pipelines: Pipelines | null = null

  /** The pool's pipeline table, made on first use. */
  get pipelines (): Pipelines {
    if (this.#pipelines === null) this.#pipelines = createPipelines(this)
    return this.#pipelines
  }

  /** Validates and starts a pipeline of jobs (see server/pipelines/); returns it at once. */
  pipeline (spec: PipelineSpec): PipelineInfo { return this.pipelines.create(spec) }

  workers (): WorkerInfo[] { return this.#engine.workers() }

  stats (): PoolStats { return this.#engine.stats(this.attachSocket, this.workerSocket) }

  /**
   * Serves jobs through an external worker welcomed on a worker socket (server/worker-socket/):
   * its declared kinds are checked against the registry, then it is dispatched to like the pool's
   * own workers; its disconnect is handled like a worker's exit (no restart: it reconnects).
   */
  addExternalWorker (connection: ExternalWorkerConnection): void { this.#engine.addExternalWorker(connection) }

  /** The worker processes' ids (tests and the attach socket use them). */
  workerPids (): number[] { return this.#engine.workerPids() }

  /**
   * Stops: refuses new jobs, cancels queued ones, lets running jobs finish for `graceMs`, then
   * cancels them, stops the workers and frees every buffer.
   */
  async close (options: { graceMs?: number } = {}): Promise<void> {
    clearInterval(this.#statsTimer)
    await this.#engine.close(options.graceMs ?? 10_000)
  }
}

/** Starts a pool: spawns its workers (use `pool.whenReady()` to wait for their handshake). */
export async function createPool (options: PoolOptions = {}): Promise<Pool> {
  return new Pool(options)
}
