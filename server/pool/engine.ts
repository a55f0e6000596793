// The pool's private engine: wires the parts and owns a job's life between them. The parts, one
// file each: the job table (records, waiters, history), the dispatcher and its policy (where a
// job goes), one worker link per worker (its protocol, jobs and outputs), the kind registry
// (what workers serve and how params are checked), the supervisor (processes), and the buffer
// store. Pool (pool.ts) is the public face and only delegates here.
import type { WorkerConfig } from '../../workers/protocol'
import { jobSpecProblem } from '../schemas/job-spec-check'
import { BufferStore, checkTtl } from './buffer-store'
import { createDispatchPolicy } from './dispatch-policy'
import { Dispatcher } from './dispatcher'
import { JobTable, TERMINAL, type JobRecord } from './job-table'
import { KindRegistry } from './kind-registry'
import { PoolError } from './pool-error'
import type { PoolOptions, ResolvedPoolOptions } from './pool-options'
import { Supervisor, type WorkerSlot } from './supervisor'
import type { JobError, JobInfo, JobOrigin, JobSpec, JobState, KindInfo, PoolEventType, PoolStats, WorkerInfo, WorkerState } from './types'
import { buildWorkerConfig } from './worker-config'
import { WorkerLink, type JobOutcome, type LinkHost } from './worker-link'
import { WorkerUpdates } from './worker-updates'
import type { CloseReason, ExternalWorkerConnection, ExternalWorkerReport } from '../worker-socket/external-worker-connection'
import type { WorkerSocketErrorCode } from '../worker-socket/protocol'

/** The part of a kind report the engine reads (the registry checks the rest). */
type NamedReport = { name?: unknown } | null

const PROGRESS_EVENTS_PER_SECOND = 10
const WORKER_UPDATES_PER_SECOND = 10
/** Buffers whose nearest worker the engine remembers for locality (see #markNear). */
const NEAR_ENTRIES_KEPT = 4096
/** An external worker: its connection on the worker socket (server/worker-socket/) and its link. */
interface ExternalWorker {
  connection: ExternalWorkerConnection
  link: WorkerLink
  startedAt: string
  /** Its 'ready' was accepted: it was announced (worker.started) and took jobs. */
  started: boolean
}

/** Why an external worker is disconnected (a worker-socket code, sent to it in 'refused'; not a job's error code). */
function disconnect (code: WorkerSocketErrorCode, message: string): CloseReason { return { code, message } }
/** The send error a link takes for "the channel is gone" (worker-link.ts CHANNEL_GONE). */
const GONE = 'ERR_CHANNEL_CLOSED'

/** The REST API's bound on timeoutMs (server/schemas/job.ts); the library agrees. */
const MAX_TIMEOUT_MS = 24 * 3600 * 1000

export interface EngineEvents {
  emit: (type: PoolEventType, data: unknown) => void
  /** Whether anyone listens (events are not even built otherwise). */
  listening: () => boolean
}

export class Engine {
  readonly options: ResolvedPoolOptions
  readonly store: BufferStore
  readonly jobs: JobTable
  readonly kinds = new KindRegistry()
  /** Buffer id → the worker last near its bytes (ran a job on it, or made it); see preferNear. */
  readonly #near = new Map<string, string>()
  #dispatcher: Dispatcher
  #supervisor: Supervisor
  /** Each slot's current (or last) link. */
  #links = new Map<WorkerSlot, WorkerLink>()
  #slots = new Map<WorkerLink, WorkerSlot>()
  /** External workers on the worker socket, by link, in the order they connected. */
  #external = new Map<WorkerLink, ExternalWorker>()
  /** Kinds the pool's own workers reported: an external worker may not serve one of these. */
  #ownKinds = new Set<string>()
  /** Kinds nobody serves any more, each with the timer that fails its queued jobs (NO_WORKER). */
  #kindWaits = new Map<string, NodeJS.Timeout>()
  /** Jobs each slot has finished, across its restarts. */
  #jobsDone = new Map<string, number>()
  #everReady = new Set<string>()
  #readyWaiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  #startError: Error | null = null
  #closed = false
  #config: WorkerConfig
  #events: EngineEvents
  #updates: WorkerUpdates
  #logger: PoolOptions['logger']
  #host: LinkHost

  constructor (options: ResolvedPoolOptions, extra: PoolOptions, events: EngineEvents) {
    this.options = options
    this.#events = events
    this.#logger = extra.logger
    this.jobs = new JobTable(options.historySize)
    this.#dispatcher = new Dispatcher(createDispatchPolicy(options.prefetch))
    this.#config = buildWorkerConfig({ threads: options.threadsPerWorker, kindsDir: options.kindsDir, kindFiles: options.kinds, worker: extra.worker })
    this.#updates = new WorkerUpdates(1000 / WORKER_UPDATES_PER_SECOND, (id) => this.#announceWorker(id), events.listening)

    this.store = new BufferStore(options)
    this.store.on('buffer.created', (info) => this.#emit('buffer.created', info))
    this.store.on('buffer.sealed', (info) => this.#emit('buffer.sealed', info))
    this.store.on('buffer.holders', (info) => this.#emit('buffer.holders', { id: info.id, descriptors: info.descriptors }))
    this.store.on('buffer.deleted', (info) => {
      for (const link of this.#slots.keys()) link.forget(info.id)
      for (const link of this.#external.keys()) link.forget(info.id)
      this.#emit('buffer.deleted', info)
    })

    this.#host = this.#linkHost()
    this.#supervisor = new Supervisor({
      workers: options.workers,
      env: extra.workerEnv,
      script: extra.workerScript,
      wasHealthy: (slot) => (this.#links.get(slot)?.jobsDone ?? 0) > 0,
      log: (level, message, fields) => this.#log(level, message, fields)
    })
    this.#supervisor.on('spawned', (slot) => this.#onSpawned(slot))
    this.#supervisor.on('message', (slot, message, fds) => {
      const link = this.#links.get(slot)
      if (link === undefined) fds.closeAll()
      else link.handle(message, fds)
    })
    this.#supervisor.on('exited', (slot, code, signal) => this.#onExited(slot, code, signal))
    this.#supervisor.start()
  }

  #emit (type: PoolEventType, data: unknown): void {
    if (this.#events.listening()) this.#events.emit(type, data)
  }

  #log (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#logger?.[level]({ ...fields }, message)
  }

  // ---- readiness -------------------------------------------------------------------------

  /**
   * Every worker has completed its handshake at least once, and none is hung now: what
   * /readyz reports. (A worker restarting after a crash does not make the pool unready.)
   */
  get ready (): boolean {
    if (this.#everReady.size !== this.#supervisor.slots.length) return false
    for (const link of this.#links.values()) if (link.unresponsive) return false
    return true
  }

  /** Every worker is up and answering right now. */
  get healthy (): boolean {
    return this.#supervisor.slots.every((slot) => this.#workerState(slot) === 'ready')
  }

  whenReady (): Promise<void> {
    if (this.#startError !== null) return Promise.reject(this.#startError)
    if (this.ready) return Promise.resolve()
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }))
  }

  get closed (): boolean { return this.#closed }

  // ---- workers ---------------------------------------------------------------------------

  #onSpawned (slot: WorkerSlot): void {
    const previous = this.#links.get(slot)
    if (previous !== undefined) this.#slots.delete(previous)
    const supervisor = this.#supervisor
    const link = new WorkerLink(slot.id, {
      get pid () { return slot.pid },
      send: (data, fds) => supervisor.send(slot, data, fds)
    }, this.#host, {
      capacity: this.options.threadsPerWorker,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs
    })
    this.#links.set(slot, link)
    this.#slots.set(link, slot)
    this.#updates.touch(slot.id)
  }

  #linkHost (): LinkHost {
    return {
      store: this.store,
      config: () => this.#config,
      ready: (link, kinds) => this.#register(link, kinds),
      started: (link) => this.#onWorkerReady(link),
      failed: (link, message) => this.#onWorkerFailed(link, message),
      unresponsive: (link) => this.#kill(link, disconnect('UNRESPONSIVE', `No answer to the heartbeat for ${this.options.heartbeatTimeoutMs} ms`)),
      lost: (link, reason) => this.#kill(link, disconnect('CHANNEL_LOST', reason)),
      jobSent: (record) => this.#onJobSent(record),
      jobFailed: (record, error) => this.#finish(record, 'failed', error),
      jobEnded: (record, outcome, runMs) => this.#onJobEnded(record, outcome, runMs),
      jobProgress: (record, progress) => this.#onProgress(record, progress),
      changed: (link) => this.#updates.touch(link.id),
      maxOutputBytes: () => this.store.available,
      maxOutputs: (kind) => this.kinds.maxOutputs(kind),
      log: (level, message, fields) => this.#log(level, message, fields)
    }
  }

  /** Stops a worker: our own process is killed (and replaced), an external one disconnected with `reason`. */
  #kill (link: WorkerLink, reason: CloseReason): void {
    const external = this.#external.get(link)
    if (external !== undefined) {
      external.connection.close(reason)
      return
    }
    const slot = this.#slots.get(link)
    if (slot !== undefined && this.#links.get(slot) === link) this.#supervisor.kill(slot, 'SIGKILL')
  }

  /** A worker's reported kinds: registered, or why it is refused. */
  #register (link: WorkerLink, reports: unknown): string | null {
    const external = this.#external.has(link)
    if (external && Array.isArray(reports)) {
      for (const report of reports as NamedReport[]) {
        const name = report?.name
        if (typeof name === 'string' && this.#ownKinds.has(name)) return `kind ${name} is served by the pool's own workers; an external worker cannot take it over`
      }
    }
    const refusal = this.kinds.register(link.id, reports)
    if (refusal !== null) return refusal
    // Accepted: every report has a valid string name (the registry checked).
    for (const report of reports as Array<{ name: string }>) {
      if (!external) this.#ownKinds.add(report.name)
      // Served again: its queued jobs no longer wait for NO_WORKER.
      const timer = this.#kindWaits.get(report.name)
      if (timer !== undefined) clearTimeout(timer)
      this.#kindWaits.delete(report.name)
    }
    return null
  }

  #onWorkerReady (link: WorkerLink): void {
    const external = this.#external.get(link)
    // An external worker is dispatched to once it has been told it is accepted (#onExternalReady).
    if (external !== undefined) return
    const slot = this.#slots.get(link)
    if (slot === undefined) return
    this.#dispatcher.addTarget(link)
    this.#everReady.add(slot.id)
    this.#emit('worker.started', this.#workerInfo(slot))
    if (this.ready) for (const waiter of this.#readyWaiters.splice(0)) waiter.resolve()
    this.#dispatcher.dispatch()
  }

  /** A worker that cannot start, or was refused: it is not restarted in a loop, and a pool still starting fails. */
  #onWorkerFailed (link: WorkerLink, message: string): void {
    const external = this.#external.get(link)
    if (external !== undefined) {
      // Refused at its handshake (its kinds): it is told why, and was never a worker of the pool.
      external.connection.refuse('KIND_REFUSED', message)
      return
    }
    const slot = this.#slots.get(link)
    if (slot !== undefined) this.#supervisor.retire(slot)
    if (this.#everReady.size === this.#supervisor.slots.length) return
    this.#startError ??= new Error(message)
    for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(this.#startError)
  }

  #onExited (slot: WorkerSlot, code: number | null, signal: string | null): void {
    const link = this.#links.get(slot)
    // worker.exited says it all: a worker.updated still waiting would follow it with stale counters.
    this.#updates.cancel(slot.id)
    this.#emit('worker.exited', { ...this.#workerInfo(slot), code, signal })
    if (link === undefined) return
    const hung = link.unresponsive
    this.#dispatcher.removeTarget(link)
    this.kinds.unregister(link.id)
    const how = hung
      ? `was killed after it stopped answering for ${this.options.heartbeatTimeoutMs} ms`
      : `exited with ${signal !== null ? `signal ${signal}` : `code ${code}`}`
    this.#reclaim(link, `Worker ${slot.id} (pid ${slot.pid}) ${how}`)
    this.#dispatcher.dispatch()
  }

  /**
   * The jobs of a worker that is gone: retried on another worker per maxAttempts (a job being
   * stopped ends as its stop said), else WORKER_CRASHED saying what happened (`what`).
   */
  #reclaim (link: WorkerLink, what: string): void {
    for (const record of link.close()) {
      if (record.stopping === 'CANCELLED') {
        this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'Cancelled; its worker was stopped' })
      } else if (record.stopping === 'TIMEOUT') {
        this.#finish(record, 'failed', { code: 'TIMEOUT', message: `The job ran longer than ${record.info.timeoutMs} ms; its worker was killed` })
      } else if (record.info.attempts < record.info.maxAttempts && !this.#closed) {
        this.#detach(record)
        record.info.state = 'queued'
        record.info.workerPid = null
        record.info.progress = 0
        this.#dispatcher.pushFront([record])
        this.#emit('job.queued', this.jobs.snapshot(record))
      } else {
        this.#finish(record, 'failed', { code: 'WORKER_CRASHED', message: `${what} during attempt ${record.info.attempts} of ${record.info.maxAttempts}` })
      }
    }
  }

  // ---- external workers ------------------------------------------------------------------

  /**
   * Takes a worker welcomed on the worker socket: its 'ready' is decided once the pool's own
   * workers have reported their kinds (so the built-in names are known), then it is dispatched
   * to like any worker; its 'close' is handled like a process exit, without a restart.
   */
  addExternalWorker (connection: ExternalWorkerConnection): void {
    if (this.#closed || connection.id === null) {
      connection.close(disconnect('SHUTTING_DOWN', 'The pool is shutting down'))
      return
    }
    const link = new WorkerLink(connection.id, {
      get pid () { return connection.peer.pid },
      send: (data, fds) => {
        // false: the worker is gone (its 'close' follows); a throw (EMFILE) passes through.
        if (!connection.send(data, fds)) throw Object.assign(new Error('The external worker is gone'), { code: GONE })
      }
    }, this.#host, {
      capacity: 0,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs
    })
    const external: ExternalWorker = { connection, link, startedAt: new Date().toISOString(), started: false }
    this.#external.set(link, external)
    connection.on('ready', (report) => this.#onExternalReady(external, report))
    connection.on('message', (message, fds) => link.handle(message, fds))
    connection.on('close', (reason) => this.#onExternalClosed(external, reason))
    this.#updates.touch(link.id)
  }

  #onExternalReady (external: ExternalWorker, report: ExternalWorkerReport): void {
    const decide = (): void => {
      if (external.connection.state !== 'reported') return
      // A refusal goes through the host's failed(): KIND_REFUSED naming the kind.
      external.link.declare(report.threads, report.kinds)
      if (external.link.state !== 'ready') return
      external.connection.accept(report.kinds.map((kind) => kind.name))
      if (!external.connection.open) return // it left as it was accepted; its 'close' cleaned up
      external.started = true
      this.#dispatcher.addTarget(external.link)
      this.#emit('worker.started', this.#externalInfo(external))
      this.#updates.touch(external.link.id)
      this.#dispatcher.dispatch()
    }
    // The pool's own workers first: their kinds are the built-ins an external worker may not take.
    this.whenReady().then(decide, (err: Error) => external.connection.refuse('KIND_REFUSED', `The pool could not start: ${err.message}`))
  }

  #onExternalClosed (external: ExternalWorker, reason: CloseReason | null): void {
    const link = external.link
    if (this.#external.get(link) !== external) return
    this.#external.delete(link)
    this.#updates.cancel(link.id)
    if (external.started) this.#emit('worker.exited', { ...this.#externalInfo(external), state: 'exited', running: 0, code: null, signal: null })
    this.#dispatcher.removeTarget(link)
    this.kinds.unregister(link.id)
    // Kinds only it served are gone: new jobs of them are refused UNKNOWN_KIND, queued ones wait.
    for (const kind of link.kinds) {
      if (this.#ownKinds.has(kind) || !this.kinds.drop(kind)) continue
      this.#awaitServer(kind)
    }
    const how = reason === null ? 'disconnected' : `was disconnected (${reason.code}: ${reason.message})`
    this.#reclaim(link, `External worker ${link.id} (pid ${external.connection.peer.pid}) ${how}`)
    this.#jobsDone.delete(link.id)
    this.#dispatcher.dispatch()
  }

  /** Queued jobs of a kind nobody serves fail NO_WORKER unless a worker serves it within kindWaitMs. */
  #awaitServer (kind: string): void {
    if (this.#kindWaits.has(kind)) return
    const timer = setTimeout(() => {
      this.#kindWaits.delete(kind)
      if (this.kinds.served(kind)) return
      for (const record of this.#dispatcher.removeWhere((r) => r.info.kind === kind)) {
        this.#finish(record, 'failed', { code: 'NO_WORKER', message: `No worker served kind ${kind} within ${this.options.kindWaitMs} ms after its last one left` })
      }
    }, this.options.kindWaitMs)
    timer.unref()
    this.#kindWaits.set(kind, timer)
  }

  #externalInfo (external: ExternalWorker): WorkerInfo {
    const link = external.link
    const state: WorkerState = link.state === 'ready' || link.state === 'unresponsive'
      ? link.state
      : link.state === 'handshake' ? 'starting' : 'stopping'
    return {
      id: link.id,
      pid: external.connection.peer.pid,
      external: true,
      name: external.connection.name,
      state,
      threads: link.capacity,
      running: link.load,
      jobsDone: this.#jobsDone.get(link.id) ?? 0,
      startedAt: external.startedAt,
      restarts: 0
    }
  }

  #workerState (slot: WorkerSlot): WorkerState {
    if (slot.state === 'stopping' || slot.state === 'exited') return slot.state
    const state = this.#links.get(slot)?.state
    if (state === 'ready' || state === 'unresponsive') return state
    // A worker that could not start, or was refused, is on its way out.
    return state === 'failed' ? 'stopping' : 'starting'
  }

  #workerInfo (slot: WorkerSlot): WorkerInfo {
    const link = this.#links.get(slot)
    const live = slot.state !== 'exited'
    return {
      id: slot.id,
      pid: slot.pid,
      external: false,
      name: null,
      state: this.#workerState(slot),
      threads: link?.capacity ?? this.options.threadsPerWorker,
      running: live ? link?.load ?? 0 : 0,
      jobsDone: this.#jobsDone.get(slot.id) ?? 0,
      startedAt: slot.startedAt,
      restarts: slot.restarts
    }
  }

  #announceWorker (id: string): void {
    for (const external of this.#external.values()) {
      if (external.link.id === id) {
        this.#emit('worker.updated', this.#externalInfo(external))
        return
      }
    }
    const slot = this.#supervisor.slots.find((s) => s.id === id)
    // Never after its worker.exited (until the slot's next process starts).
    if (slot !== undefined && slot.state !== 'exited') this.#emit('worker.updated', this.#workerInfo(slot))
  }

  /** The pool's own workers, then the external ones in the order they connected. */
  workers (): WorkerInfo[] {
    return [
      ...this.#supervisor.slots.map((slot) => this.#workerInfo(slot)),
      ...[...this.#external.values()].map((external) => this.#externalInfo(external))
    ]
  }

  workerPids (): number[] {
    return this.#supervisor.slots.map((s) => s.pid).filter((p): p is number => p !== null && p > 0)
  }

  // ---- jobs ------------------------------------------------------------------------------

  enqueue (spec: JobSpec, origin?: JobOrigin): JobInfo {
    if (this.#closed) throw new PoolError('POOL_CLOSED', 'The pool is shutting down')
    // The same schema and validator as POST /v1/jobs: the library and REST agree on every limit.
    const problem = jobSpecProblem(spec)
    if (problem !== null) throw new PoolError('INVALID_JOB', problem)
    if (this.kinds.empty) throw new PoolError('NOT_READY', 'No worker has reported its kinds yet; await pool.whenReady() first')
    const bounds = this.kinds.inputs(spec.kind)
    if (bounds === undefined) throw new PoolError('UNKNOWN_KIND', `No job kind ${JSON.stringify(spec.kind)}; pool.kinds() lists them`)
    const inputs = spec.inputs ?? []
    if (!Array.isArray(inputs) || inputs.length < bounds.min || inputs.length > bounds.max) {
      throw new PoolError('INVALID_INPUTS', `Kind ${spec.kind} takes ${bounds.min === bounds.max ? bounds.min : `${bounds.min} to ${bounds.max}`} input buffer(s); ${Array.isArray(inputs) ? inputs.length : 'none'} given`)
    }
    for (const id of inputs) {
      const info = this.store.get(id) // NOT_FOUND
      if (!info.sealed) throw new PoolError('BUFFER_NOT_SEALED', `Input ${id} is not sealed: seal it first so its bytes cannot change under the job`)
    }
    const params = this.kinds.validate(spec.kind, spec.params ?? {})
    if (spec.timeoutMs !== undefined && (!Number.isSafeInteger(spec.timeoutMs) || spec.timeoutMs < 1 || spec.timeoutMs > MAX_TIMEOUT_MS)) {
      throw new PoolError('INVALID_PARAMS', `timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS} (24 hours)`)
    }
    // The origin's ttl (a pipeline's) wins over the spec's; neither: the pool's default.
    const outputTtlMs = origin?.outputTtlMs !== undefined ? origin.outputTtlMs : spec.outputTtlMs ?? this.options.outputTtlMs
    if (outputTtlMs !== null) checkTtl(outputTtlMs, 'outputTtlMs')
    const maxAttempts = spec.maxAttempts ?? 1
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) {
      throw new PoolError('INVALID_PARAMS', 'maxAttempts must be an integer from 1 to 10')
    }
    if (this.#dispatcher.queueDepth >= this.options.maxQueue) {
      throw new PoolError('QUEUE_FULL', `The queue is full (${this.options.maxQueue} jobs waiting); retry later`)
    }
    // The job holds its inputs from now on: deleting one hides it but keeps its memory for us.
    const leases = inputs.map((id) => this.store.acquire(id))
    const record = this.jobs.create({
      kind: spec.kind,
      inputs,
      params,
      maxAttempts,
      timeoutMs: spec.timeoutMs ?? null,
      pipeline: origin?.pipeline ?? null,
      step: origin?.step ?? null,
      outputTtlMs
    }, leases)
    for (const id of inputs) {
      const near = this.#near.get(id)
      if (near !== undefined && !record.near.includes(near)) record.near.push(near)
    }
    this.#dispatcher.push(record)
    this.#emit('job.queued', this.jobs.snapshot(record))
    this.#dispatcher.dispatchQueued()
    // After dispatch: a job that found a free worker is already `running`.
    return this.jobs.snapshot(record)
  }

  cancel (id: string): JobInfo {
    const record = this.jobs.lookup(id)
    if (TERMINAL.has(record.info.state)) throw new PoolError('JOB_FINISHED', `Job ${id} already ${record.info.state}`)
    if (this.#dispatcher.remove(record)) {
      this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'Cancelled before it started' })
    } else {
      this.#stop(record, 'CANCELLED')
    }
    return this.jobs.snapshot(record)
  }

  #stop (record: JobRecord, reason: 'CANCELLED' | 'TIMEOUT'): void {
    const link = record.link
    if (record.stopping !== null || link === null) return
    record.stopping = reason
    link.cancel(record, reason)
    // The worker terminates the thread after its own grace; if even that fails, the process goes.
    record.killTimer = setTimeout(() => {
      this.#log('warn', 'job would not stop; killing its worker', { job: record.info.id, worker: link.id, pid: link.pid })
      this.#kill(link, disconnect('CANCEL_IGNORED', `Job ${record.info.id} did not stop within ${this.options.killAfterMs} ms of its ${reason === 'TIMEOUT' ? 'timeout' : 'cancel'}`))
    }, this.options.killAfterMs)
  }

  #onJobSent (record: JobRecord): void {
    const info = record.info
    info.state = 'running'
    info.attempts++
    info.workerPid = record.link?.pid ?? null
    info.startedAt = new Date().toISOString()
    info.progress = 0
    if (info.timeoutMs !== null) {
      record.timeoutTimer = setTimeout(() => this.#stop(record, 'TIMEOUT'), info.timeoutMs)
    }
    this.#emit('job.started', this.jobs.snapshot(record))
    if (record.link !== null) {
      for (const id of info.inputs) this.#markNear(id, record.link.id)
      this.#updates.touch(record.link.id)
    }
  }

  #onProgress (record: JobRecord, progress: number): void {
    record.info.progress = progress
    const now = Date.now()
    if (now - record.lastProgressEvent >= 1000 / PROGRESS_EVENTS_PER_SECOND) {
      record.lastProgressEvent = now
      this.#emit('job.progress', { id: record.info.id, progress, state: record.info.state })
    }
  }

  #onJobEnded (record: JobRecord, outcome: JobOutcome, runMs: unknown): void {
    if (record.link !== null) this.#jobsDone.set(record.link.id, (this.#jobsDone.get(record.link.id) ?? 0) + 1)
    if (record.stopping === null && typeof runMs === 'number') this.#dispatcher.policy.observeRun(record.info.kind, runMs)
    if (!outcome.ok) {
      const error = outcome.error
      if (record.stopping === 'CANCELLED' || error.code === 'CANCELLED') {
        this.#finish(record, 'cancelled', { code: 'CANCELLED', message: error.message })
      } else if (record.stopping === 'TIMEOUT') {
        this.#finish(record, 'failed', { code: 'TIMEOUT', message: `The job ran longer than ${record.info.timeoutMs} ms` })
      } else {
        this.#finish(record, 'failed', error)
      }
      return
    }
    record.info.outputs = outcome.outputs
    if (record.link !== null) for (const id of outcome.outputs) this.#markNear(id, record.link.id)
    record.info.result = outcome.result
    record.info.progress = 1
    this.#finish(record, 'succeeded', null)
  }

  /**
   * Worker `linkId` is near buffer `id` now. Bounded: the oldest entries go first (a stale one
   * costs nothing: a worker that is gone is never a candidate).
   */
  #markNear (id: string, linkId: string): void {
    this.#near.delete(id)
    this.#near.set(id, linkId)
    if (this.#near.size > NEAR_ENTRIES_KEPT) this.#near.delete(this.#near.keys().next().value as string)
  }

  /** Undoes what running on a worker set up (timers, holders, the worker's count), keeping the leases. */
  #detach (record: JobRecord): void {
    if (record.timeoutTimer !== null) clearTimeout(record.timeoutTimer)
    if (record.killTimer !== null) clearTimeout(record.killTimer)
    record.timeoutTimer = record.killTimer = null
    for (const remove of record.removeHolders.splice(0)) remove()
    record.link?.release(record)
    record.link = null
  }

  #finish (record: JobRecord, state: JobState, error: JobError | null): void {
    // A worker that had jobs waiting for its threads answers in batches (worker-process.ts).
    const link = record.link
    const batched = link !== null && link.load > link.capacity
    this.#detach(record)
    for (const lease of record.leases.splice(0)) lease.release()
    const snapshot = this.jobs.settle(record, state, error)
    this.#emit(`job.${state}` as PoolEventType, snapshot)
    this.jobs.retire(record)
    if (link !== null) this.#updates.touch(link.id)
    // Answers of a batch: refill the worker once per batch, in one message. A lone answer: a
    // worker has nothing to batch then, and dispatching at once measured faster.
    if (batched) this.#dispatcher.dispatchSoon()
    else this.#dispatcher.dispatch()
  }

  // ---- status ----------------------------------------------------------------------------

  kindList (): KindInfo[] { return this.kinds.list() }

  stats (attachSocket: string | null, workerSocket: string | null = null): PoolStats {
    let running = 0
    let ready = 0
    for (const slot of this.#supervisor.slots) {
      const link = this.#links.get(slot)
      if (link !== undefined && slot.state !== 'exited') running += link.load
      if (this.#workerState(slot) === 'ready') ready++
    }
    for (const { link } of this.#external.values()) running += link.load
    return {
      workers: this.#supervisor.slots.length,
      workersReady: ready,
      queueDepth: this.#dispatcher.queueDepth,
      maxQueue: this.options.maxQueue,
      running,
      jobsDone: this.jobs.jobsDone,
      throughput: this.jobs.throughput(),
      buffers: this.store.count,
      bytesInUse: this.store.bytesInUse,
      quotaBytes: this.store.maxMemoryBytes,
      maxBufferBytes: this.store.maxBufferBytes,
      attachSocket,
      workerSocket
    }
  }

  /** Asks every external worker to shut down, waits up to `graceMs` for it to hang up, then disconnects it. */
  async #stopExternal (graceMs: number): Promise<void> {
    const externals = [...this.#external.values()]
    if (externals.length === 0) return
    const gone = externals.map(({ connection }) => new Promise<void>((resolve) => {
      if (connection.state === 'closed') resolve()
      else connection.once('close', () => resolve())
    }))
    for (const { link } of externals) link.shutdown()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(gone), new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })])
    clearTimeout(timer)
    for (const { connection } of externals) connection.close(disconnect('SHUTTING_DOWN', 'The pool shut down'))
  }

  /**
   * Stops: refuses new jobs, cancels queued ones, lets running jobs finish for `graceMs`, then
   * cancels them, stops the workers and frees every buffer.
   */
  async close (graceMs: number): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Every job's fate at shutdown is logged, so none is lost silently.
    for (const record of this.#dispatcher.drain()) {
      this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'The pool shut down before the job started' })
      this.#log('info', 'shutdown: queued job cancelled', { job: record.info.id, state: 'cancelled', was: 'queued' })
    }
    const inFlight = this.jobs.running()
    let graceTimer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(inFlight.map((r) => this.jobs.wait(r.info.id, Infinity))),
      new Promise((resolve) => { graceTimer = setTimeout(resolve, graceMs) })
    ])
    clearTimeout(graceTimer)
    for (const record of this.jobs.running()) this.#stop(record, 'CANCELLED')
    await Promise.all(this.jobs.running().map((r) => this.jobs.wait(r.info.id, this.options.killAfterMs)))
    await Promise.all([this.#supervisor.stop(this.options.killAfterMs), this.#stopExternal(this.options.killAfterMs)])
    for (const timer of this.#kindWaits.values()) clearTimeout(timer)
    this.#kindWaits.clear()
    // Any job still running lost its worker without a word: it was cancelled by the shutdown.
    for (const record of this.jobs.running()) this.#finish(record, 'cancelled', { code: 'CANCELLED', message: 'The pool shut down' })
    for (const record of inFlight) {
      this.#log('info', `shutdown: running job ${record.info.state}`, { job: record.info.id, state: record.info.state, was: 'running' })
    }
    this.#updates.close()
    this.store.closeAll()
  }
}
