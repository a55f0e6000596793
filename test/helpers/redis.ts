// A real redis-server for the cluster tests: Debian's binary, on a free loopback port, its files
// in a temporary folder, no persistence. Started and stopped by the test (stop and start again on
// the same port for the "Redis went away" cases); ready when it says so on stdout.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p)) ?? 'redis-server'

export function haveRedis (): boolean {
  return fs.existsSync(REDIS_SERVER)
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

/** Resolves once `pattern` appears in the child's output; rejects if it exits first or `ms` pass. */
export async function waitForLine (child: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return await new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => { done(new Error(`no line matching ${String(pattern)} within ${ms} ms; output: ${seen.slice(-2000)}`)) }, ms)
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      const match = pattern.exec(seen)
      if (match !== null) done(null, match)
    }
    const onExit = (code: number | null, signal: string | null): void => { done(new Error(`exited (${code ?? signal}) before ${String(pattern)}; output: ${seen.slice(-2000)}`)) }
    function done (err: Error | null, match?: RegExpExecArray): void {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      if (err !== null) reject(err)
      else resolve(match as RegExpExecArray)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

export class RedisServer {
  readonly dir: string
  port = 0
  #child: ChildProcess | null = null

  constructor () {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-redis-'))
  }

  get url (): string { return `redis://127.0.0.1:${this.port}/0` }

  /** Starts (again, on the same port when it ran before). */
  async start (): Promise<void> {
    if (this.port === 0) this.port = await freePort()
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await waitForLine(child, /Ready to accept connections/, 10_000)
  }

  async stop (): Promise<void> {
    const child = this.#child
    this.#child = null
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }

  async close (): Promise<void> {
    await this.stop()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}
