// A worker process: spawned by the server's supervisor with one end of a SOCK_SEQPACKET pair as
// fd 3 (and nothing else inherited). It says hello, takes its settings from the server's one
// 'config' message (nothing from environment variables), loads the kinds (built-in, the kinds
// folder, the kind files), warms its piscina threads and reports 'ready' with what it serves —
// or 'fatal' naming the file and the reason, and exits 1. Then it receives jobs with their input
// descriptors, runs them on piscina threads (which map the descriptors themselves) — or, for the
// O(1) built-in kinds, right here — and sends back results with output memfds.
//
// This process owns every descriptor it receives and every output handed to it, and closes each
// exactly once, whatever happens to the job. It never outlives the server: the kernel kills it
// when its parent exits (PR_SET_PDEATHSIG), and it exits when the channel closes (which also
// covers a server that died before the prctl took effect).
import fs from 'node:fs'
import path from 'node:path'
import { BroadcastChannel } from 'node:worker_threads'
import { Piscina } from 'piscina'
import * as native from '../native'
import { OwnedFds } from '../native/owned-fds'
import { InputMappings } from './input-mappings'
import { cancelJob, runJob, type JobEnvironment, type ThreadResult, type ThreadTask } from './job-runner'
import { KindLoadError, loadKindModules } from './kind-loader'
import { builtinKinds } from './kinds'
import { decode, encode, MAX_RUN_INPUTS, packBatches, WORKER_CHANNEL, type KindReport, type ServerMessage, type WorkerConfig, type WorkerMessage } from './protocol'
import type { ThreadData } from './thread'
import { INLINE_CAPABLE_KINDS } from './worker-settings'

/**
 * Built-in kinds that do O(1) work and never wait may run on the main thread, where the job
 * arrives, instead of on a piscina thread: that saves the two hand-offs between threads of every
 * job, each a wake-up (~25–100 µs on this 2-vCPU machine). Measured on noop, 1 worker × 1 thread:
 * p50 546 → 278 µs, 64 in flight 1.6k → 3.4k jobs/s, worker CPU per job 423 → 141 µs.
 * `config.inlineKinds` picks which of INLINE_CAPABLE_KINDS (default: noop). Custom kinds never
 * run here: one that blocked would stall this process's channel, and with it heartbeats,
 * cancellation and every job.
 */
const INLINE_CAPABLE: ReadonlySet<string> = new Set(INLINE_CAPABLE_KINDS)

type RunMessage = Extract<ServerMessage, { t: 'run' }>
type DoneMessage = Extract<WorkerMessage, { t: 'done' }>

interface RunningJob {
  id: string
  abort: AbortController
  reason: 'CANCELLED' | 'TIMEOUT' | null
  forceTimer: NodeJS.Timeout | null
  /** The job's input descriptors (display numbers for 'started'); closed when it ends. */
  inputs: OwnedFds
  /** Until 'started' is sent (or the job ends first). */
  startedTimer: NodeJS.Timeout | null
}

/** Checks the server's 'config' (a malformed one is a protocol error, not a guess). */
export function checkWorkerConfig (value: unknown): WorkerConfig {
  const c = value as Partial<WorkerConfig> | null
  const count = (n: unknown, min: number): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= min
  const problems: string[] = []
  if (c === null || typeof c !== 'object') throw new Error('config must be an object')
  if (!count(c.threads, 1)) problems.push('threads (a whole number >= 1)')
  if (c.kindsDir !== null && typeof c.kindsDir !== 'string') problems.push('kindsDir (a path or null)')
  if (!Array.isArray(c.kindFiles) || !c.kindFiles.every((f) => typeof f === 'string')) problems.push('kindFiles (a list of paths)')
  if (!count(c.cancelGraceMs, 0)) problems.push('cancelGraceMs (ms >= 0)')
  if (!count(c.startedAfterMs, 0)) problems.push('startedAfterMs (ms >= 0)')
  if (!Array.isArray(c.inlineKinds) || !c.inlineKinds.every((k) => typeof k === 'string')) problems.push('inlineKinds (a list of names)')
  if (c.mappingCache === null || typeof c.mappingCache !== 'object' || !count(c.mappingCache.entries, 0) || !count(c.mappingCache.bytes, 0)) problems.push('mappingCache ({ entries, bytes } >= 0)')
  if (c.sortThreads !== null && !count(c.sortThreads, 1)) problems.push('sortThreads (>= 1 or null)')
  if (problems.length > 0) throw new Error(`config has bad ${problems.join(', ')}`)
  return c as WorkerConfig
}

export interface WorkerProcessOptions {
  /** The thread script piscina runs (default: thread.js beside this file). */
  threadScript?: string
  /** Called instead of process.exit (tests); the process exits with this code. */
  exit?: (code: number) => void
  log?: (line: string) => void
}

export class WorkerProcess {
  readonly #server: native.Channel
  readonly #exit: (code: number) => void
  readonly #log: (line: string) => void
  readonly #threadScript: string
  #state: 'hello' | 'starting' | 'ready' | 'stopping' = 'hello'
  #config: WorkerConfig | null = null
  #piscina: Piscina<ThreadTask, ThreadResult> | null = null
  #threadChannel: BroadcastChannel | null = null
  #inline: JobEnvironment | null = null
  readonly #running = new Map<string, RunningJob>()
  /**
   * Input descriptors of the next run that came ahead of it in 'inputs' messages (a job with more
   * than WORKER_CHANNEL.maxFds inputs). Only its own 'inputs' and 'run' may come next; anything
   * else closes them. `broken`: a part went wrong (too many, lost in transit): its run is refused.
   */
  #pendingInputs: { job: string, fds: number[], broken: string | null } | null = null
  /** See #sendDone. */
  readonly #outbox: Array<{ data: Buffer, fds: number[] }> = []
  #flushScheduled = false
  #exiting = false

  /** Takes ownership of `server` (the channel on fd 3). */
  constructor (server: native.Channel, options: WorkerProcessOptions = {}) {
    this.#server = server
    this.#exit = options.exit ?? ((code) => process.exit(code))
    this.#log = options.log ?? ((line) => process.stderr.write(`memfd-pool worker ${process.pid}: ${line}\n`))
    this.#threadScript = options.threadScript ?? path.join(__dirname, 'thread.js')
  }

  /** Listens on the channel and says hello; the server's 'config' starts everything else. */
  start (): void {
    this.#server.on('message', (data, fds) => { this.#receive(decode<ServerMessage>(data), OwnedFds.from(fds)) })
    this.#server.on('error', (err) => this.#onChannelError(err))
    // The server is gone: nothing can use our results, and a worker must never outlive it.
    this.#server.on('close', () => {
      if (!this.#exiting) this.#exit(0)
    })
    this.#send({ t: 'hello', pid: process.pid, protocol: 1 })
  }

  get state (): string { return this.#state }

  // --- sending -------------------------------------------------------------------------------

  #send (message: WorkerMessage, fds: number[] = []): void {
    this.#sendRaw(encode(message), fds)
  }

  #sendRaw (data: Buffer, fds: number[]): void {
    if (this.#server.closed) return
    try {
      this.#server.send(data, fds)
    } catch (err) {
      // The server went away (EPIPE): 'close' follows and this process exits.
      this.#log(`send failed: ${(err as Error).message}`)
    }
  }

  /**
   * While jobs sent ahead (prefetch) wait here for a thread, answers wait until the current turn
   * of the event loop ends, then leave together in as few messages as the channel's limits allow:
   * one sendmsg, and one wake-up of the server, for all the jobs that finished in that turn. A
   * wake-up of the other process costs more than a whole no-op job on this 2-vCPU machine, and
   * this process stays busy with the waiting jobs anyway. When no job waits, an answer leaves at
   * once (with any held back): then there is rarely anything to batch, and an answer held to the
   * end of the turn was measured to cost throughput (1 worker × 2 threads: 8.0k → 5.8k jobs/s),
   * since the server's next job could no longer arrive while this process was still awake. Each
   * answer's descriptors are closed once sent (send() keeps no claim: the server has its own).
   */
  #sendDone (message: DoneMessage, outputs: number[] = []): void {
    let fds = outputs
    if (fds.length > WORKER_CHANNEL.maxFds) {
      // More outputs than one message carries: 'outputs' messages first, in order, each with up to
      // maxFds of them; 'done' carries the rest. Sent now, after whatever answers wait, so the
      // server sees them in order and before this 'done'.
      this.#flushOutbox()
      while (fds.length > WORKER_CHANNEL.maxFds) {
        const part = fds.slice(0, WORKER_CHANNEL.maxFds)
        fds = fds.slice(WORKER_CHANNEL.maxFds)
        this.#sendRaw(encode({ t: 'outputs', job: message.job, fdCount: part.length }), part)
        closeAll(part)
      }
      message = { ...message, fdCount: fds.length } as DoneMessage
    }
    this.#outbox.push({ data: encode(message), fds })
    if (this.#running.size < (this.#config?.threads ?? 1)) {
      this.#flushOutbox()
      return
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => this.#flushOutbox())
    }
  }

  #flushOutbox (): void {
    this.#flushScheduled = false
    for (const message of packBatches(this.#outbox.splice(0))) {
      this.#sendRaw(message.data, message.fds)
      closeAll(message.fds)
    }
  }

  // --- start-up --------------------------------------------------------------------------------

  async #configure (config: WorkerConfig): Promise<void> {
    this.#state = 'starting'
    this.#config = config
    const inlineKinds = new Set(config.inlineKinds.filter((name) => INLINE_CAPABLE.has(name)))
    const channelName = `memfd-pool-worker-${process.pid}`
    const threadChannel = new BroadcastChannel(channelName)
    threadChannel.unref()
    threadChannel.onmessage = (event) => {
      const message = (event as MessageEvent).data as { t: string, job: string, progress: number }
      if (message.t === 'progress') this.#forwardProgress(message.job, message.progress)
    }
    this.#threadChannel = threadChannel
    this.#inline = {
      kinds: new Map(builtinKinds.filter((kind) => inlineKinds.has(kind.name)).map((kind) => [kind.name, kind])),
      mappings: new InputMappings(config.mappingCache),
      controllers: new Map(),
      cancelledEarly: new Map(),
      progress: (job, progress) => this.#forwardProgress(job, progress)
    }

    let reports: KindReport[]
    try {
      // Here first, for the report and for a clear error naming the file; then on each thread.
      reports = (await loadKindModules({ kindsDir: config.kindsDir, kindFiles: config.kindFiles })).reports
    } catch (err) {
      this.#fatal(err)
      return
    }
    if (this.#exiting) return
    const workerData: ThreadData = { config, channel: channelName }
    const piscina = new Piscina<ThreadTask, ThreadResult>({
      filename: this.#threadScript,
      minThreads: config.threads,
      maxThreads: config.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: 2 ** 31 - 1,
      // An idle thread must still hear the BroadcastChannel: a 'forget' has to unmap a deleted
      // buffer now, not at the thread's next job. piscina's default ('sync') parks idle threads in
      // Atomics.wait, which stops their event loop; measured no slower per job without it.
      atomics: 'disabled',
      workerData
    })
    piscina.on('error', (err) => this.#log(`thread error: ${(err as Error).message}`))
    this.#piscina = piscina
    // Report in once every thread has loaded the kinds (a no-op job on each), so the server
    // dispatches only to a worker that can run jobs now.
    try {
      await Promise.all(Array.from({ length: config.threads }, async (_, i) => {
        const result = await piscina.run({ job: `warmup-${i}`, kind: 'noop', params: {}, inputs: [], maxOutputBytes: 0 })
        // A thread's loader error comes back as a result (see thread.ts), code and message intact.
        if (!result.ok) throw Object.assign(new Error(result.error.message), { code: result.error.code })
      }))
    } catch (err) {
      if (this.#exiting) return // told to shut down while starting: not a failure
      this.#fatal(err)
      return
    }
    if (this.#exiting) return
    const ready = encode({ t: 'ready', threads: config.threads, kinds: reports })
    if (ready.length > WORKER_CHANNEL.maxMessageBytes) {
      // One message or none: a report that cannot be sent would leave the server waiting forever.
      this.#fatal(new KindLoadError(config.kindsDir ?? config.kindFiles.join(', '), `the kinds' reports are ${ready.length} bytes of JSON, over the worker channel's ${WORKER_CHANNEL.maxMessageBytes}: serve fewer kinds or smaller params schemas`))
      return
    }
    this.#state = 'ready'
    this.#sendRaw(ready, [])
  }

  /** Cannot start: say why (the file and the reason), then exit 1. */
  #fatal (err: unknown): void {
    const code = err instanceof KindLoadError || (err as { code?: unknown })?.code === 'KIND_LOAD_FAILED' ? 'KIND_LOAD_FAILED' : 'WORKER_START_FAILED'
    const message = err instanceof Error ? err.message : String(err)
    this.#log(`cannot start: ${message}`)
    this.#send({ t: 'fatal', error: { code, message } })
    void this.#shutdown(1)
  }

  // --- jobs ------------------------------------------------------------------------------------

  /** Sends the job's 'started' now, once, if it has not gone out yet. */
  #announce (job: RunningJob): void {
    if (job.startedTimer === null) return
    clearTimeout(job.startedTimer)
    job.startedTimer = null
    this.#send({ t: 'started', job: job.id, fds: [...job.inputs] })
  }

  #forwardProgress (id: string, progress: number): void {
    const job = this.#running.get(id)
    if (job === undefined) return
    this.#announce(job) // the server learns who holds the inputs before it reports progress
    this.#send({ t: 'progress', job: id, progress })
  }

  #run (message: RunMessage, inputs: OwnedFds): void {
    const config = this.#config as WorkerConfig
    const inline = this.#inline as JobEnvironment
    const piscina = this.#piscina as Piscina<ThreadTask, ThreadResult>
    const job: RunningJob = { id: message.job, abort: new AbortController(), reason: null, forceTimer: null, inputs, startedTimer: null }
    this.#running.set(job.id, job)
    const here = inline.kinds.has(message.kind)
    if (!here) job.startedTimer = setTimeout(() => this.#announce(job), config.startedAfterMs)
    const fds = [...inputs]
    const task: ThreadTask = {
      job: job.id,
      kind: message.kind,
      params: message.params,
      inputs: fds.map((fd, i) => ({ id: message.inputs[i].id, generation: message.inputs[i].generation, fd, size: message.inputs[i].size })),
      maxOutputBytes: message.maxOutputBytes
    }
    // Everything of the job is released before its answer leaves: once the server reads 'done',
    // this process holds none of the job's descriptors.
    const finish = (): void => {
      if (job.forceTimer !== null) clearTimeout(job.forceTimer)
      if (job.startedTimer !== null) clearTimeout(job.startedTimer) // 'done' says it all
      this.#running.delete(job.id)
      job.inputs.closeAll()
    }
    const outcome = here ? runJob(task, inline) : piscina.run(task, { signal: job.abort.signal })
    outcome.then((result) => {
      finish()
      if (result.ok) {
        const outputFds = result.outputs.map((o) => o.fd)
        this.#sendDone({ t: 'done', job: job.id, ok: true, result: result.result, outputs: result.outputs.map((o) => ({ size: o.size })), fdCount: outputFds.length, runMs: result.runMs }, outputFds)
      } else {
        this.#sendDone({ t: 'done', job: job.id, ok: false, error: result.error, fdCount: 0, runMs: result.runMs })
      }
    }, (err: Error) => {
      finish()
      // The thread was terminated (a forced cancel) or died: outputs it made are orphans now.
      sweepOrphanOutputs(job.id)
      const code = job.reason ?? 'HANDLER_ERROR'
      this.#sendDone({ t: 'done', job: job.id, ok: false, error: { code, message: job.reason !== null ? `The job was stopped (${job.reason})` : err.message }, fdCount: 0 })
    }).finally(() => {
      if (this.#state === 'stopping' && this.#running.size === 0) void this.#shutdown(0)
    })
  }

  #cancel (message: Extract<ServerMessage, { t: 'cancel' }>): void {
    const job = this.#running.get(message.job)
    if (job === undefined || job.reason !== null) return
    job.reason = message.reason
    // First ask: the kind's AbortSignal fires. Then insist: piscina terminates the thread.
    this.#threadChannel?.postMessage({ t: 'cancel', job: job.id, reason: message.reason })
    if (this.#inline !== null) cancelJob(this.#inline, job.id, message.reason)
    job.forceTimer = setTimeout(() => job.abort.abort(), this.#config?.cancelGraceMs ?? 0)
  }

  // --- receiving -------------------------------------------------------------------------------

  /** Refuses a run with PROTOCOL_ERROR (its descriptors closed). */
  #refuse (message: ServerMessage | null, fds: OwnedFds, why: string): void {
    fds.closeAll()
    if (message?.t === 'run' && typeof message.job === 'string') {
      this.#send({ t: 'done', job: message.job, ok: false, error: { code: 'PROTOCOL_ERROR', message: why }, fdCount: 0 })
    }
  }

  /** One message from the server, or each part of a batch with its own descriptors. */
  #receive (message: ServerMessage | null, fds: OwnedFds): void {
    if (message?.t === 'batch') {
      this.#receiveBatch(message.messages, fds)
      return
    }
    // Held 'inputs' belong to the run that must come next: any other message lets them go.
    const pending = this.#pendingInputs
    const continues = pending !== null && (message?.t === 'inputs' || message?.t === 'run') && message.job === pending.job
    if (pending !== null && !continues) this.#dropPendingInputs('its run did not follow')
    const expected = message !== null && (message.t === 'run' || message.t === 'inputs') ? message.fdCount : 0
    if (message === null || fds.length !== expected) {
      this.#log(`refused a malformed message (${fds.length} descriptors)`)
      if (message?.t === 'inputs') this.#holdBroken(message.job, `Expected ${expected} descriptors, received ${fds.length}`)
      this.#refuse(message, fds, `Expected ${expected} descriptors, received ${fds.length}`)
      return
    }
    switch (message.t) {
      case 'inputs':
        this.#holdInputs(message, fds)
        return
      case 'ping':
        // From this thread, whatever the job threads are doing: a worker whose main loop is stuck
        // (or stopped) is the one the server must find out about.
        this.#send({ t: 'pong', seq: message.seq })
        return
      case 'config':
        if (this.#state !== 'hello') {
          this.#log('ignored a second config')
          return
        }
        try {
          void this.#configure(checkWorkerConfig(message.config))
        } catch (err) {
          this.#state = 'starting'
          this.#log(`bad config: ${(err as Error).message}`)
          this.#send({ t: 'fatal', error: { code: 'PROTOCOL_ERROR', message: `The worker's config is malformed: ${(err as Error).message}` } })
          void this.#shutdown(1)
        }
        return
      case 'run':
        if (this.#state !== 'ready') {
          this.#refuse(message, fds, this.#state === 'stopping' ? 'The worker is shutting down' : 'The worker is not ready yet')
          return
        }
        {
          const held = this.#pendingInputs
          this.#pendingInputs = null
          if (held?.broken != null) {
            closeAll(held.fds)
            this.#refuse(message, fds, held.broken)
            return
          }
          // Ours from here: the held parts first, then this message's, in order.
          const all = held === null ? fds : OwnedFds.from([...held.fds, ...fds.takeAll()])
          if (!Array.isArray(message.inputs) || message.inputs.length !== all.length || all.length > MAX_RUN_INPUTS) {
            this.#refuse(message, all, 'Inputs do not match the descriptors')
            return
          }
          this.#run(message, all)
        }
        return
      case 'cancel':
        this.#cancel(message)
        return
      case 'forget':
        // The threads' mapping caches let go of deleted buffers (see input-mappings.ts).
        if (Array.isArray(message.buffers)) {
          const buffers = message.buffers.filter((id) => typeof id === 'string')
          this.#threadChannel?.postMessage({ t: 'forget', buffers })
          this.#inline?.mappings.forget(buffers)
        }
        return
      case 'shutdown':
        if (this.#state !== 'ready') {
          void this.#shutdown(0)
          return
        }
        this.#state = 'stopping'
        if (this.#running.size === 0) void this.#shutdown(0)
    }
  }

  /** Keeps an 'inputs' part for the run that follows it (its descriptors ours from here). */
  #holdInputs (message: Extract<ServerMessage, { t: 'inputs' }>, fds: OwnedFds): void {
    const taken = fds.takeAll()
    if (typeof message.job !== 'string' || this.#state !== 'ready') {
      closeAll(taken)
      return
    }
    const held = this.#pendingInputs ?? { job: message.job, fds: [], broken: null }
    this.#pendingInputs = held
    if (held.broken !== null) {
      closeAll(taken)
      return
    }
    held.fds.push(...taken)
    if (held.fds.length >= MAX_RUN_INPUTS) {
      // A run carries at least its last part's worth itself: this many ahead of it is too many.
      closeAll(held.fds)
      held.fds = []
      held.broken = `More than ${MAX_RUN_INPUTS} input descriptors`
    }
  }

  /** A part of the next run went wrong: the run, when it comes, is refused with `why`. */
  #holdBroken (job: unknown, why: string): void {
    if (typeof job !== 'string') return
    const held = this.#pendingInputs ?? { job, fds: [], broken: null }
    closeAll(held.fds)
    this.#pendingInputs = { job, fds: [], broken: held.broken ?? why }
  }

  #dropPendingInputs (why: string): void {
    const held = this.#pendingInputs
    if (held === null) return
    this.#pendingInputs = null
    closeAll(held.fds)
    this.#log(`dropped ${held.fds.length} input descriptors held for job ${held.job}: ${why}`)
  }

  /** A batch's parts, each with its own descriptors in order (a batch inside a batch is refused). */
  #receiveBatch (parts: unknown, fds: OwnedFds): void {
    const list: unknown[] = Array.isArray(parts) ? parts : []
    const counts = list.map((part) => {
      const p = part as { t?: unknown, fdCount?: unknown } | null
      return (p?.t === 'run' || p?.t === 'inputs') && Number.isSafeInteger(p.fdCount) && (p.fdCount as number) >= 0 ? p.fdCount as number : 0
    })
    if (counts.reduce((a, b) => a + b, 0) !== fds.length) {
      // Nobody can tell whose descriptor is whose: refuse them all.
      this.#log(`refused a malformed batch (${fds.length} descriptors)`)
      fds.closeAll()
      for (const part of list) this.#refuse(part as ServerMessage, OwnedFds.empty(), 'The batch did not account for its descriptors')
      return
    }
    list.forEach((part, i) => {
      const mine = fds.split(counts[i])
      const nested = (part as { t?: unknown } | null)?.t === 'batch'
      this.#receive(nested || part === null || typeof part !== 'object' ? null : part as ServerMessage, mine)
    })
  }

  #onChannelError (err: native.SystemError): void {
    // A refused message (too many descriptors, too large): already closed by the channel.
    this.#log(`channel error ${err.code}: ${err.message}`)
    // Descriptors lost in transit (MSG_CTRUNC: this process is at RLIMIT_NOFILE): fail that job
    // now, so the server does not wait for an answer that would never come.
    const lost = err.data !== undefined ? decode<ServerMessage>(err.data) : null
    if (lost?.t === 'inputs') {
      // The run that follows is refused with this reason (its answer says why).
      this.#holdBroken(lost.job, `The worker could not receive the job's descriptors (${err.code}); it may be at its open-file limit`)
      return
    }
    if (lost?.t === 'run') {
      this.#dropPendingInputs('its run was lost')
      this.#send({ t: 'done', job: lost.job, ok: false, error: { code: 'RESOURCE_EXHAUSTED', message: `The worker could not receive the job's descriptors (${err.code}); it may be at its open-file limit` }, fdCount: 0 })
    }
  }

  /** Stops the threads, sends what is left, waits for the socket to take it, closes, exits. */
  async #shutdown (code: number): Promise<void> {
    if (this.#exiting) return
    this.#exiting = true
    this.#state = 'stopping'
    try { await this.#piscina?.destroy() } catch { /* exiting anyway */ }
    this.#flushOutbox() // the last answers go before the channel closes
    if (!this.#server.closed && this.#server.pending > 0) {
      await new Promise<void>((resolve) => {
        this.#server.once('drain', resolve)
        this.#server.once('close', resolve)
      })
    }
    this.#threadChannel?.close()
    this.#server.close()
    this.#exit(code)
  }
}

function closeAll (fds: readonly number[]): void {
  for (const fd of fds) {
    try { native.close(fd) } catch { /* already gone: never retry a number that may be reused */ }
  }
}

/** Closes outputs a terminated thread created but could not hand over (found by name). */
function sweepOrphanOutputs (job: string): void {
  const prefix = `/memfd:memfd-pool-out:${job}:`
  for (const entry of fs.readdirSync('/proc/self/fd')) {
    let target: string
    try { target = fs.readlinkSync(`/proc/self/fd/${entry}`) } catch { continue }
    if (target.startsWith(prefix)) closeAll([Number(entry)])
  }
}

/** The worker process's entry point: dies with its parent, speaks on fd 3. */
export function main (): void {
  try {
    native.setParentDeathSignal('SIGKILL')
  } catch (err) {
    // Not fatal: the channel's close still ends this process when the server goes.
    process.stderr.write(`memfd-pool worker ${process.pid}: PR_SET_PDEATHSIG failed: ${(err as Error).message}\n`)
  }
  const worker = new WorkerProcess(new native.Channel(3, WORKER_CHANNEL))
  worker.start()
}

if (require.main === module) main()
