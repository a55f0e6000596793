// Plays the server's side of the worker protocol against a real worker process, with no pool:
// spawns dist/workers/worker-process.js with one end of a socketPair() as its fd 3, answers its
// hello with a config, and collects what it says. The worker tests run on this alone, so they
// exercise exactly the worker process's half of the handshake.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import * as native from '../../native'
import { decode, encode, WORKER_CHANNEL, type ServerMessage, type WorkerConfig, type WorkerMessage } from '../../workers/protocol'

export const WORKER_SCRIPT = path.join(__dirname, '..', '..', 'workers', 'worker-process.js')
/** The source fixtures (plain .js/.mjs/.cjs, not compiled). */
export const FIXTURE_KINDS = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'kinds')

export function workerConfig (overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    threads: 1,
    kindsDir: null,
    kindFiles: [],
    cancelGraceMs: 300,
    startedAfterMs: 2,
    inlineKinds: ['noop'],
    mappingCache: { entries: 16, bytes: 1024 ** 3 },
    sortThreads: null,
    ...overrides
  }
}

export interface Received { message: WorkerMessage, fds: number[] }

export class WorkerDriver {
  readonly child: ChildProcess
  readonly channel: native.Channel
  /** Every message, batches unpacked (their descriptors handed out in order), oldest first. */
  readonly received: Received[] = []
  stderr = ''
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>
  #waiters: Array<() => void> = []

  constructor (options: { env?: Record<string, string>, args?: string[] } = {}) {
    const [mine, theirs] = native.socketPair()
    try {
      this.child = spawn(process.execPath, [...(options.args ?? []), WORKER_SCRIPT], {
        stdio: ['ignore', 'ignore', 'pipe', theirs],
        env: { ...process.env, ...options.env }
      })
    } finally {
      native.close(theirs)
    }
    this.exited = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    this.child.stderr!.on('data', (d) => { this.stderr += String(d) })
    this.channel = new native.Channel(mine, { ...WORKER_CHANNEL, maxFds: 64 })
    this.channel.on('message', (data, fds) => {
      const message = decode<WorkerMessage>(data)
      if (message === null) throw new Error(`the worker sent a malformed message: ${data.toString()}`)
      if (message.t === 'batch') {
        let offset = 0
        for (const part of message.messages) {
          const count = 'fdCount' in part ? part.fdCount : 0
          this.received.push({ message: part, fds: fds.slice(offset, offset + count) })
          offset += count
        }
      } else {
        this.received.push({ message, fds })
      }
      this.#waiters.splice(0).forEach((w) => w())
    })
    this.channel.on('close', () => this.#waiters.splice(0).forEach((w) => w()))
  }

  send (message: ServerMessage, fds: number[] = []): void {
    this.channel.send(encode(message), fds)
  }

  /** The first message (from `from` on) matching `predicate`; throws if the worker goes first. */
  async next<T extends WorkerMessage = WorkerMessage> (predicate: (m: WorkerMessage) => boolean, from = 0): Promise<Received & { message: T }> {
    for (;;) {
      const found = this.received.slice(from).find((r) => predicate(r.message))
      if (found !== undefined) return found as Received & { message: T }
      if (this.channel.closed) throw new Error(`the worker closed its channel first; stderr: ${this.stderr}`)
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /** hello → config; resolves with the 'ready' or 'fatal' that answers it. */
  async handshake (config: WorkerConfig): Promise<Extract<WorkerMessage, { t: 'ready' | 'fatal' }>> {
    await this.next((m) => m.t === 'hello')
    this.send({ t: 'config', config })
    return (await this.next((m) => m.t === 'ready' || m.t === 'fatal')).message as Extract<WorkerMessage, { t: 'ready' | 'fatal' }>
  }

  /** Runs a job and resolves with its 'done' and the descriptors of every output (from 'outputs' messages too). */
  async run (job: string, kind: string, params: Record<string, unknown> = {}, inputs: Array<{ fd: number, size: number, id?: string }> = [], maxOutputBytes = 1024 ** 2): Promise<{ done: Extract<WorkerMessage, { t: 'done' }>, fds: number[], parts: number }> {
    const from = this.received.length
    this.send({
      t: 'run',
      job,
      kind,
      params,
      fdCount: inputs.length,
      maxOutputBytes,
      inputs: inputs.map((input, i) => ({ id: input.id ?? `buf_${job}_${i}`, generation: 1, size: input.size }))
    }, inputs.map((i) => i.fd))
    const done = await this.next<Extract<WorkerMessage, { t: 'done' }>>((m) => m.t === 'done' && m.job === job, from)
    const parts = this.received.slice(from).filter((r) => r.message.t === 'outputs' && r.message.job === job)
    return { done: done.message, fds: [...parts.flatMap((p) => p.fds), ...done.fds], parts: parts.length }
  }

  /** Kills the worker if it still runs and closes our end; safe to call twice. */
  async stop (): Promise<void> {
    if (!this.channel.closed) this.channel.close()
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }
}
