// One worker as the engine sees it: the protocol to it (workers/protocol.ts: hello → config →
// ready | fatal, ping/pong, run/cancel/forget, the job answers), the jobs it holds, how many it has
// done, which buffers it was sent, and the adoption of the outputs it returns. A link does not
// know what kind of thing is on the other end of its transport: a worker process of ours today,
// an external worker on a socket next (issue 12). The dispatcher sees a link only as a
// DispatchTarget (id, kinds, capacity, load).
import * as native from '../../native'
import type { OwnedFds } from '../../native/owned-fds'
import { WORKER_CHANNEL, encode, packBatches, type KindReport, type WorkerConfig, type WorkerMessage } from '../../workers/protocol'
import type { BufferStore } from './buffer-store'
import type { DispatchTarget } from './dispatcher'
import type { JobRecord } from './job-table'
import type { PoolError } from './pool-error'
import type { JobError } from './types'

/** Where a link's messages go. Sending throws when the message could not be sent. */
export interface LinkTransport {
  readonly pid: number | null
  send: (data: Buffer, fds: readonly number[]) => void
}

/** How a job ended on the worker, once the link has checked and adopted its outputs. */
export type JobOutcome =
  | { ok: true, outputs: string[], result: Record<string, unknown> }
  | { ok: false, error: JobError }

/** What a link needs from the engine it belongs to. */
export interface LinkHost {
  readonly store: BufferStore
  /** The settings sent in 'config'. */
  config: () => WorkerConfig
  /** The worker reported its kinds: null when accepted, else why it is refused. */
  ready: (link: WorkerLink, kinds: unknown) => string | null
  /** The worker takes jobs from now on. */
  started: (link: WorkerLink) => void
  /** The worker cannot start (its 'fatal'), or was refused: it must not be used or restarted. */
  failed: (link: WorkerLink, message: string) => void
  /** The worker stopped answering its heartbeat: it is to be killed and replaced. */
  unresponsive: (link: WorkerLink) => void
  /** The link can no longer reach the worker (its channel is gone): it is to be replaced. */
  lost: (link: WorkerLink, reason: string) => void
  jobSent: (record: JobRecord) => void
  /** A job failed before the worker had it (its inputs or its message could not be sent). */
  jobFailed: (record: JobRecord, error: JobError) => void
  jobEnded: (record: JobRecord, outcome: JobOutcome, runMs: unknown) => void
  jobProgress: (record: JobRecord, progress: number) => void
  /** Counters or state changed (worker.updated). */
  changed: (link: WorkerLink) => void
  /** Bytes a job's outputs may still take. */
  maxOutputBytes: () => number
  /** How many outputs a job of `kind` may return (the kind registry's bound). */
  maxOutputs: (kind: string) => number
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void
}

export interface LinkOptions {
  /** Ping this often once ready (0: never). */
  heartbeatIntervalMs: number
  /** Unresponsive after this long without any message. */
  heartbeatTimeoutMs: number
}

export type LinkState = 'handshake' | 'ready' | 'unresponsive' | 'failed' | 'closed'

/** Send errors that mean the channel is gone, not that this one message was refused. */
const CHANNEL_GONE = new Set(['ERR_CHANNEL_CLOSED', 'EPIPE', 'ECONNRESET', 'ENOTCONN', 'ECONNREFUSED'])
/** Send errors that say the system is short of descriptors or memory. */
const EXHAUSTED = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS'])

export class WorkerLink implements DispatchTarget {
  readonly id: string
  #transport: LinkTransport
  #host: LinkHost
  #options: LinkOptions
  #state: LinkState = 'handshake'
  #capacity: number
  #kinds = new Set<string>()
  /** Jobs sent and not yet answered, by id. */
  readonly running = new Map<string, JobRecord>()
  /** How many held jobs of each kind (the auto prefetch goes by kinds held). */
  #heldKinds = new Map<string, number>()
  /** Output descriptors of a job that came in 'outputs' messages ahead of its 'done'. */
  #earlyOutputs = new Map<string, number[]>()
  /** Jobs whose 'outputs' messages broke the protocol: their 'done' fails them. */
  #badOutputs = new Set<string>()
  /** Live buffers this worker was sent as inputs (it may keep them mapped between jobs). */
  #mapped = new Set<string>()
  #jobsDone = 0
  #heartbeat: NodeJS.Timeout | null = null
  #lastHeard = Date.now()
  /** Heartbeat rounds run since the worker was last heard (any message resets it). */
  #roundsSilent = 0
  #pingSeq = 0

  constructor (id: string, transport: LinkTransport, host: LinkHost, options: LinkOptions & { capacity: number }) {
    this.id = id
    this.#transport = transport
    this.#host = host
    this.#options = options
    this.#capacity = options.capacity
  }

  get state (): LinkState { return this.#state }
  get pid (): number | null { return this.#transport.pid }
  get capacity (): number { return this.#capacity }
  get load (): number { return this.running.size }
  get heldKinds (): Iterable<string> { return this.#heldKinds.keys() }
  get accepting (): boolean { return this.#state === 'ready' }
  get jobsDone (): number { return this.#jobsDone }
  get kinds (): ReadonlySet<string> { return this.#kinds }
  serves (kind: string): boolean { return this.#kinds.has(kind) }

  // ---- messages from the worker ----------------------------------------------------------

  /** One message from the worker; `fds` are closed here unless taken. */
  handle (message: WorkerMessage, fds: OwnedFds): void {
    try {
      this.#lastHeard = Date.now()
      this.#roundsSilent = 0
      if (this.#state === 'closed' || this.#state === 'failed') return
      switch (message.t) {
        case 'hello': return this.#onHello(message)
        case 'ready': return this.#onReady(message)
        case 'fatal': return this.#fail(`worker ${this.id} (pid ${this.pid}) could not start: ${String(message.error?.message ?? 'no reason given')}`)
        case 'pong': return
        case 'started': return this.#onStarted(message)
        case 'progress': return this.#onProgress(message)
        case 'outputs': return this.#onOutputs(message, fds)
        case 'done': return this.#onDone(message, fds)
      }
    } finally {
      fds.closeAll()
    }
  }

  #onHello (message: Extract<WorkerMessage, { t: 'hello' }>): void {
    if (this.#state !== 'handshake') return
    if (message.protocol !== 1) {
      this.#fail(`worker ${this.id} (pid ${this.pid}) speaks protocol ${JSON.stringify(message.protocol ?? null)}; this server speaks 1`)
      return
    }
    this.#sendControl({ t: 'config', config: this.#host.config() })
  }

  #onReady (message: Extract<WorkerMessage, { t: 'ready' }>): void {
    if (this.#state !== 'handshake') return
    const threads = Number.isSafeInteger(message.threads) && message.threads > 0 ? message.threads : this.#capacity
    this.#becomeReady(threads, message.kinds, true)
  }

  /**
   * A worker whose handshake was done by its transport (an external worker on the worker socket:
   * server/worker-socket/) declares its threads and kinds here, as its 'ready' would.
   */
  declare (threads: number, kinds: unknown): void {
    if (this.#state !== 'handshake') return
    this.#becomeReady(threads, kinds, true)
  }

  #becomeReady (threads: number, kinds: unknown, heartbeat: boolean): void {
    const refusal = this.#host.ready(this, kinds)
    if (refusal !== null) {
      this.#fail(`worker ${this.id} (pid ${this.pid}) refused: ${refusal}`)
      return
    }
    this.#capacity = threads
    this.#kinds = new Set((kinds as KindReport[]).map((kind) => kind.name))
    this.#state = 'ready'
    if (heartbeat && this.#options.heartbeatIntervalMs > 0) this.#startHeartbeat()
    this.#host.started(this)
    this.#host.changed(this)
  }

  #fail (message: string): void {
    this.#state = 'failed'
    this.#stopHeartbeat()
    this.#host.log('error', message, { worker: this.id, pid: this.pid })
    this.#host.failed(this, message)
    this.#host.changed(this)
  }

  #onStarted (message: Extract<WorkerMessage, { t: 'started' }>): void {
    const record = this.running.get(message.job)
    if (record === undefined) return
    const numbers = Array.isArray(message.fds) ? message.fds : []
    record.leases.forEach((lease, i) => {
      record.removeHolders.push(lease.addHolder({ pid: this.pid ?? 0, fd: Number.isInteger(numbers[i]) ? numbers[i] : null, role: 'worker' }))
    })
  }

  #onProgress (message: Extract<WorkerMessage, { t: 'progress' }>): void {
    const record = this.running.get(message.job)
    if (record === undefined) return
    this.#host.jobProgress(record, Math.min(1, Math.max(0, Number(message.progress) || 0)))
  }

  #onOutputs (message: Extract<WorkerMessage, { t: 'outputs' }>, fds: OwnedFds): void {
    const record = this.running.get(message.job)
    if (record === undefined || this.#badOutputs.has(message.job)) return
    const early = this.#earlyOutputs.get(message.job) ?? []
    if (fds.length !== message.fdCount || early.length + fds.length > this.#host.maxOutputs(record.info.kind)) {
      this.#dropEarlyOutputs(message.job)
      this.#badOutputs.add(message.job)
      return
    }
    early.push(...fds.takeAll())
    this.#earlyOutputs.set(message.job, early)
  }

  #dropEarlyOutputs (job: string): void {
    for (const fd of this.#earlyOutputs.get(job) ?? []) native.close(fd)
    this.#earlyOutputs.delete(job)
  }

  #onDone (message: Extract<WorkerMessage, { t: 'done' }>, fds: OwnedFds): void {
    const record = this.running.get(message.job)
    if (record === undefined) return
    this.#jobsDone++
    const early = this.#earlyOutputs.get(message.job) ?? []
    this.#earlyOutputs.delete(message.job)
    const broken = this.#badOutputs.delete(message.job)
    // Ours from here on, every one: each is adopted by the store or closed.
    const own = fds.takeAll()
    const outcome = this.#adopt(record, message, [...early, ...own], broken || own.length !== message.fdCount)
    this.#host.jobEnded(record, outcome, message.runMs)
    this.#host.changed(this)
  }

  #adopt (record: JobRecord, message: Extract<WorkerMessage, { t: 'done' }>, fds: number[], broken: boolean): JobOutcome {
    const closeAll = (from = 0): void => { for (const fd of fds.slice(from)) native.close(fd) }
    if (!message.ok) {
      closeAll()
      return { ok: false, error: message.error ?? { code: 'HANDLER_ERROR', message: 'The job failed' } }
    }
    const outputs = Array.isArray(message.outputs) ? message.outputs : []
    if (broken || fds.length !== outputs.length || outputs.length > this.#host.maxOutputs(record.info.kind)) {
      closeAll()
      return { ok: false, error: { code: 'PROTOCOL_ERROR', message: `Expected ${outputs.length} output descriptors, received ${fds.length}${broken ? ' (their counts disagree with the messages that carried them)' : ''}` } }
    }
    // Each output must be a sealed memfd within the limits; the store closes any it refuses. It
    // records who made it (lineage) and, when the job asked for one, its ttl.
    const info = record.info
    const producedBy = info.pipeline === null ? { job: info.id } : { job: info.id, pipeline: info.pipeline, ...(info.step === null ? {} : { step: info.step }) }
    const adopted: string[] = []
    for (let i = 0; i < fds.length; i++) {
      try {
        adopted.push(this.#host.store.adopt(fds[i], { name: `${info.id}-out${i}`, producedBy, ttlMs: record.outputTtlMs ?? undefined }).id)
      } catch (err) {
        closeAll(i + 1)
        for (const id of adopted) this.#host.store.delete(id)
        const e = err as PoolError
        return { ok: false, error: { code: e.code ?? 'HANDLER_ERROR', message: `Output ${i} refused: ${e.message}` } }
      }
    }
    return { ok: true, outputs: adopted, result: message.result ?? {} }
  }

  // ---- messages to the worker ------------------------------------------------------------

  /** A control message; a failure to send it is logged (the worker's exit or the heartbeat follows). */
  #sendControl (message: Parameters<typeof encode>[0]): boolean {
    try {
      this.#transport.send(encode(message), [])
      return true
    } catch (err) {
      this.#host.log('warn', 'send to worker failed', { worker: this.id, pid: this.pid, t: message.t, err: (err as Error).message })
      return false
    }
  }

  /**
   * Sends jobs in as few messages as the channel's limits allow (protocol.ts packBatches). A job
   * whose message cannot be sent fails alone, with a code saying why; only a channel that is gone
   * gives the rest back (and the link is then lost, so its worker is replaced, never left idle).
   * A job with more inputs than one message carries goes alone, as 'inputs' messages then its
   * 'run' (nothing of another job between them); when one of its parts cannot be sent, its later
   * parts are not sent either, and the worker drops the parts it holds on the next message.
   */
  start (records: JobRecord[]): JobRecord[] {
    const outgoing: Array<{ record: JobRecord, parts: Array<{ data: Buffer, fds: number[] }> }> = []
    for (const record of records) {
      const fds: number[] = []
      try {
        // Read-only descriptors (dups of the store's own for sealed inputs): the worker can map
        // its inputs PROT_READ and nothing more.
        for (const lease of record.leases) fds.push(lease.readOnlyDescriptor())
      } catch (err) {
        for (const fd of fds) native.close(fd)
        this.#host.jobFailed(record, { code: 'RESOURCE_EXHAUSTED', message: `Could not pass the inputs to a worker: ${(err as Error).message}` })
        continue
      }
      const parts: Array<{ data: Buffer, fds: number[] }> = []
      let rest = fds
      while (rest.length > WORKER_CHANNEL.maxFds) {
        parts.push({ data: encode({ t: 'inputs', job: record.info.id, fdCount: WORKER_CHANNEL.maxFds }), fds: rest.slice(0, WORKER_CHANNEL.maxFds) })
        rest = rest.slice(WORKER_CHANNEL.maxFds)
      }
      parts.push({
        data: encode({
          t: 'run',
          job: record.info.id,
          kind: record.info.kind,
          params: record.info.params,
          inputs: record.leases.map((lease) => ({ id: lease.info.id, generation: lease.generation, size: lease.info.size })),
          fdCount: rest.length,
          maxOutputBytes: this.#host.maxOutputBytes()
        }),
        fds: rest
      })
      outgoing.push({ record, parts })
    }
    // Runs of one message each are packed together; a run of several parts goes on its own.
    let i = 0
    while (i < outgoing.length) {
      let end = i
      while (end < outgoing.length && outgoing[end].parts.length === 1) end++
      const single = end > i
      if (!single) end = i + 1
      const group = outgoing.slice(i, end)
      const entries = single ? group.map((o) => ({ record: o.record, ...o.parts[0] })) : group[0].parts.map((part) => ({ record: group[0].record, ...part }))
      const gone = this.#sendEntries(entries, !single)
      if (gone) {
        for (const rest of outgoing.slice(end)) for (const part of rest.parts) for (const fd of part.fds) native.close(fd)
        return [...new Set([...gone, ...outgoing.slice(end).map((o) => o.record)])]
      }
      i = end
    }
    return []
  }

  /**
   * Sends entries packed (packBatches), closing every descriptor once whatever happens. `oneJob`:
   * the entries are the parts of one job, which fails (or is given back) whole. Returns the
   * records to give back when the channel is gone, else null.
   */
  #sendEntries (entries: Array<{ record: JobRecord, data: Buffer, fds: number[] }>, oneJob: boolean): JobRecord[] | null {
    let next = 0
    for (const message of packBatches(entries)) {
      const group = entries.slice(next, next + message.count)
      next += message.count
      let failure: native.SystemError | null = null
      try {
        this.#transport.send(message.data, message.fds)
      } catch (err) {
        failure = err as native.SystemError
      } finally {
        // send() made the worker its own copies (or queued duplicates); ours are done.
        for (const fd of message.fds) native.close(fd)
      }
      if (failure === null) {
        if (!oneJob) for (const { record } of group) this.#sent(record)
        continue
      }
      if (CHANNEL_GONE.has(failure.code ?? '') || oneJob) {
        for (const rest of entries.slice(next)) for (const fd of rest.fds) native.close(fd)
      }
      if (CHANNEL_GONE.has(failure.code ?? '')) {
        this.#lose(`sending to it failed: ${failure.message}`)
        return [...new Set([...group, ...entries.slice(next)].map((o) => o.record))]
      }
      const code = EXHAUSTED.has(failure.code ?? '') ? 'RESOURCE_EXHAUSTED' : 'PROTOCOL_ERROR'
      this.#host.log('warn', 'a job could not be sent to its worker', { worker: this.id, pid: this.pid, jobs: oneJob ? 1 : group.length, code: failure.code, err: failure.message })
      for (const record of oneJob ? [group[0].record] : group.map((o) => o.record)) {
        this.#host.jobFailed(record, { code, message: `The job could not be sent to worker ${this.id}: ${failure.message}` })
      }
      if (oneJob) return null
    }
    if (oneJob && entries.length > 0) this.#sent(entries[0].record)
    return null
  }

  #sent (record: JobRecord): void {
    for (const lease of record.leases) {
      // Workers keep input mappings between jobs; remember which live buffers went where, to
      // tell them when one is deleted (a deleted one can no longer be cached: input-mappings.ts).
      if (this.#host.store.has(lease.info.id)) this.#mapped.add(lease.info.id)
    }
    record.link = this
    this.running.set(record.info.id, record)
    this.#heldKinds.set(record.info.kind, (this.#heldKinds.get(record.info.kind) ?? 0) + 1)
    this.#host.jobSent(record)
  }

  /** The job no longer counts against this worker (it ended, or goes back to the queue). */
  release (record: JobRecord): void {
    if (!this.running.delete(record.info.id)) return
    const held = (this.#heldKinds.get(record.info.kind) ?? 1) - 1
    if (held === 0) this.#heldKinds.delete(record.info.kind)
    else this.#heldKinds.set(record.info.kind, held)
    this.#dropEarlyOutputs(record.info.id)
    this.#badOutputs.delete(record.info.id)
    if (record.link === this) record.link = null
  }

  cancel (record: JobRecord, reason: 'CANCELLED' | 'TIMEOUT'): void {
    this.#sendControl({ t: 'cancel', job: record.info.id, reason })
  }

  /** The buffer was deleted: a worker that was sent it must unmap it (its mapping keeps the memory). */
  forget (bufferId: string): void {
    if (!this.#mapped.delete(bufferId)) return
    if (this.#state === 'ready' || this.#state === 'unresponsive') this.#sendControl({ t: 'forget', buffers: [bufferId] })
  }

  shutdown (): boolean { return this.#sendControl({ t: 'shutdown' }) }

  // ---- liveness ------------------------------------------------------------------------

  #startHeartbeat (): void {
    this.#lastHeard = Date.now()
    this.#roundsSilent = 0
    // The verdict needs the time and the rounds. After this process's own event loop was blocked
    // (an embedder's long synchronous call: a big copy, a JSON.stringify), the first round sees a
    // long silence although the worker's pong may be waiting unread in the socket (timers run
    // before the poll phase): a stall of the server counts as one round, not as the worker's silence.
    const rounds = Math.ceil(this.#options.heartbeatTimeoutMs / this.#options.heartbeatIntervalMs)
    this.#heartbeat = setInterval(() => {
      const silent = Date.now() - this.#lastHeard
      this.#roundsSilent++
      if (silent >= this.#options.heartbeatTimeoutMs && this.#roundsSilent >= rounds) {
        this.#stopHeartbeat()
        this.#state = 'unresponsive'
        this.#host.log('error', 'worker stopped answering its heartbeat; killing it', { worker: this.id, pid: this.pid, silentMs: silent })
        this.#host.changed(this)
        this.#host.unresponsive(this)
        return
      }
      this.#sendControl({ t: 'ping', seq: ++this.#pingSeq })
    }, this.#options.heartbeatIntervalMs)
    this.#heartbeat.unref()
  }

  #stopHeartbeat (): void {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
    this.#heartbeat = null
  }

  get unresponsive (): boolean { return this.#state === 'unresponsive' }

  #lose (reason: string): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#stopHeartbeat()
    this.#host.log('warn', 'lost the channel to a worker', { worker: this.id, pid: this.pid, reason })
    this.#host.lost(this, reason)
  }

  /**
   * The worker is gone (its process exited). Returns the jobs it held, for the engine to retry
   * or fail; the link takes nothing more.
   */
  close (): JobRecord[] {
    const held = [...this.running.values()]
    this.#state = this.#state === 'failed' ? 'failed' : 'closed'
    this.#stopHeartbeat()
    for (const job of [...this.#earlyOutputs.keys()]) this.#dropEarlyOutputs(job)
    this.#badOutputs.clear()
    this.#mapped.clear()
    return held
  }
}
