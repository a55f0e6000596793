// Worker processes: spawns them (each with its end of a SOCK_SEQPACKET pair as fd 3 and nothing
// else inherited), waits for their handshake, notices exits and signals, restarts them with
// backoff, and stops them on close. Jobs are the pool's business; this file only keeps
// processes alive and carries their messages.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import path from 'node:path'
import * as native from '../../native'
import { decode, encode, WORKER_CHANNEL, type ServerMessage, type WorkerMessage } from '../../workers/protocol'
import type { WorkerInfo, WorkerState } from './types'

const WORKER_ENTRY = path.join(__dirname, '..', '..', 'workers', 'worker-process.js')
/** Restart delays double from here after each quick death, up to the maximum. */
const RESTART_BASE_MS = 100
const RESTART_MAX_MS = 5000
/** A worker that lived this long resets the backoff. */
const STABLE_AFTER_MS = 10_000
/**
 * Node options for worker processes, from MEMFD_POOL_WORKER_EXEC_ARGV (space-separated), for
 * profiling them: `--cpu-prof --cpu-prof-dir=/tmp/prof` (not allowed in NODE_OPTIONS) writes one
 * profile per thread of each worker when it exits.
 */
function workerExecArgv (env: Record<string, string | undefined>): string[] {
  return (env.MEMFD_POOL_WORKER_EXEC_ARGV ?? '').split(/\s+/).filter((arg) => arg !== '')
}

export interface SupervisorOptions {
  workers: number
  threadsPerWorker: number
  kindsDir: string | null
  /** Extra environment for workers (tests set the cancellation grace). */
  env?: Record<string, string>
  /** The worker program (default: workers/worker-process.js). Tests substitute a hostile one. */
  script?: string
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void
}

/** One worker slot: the same id across restarts. */
export class WorkerSlot {
  readonly id: string
  pid: number | null = null
  state: WorkerState = 'starting'
  threads: number
  /** Ids of the jobs this worker runs now. */
  readonly running = new Set<string>()
  jobsDone = 0
  startedAt: string | null = null
  restarts = 0
  channel: native.Channel | null = null
  process: ChildProcess | null = null
  quickDeaths = 0
  spawnedAt = 0
  jobsAtSpawn = 0
  restartTimer: NodeJS.Timeout | null = null

  constructor (id: string, threads: number) {
    this.id = id
    this.threads = threads
  }

  info (): WorkerInfo {
    return {
      id: this.id,
      pid: this.pid,
      state: this.state,
      threads: this.threads,
      running: this.running.size,
      jobsDone: this.jobsDone,
      startedAt: this.startedAt,
      restarts: this.restarts
    }
  }
}

export interface SupervisorEvents {
  ready: [slot: WorkerSlot]
  message: [slot: WorkerSlot, message: WorkerMessage, fds: number[]]
  exited: [slot: WorkerSlot, code: number | null, signal: string | null]
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly slots: WorkerSlot[]
  #options: SupervisorOptions
  #stopping = false

  constructor (options: SupervisorOptions) {
    super()
    this.#options = options
    this.slots = Array.from({ length: options.workers }, (_, i) => new WorkerSlot(`w${i}`, options.threadsPerWorker))
  }

  start (): void {
    for (const slot of this.slots) this.#spawn(slot)
  }

  #log (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#options.log?.(level, message, fields)
  }

  #spawn (slot: WorkerSlot): void {
    slot.restartTimer = null
    slot.state = 'starting'
    const [mine, theirs] = native.socketPair()
    let child: ChildProcess
    try {
      const execArgv = workerExecArgv({ ...process.env, ...this.#options.env })
      child = spawn(process.execPath, [...execArgv, this.#options.script ?? WORKER_ENTRY], {
        // fd 3 is the worker's channel; stdin is closed; everything else we own is close-on-exec.
        stdio: ['ignore', 'inherit', 'inherit', theirs],
        env: {
          ...process.env,
          ...this.#options.env,
          MEMFD_POOL_THREADS: String(slot.threads),
          MEMFD_POOL_KINDS_DIR: this.#options.kindsDir ?? ''
        }
      })
    } catch (err) {
      native.close(mine)
      native.close(theirs)
      this.#log('error', 'could not spawn a worker', { worker: slot.id, err: (err as Error).message })
      this.#scheduleRestart(slot)
      return
    }
    // The child has its own copy now; ours must go so the pair reports the child's death.
    native.close(theirs)
    const channel = new native.Channel(mine, WORKER_CHANNEL)
    slot.channel = channel
    slot.process = child
    slot.pid = child.pid ?? null
    slot.spawnedAt = Date.now()
    slot.jobsAtSpawn = slot.jobsDone

    channel.on('message', (data, fds) => {
      const message = decode<WorkerMessage>(data)
      if (message === null) {
        for (const fd of fds) native.close(fd)
        this.#log('warn', 'malformed message from a worker', { worker: slot.id, pid: slot.pid })
        return
      }
      if (message.t === 'hello') {
        for (const fd of fds) native.close(fd)
        slot.state = this.#stopping ? 'stopping' : 'ready'
        slot.startedAt = new Date().toISOString()
        this.emit('ready', slot)
        return
      }
      if (message.t === 'batch') {
        this.#unbatch(slot, message.messages, fds)
        return
      }
      this.emit('message', slot, message, fds)
    })
    channel.on('error', (err) => {
      this.#log('warn', 'worker channel error', { worker: slot.id, pid: slot.pid, code: err.code, err: err.message })
      // A message whose descriptors were lost still names its job: deliver it without them and
      // let the pool's descriptor count check fail that job.
      const lost = err.data !== undefined ? decode<WorkerMessage>(err.data) : null
      if (lost !== null && lost.t !== 'hello') this.emit('message', slot, lost, [])
    })
    channel.on('close', () => { if (slot.channel === channel) slot.channel = null })

    child.once('error', (err) => this.#log('error', 'worker process error', { worker: slot.id, err: err.message }))
    child.once('exit', (code, signal) => {
      channel.close()
      if (slot.channel === channel) slot.channel = null
      slot.process = null
      slot.state = 'exited'
      this.#log(this.#stopping ? 'info' : 'warn', 'worker exited', { worker: slot.id, pid: slot.pid, code, signal })
      this.emit('exited', slot, code, signal)
      if (!this.#stopping) this.#scheduleRestart(slot)
    })
  }

  /**
   * Delivers each answer of a batch with its own descriptors (each takes its `fdCount`, in order).
   * When the counts do not add up, every descriptor is closed and the answers arrive without any,
   * so the pool fails the jobs whose outputs went missing instead of giving one job another's.
   */
  #unbatch (slot: WorkerSlot, messages: unknown, fds: number[]): void {
    const parts = Array.isArray(messages) ? messages as unknown[] : []
    const counts = parts.map((part) => {
      const n = (part as { fdCount?: unknown } | null)?.fdCount
      return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0
    })
    const consistent = counts.reduce((a, b) => a + b, 0) === fds.length
    if (!consistent) {
      for (const fd of fds) native.close(fd)
      this.#log('warn', 'a worker\'s batch did not account for its descriptors', { worker: slot.id, pid: slot.pid, fds: fds.length })
    }
    let offset = 0
    parts.forEach((part, i) => {
      const mine = consistent ? fds.slice(offset, offset + counts[i]) : []
      offset += counts[i]
      const t = (part as { t?: unknown } | null)?.t
      if (typeof t !== 'string' || t === 'batch' || t === 'hello') {
        for (const fd of mine) native.close(fd)
        return
      }
      this.emit('message', slot, part as WorkerMessage, mine)
    })
  }

  #scheduleRestart (slot: WorkerSlot): void {
    if (this.#stopping) return
    // Backoff is for crash loops: a worker that finished a job, or lived a while, was healthy
    // and died of something else (a kill, one bad job), so it comes back at once.
    const healthy = Date.now() - slot.spawnedAt > STABLE_AFTER_MS || slot.jobsDone > slot.jobsAtSpawn
    slot.quickDeaths = healthy ? 0 : slot.quickDeaths + 1
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.quickDeaths - 1))
    slot.restarts++
    slot.restartTimer = setTimeout(() => this.#spawn(slot), delay)
  }

  /** Sends a message; false when the worker's channel is gone (it is exiting). */
  send (slot: WorkerSlot, message: ServerMessage | Buffer, fds: number[] = []): boolean {
    if (slot.channel === null || slot.channel.closed) return false
    try {
      slot.channel.send(Buffer.isBuffer(message) ? message : encode(message), fds)
      return true
    } catch (err) {
      this.#log('warn', 'send to worker failed', { worker: slot.id, pid: slot.pid, err: (err as Error).message })
      return false
    }
  }

  kill (slot: WorkerSlot, signal: NodeJS.Signals = 'SIGKILL'): void {
    slot.process?.kill(signal)
  }

  info (): WorkerInfo[] {
    return this.slots.map((slot) => slot.info())
  }

  /** Asks every worker to finish and exit; kills those still alive after `graceMs`. */
  async stop (graceMs: number): Promise<void> {
    this.#stopping = true
    const exits: Array<Promise<void>> = []
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
      slot.restartTimer = null
      const child = slot.process
      if (child === null) continue
      slot.state = 'stopping'
      exits.push(new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        child.once('exit', () => clearTimeout(killer))
      }))
      if (!this.send(slot, { t: 'shutdown' })) child.kill('SIGTERM')
    }
    await Promise.all(exits)
  }
}
