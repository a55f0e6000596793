// A worker process: spawned by the server's supervisor with one end of a SOCK_SEQPACKET pair as
// fd 3 (and nothing else inherited). It receives jobs with their input descriptors, runs them on
// piscina threads (which map the descriptors themselves) — or, for the O(1) built-in kinds, right
// here — and sends back results with output memfds. This process owns every descriptor it receives and every output handed to it, and
// closes each exactly once, whatever happens to the job.
import fs from 'node:fs'
import path from 'node:path'
import { BroadcastChannel } from 'node:worker_threads'
import { Piscina } from 'piscina'
import * as native from '../native'
import { InputMappings } from './input-mappings'
import { cancelJob, mappingCacheLimits, runJob, type JobEnvironment, type ThreadResult, type ThreadTask } from './job-runner'
import { builtinKinds } from './kinds'
import { decode, encode, packBatches, WORKER_CHANNEL, type ServerMessage, type WorkerMessage } from './protocol'

const threads = Math.max(1, Number(process.env.MEMFD_POOL_THREADS) || 1)
const kindsDir = process.env.MEMFD_POOL_KINDS_DIR || null
/** How long a cancelled job's kind gets to honour its AbortSignal before its thread is terminated. */
const CANCEL_GRACE_MS = Number(process.env.MEMFD_POOL_CANCEL_GRACE_MS) || 1000
/**
 * A job still running after this long tells the server it started (with its descriptor numbers,
 * for the buffers' descriptor map); a faster one answers 'done' only. One message per job instead
 * of two: each message wakes the server, and on 2 vCPUs a wake-up costs more than the job.
 */
const STARTED_AFTER_MS = Math.max(0, Number(process.env.MEMFD_POOL_STARTED_AFTER_MS ?? 2))
/**
 * Built-in kinds that do O(1) work and never wait may run on this thread, where the job arrives,
 * instead of on a piscina thread: that saves the two hand-offs between threads of every job,
 * each a wake-up (~25–100 µs on this 2-vCPU machine). Measured on noop, 1 worker × 1 thread:
 * p50 546 → 278 µs, 64 in flight 1.6k → 3.4k jobs/s, worker CPU per job 423 → 141 µs.
 * MEMFD_POOL_INLINE_KINDS lists which (default: noop; empty: none). Custom kinds never run here:
 * one that blocked would stall this process's channel, and with it cancellation and every job.
 */
const INLINE_CAPABLE = new Set(['noop'])
const inlineKinds = new Set((process.env.MEMFD_POOL_INLINE_KINDS ?? 'noop').split(',').map((name) => name.trim()).filter((name) => INLINE_CAPABLE.has(name)))

const channelName = `memfd-pool-worker-${process.pid}`
const threadChannel = new BroadcastChannel(channelName)
threadChannel.unref()

const piscina = new Piscina<ThreadTask, ThreadResult>({
  filename: path.join(__dirname, 'thread.js'),
  minThreads: threads,
  maxThreads: threads,
  concurrentTasksPerWorker: 1,
  idleTimeout: 2 ** 31 - 1,
  // An idle thread must still hear the BroadcastChannel: a 'forget' has to unmap a deleted
  // buffer now, not at the thread's next job. piscina's default ('sync') parks idle threads in
  // Atomics.wait, which stops their event loop; measured no slower per job without it.
  atomics: 'disabled',
  workerData: { kindsDir, channel: channelName }
})

const server = new native.Channel(3, WORKER_CHANNEL)

/** Where inline jobs run: this thread's own kinds (the inline ones only) and mapping cache. */
const inline: JobEnvironment = {
  kinds: new Map(builtinKinds.filter((kind) => inlineKinds.has(kind.name)).map((kind) => [kind.name, kind])),
  mappings: new InputMappings(mappingCacheLimits()),
  controllers: new Map(),
  cancelledEarly: new Map(),
  progress: (job, progress) => forwardProgress(job, progress)
}

interface RunningJob {
  id: string
  abort: AbortController
  reason: 'CANCELLED' | 'TIMEOUT' | null
  forceTimer: NodeJS.Timeout | null
  fds: number[]
  /** Until 'started' is sent (or the job ends first). */
  startedTimer: NodeJS.Timeout | null
}
const running = new Map<string, RunningJob>()
let shuttingDown = false

function send (message: WorkerMessage, fds: number[] = []): void {
  sendRaw(encode(message), fds)
}

function sendRaw (data: Buffer, fds: number[]): void {
  if (server.closed) return
  try {
    server.send(data, fds)
  } catch (err) {
    // The server went away (EPIPE): 'close' follows and this process exits.
    process.stderr.write(`memfd-pool worker ${process.pid}: send failed: ${(err as Error).message}\n`)
  }
}

/**
 * While jobs sent ahead (prefetch) wait here for a thread, answers wait until the current turn of
 * the event loop ends, then leave together in as few messages as the channel's limits allow: one
 * sendmsg, and one wake-up of the server, for all the jobs that finished in that turn. A wake-up
 * of the other process costs more than a whole no-op job on this 2-vCPU machine, and this
 * process stays busy with the waiting jobs anyway. When no job waits, an answer leaves at once
 * (with any held back): then there is rarely anything to batch, and an answer held to the end
 * of the turn was measured to cost throughput (1 worker × 2 threads: 8.0k → 5.8k jobs/s), since
 * the server's next job could no longer arrive while this process was still awake. Each
 * answer's descriptors are closed once sent (send() keeps no claim: the server has its own).
 */
const outbox: Array<{ data: Buffer, fds: number[] }> = []
let flushScheduled = false

function sendDone (message: Extract<WorkerMessage, { t: 'done' }>, fds: number[] = []): void {
  outbox.push({ data: encode(message), fds })
  if (running.size < threads) {
    flushOutbox()
    return
  }
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushOutbox)
  }
}

function flushOutbox (): void {
  flushScheduled = false
  for (const message of packBatches(outbox.splice(0))) {
    sendRaw(message.data, message.fds)
    closeAll(message.fds)
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

/** Sends the job's 'started' now, once, if it has not gone out yet. */
function announce (job: RunningJob): void {
  if (job.startedTimer === null) return
  clearTimeout(job.startedTimer)
  job.startedTimer = null
  send({ t: 'started', job: job.id, fds: job.fds })
}

function forwardProgress (id: string, progress: number): void {
  const job = running.get(id)
  if (job === undefined) return
  announce(job) // the server learns who holds the inputs before it reports progress
  send({ t: 'progress', job: id, progress })
}

threadChannel.onmessage = (event) => {
  const message = (event as MessageEvent).data as { t: string, job: string, progress: number }
  if (message.t === 'progress') forwardProgress(message.job, message.progress)
}

function run (message: Extract<ServerMessage, { t: 'run' }>, fds: number[]): void {
  const job: RunningJob = { id: message.job, abort: new AbortController(), reason: null, forceTimer: null, fds, startedTimer: null }
  running.set(job.id, job)
  const here = inline.kinds.has(message.kind)
  if (!here) job.startedTimer = setTimeout(() => announce(job), STARTED_AFTER_MS)
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
    running.delete(job.id)
    closeAll(fds)
  }
  const outcome = here ? runJob(task, inline) : piscina.run(task, { signal: job.abort.signal })
  outcome.then((result) => {
    finish()
    if (result.ok) {
      const outputFds = result.outputs.map((o) => o.fd)
      sendDone({ t: 'done', job: job.id, ok: true, result: result.result, outputs: result.outputs.map((o) => ({ size: o.size })), fdCount: outputFds.length, runMs: result.runMs }, outputFds)
    } else {
      sendDone({ t: 'done', job: job.id, ok: false, error: result.error, fdCount: 0, runMs: result.runMs })
    }
  }, (err: Error) => {
    finish()
    // The thread was terminated (a forced cancel) or died: outputs it made are orphans now.
    sweepOrphanOutputs(job.id)
    const code = job.reason ?? 'HANDLER_ERROR'
    sendDone({ t: 'done', job: job.id, ok: false, error: { code, message: job.reason !== null ? `The job was stopped (${job.reason})` : err.message }, fdCount: 0 })
  }).finally(() => {
    if (shuttingDown && running.size === 0) exit()
  })
}

function cancel (message: Extract<ServerMessage, { t: 'cancel' }>): void {
  const job = running.get(message.job)
  if (job === undefined || job.reason !== null) return
  job.reason = message.reason
  // First ask: the kind's AbortSignal fires. Then insist: piscina terminates the thread.
  threadChannel.postMessage({ t: 'cancel', job: job.id, reason: message.reason })
  cancelJob(inline, job.id, message.reason)
  job.forceTimer = setTimeout(() => job.abort.abort(), CANCEL_GRACE_MS)
}

server.on('message', (data, fds) => { receive(decode<ServerMessage>(data), fds) })

/** One message from the server, or each run of a batch with its own descriptors. */
function receive (message: ServerMessage | null, fds: number[]): void {
  if (message?.t === 'batch') {
    const parts: unknown[] = Array.isArray(message.messages) ? message.messages : []
    const runs = parts.map((part) => (part as { t?: unknown } | null)?.t === 'run' ? part as Extract<ServerMessage, { t: 'run' }> : null)
    const counts = runs.map((run) => run !== null && Number.isSafeInteger(run.fdCount) && run.fdCount >= 0 ? run.fdCount : 0)
    if (counts.reduce((a, b) => a + b, 0) !== fds.length) {
      // Nobody can tell whose descriptor is whose: refuse them all.
      closeAll(fds)
      process.stderr.write(`memfd-pool worker ${process.pid}: refused a malformed batch (${fds.length} descriptors)\n`)
      for (const run of runs) if (run !== null) send({ t: 'done', job: run.job, ok: false, error: { code: 'PROTOCOL_ERROR', message: 'The batch did not account for its descriptors' }, fdCount: 0 })
      return
    }
    let offset = 0
    parts.forEach((part, i) => {
      const mine = fds.slice(offset, offset + counts[i])
      offset += counts[i]
      // Each part as if it came alone; a batch inside a batch is refused as malformed.
      const nested = (part as { t?: unknown } | null)?.t === 'batch'
      receive(nested ? null : part as ServerMessage, mine)
    })
    return
  }
  const expected = message !== null && message.t === 'run' ? message.fdCount : 0
  if (message === null || fds.length !== expected) {
    closeAll(fds)
    process.stderr.write(`memfd-pool worker ${process.pid}: refused a malformed message (${fds.length} descriptors)\n`)
    if (message?.t === 'run') send({ t: 'done', job: message.job, ok: false, error: { code: 'PROTOCOL_ERROR', message: `Expected ${expected} descriptors, received ${fds.length}` }, fdCount: 0 })
    return
  }
  switch (message.t) {
    case 'run':
      if (!Array.isArray(message.inputs) || message.inputs.length !== fds.length || shuttingDown) {
        closeAll(fds)
        send({ t: 'done', job: message.job, ok: false, error: { code: 'PROTOCOL_ERROR', message: 'Inputs do not match the descriptors' }, fdCount: 0 })
        return
      }
      run(message, fds)
      return
    case 'cancel':
      cancel(message)
      return
    case 'forget':
      // The threads' mapping caches let go of deleted buffers (see input-mappings.ts).
      if (Array.isArray(message.buffers)) {
        const buffers = message.buffers.filter((id) => typeof id === 'string')
        threadChannel.postMessage({ t: 'forget', buffers })
        inline.mappings.forget(buffers)
      }
      return
    case 'shutdown':
      shuttingDown = true
      if (running.size === 0) exit()
  }
}

server.on('error', (err) => {
  // A refused message (too many descriptors, too large): already closed by the channel.
  process.stderr.write(`memfd-pool worker ${process.pid}: channel error ${err.code}: ${err.message}\n`)
  // Descriptors lost in transit (MSG_CTRUNC: this process is at RLIMIT_NOFILE): fail that job
  // now, so the server does not wait for an answer that would never come.
  const lost = err.data !== undefined ? decode<ServerMessage>(err.data) : null
  if (lost?.t === 'run') {
    send({ t: 'done', job: lost.job, ok: false, error: { code: 'RESOURCE_EXHAUSTED', message: `The worker could not receive the job's descriptors (${err.code}); it may be at its open-file limit` }, fdCount: 0 })
  }
})

// The server is gone: nothing can use our results, and a worker must never outlive it.
server.on('close', () => process.exit(0))

let exiting = false
function exit (): void {
  if (exiting) return
  exiting = true
  piscina.destroy().finally(() => {
    flushOutbox() // the last answers go before the channel closes
    server.close()
    process.exit(0)
  })
}

piscina.on('error', (err) => process.stderr.write(`memfd-pool worker ${process.pid}: thread error: ${(err as Error).message}\n`))

// Report in once the threads have loaded the kinds (a no-op job on each), so the server
// dispatches only to a worker that can run jobs now. A thread that cannot load them (a broken
// custom kind) makes this worker exit with the reason on stderr.
const warmup = Array.from({ length: threads }, (_, i) => piscina.run({ job: `warmup-${i}`, kind: 'noop', params: {}, inputs: [], maxOutputBytes: 0 }))
Promise.all(warmup).then(() => send({ t: 'hello', pid: process.pid, protocol: 1 }), (err: Error) => {
  if (exiting) return // told to shut down while starting: not a failure
  process.stderr.write(`memfd-pool worker ${process.pid}: threads failed to start: ${err.message}\n`)
  process.exit(70)
})
