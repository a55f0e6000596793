/**
 * Child processes started by the harness: forked from bench/fixtures, tracked so
 * that every one of them is stopped at the end, even when a section throws or
 * the run is interrupted.
 */
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process'
import * as path from 'node:path'

const live = new Set<ChildProcess>()

export function fixturePath (name: string): string {
  return path.join(__dirname, 'fixtures', `${name}.js`)
}

export interface ReadyMessage {
  type: 'ready'
  [key: string]: unknown
}

function isReady (msg: unknown): msg is ReadyMessage {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'ready'
}

/**
 * Forks bench/fixtures/<name>.js and resolves once it sends `{ type: 'ready' }`
 * over IPC (with whatever it wants to tell, e.g. a port). Rejects if the child
 * exits or fails first, or after `timeoutMs`.
 */
export async function forkFixture (
  name: string,
  args: string[] = [],
  options: ForkOptions = {},
  timeoutMs = 15_000
): Promise<{ child: ChildProcess; ready: ReadyMessage }> {
  const child = fork(fixturePath(name), args, {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...options,
  })
  live.add(child)
  child.once('exit', () => live.delete(child))
  try {
    const ready = await new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${name}: not ready after ${timeoutMs} ms`)), timeoutMs)
      const onMessage = (msg: unknown): void => {
        if (isReady(msg)) finish(null, msg)
      }
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
        finish(new Error(`${name}: exited before ready (code ${code}, signal ${signal})`))
      const onError = (err: Error): void => finish(err)
      function finish (err: Error | null, msg?: ReadyMessage): void {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
        child.off('error', onError)
        if (err) reject(err)
        else resolve(msg as ReadyMessage)
      }
      child.on('message', onMessage)
      child.once('exit', onExit)
      child.once('error', onError)
    })
    return { child, ready }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** Asks a child to go (disconnect + SIGTERM), SIGKILLs it after `graceMs`, resolves when it has exited. */
export async function stopChild (child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child) return
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child)
    return
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    if (child.connected) child.disconnect()
  } catch {
    /* already gone */
  }
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
  live.delete(child)
}

/**
 * The fixture child of one target: `start` (in its setup) forks it and waits until it is ready,
 * `stop` (in its teardown) stops it. `stop` is safe at any time (before `start`, after a failed
 * one, twice), as targets.ts asks of every teardown.
 */
export interface FixtureChild {
  /** The child from `start` until `stop`, else undefined. */
  readonly child: ChildProcess | undefined
  start(args?: string[], options?: ForkOptions): Promise<{ child: ChildProcess; ready: ReadyMessage }>
  stop(): Promise<void>
}

/** A FixtureChild of bench/fixtures/<name>.js; `readyTimeoutMs` and `graceMs` as in forkFixture and stopChild. */
export function fixtureChild (name: string, timing: { readyTimeoutMs?: number; graceMs?: number } = {}): FixtureChild {
  let child: ChildProcess | undefined
  return {
    get child () {
      return child
    },
    async start (args = [], options = {}) {
      const started = await forkFixture(name, args, options, timing.readyTimeoutMs)
      child = started.child
      return started
    },
    async stop () {
      const c = child
      child = undefined
      await stopChild(c, timing.graceMs)
    },
  }
}

/** Where a fixture server listens: http://127.0.0.1 and the `port` of its ready message. */
export function serverBase (ready: ReadyMessage): string {
  return `http://127.0.0.1:${Number(ready.port)}`
}

/** Last resort at process exit: SIGKILL whatever is still running. Synchronous on purpose. */
export function killAllChildrenSync (): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      /* ignore */
    }
  }
  live.clear()
}

export function liveChildren (): number {
  return live.size
}
