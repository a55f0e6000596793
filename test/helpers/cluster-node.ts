// A cluster node for the tests: the real server (dist/server/main.js) as a process of its own,
// with its own port, attach and worker sockets (in a folder of its own) and quota.
import assert from 'node:assert/strict'
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

/** A parsed JSON reply (cluster tests read deep into it). */
export interface Json { [key: string]: any }

/**
 * One request to a node: a Buffer body goes as octet-stream, anything else as JSON. Always
 * `connection: close`, so that no idle socket of the test stays in a node's descriptor count.
 */
export async function call (node: NodeProcess, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: Json, headers: Headers }> {
  const sent: Record<string, string> = { connection: 'close', ...headers }
  const init: RequestInit = { method, headers: sent }
  if (Buffer.isBuffer(body)) {
    init.body = body
    sent['content-type'] = 'application/octet-stream'
  } else if (body !== undefined) {
    init.body = JSON.stringify(body)
    sent['content-type'] = 'application/json'
  }
  const response = await fetch(`${node.url}${url}`, init)
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : JSON.parse(text), headers: response.headers }
}

/** Creates a sealed buffer of `bytes` on `node` and returns its id. */
export async function upload (node: NodeProcess, bytes: Buffer): Promise<string> {
  const r = await call(node, 'POST', '/v1/buffers', bytes)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id
}

/** Polls GET /v1/cluster on `node` until `check` holds on its nodes, within `ms`; returns them. */
export async function clusterUntil (node: NodeProcess, check: (nodes: Json[]) => boolean, ms = 15_000): Promise<Json[]> {
  const deadline = Date.now() + ms
  let last: Json = {}
  while (Date.now() < deadline) {
    const r = await call(node, 'GET', '/v1/cluster').catch(() => null)
    if (r?.status === 200) {
      last = r.body
      if (check(r.body.nodes)) return r.body.nodes
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the cluster never got there: ${JSON.stringify(last)}`)
}
