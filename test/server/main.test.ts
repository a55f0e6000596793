// `npm start` as a user runs it: a real process that prints its URL, serves, and on SIGTERM
// finishes or cancels running jobs within the grace period and exits 0; a second signal exits
// at once; --help and bad flags answer without starting anything.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'

import { parseConfig } from '../../server/config'
import { appOptionsFromConfig } from '../../server/main'

const MAIN = path.join(__dirname, '..', '..', 'server', 'main.js')

interface Started { child: ChildProcess, url: string, exit: Promise<[number | null, NodeJS.Signals | null]> }

async function start (args: string[], env: Record<string, string> = {}): Promise<Started> {
  // A socket path of its own, so a server the user runs meanwhile is not disturbed.
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-main-'))
  const socket = path.join(folder, 'attach.sock')
  const child = spawn(process.execPath, [
    MAIN, '--port', '0', '--workers', '1', '--max-memory', '64MiB', '--log-level', 'warn', '--attach-socket', socket, ...args
  ], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exit = (once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>)
    .finally(() => { fs.rmSync(folder, { recursive: true, force: true }) })
  let url: string | null = null
  for await (const line of readline.createInterface({ input: child.stdout! })) {
    url = /listening on (http:\/\/\S+)/.exec(line)?.[1] ?? null
    if (url !== null) break
  }
  if (url === null) throw new Error(`the server exited before listening: ${String(await exit)}`)
  // Keep draining: a child blocked on a full stdout pipe would never exit.
  child.stdout!.resume()
  return { child, url, exit }
}

async function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}

async function json (url: string, init?: RequestInit): Promise<{ status: number, body: any }> {
  const res = await fetch(url, init)
  return { status: res.status, body: await res.json() }
}

test('--help lists the options and exits 0', async () => {
  const { code, stdout } = await run(['--help'])
  assert.equal(code, 0)
  for (const flag of ['--port', '--workers', '--max-memory', '--token', 'MEMFD_POOL_TOKEN', '--grace-ms', '--heartbeat-timeout', '--cancel-grace', '--sort-threads', '--allowed-hosts', '--body-timeout', '--kind-file']) assert.ok(stdout.includes(flag), flag)
})

test('settings map onto the app and pool options, worker-scoped ones gathered under pool.worker', () => {
  const machine = { cores: 2, totalMemoryBytes: 4 * 1024 ** 3 }
  const options = appOptionsFromConfig(parseConfig([
    '--workers', '3', '--kinds', '/k', '--kind-file', '/a.mjs', '--heartbeat-interval', '200', '--heartbeat-timeout', '3000',
    '--cancel-grace', '50', '--started-after', '7', '--inline-kinds', 'none', '--mapping-cache-entries', '4', '--sort-threads', '2',
    '--allowed-hosts', 'pool.example', '--body-timeout', '9000', '--attach-socket', '/tmp/x.sock'
  ], {}, machine))
  assert.deepEqual(options.pool, {
    workers: 3,
    maxMemoryBytes: 2 * 1024 ** 3,
    maxBufferBytes: 2 * 1024 ** 3,
    kindsDir: '/k',
    kinds: ['/a.mjs'],
    heartbeatIntervalMs: 200,
    heartbeatTimeoutMs: 3000,
    // Only the cache's entries were set: its bytes keep the default, as the pair travels together.
    worker: { cancelGraceMs: 50, startedAfterMs: 7, inlineKinds: [], mappingCache: { entries: 4, bytes: 8 * 1024 ** 3 }, sortThreads: 2 }
  })
  assert.deepEqual(options.allowedHosts, ['pool.example'])
  assert.equal(options.bodyTimeoutMs, 9000)
  assert.equal(options.attach && options.attach.path, '/tmp/x.sock')
  // Nothing set: no worker setting is sent, so the pool's defaults apply.
  const plain = appOptionsFromConfig(parseConfig([], {}, machine))
  assert.deepEqual(plain.pool.worker, {})
  assert.equal('allowedHosts' in plain, false)
})

test('a bad option exits 2 with a message naming it', async () => {
  const { code, stderr } = await run(['--max-memory', 'plenty'])
  assert.equal(code, 2)
  assert.match(stderr, /--max-memory: "plenty" is not a size/)
})

test('serves, then SIGTERM cancels what outlives the grace period and exits 0', async () => {
  const server = await start(['--grace-ms', '300'], { MEMFD_POOL_TOKEN: 'tok' })
  const auth = { authorization: 'Bearer tok', 'content-type': 'application/json' }
  assert.equal((await json(`${server.url}/healthz`)).status, 200)
  assert.equal((await json(`${server.url}/v1/pool`)).status, 401)
  // Ready once the worker is up: poll readiness the way a supervisor would.
  while ((await json(`${server.url}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
  const job = await json(`${server.url}/v1/jobs?wait=10000`, { method: 'POST', headers: auth, body: JSON.stringify({ kind: 'noop' }) })
  assert.equal(job.status, 200)
  assert.equal(job.body.state, 'succeeded')

  // A long job still running at shutdown, and a client long-polling it.
  const long = await json(`${server.url}/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ kind: 'sleep', params: { ms: 60000 } }) })
  assert.equal(long.status, 202)
  const poll = json(`${server.url}/v1/jobs/${long.body.id}?wait=60000`, { headers: auth })
  const began = Date.now()
  server.child.kill('SIGTERM')
  const polled = await poll
  // The poll is answered at once with the state then, rather than holding the shutdown.
  assert.equal(polled.status, 200)
  const [code, signal] = await server.exit
  assert.equal(signal, null)
  assert.equal(code, 0)
  assert.ok(Date.now() - began < 10_000, `shut down in ${Date.now() - began} ms`)
})

test('a second signal exits at once', async () => {
  const server = await start(['--grace-ms', '60000'])
  while ((await json(`${server.url}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
  await json(`${server.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'sleep', params: { ms: 60000 } }) })
  // The first signal starts a shutdown that would wait a minute for the job; the second cuts it
  // short, exiting 128 + its number. Two signals sent back to back may be handled in either order.
  const began = Date.now()
  server.child.kill('SIGTERM')
  server.child.kill('SIGINT')
  const [code] = await server.exit
  assert.ok(code === 130 || code === 143, `exit code ${code}`)
  assert.ok(Date.now() - began < 10_000, `exited after ${Date.now() - began} ms`)
})
