// For the attach socket tests: a temporary socket path, an app serving it, a Node-side client that
// can send anything (junk, extra descriptors, oversize messages), and a way to run the example
// clients as real processes.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { after, before } from 'node:test'
import type { FastifyInstance } from 'fastify'
import * as native from '../../native'
import type { AttachPluginOptions } from '../../server/plugins/attach'
import { startApp } from './server-app'

export const REPO_ROOT = path.join(__dirname, '..', '..', '..')
export const PYTHON_CLIENT = path.join(REPO_ROOT, 'examples', 'python', 'attach.py')
const PYTHON_PACKAGE = path.join(REPO_ROOT, 'clients', 'python', 'src', 'memfd_pool')

/**
 * Copies the attach client (the examples/ shim and the memfd_pool package it imports) into `dir`,
 * readable by any uid, for tests that run it as another user. Returns the script's path.
 */
export function copyPythonClient (parent: string): string {
  // A folder of its own, listable by anyone: Python lists a folder to import from it, and the
  // socket's folder may be traverse-only (0711).
  const dir = path.join(parent, 'python-client')
  fs.mkdirSync(dir)
  fs.chmodSync(dir, 0o755)
  const client = path.join(dir, 'attach.py')
  fs.copyFileSync(PYTHON_CLIENT, client)
  fs.chmodSync(client, 0o644)
  const pkg = path.join(dir, 'memfd_pool')
  fs.cpSync(PYTHON_PACKAGE, pkg, { recursive: true, filter: (source) => !source.includes('__pycache__') })
  const open = (p: string): void => {
    const dirent = fs.statSync(p)
    fs.chmodSync(p, dirent.isDirectory() ? 0o755 : 0o644)
    if (dirent.isDirectory()) for (const entry of fs.readdirSync(p)) open(path.join(p, entry))
  }
  open(pkg)
  return client
}
export const C_CLIENT_SOURCE = path.join(REPO_ROOT, 'examples', 'c', 'attach.c')
export const HOLDER_SCRIPT = path.join(REPO_ROOT, 'test', 'fixtures', 'attach-holder.py')

/** A fresh temporary folder (removed by the caller) and a socket path in a sub-folder of it. */
export function tempSocket (prefix = 'memfd-pool-attach-'): { dir: string, socketPath: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return { dir, socketPath: path.join(dir, 'run', 'attach.sock') }
}

/** An app over a real pool (one worker) serving the attach socket in a temporary folder. */
export async function startAttachApp (attach: Partial<AttachPluginOptions> = {}): Promise<{ app: FastifyInstance, socketPath: string, dir: string }> {
  const { dir, socketPath } = tempSocket()
  const app = await startApp({ attach: { path: socketPath, ...attach } })
  return { app, socketPath, dir }
}

/**
 * One attach app for a whole test file: started before its tests (handed to `assign`), closed
 * and its socket folder removed after them.
 */
export function attachAppPerFile (assign: (started: { app: FastifyInstance, socketPath: string, dir: string }) => void, attach: Partial<AttachPluginOptions> = {}): void {
  let started: { app: FastifyInstance, dir: string } | undefined
  before(async () => {
    const app = await startAttachApp(attach)
    started = app
    assign(app)
  })
  after(async () => {
    if (started === undefined) return
    await started.app.close()
    fs.rmSync(started.dir, { recursive: true, force: true })
  })
}

export const sha256 = (bytes: Uint8Array): string => crypto.createHash('sha256').update(bytes).digest('hex')

export interface Reply {
  reply: any
  fds: number[]
}

/**
 * A raw client: each `request` sends one message (any bytes, any descriptors; the caller keeps
 * its own) and resolves with the next reply and the descriptors that came with it (the caller
 * closes them). Replies are queued in arrival order, so requests may be pipelined.
 */
export class RawClient {
  readonly channel: native.Channel
  #replies: Reply[] = []
  #waiters: Array<(r: Reply | null) => void> = []
  #closed = false

  private constructor (channel: native.Channel) {
    this.channel = channel
    channel.on('message', (data, fds) => {
      const reply: Reply = { reply: JSON.parse(data.toString('utf8')), fds }
      const waiter = this.#waiters.shift()
      if (waiter !== undefined) waiter(reply)
      else this.#replies.push(reply)
    })
    channel.on('error', () => { /* 'close' follows socket failures */ })
    channel.on('close', () => {
      this.#closed = true
      for (const waiter of this.#waiters.splice(0)) waiter(null)
    })
  }

  static async connect (socketPath: string, options: native.ChannelOptions = {}): Promise<RawClient> {
    return new RawClient(await native.connectSeqpacket(socketPath, { maxMessageBytes: 1024 * 1024, ...options }))
  }

  get closed (): boolean { return this.#closed }

  send (message: object | string | Buffer, fds: number[] = []): void {
    const data = Buffer.isBuffer(message) ? message : Buffer.from(typeof message === 'string' ? message : JSON.stringify(message))
    this.channel.send(data, fds)
  }

  /** The next reply, or null when the server closed the connection first. */
  async next (): Promise<Reply | null> {
    const queued = this.#replies.shift()
    if (queued !== undefined) return queued
    if (this.#closed) return null
    return await new Promise((resolve) => this.#waiters.push(resolve))
  }

  async request (message: object | string | Buffer, fds: number[] = []): Promise<Reply> {
    this.send(message, fds)
    const reply = await this.next()
    if (reply === null) throw new Error('the server closed the connection instead of replying')
    return reply
  }

  /** The error code of a refusal (asserting it carried no descriptor), or 'OK'. */
  async code (message: object | string | Buffer, fds: number[] = []): Promise<string> {
    const { reply, fds: got } = await this.request(message, fds)
    for (const fd of got) native.close(fd)
    if (reply.ok === true) return 'OK'
    if (got.length !== 0) throw new Error(`an error reply carried ${got.length} descriptor(s)`)
    if (Object.keys(reply).length !== 2 || typeof reply.error?.code !== 'string' || typeof reply.error?.message !== 'string') {
      throw new Error(`not an error reply: ${JSON.stringify(reply)}`)
    }
    return reply.error.code
  }

  async close (): Promise<void> {
    if (this.#closed) return
    const closed = once(this.channel, 'close')
    this.channel.close()
    await closed
  }
}

export interface ProcessResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a program to its end; a non-zero exit is a result, not an error. */
export async function run (file: string, args: string[], options: { input?: string, timeoutMs?: number, encoding?: 'utf8' | 'buffer' } = {}): Promise<ProcessResult & { stdoutBytes: Buffer }> {
  return await new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'buffer', timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') { reject(err); return }
      resolve({ code: err === null ? 0 : err.code as number, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), stdoutBytes: stdout })
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

/** Polls `condition` on each turn of the event loop until it holds (for effects of a peer's close, which has no event here). */
export async function until (condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * A separate Python process that attaches buffers and does to them what a client can (map
 * writable, write, set O_APPEND, add seals, reopen), one command at a time
 * (test/fixtures/attach-holder.py). Each command resolves with the process's JSON answer.
 */
export class HolderProcess {
  readonly child: ChildProcess
  readonly pid: number
  #lines: AsyncIterator<string>

  private constructor (child: ChildProcess, lines: AsyncIterator<string>, pid: number) {
    this.child = child
    this.#lines = lines
    this.pid = pid
  }

  static async start (socketPath: string): Promise<HolderProcess> {
    const child = spawn('python3', [HOLDER_SCRIPT, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
    const first = await lines.next()
    if (first.done === true) throw new Error('the holder process exited before it was ready')
    return new HolderProcess(child, lines, JSON.parse(first.value).pid)
  }

  async do (command: Record<string, unknown>): Promise<any> {
    this.child.stdin!.write(JSON.stringify(command) + '\n')
    const line = await this.#lines.next()
    if (line.done === true) throw new Error(`the holder process exited during ${JSON.stringify(command)}`)
    return JSON.parse(line.value)
  }

  /** Lines of its /proc/PID/maps that map a memfd. */
  memfdMaps (): string[] {
    return fs.readFileSync(`/proc/${this.pid}/maps`, 'utf8').split('\n').filter((l) => l.includes('/memfd:'))
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.stdin!.end()
    await exited
  }
}
