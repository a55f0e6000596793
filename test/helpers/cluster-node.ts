// A cluster node for the tests: the real server (dist/server/main.js) as a process of its own,
// with its own port, attach and worker sockets (in a folder of its own) and quota.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { waitForLine } from './redis'

const MAIN = path.join(__dirname, '..', '..', 'server', 'main.js')

export class NodeProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly dir: string
  url = ''

  constructor (name: string, child: ChildProcess, dir: string) {
    this.name = name
    this.child = child
    this.dir = dir
  }

  get pid (): number { return this.child.pid as number }
  get alive (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.alive) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve))
      this.child.kill(signal)
      await exited
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startNode (name: string, redisUrl: string, extra: string[] = []): Promise<NodeProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `memfd-pool-node-${name}-`))
  const child = spawn(process.execPath, [
    MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '1', '--max-memory', '64MiB', '--grace-ms', '0',
    '--attach-socket', path.join(dir, 'attach.sock'), '--log-level', 'warn',
    '--cluster', redisUrl, '--node-name', name, ...extra
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  const node = new NodeProcess(name, child, dir)
  try {
    node.url = (await waitForLine(child, /listening on (http:\/\/\S+)/, 20_000))[1]
  } catch (err) {
    await node.stop('SIGKILL')
    throw err
  }
  // Drained from now on, so a chatty node never blocks on a full pipe.
  child.stdout?.resume()
  child.stderr?.resume()
  return node
}
