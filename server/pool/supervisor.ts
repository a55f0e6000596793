// Worker processes: spawns them (each with its end of a SOCK_SEQPACKET pair as fd 3 and nothing
// else inherited), carries their messages (each with its descriptors as an OwnedFds, batches
// unpacked), notices exits and signals, restarts them with backoff, and stops them on close.
// Process state only: what a worker serves, runs or has done is its WorkerLink's business.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import path from 'node:path'
import * as native from '../../native'
import { OwnedFds } from '../../native/owned-fds'
import { decode, encode, unpackBatch, WORKER_CHANNEL, type WorkerMessage } from '../../workers/protocol'

const WORKER_ENTRY = path.join(__dirname, '..', '..', 'workers', 'worker-process.js')
/** Restart delays double from here after each quick death (or failed spawn), up to the maximum. */
const RESTART_BASE_MS = 100
const RESTART_MAX_MS = 5000
/** A worker that lived this long resets the backoff. */
const STABLE_AFTER_MS = 10_000
/** A worker told it must stop (fatal, refused) is killed if still there after this long. */
const RETIRE_KILL_MS = 2000
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
  /** Extra environment for workers. */
  env?: Record<string, string>
  /** The worker program (default: workers/worker-process.js). Tests substitute a hostile one. */
  script?: string
  /**
   * Whether the slot's last process was healthy before it died (it finished jobs): then it comes
   * back at once instead of backing off. Time alive counts too (STABLE_AFTER_MS).
   */
  wasHealthy?: (slot: WorkerSlot) => boolean
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void
}

/** What the process of a slot is doing (not whether it serves jobs: that is its link's state). */
export type ProcessState = 'starting' | 'running' | 'stopping' | 'exited'

/** One worker slot: the same id across restarts, one process at a time. */
export class WorkerSlot {
  readonly id: string
  pid: number | null = null
  state: ProcessState = 'starting'
  startedAt: string | null = null
  restarts = 0
  channel: native.Channel | null = null
  process: ChildProcess | null = null
  /** No restart any more: the worker cannot start (fatal) or was refused. */
  retired = false
  quickDeaths = 0
  spawnedAt = 0
  restartTimer: NodeJS.Timeout | null = null

  constructor (id: string) { this.id = id }
}

export interface SupervisorEvents {
  /** A process was started for the slot (its handshake is the link's business). */
  spawned: [slot: WorkerSlot]
  message: [slot: WorkerSlot, message: WorkerMessage, fds: OwnedFds]
  exited: [slot: WorkerSlot, code: number | null, signal: string | null]
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly slots: WorkerSlot[]
  #options: SupervisorOptions
  #stopping = false

  constructor (options: SupervisorOptions) {
    super()
    this.#options = options
    this.slots = Array.from({ length: options.workers }, (_, i) => new WorkerSlot(`w${i}`))
  }

  start (): void {
    for (const slot of this.slots) this.#spawn(slot)
  }

  #log (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.#options.log?.(level, message, fields)
  }

  #spawn (slot: WorkerSlot): void {
    slot.restartTimer = null
    if (this.#stopping || slot.retired) return
    slot.state = 'starting'
    let mine: number | null = null
    let theirs: number | null = null
    let child: ChildProcess | undefined
    let channel: native.Channel
    try {
      // All of it may fail at RLIMIT_NOFILE (EMFILE from socketpair, spawn's pipes, the channel):
      // then this slot waits and tries again, and the server carries on (issue 15, item 7).
      ;[mine, theirs] = native.socketPair()
      const execArgv = workerExecArgv({ ...process.env, ...this.#options.env })
      child = spawn(process.execPath, [...execArgv, this.#options.script ?? WORKER_ENTRY], {
        // fd 3 is the worker's channel; stdin is closed; everything else we own is close-on-exec.
        stdio: ['ignore', 'inherit', 'inherit', theirs],
        env: { ...process.env, ...this.#options.env }
      })
      child.on('error', (err) => this.#log('error', 'worker process error', { worker: slot.id, err: err.message }))
      // No pid: the spawn failed (EAGAIN, EMFILE); 'error' says why, and no 'exit' may follow.
      if (child.pid === undefined) throw Object.assign(new Error('spawn failed'), { code: 'ESPAWN' })
      // The child has its own copy now; ours must go so the pair reports the child's death.
      native.close(theirs)
      theirs = null
      // The channel owns the descriptor from here, and closes it even when its constructor throws.
      const fd = mine
      mine = null
      channel = new native.Channel(fd, WORKER_CHANNEL)
    } catch (err) {
      if (mine !== null) native.close(mine)
      if (theirs !== null) native.close(theirs)
      // A child spawned before the failure has no channel: it would wait forever.
      child?.kill('SIGKILL')
      this.#log('error', 'could not start a worker process; retrying', { worker: slot.id, code: (err as native.SystemError).code, err: (err as Error).message })
      slot.state = 'exited'
      this.#scheduleRestart(slot, false)
      return
    }
    slot.channel = channel
    slot.process = child
    slot.pid = child.pid ?? null
    slot.spawnedAt = Date.now()
    slot.startedAt = new Date().toISOString()
    slot.state = 'running'

    channel.on('message', (data, received) => {
      const fds = OwnedFds.from(received)
      const message = decode<WorkerMessage>(data)
      if (message === null) {
        fds.closeAll()
        this.#log('warn', 'malformed message from a worker', { worker: slot.id, pid: slot.pid })
        return
      }
      if (message.t !== 'batch') {
        this.emit('message', slot, message, fds)
        return
      }
      for (const part of unpackBatch(message.messages, fds)) this.emit('message', slot, part.message as WorkerMessage, part.fds)
    })
    channel.on('error', (err) => {
      this.#log('warn', 'worker channel error', { worker: slot.id, pid: slot.pid, code: err.code, err: err.message })
      // A message whose descriptors were lost still names its job: deliver it without them and
      // let the link's descriptor count check fail that job.
      const lost = err.data !== undefined ? decode<WorkerMessage>(err.data) : null
      if (lost !== null && lost.t !== 'batch') this.emit('message', slot, lost, OwnedFds.empty())
    })
    channel.on('close', () => { if (slot.channel === channel) slot.channel = null })

    this.emit('spawned', slot)
    child.once('exit', (code, signal) => {
      channel.close()
      if (slot.channel === channel) slot.channel = null
      slot.process = null
      slot.state = 'exited'
      this.#log(this.#stopping || slot.retired ? 'info' : 'warn', 'worker exited', { worker: slot.id, pid: slot.pid, code, signal })
      this.emit('exited', slot, code, signal)
      const healthy = Date.now() - slot.spawnedAt > STABLE_AFTER_MS || this.#options.wasHealthy?.(slot) === true
      this.#scheduleRestart(slot, healthy)
    })
  }

  #scheduleRestart (slot: WorkerSlot, healthy: boolean): void {
    if (this.#stopping || slot.retired) return
    // Backoff is for crash loops: a worker that finished a job, or lived a while, was healthy
    // and died of something else (a kill, one bad job), so it comes back at once.
    slot.quickDeaths = healthy ? 0 : slot.quickDeaths + 1
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.quickDeaths - 1))
    slot.restarts++
    slot.restartTimer = setTimeout(() => this.#spawn(slot), delay)
  }

  /** Sends one message; throws what the channel throws (ERR_CHANNEL_CLOSED when it is gone). */
  send (slot: WorkerSlot, data: Buffer, fds: readonly number[] = []): void {
    const channel = slot.channel
    if (channel === null || channel.closed) {
      throw Object.assign(new Error(`The channel to worker ${slot.id} is closed`), { code: 'ERR_CHANNEL_CLOSED' })
    }
    channel.send(data, fds)
  }

  kill (slot: WorkerSlot, signal: NodeJS.Signals = 'SIGKILL'): void {
    slot.process?.kill(signal)
  }

  /** The slot is not to be restarted (its worker cannot start, or was refused); its process goes. */
  retire (slot: WorkerSlot): void {
    slot.retired = true
    if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
    slot.restartTimer = null
    const child = slot.process
    if (child === null) return
    // It exits by itself after 'fatal'; one that does not is not left behind.
    const killer = setTimeout(() => child.kill('SIGKILL'), RETIRE_KILL_MS)
    killer.unref()
    child.once('exit', () => clearTimeout(killer))
    try { this.send(slot, encode({ t: 'shutdown' })) } catch { child.kill('SIGKILL') }
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
      try {
        this.send(slot, encode({ t: 'shutdown' }))
      } catch {
        child.kill('SIGTERM')
      }
    }
    await Promise.all(exits)
  }
}
