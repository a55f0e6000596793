// For the worker socket tests: a WorkerSocketServer in a temporary folder, a small test-only
// dispatcher that plays the engine's part over one ExternalWorkerConnection (accept, send runs with
// real sealed memfds, gather started/progress/outputs/done), sealed memfds to use as inputs, and
// the external workers (Python package, C example) as real processes.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../../native'
import type { ExternalWorkerConnection, ExternalWorkerReport, CloseReason } from '../../server/worker-socket/external-worker-connection'
import { WorkerSocketServer, type WorkerSocketServerOptions } from '../../server/worker-socket/worker-socket-server'
import type { WorkerMessage } from '../../workers/protocol'
import { REPO_ROOT } from './attach'

export const PYTHON_PACKAGE_SOURCE = path.join(REPO_ROOT, 'clients', 'python', 'src')
export const PYTHON_FIXTURE_KINDS = path.join(REPO_ROOT, 'test', 'clients', 'fixtures', 'kinds.py')
export const C_WORKER_SOURCE = path.join(REPO_ROOT, 'examples', 'c', 'worker.c')

export interface SocketSetup {
  server: WorkerSocketServer
  socketPath: string
  dir: string
  /** The next welcomed connection. */
  nextConnection: () => Promise<ExternalWorkerConnection>
  close: () => void
}

export function startWorkerSocket (options: Partial<WorkerSocketServerOptions> = {}): SocketSetup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-worker-'))
  const socketPath = path.join(dir, 'run', 'worker.sock')
  const server = new WorkerSocketServer({ path: socketPath, ...options })
  const waiting: Array<(c: ExternalWorkerConnection) => void> = []
  const arrived: ExternalWorkerConnection[] = []
  server.on('connection', (connection) => {
    const waiter = waiting.shift()
    if (waiter !== undefined) waiter(connection)
    else arrived.push(connection)
  })
  server.start()
  return {
    server,
    socketPath,
    dir,
    nextConnection: async () => {
      const queued = arrived.shift()
      if (queued !== undefined) return queued
      return await new Promise((resolve) => waiting.push(resolve))
    },
    close: () => {
      server.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A sealed memfd holding `bytes` (written with pwrite: no writable mapping ever exists), and a read-only reopen of it as a job input. */
export function sealedInput (bytes: Uint8Array, name = 'test-input'): { fd: number, readOnly: number, size: number, close: () => void } {
  const fd = native.memfdCreate(name)
  try {
    if (bytes.length > 0) fs.writeSync(fd, bytes, 0, bytes.length, 0)
    native.addSeals(fd, ['shrink', 'grow', 'write'])
    const readOnly = native.reopenReadOnly(fd)
    return { fd, readOnly, size: bytes.length, close: () => { native.close(readOnly); native.close(fd) } }
  } catch (err) {
    native.close(fd)
    throw err
  }
}

export interface RunOutcome {
  job: string
  done: Extract<WorkerMessage, { t: 'done' }>
  /** Output descriptors ('outputs' messages' and the done's), in order; the caller closes them. */
  outputs: number[]
  started: Extract<WorkerMessage, { t: 'started' }> | null
  progress: number[]
}

interface PendingRun {
  outputs: number[]
  started: Extract<WorkerMessage, { t: 'started' }> | null
  progress: number[]
  resolve: (outcome: RunOutcome) => void
  onStarted: Array<() => void>
}

/**
 * Plays the engine over one connection: accepts the worker's kinds, sends runs, pairs answers
 * with jobs. Takes every descriptor it is given by 'message' and hands outputs to the caller.
 */
export class TestDispatcher {
  readonly connection: ExternalWorkerConnection
  report: ExternalWorkerReport | null = null
  closeReason: CloseReason | null | undefined = undefined
  readonly closed: Promise<CloseReason | null>
  readonly pongs: number[] = []
  #runs = new Map<string, PendingRun>()
  #nextJob = 0

  constructor (connection: ExternalWorkerConnection) {
    this.connection = connection
    this.closed = new Promise((resolve) => connection.once('close', (reason) => { this.closeReason = reason; resolve(reason) }))
    connection.on('message', (message, fds) => { this.#onMessage(message, fds) })
  }

  /** Waits for 'ready' and accepts (or calls `decide`, which may refuse). */
  async ready (decide?: (report: ExternalWorkerReport, connection: ExternalWorkerConnection) => void): Promise<ExternalWorkerReport> {
    const report = this.connection.report ?? (await once(this.connection, 'ready'))[0] as ExternalWorkerReport
    this.report = report
    if (decide !== undefined) decide(report, this.connection)
    else this.connection.accept()
    return report
  }

  #onMessage (message: WorkerMessage, fds: native.OwnedFds): void {
    if (message.t === 'pong') { this.pongs.push(message.seq); return }
    const run = 'job' in message ? this.#runs.get(message.job) : undefined
    if (run === undefined) return // its descriptors are closed when we return
    switch (message.t) {
      case 'started':
        run.started = message
        for (const f of run.onStarted.splice(0)) f()
        return
      case 'progress':
        run.progress.push(message.progress)
        return
      case 'outputs':
        run.outputs.push(...fds.takeAll())
        return
      case 'done':
        run.outputs.push(...fds.takeAll())
        this.#runs.delete(message.job)
        run.resolve({ job: message.job, done: message, outputs: run.outputs, started: run.started, progress: run.progress })
    }
  }

  /** Sends one run; resolves with its answer (the connection closing first rejects). */
  async run (kind: string, inputs: Array<{ readOnly: number, size: number }>, params: Record<string, unknown> = {}, job = `job-${this.#nextJob++}`): Promise<RunOutcome> {
    return await this.start(kind, inputs, params, job).outcome
  }

  start (kind: string, inputs: Array<{ readOnly: number, size: number }>, params: Record<string, unknown> = {}, job = `job-${this.#nextJob++}`): { job: string, outcome: Promise<RunOutcome>, started: Promise<void> } {
    let pending!: PendingRun
    const outcome = new Promise<RunOutcome>((resolve, reject) => {
      pending = { outputs: [], started: null, progress: [], resolve, onStarted: [] }
      this.closed.then((reason) => reject(new Error(`the worker closed before answering ${job}: ${JSON.stringify(reason)}`)), () => {})
    })
    this.#runs.set(job, pending)
    const started = new Promise<void>((resolve) => pending.onStarted.push(resolve))
    const sent = this.connection.send({
      t: 'run',
      job,
      kind,
      params,
      inputs: inputs.map((input, i) => ({ id: `buf-${job}-${i}`, generation: 1, size: input.size })),
      fdCount: inputs.length,
      maxOutputBytes: 1 << 30
    }, inputs.map((input) => input.readOnly))
    if (!sent) throw new Error('the connection refused the run')
    return { job, outcome, started }
  }
}

/** The Python package's worker CLI as a child process. */
export function spawnPythonWorker (socketPath: string, args: string[] = [], env: Record<string, string> = {}): ChildProcess {
  return spawn('python3', ['-m', 'memfd_pool.worker', '--socket', socketPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE_SOURCE, PYTHONUNBUFFERED: '1', ...env }
  })
}

/** Collects a child's stderr, for assertion messages. */
export function captureStderr (child: ChildProcess): () => string {
  let text = ''
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
  return () => text
}

/** Waits for the child to exit and its stdio pipes to close (so this process holds none of them). */
export async function exited (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  const streamsClosed = [child.stdin, child.stdout, child.stderr].every((stream) => stream === null || stream.closed)
  if (!(streamsClosed && (child.exitCode !== null || child.signalCode !== null))) await once(child, 'close')
  return { code: child.exitCode, signal: child.signalCode }
}
