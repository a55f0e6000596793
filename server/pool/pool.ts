// The engine, usable without HTTP: a buffer store, a bounded job queue, and a dispatcher that
// sends each job with its input descriptors to the least-loaded worker process. The REST layer
// is a thin skin over this; applications can embed it directly:
//
//   const pool = await createPool({ workers: 2 })
//   const buf = pool.store.create({ size: 5 }); pool.store.write(buf.id, 0, Buffer.from('hello'))
//   pool.store.seal(buf.id)
//   const job = await pool.submit({ kind: 'checksum', inputs: [buf.id] })
import { EventEmitter } from 'node:events'
import os from 'node:os'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import * as native from '../../native'
import type { JobKind } from '../../workers/kind-api'
import { loadKinds } from '../../workers/kind-loader'
import { encode, packBatches, type WorkerMessage } from '../../workers/protocol'
import { BufferStore, checkTtl, type BufferLease } from './buffer-store'
import { createPipelines, type PipelineInfo, type PipelineSpec, type Pipelines } from '../pipelines'
import { newId } from './ids'
import { PoolError } from './pool-error'
import { Supervisor, type WorkerSlot } from './supervisor'
import type { JobError, JobInfo, JobSpec, JobState, KindInfo, PoolEvent, PoolEventType, PoolStats, WorkerInfo } from './types'

export interface PoolOptions {
  /** Worker processes (default: one per core). */
  workers?: number
  /** piscina threads per worker = jobs a worker runs at once (default 1). */
  threadsPerWorker?: number
  /**
   * Jobs sent to a worker ahead of a free thread, where they wait in the worker's own queue. More
   * in flight per worker means fewer round trips spent waiting: several jobs and answers per
   * wake-up. But a job sent ahead is committed to its worker: it waits there behind the jobs
   * before it even if another worker goes idle, and it counts as running (its `startedAt` and
   * `timeoutMs` start, and a crash of its worker uses up an attempt) from when it was sent.
   *
   * `'auto'` (default): only short jobs go ahead — of kinds whose recent runs took under
   * SHORT_RUN_MS on their thread — up to AUTO_PREFETCH per worker, and only to a worker that is
   * running nothing but such jobs, so no job ever waits behind a long one. A number: that many
   * ahead of the threads, whatever the kind. 0: never.
   */
  prefetch?: number | 'auto'
  /** Total bytes all buffers may hold (default: half of physical memory). */
  maxMemoryBytes?: number
  /** Largest single buffer (default and ceiling: the quota, at most 4 GiB). */
  maxBufferBytes?: number
  /** Jobs waiting for a worker before submit refuses with QUEUE_FULL (default 10,000). */
  maxQueue?: number
  /** Folder of custom kind modules. */
  kindsDir?: string | null
  /** Finished jobs kept for GET /v1/jobs (default 1,000). */
  historySize?: number
  /** How long a cancelled or timed-out job may take to stop before its worker is killed (default 3 s). */
  killAfterMs?: number
  /** Extra environment for worker processes. */
  workerEnv?: Record<string, string>
  /** A different worker program speaking workers/protocol.ts (tests use a hostile one). */
  workerScript?: string
  /** Structured log sink (pino-compatible subset). */
  logger?: { info: (o: object, m?: string) => void, warn: (o: object, m?: string) => void, error: (o: object, m?: string) => void }
  /** The attach socket's path, when one is served (reported in stats). */
  attachSocket?: string | null
  /** Job outputs expire (are deleted) this long after they are made, unless a job says otherwise (default: never). */
  outputTtlMs?: number | null
}

export interface ResolvedPoolOptions {
  workers: number
  threadsPerWorker: number
  prefetch: number | 'auto'
  maxMemoryBytes: number
  maxBufferBytes: number
  maxQueue: number
  kindsDir: string | null
  historySize: number
  killAfterMs: number
  outputTtlMs: number | null
}

const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled'])
/** `prefetch: 'auto'`: a kind is short while its runs average (EWMA) under this, on the thread. */
export const SHORT_RUN_MS = 1
/** `prefetch: 'auto'`: runs of a kind seen before it can count as short. */
const SHORT_RUN_SAMPLES = 8
/** `prefetch: 'auto'`: short jobs sent to a worker ahead of its threads (measured best for no-ops). */
export const AUTO_PREFETCH = 16
const PROGRESS_EVENTS_PER_SECOND = 10
/** Outputs of a kind that does not declare how many it makes. */
const DEFAULT_KIND_OUTPUTS = { min: 0, max: 256 }

interface JobRecord {
  info: JobInfo
  leases: BufferLease[]
  slot: WorkerSlot | null
  /** Why the job is being stopped, once someone asked. */
  stopping: 'CANCELLED' | 'TIMEOUT' | null
  timeoutTimer: NodeJS.Timeout | null
  killTimer: NodeJS.Timeout | null
  removeHolders: Array<() => void>
  waiters: Array<() => void>
  lastProgressEvent: number
  /** Ttl of the job's outputs (null: they do not expire). */
  outputTtlMs: number | null
}

/** How long a kind's jobs run on their thread: an exponentially weighted mean. */
interface RunTimes { meanMs: number, samples: number }

export function resolvePoolOptions (options: PoolOptions = {}): ResolvedPoolOptions {
  const maxMemoryBytes = options.maxMemoryBytes ?? Math.floor(os.totalmem() / 2)
  return {
    workers: options.workers ?? Math.max(1, os.availableParallelism()),
    threadsPerWorker: options.threadsPerWorker ?? 1,
    prefetch: options.prefetch === undefined || options.prefetch === 'auto' ? 'auto' : Math.max(0, Math.floor(options.prefetch)),
    maxMemoryBytes,
    maxBufferBytes: Math.min(options.maxBufferBytes ?? maxMemoryBytes, maxMemoryBytes, 4 * 1024 ** 3),
    maxQueue: options.maxQueue ?? 10_000,
    kindsDir: options.kindsDir ?? null,
    historySize: options.historySize ?? 1000,
    killAfterMs: options.killAfterMs ?? 3000,
    outputTtlMs: options.outputTtlMs ?? null
  }
}

export class Pool extends EventEmitter<{ event: [PoolEvent] }> {
  readonly options: ResolvedPoolOptions
  readonly store: BufferStore
  attachSocket: string | null
  #supervisor: Supervisor
  #kinds: Map<string, JobKind>
  #checks = new Map<string, TypeCheck<TSchema>>()
  #jobs = new Map<string, JobRecord>()
  /** Per kind, how long its jobs ran on their threads (prefetch 'auto' goes by it). */
  #runTimes = new Map<string, RunTimes>()
  /** Live buffers each worker was sent as an input (it may keep them mapped between jobs). */
  #mappedBy = new Map<string, Set<WorkerSlot>>()
  #dispatchPending = false
  #queue: JobRecord[] = []
  #finished: string[] = []
  #finishTimes: number[] = []
  #jobsDone = 0
  #closed = false
  #everReady = new Set<string>()
  #readyWaiters: Array<() => void> = []
  #statsTimer: NodeJS.Timeout
  #logger: PoolOptions['logger']

  constructor (options: PoolOptions = {}) {
    super()
    this.options = resolvePoolOptions(options)
    if (this.options.outputTtlMs !== null) checkTtl(this.options.outputTtlMs, 'outputTtlMs')
    this.attachSocket = options.attachSocket ?? null
    this.#logger = options.logger
    this.#kinds = loadKinds(this.options.kindsDir)
    for (const kind of this.#kinds.values()) {
      if (kind.params !== undefined) this.#checks.set(kind.name, TypeCompiler.Compile(kind.params))
    }
    this.store = new BufferStore(this.options)
    this.store.on('buffer.created', (info) => this.#emit('buffer.created', info))
    this.store.on('buffer.sealed', (info) => this.#emit('buffer.sealed', info))
    this.store.on('buffer.deleted', (info) => {
      this.#forgetMappings(info.id)
      this.#emit('buffer.deleted', info)
    })

    this.#supervisor = new Supervisor({
      workers: this.options.workers,
      threadsPerWorker: this.options.threadsPerWorker,
      kindsDir: this.options.kindsDir,
      env: options.workerEnv,
      script: options.workerScript,
      log: (level, message, fields) => this.#logger?.[level]({ ...fields }, message)
    })
    this.#supervisor.on('ready', (slot) => this.#onWorkerReady(slot))
    this.#supervisor.on('message', (slot, message, fds) => this.#onWorkerMessage(slot, message, fds))
    this.#supervisor.on('exited', (slot, code, signal) => this.#onWorkerExited(slot, code, signal))
    this.#supervisor.start()

    this.#statsTimer = setInterval(() => this.#emit('pool.stats', this.stats()), 1000)
    this.#statsTimer.unref()
  }

  #emit (type: PoolEventType, data: unknown): void {
    if (this.listenerCount('event') === 0) return
    this.emit('event', { type, ts: new Date().toISOString(), data })
  }

  /** True once every worker has completed its handshake at least once. */
  get ready (): boolean { return this.#everReady.size === this.#supervisor.slots.length }

  whenReady (): Promise<void> {
    if (this.ready) return Promise.resolve()
    return new Promise((resolve) => this.#readyWaiters.push(resolve))
  }

  get closed (): boolean { return this.#closed }

  // ---- jobs ------------------------------------------------------------------------------

  /** Validates and queues a job; returns it at once (state `queued`). */
  enqueue (spec: JobSpec): JobInfo {
    if (this.#closed) throw new PoolError('POOL_CLOSED', 'The pool is shutting down')
    const kind = this.#kinds.get(spec.kind)
    if (kind === undefined) throw new PoolError('UNKNOWN_KIND', `No job kind ${JSON.stringify(spec.kind)}; GET /v1/kinds lists them`)
    const inputs = spec.inputs ?? []
    const bounds = kind.inputs ?? { min: 0, max: 16 }
    if (!Array.isArray(inputs) || inputs.length < bounds.min || inputs.length > bounds.max) {
      throw new PoolError('INVALID_INPUTS', `Kind ${kind.name} takes ${bounds.min === bounds.max ? bounds.min : `${bounds.min} to ${bounds.max}`} input buffer(s); ${Array.isArray(inputs) ? inputs.length : 'none'} given`)
    }
    for (const id of inputs) {
      const info = this.store.get(id) // NOT_FOUND
      if (!info.sealed) throw new PoolError('BUFFER_NOT_SEALED', `Input ${id} is not sealed: seal it first so its bytes cannot change under the job`)
    }
    const params = this.#validateParams(kind, spec.params ?? {})
    if (spec.timeoutMs !== undefined && (!Number.isSafeInteger(spec.timeoutMs) || spec.timeoutMs < 1)) {
      throw new PoolError('INVALID_PARAMS', 'timeoutMs must be a positive integer')
    }
    if (spec.outputTtlMs !== undefined && spec.outputTtlMs !== null) checkTtl(spec.outputTtlMs, 'outputTtlMs')
    const maxAttempts = spec.maxAttempts ?? 1
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
      throw new PoolError('INVALID_PARAMS', 'maxAttempts must be an integer from 1 to 10')
    }
    if (this.#queue.length >= this.options.maxQueue) {
      throw new PoolError('QUEUE_FULL', `The queue is full (${this.options.maxQueue} jobs waiting); retry later`)
    }
    // The job holds its inputs from now on: deleting one hides it but keeps its memory for us.
    const leases = inputs.map((id) => this.store.acquire(id))
    const record: JobRecord = {
      info: {
        id: newId('job'),
        kind: kind.name,
        state: 'queued',
        inputs: [...inputs],
        outputs: [],
        params,
        result: null,
        error: null,
        attempts: 0,
        maxAttempts,
        timeoutMs: spec.timeoutMs ?? null,
        workerPid: null,
        progress: 0,
        queuedAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        pipeline: typeof spec.pipeline === 'string' ? spec.pipeline : null,
        step: typeof spec.step === 'string' ? spec.step : null
      },
      leases,
      slot: null,
      stopping: null,
      timeoutTimer: null,
      killTimer: null,
      removeHolders: [],
      waiters: [],
      lastProgressEvent: 0,
      outputTtlMs: spec.outputTtlMs === undefined ? this.options.outputTtlMs : spec.outputTtlMs
    }
    this.#jobs.set(record.info.id, record)
    this.#queue.push(record)
    this.#emit('job.queued', this.#snapshot(record))
    this.#dispatch()
    // After dispatch: a job that found a free worker is already `running`.
    return this.#snapshot(record)
  }

  /** Queues a job and resolves with it once it has finished (in any terminal state). */
  async submit (spec: JobSpec): Promise<JobInfo> {
    const job = this.enqueue(spec)
    return await this.wait(job.id, Infinity)
  }

  #validateParams (kind: JobKind, params: unknown): Record<string, unknown> {
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new PoolError('INVALID_PARAMS', 'params must be an object')
    }
    const check = this.#checks.get(kind.name)
    if (check === undefined || kind.params === undefined) return { ...(params as Record<string, unknown>) }
    const value = Value.Default(kind.params, structuredClone(params)) as Record<string, unknown>
    if (!check.Check(value)) {
      const first = check.Errors(value).First()
      const where = first?.path ? `params${first.path.replace(/\//g, '.')}` : 'params'
      throw new PoolError('INVALID_PARAMS', `${where}: ${first?.message ?? 'invalid'} (kind ${kind.name})`)
    }
    return value
  }

  #lookup (id: string): JobRecord {
    const record = this.#jobs.get(id)
    if (record === undefined) throw new PoolError('NOT_FOUND', `No job ${JSON.stringify(id)}`)
    return record
  }

  #snapshot (record: JobRecord): JobInfo {
    const info = record.info
    return { ...info, inputs: [...info.inputs], outputs: [...info.outputs], error: info.error === null ? null : { ...info.error } }
  }

  get (id: string): JobInfo { return this.#snapshot(this.#lookup(id)) }

  /** Resolves when the job has finished, or after `ms` with its state then. */
  wait (id: string, ms: number): Promise<JobInfo> {
    const record = this.#lookup(id)
    if (TERMINAL.has(record.info.state) || ms <= 0) return Promise.resolve(this.#snapshot(record))
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null
      const done = (): void => {
        if (timer !== null) clearTimeout(timer)
        resolve(this.#snapshot(record))
      }
      record.waiters.push(done)
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          const i = record.waiters.indexOf(done)
          if (i >= 0) record.waiters.splice(i, 1)
          resolve(this.#snapshot(record))
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
      if (filter.state === undefined || all[i].info.state === filter.state) out.push(this.#snapshot(all[i]))
    }
    return out
  }

  /**
   * Cancels a job. A queued one is cancelled at once; a running one is asked to stop (its kind's
   * AbortSignal fires; its thread, then its worker, is killed if it will not) and becomes
   * `cancelled` when it has.
   */
  cancel (id: string): JobInfo {
    const record = this.#lookup(id)
    if (TERMINAL.has(record.info.state)) throw new PoolError('JOB_FINISHED', `Job ${id} already ${record.info.state}`)
    if (record.info.state === 'queued') {
      this.#queue.splice(this.#queue.indexOf(record), 1)
      this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'Cancelled before it started' })
    } else {
      this.#stop(record, 'CANCELLED')
    }
    return this.#snapshot(record)
  }

  #stop (record: JobRecord, reason: 'CANCELLED' | 'TIMEOUT'): void {
    if (record.stopping !== null || record.slot === null) return
    record.stopping = reason
    const slot = record.slot
    this.#supervisor.send(slot, { t: 'cancel', job: record.info.id, reason })
    // The worker terminates the thread after its own grace; if even that fails, the process goes.
    record.killTimer = setTimeout(() => {
      this.#logger?.warn({ job: record.info.id, worker: slot.id, pid: slot.pid }, 'job would not stop; killing its worker')
      this.#supervisor.kill(slot, 'SIGKILL')
    }, this.options.killAfterMs)
  }

  // ---- dispatch --------------------------------------------------------------------------

  /** Whether jobs of `kind` have lately run under SHORT_RUN_MS (prefetch 'auto'). */
  #isShort (kind: string): boolean {
    const times = this.#runTimes.get(kind)
    return times !== undefined && times.samples >= SHORT_RUN_SAMPLES && times.meanMs < SHORT_RUN_MS
  }

  #observeRun (kind: string, runMs: unknown): void {
    if (typeof runMs !== 'number' || !Number.isFinite(runMs) || runMs < 0) return
    const times = this.#runTimes.get(kind)
    if (times === undefined) this.#runTimes.set(kind, { meanMs: runMs, samples: 1 })
    else {
      times.meanMs += (runMs - times.meanMs) * 0.2
      times.samples++
    }
  }

  /** Whether `slot` may take `record` now, with `batch` already on its way to it in this pass. */
  #accepts (slot: WorkerSlot, record: JobRecord, batch: JobRecord[] | undefined): boolean {
    if (slot.state !== 'ready') return false
    const load = slot.running.size + (batch?.length ?? 0)
    if (load < slot.threads) return true
    const prefetch = this.options.prefetch
    if (prefetch !== 'auto') return load < slot.threads + prefetch
    // Ahead of the threads only short behind short: nothing may wait behind a long job.
    if (load >= slot.threads + AUTO_PREFETCH || !this.#isShort(record.info.kind)) return false
    for (const id of slot.running) {
      const other = this.#jobs.get(id)
      if (other !== undefined && !this.#isShort(other.info.kind)) return false
    }
    return batch === undefined || batch.every((other) => this.#isShort(other.info.kind))
  }

  #dispatch (): void {
    // The jobs one worker gets in this pass leave together (#start): one message, one wake-up.
    const batches = new Map<WorkerSlot, JobRecord[]>()
    const load = (slot: WorkerSlot): number => slot.running.size + (batches.get(slot)?.length ?? 0)
    while (this.#queue.length > 0) {
      const head = this.#queue[0]
      let best: WorkerSlot | null = null
      for (const slot of this.#supervisor.slots) {
        if (!this.#accepts(slot, head, batches.get(slot))) continue
        if (best === null || load(slot) < load(best)) best = slot
      }
      if (best === null) break
      const record = this.#queue.shift()!
      const batch = batches.get(best)
      if (batch === undefined) batches.set(best, [record])
      else batch.push(record)
    }
    let refused = false
    for (const [slot, records] of batches) if (!this.#start(records, slot)) refused = true
    // A worker on its way out gave its jobs back (at the head of the queue): try the others.
    if (refused) this.#dispatch()
  }

  /** A #dispatch after the current message is handled: the answers of one batch free their slots together. */
  #dispatchSoon (): void {
    if (this.#dispatchPending) return
    this.#dispatchPending = true
    queueMicrotask(() => {
      this.#dispatchPending = false
      this.#dispatch()
    })
  }

  /**
   * Sends jobs to a worker in as few messages as the channel's limits allow (protocol.ts
   * packBatches). False when the worker is on its way out: the jobs it did not take are back at
   * the head of the queue, in order, and its exit will bring it back.
   */
  #start (records: JobRecord[], slot: WorkerSlot): boolean {
    const outgoing: Array<{ record: JobRecord, data: Buffer, fds: number[] }> = []
    for (const record of records) {
      const fds: number[] = []
      try {
        // Read-only descriptors (dups of the store's own for sealed inputs): the worker can map
        // its inputs PROT_READ and nothing more.
        for (const lease of record.leases) fds.push(lease.readOnlyDescriptor())
      } catch (err) {
        for (const fd of fds) native.close(fd)
        this.#finish(record, 'failed', { code: 'RESOURCE_EXHAUSTED', message: `Could not pass the inputs to a worker: ${(err as Error).message}` })
        continue
      }
      const data = encode({
        t: 'run',
        job: record.info.id,
        kind: record.info.kind,
        params: record.info.params,
        inputs: record.leases.map((lease) => ({ id: lease.info.id, generation: lease.generation, size: lease.info.size })),
        fdCount: fds.length,
        maxOutputBytes: this.store.available
      })
      outgoing.push({ record, data, fds })
    }
    let next = 0
    for (const message of packBatches(outgoing)) {
      const sent = this.#supervisor.send(slot, message.data, message.fds)
      // send() made the worker its own copies (or queued duplicates); ours are done.
      for (const fd of message.fds) native.close(fd)
      if (!sent) {
        slot.state = slot.state === 'ready' ? 'stopping' : slot.state
        for (const rest of outgoing.slice(next + message.count)) for (const fd of rest.fds) native.close(fd)
        this.#queue.unshift(...outgoing.slice(next).map((o) => o.record))
        return false
      }
      for (const o of outgoing.slice(next, next + message.count)) this.#running(o.record, slot)
      next += message.count
    }
    return true
  }

  /** The job was handed to `slot`. */
  #running (record: JobRecord, slot: WorkerSlot): void {
    for (const lease of record.leases) {
      // Workers keep input mappings between jobs; remember who got a live buffer, to tell them
      // when it is deleted (a deleted one can no longer be cached: see input-mappings.ts).
      if (this.store.has(lease.info.id)) {
        let slots = this.#mappedBy.get(lease.info.id)
        if (slots === undefined) this.#mappedBy.set(lease.info.id, slots = new Set())
        slots.add(slot)
      }
    }
    record.slot = slot
    slot.running.add(record.info.id)
    const info = record.info
    info.state = 'running'
    info.attempts++
    info.workerPid = slot.pid
    info.startedAt = new Date().toISOString()
    info.progress = 0
    if (info.timeoutMs !== null) {
      record.timeoutTimer = setTimeout(() => this.#stop(record, 'TIMEOUT'), info.timeoutMs)
    }
    this.#emit('job.started', this.#snapshot(record))
  }

  /** Tells the workers that were sent this buffer to unmap it: their mapping would keep its memory alive. */
  #forgetMappings (id: string): void {
    const slots = this.#mappedBy.get(id)
    if (slots === undefined) return
    this.#mappedBy.delete(id)
    for (const slot of slots) if (slot.state === 'ready' || slot.state === 'stopping') this.#supervisor.send(slot, { t: 'forget', buffers: [id] })
  }

  // ---- worker messages -------------------------------------------------------------------

  #onWorkerReady (slot: WorkerSlot): void {
    this.#everReady.add(slot.id)
    this.#emit('worker.started', slot.info())
    if (this.ready) for (const resolve of this.#readyWaiters.splice(0)) resolve()
    this.#dispatch()
  }

  #onWorkerMessage (slot: WorkerSlot, message: WorkerMessage, fds: number[]): void {
    const record = 'job' in message ? this.#jobs.get(message.job) : undefined
    if (record === undefined || record.slot !== slot || message.t === 'hello') {
      for (const fd of fds) native.close(fd)
      return
    }
    switch (message.t) {
      case 'started':
        for (const fd of fds) native.close(fd)
        record.leases.forEach((lease, i) => {
          record.removeHolders.push(lease.addHolder({ pid: slot.pid ?? 0, fd: Number.isInteger(message.fds?.[i]) ? message.fds[i] : null, role: 'worker' }))
        })
        return
      case 'progress': {
        for (const fd of fds) native.close(fd)
        record.info.progress = Math.min(1, Math.max(0, Number(message.progress) || 0))
        const now = Date.now()
        if (now - record.lastProgressEvent >= 1000 / PROGRESS_EVENTS_PER_SECOND) {
          record.lastProgressEvent = now
          this.#emit('job.progress', { id: record.info.id, progress: record.info.progress, state: record.info.state })
        }
        return
      }
      case 'done':
        slot.jobsDone++
        this.#onDone(record, message, fds)
    }
  }

  #onDone (record: JobRecord, message: Extract<WorkerMessage, { t: 'done' }>, fds: number[]): void {
    if (record.stopping === null) this.#observeRun(record.info.kind, message.runMs)
    if (!message.ok) {
      for (const fd of fds) native.close(fd)
      const error = message.error ?? { code: 'HANDLER_ERROR', message: 'The job failed' }
      if (record.stopping === 'CANCELLED' || error.code === 'CANCELLED') {
        this.#finish(record, 'cancelled', { code: 'CANCELLED', message: error.message })
      } else if (record.stopping === 'TIMEOUT') {
        this.#finish(record, 'failed', { code: 'TIMEOUT', message: `The job ran longer than ${record.info.timeoutMs} ms` })
      } else {
        this.#finish(record, 'failed', error)
      }
      return
    }
    const outputs = Array.isArray(message.outputs) ? message.outputs : []
    if (fds.length !== outputs.length || fds.length !== message.fdCount) {
      for (const fd of fds) native.close(fd)
      this.#finish(record, 'failed', { code: 'PROTOCOL_ERROR', message: `Expected ${outputs.length} output descriptors, received ${fds.length}` })
      return
    }
    // Each output must be a sealed memfd within the limits; the store closes any it refuses.
    const adopted: string[] = []
    for (let i = 0; i < fds.length; i++) {
      try {
        const info = record.info
        adopted.push(this.store.adopt(fds[i], {
          name: `${info.id}-out${i}`,
          producedBy: info.pipeline === null ? { job: info.id } : { job: info.id, pipeline: info.pipeline, step: info.step ?? undefined },
          ttlMs: record.outputTtlMs ?? undefined
        }).id)
      } catch (err) {
        for (const fd of fds.slice(i + 1)) native.close(fd)
        for (const id of adopted) this.store.delete(id)
        const e = err as PoolError
        this.#finish(record, 'failed', { code: e.code ?? 'HANDLER_ERROR', message: `Output ${i} refused: ${e.message}` })
        return
      }
    }
    record.info.outputs = adopted
    record.info.result = message.result ?? {}
    record.info.progress = 1
    this.#finish(record, 'succeeded', null)
  }

  #onWorkerExited (slot: WorkerSlot, code: number | null, signal: string | null): void {
    this.#emit('worker.exited', { ...slot.info(), code, signal })
    const how = signal !== null ? `signal ${signal}` : `code ${code}`
    for (const id of [...slot.running]) {
      const record = this.#jobs.get(id)
      if (record === undefined) continue
      if (record.stopping === 'CANCELLED') {
        this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'Cancelled; its worker was stopped' })
      } else if (record.stopping === 'TIMEOUT') {
        this.#finish(record, 'failed', { code: 'TIMEOUT', message: `The job ran longer than ${record.info.timeoutMs} ms; its worker was killed` })
      } else if (record.info.attempts < record.info.maxAttempts && !this.#closed) {
        this.#detach(record)
        record.info.state = 'queued'
        record.info.workerPid = null
        record.info.progress = 0
        this.#queue.unshift(record)
        this.#emit('job.queued', this.#snapshot(record))
      } else {
        this.#finish(record, 'failed', { code: 'WORKER_CRASHED', message: `Worker ${slot.id} (pid ${slot.pid}) exited with ${how} during attempt ${record.info.attempts} of ${record.info.maxAttempts}` })
      }
    }
    slot.running.clear()
    this.#dispatch()
  }

  /** Undoes what running on a worker set up (timers, holders), keeping the leases. */
  #detach (record: JobRecord): void {
    if (record.timeoutTimer !== null) clearTimeout(record.timeoutTimer)
    if (record.killTimer !== null) clearTimeout(record.killTimer)
    record.timeoutTimer = record.killTimer = null
    for (const remove of record.removeHolders.splice(0)) remove()
    record.slot?.running.delete(record.info.id)
    record.slot = null
  }

  #finish (record: JobRecord, state: JobState, error: JobError | null): void {
    // A worker that had jobs waiting for its threads answers in batches (worker-process.ts).
    const batched = record.slot !== null && record.slot.running.size > record.slot.threads
    this.#detach(record)
    for (const lease of record.leases.splice(0)) lease.release()
    const info = record.info
    info.state = state
    info.error = error
    info.finishedAt = new Date().toISOString()
    this.#jobsDone++
    this.#finishTimes.push(Date.now())
    if (this.#finishTimes.length > 200_000) this.#finishTimes.splice(0, 100_000)
    const snapshot = this.#snapshot(record)
    this.#emit(`job.${state}` as PoolEventType, snapshot)
    for (const wake of record.waiters.splice(0)) wake()
    this.#finished.push(info.id)
    while (this.#finished.length > this.options.historySize) this.#jobs.delete(this.#finished.shift()!)
    // Answers of a batch: refill the worker once per batch, in one message. A lone answer: a
    // worker has nothing to batch then, and dispatching at once measured faster.
    if (batched) this.#dispatchSoon()
    else this.#dispatch()
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

  // ---- status ----------------------------------------------------------------------------

  workers (): WorkerInfo[] { return this.#supervisor.info() }

  kinds (): KindInfo[] {
    return [...this.#kinds.values()].map((kind) => ({
      name: kind.name,
      description: kind.description ?? '',
      inputs: { min: kind.inputs?.min ?? 0, max: kind.inputs?.max ?? 16 },
      outputs: { min: kind.outputs?.min ?? DEFAULT_KIND_OUTPUTS.min, max: kind.outputs?.max ?? DEFAULT_KIND_OUTPUTS.max },
      params: kind.params ?? { type: 'object' }
    }))
  }

  stats (): PoolStats {
    const now = Date.now()
    let recent = 0
    for (let i = this.#finishTimes.length - 1; i >= 0 && now - this.#finishTimes[i] <= 1000; i--) recent++
    let running = 0
    for (const slot of this.#supervisor.slots) running += slot.running.size
    return {
      workers: this.#supervisor.slots.length,
      workersReady: this.#supervisor.slots.filter((s) => s.state === 'ready').length,
      queueDepth: this.#queue.length,
      maxQueue: this.options.maxQueue,
      running,
      jobsDone: this.#jobsDone,
      throughput: recent,
      buffers: this.store.count,
      bytesInUse: this.store.bytesInUse,
      quotaBytes: this.store.maxMemoryBytes,
      maxBufferBytes: this.store.maxBufferBytes,
      attachSocket: this.attachSocket
    }
  }

  /** A worker slot's process id (tests and the attach socket use it). */
  workerPids (): number[] {
    return this.#supervisor.slots.map((s) => s.pid).filter((p): p is number => p !== null && p > 0)
  }

  /**
   * Stops: refuses new jobs, cancels queued ones, lets running jobs finish for `graceMs`, then
   * cancels them, stops the workers and frees every buffer.
   */
  async close (options: { graceMs?: number } = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#statsTimer)
    // Every job's fate at shutdown is logged, so none is lost silently.
    for (const record of this.#queue.splice(0)) {
      this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'The pool shut down before the job started' })
      this.#logger?.info({ job: record.info.id, state: 'cancelled', was: 'queued' }, 'shutdown: queued job cancelled')
    }
    const running = (): JobRecord[] => [...this.#jobs.values()].filter((r) => r.info.state === 'running')
    const graceMs = options.graceMs ?? 10_000
    const inFlight = running()
    let graceTimer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(inFlight.map((r) => this.wait(r.info.id, Infinity))),
      new Promise((resolve) => { graceTimer = setTimeout(resolve, graceMs) })
    ])
    clearTimeout(graceTimer)
    for (const record of running()) this.#stop(record, 'CANCELLED')
    await Promise.all(running().map((r) => this.wait(r.info.id, this.options.killAfterMs)))
    await this.#supervisor.stop(this.options.killAfterMs)
    // Any job still running lost its worker without a word: it was cancelled by the shutdown.
    for (const record of running()) this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'The pool shut down' })
    for (const record of inFlight) {
      this.#logger?.info({ job: record.info.id, state: record.info.state, was: 'running' }, `shutdown: running job ${record.info.state}`)
    }
    this.store.closeAll()
  }
}

/** Starts a pool: spawns its workers (use `pool.whenReady()` to wait for their handshake). */
export async function createPool (options: PoolOptions = {}): Promise<Pool> {
  return new Pool(options)
}
