// SIGTERM under load, as `npm start` runs: running jobs finish within the grace period or are
// cancelled, queued ones are cancelled, every job's fate is logged (none lost silently), the
// process exits 0 in time, the attach socket file is gone and no worker outlives the server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import WebSocket from 'ws'

const MAIN = path.join(__dirname, '..', '..', 'server', 'main.js')
const GRACE_MS = 2000

async function json (url: string, init?: RequestInit): Promise<any> { return await (await fetch(url, init)).json() }

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

test('SIGTERM under load: finish or cancel every job, exit 0 within the grace period, leave nothing behind', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-shutdown-'))
  const socket = path.join(folder, 'attach.sock')
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--workers', '2', '--threads-per-worker', '2', '--max-memory', '64MiB',
    '--grace-ms', String(GRACE_MS), '--log-level', 'info', '--attach-socket', socket], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  const fates = new Map<string, string>()
  let url: string | null = null
  const lines = readline.createInterface({ input: child.stdout! })
  const listening = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      url ??= /listening on (http:\/\/\S+)/.exec(line)?.[1] ?? null
      if (url !== null) resolve()
      try {
        const entry = JSON.parse(line) as { msg?: string, job?: string, state?: string }
        if (entry.msg?.startsWith('shutdown:') && entry.job) fates.set(entry.job, entry.state!)
      } catch { /* not JSON */ }
    })
  })
  await listening
  for (;;) { // readiness: every worker up
    const res = await fetch(`${url}/readyz`)
    if (res.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const workers: number[] = (await json(`${url}/v1/workers`)).workers.map((w: { pid: number }) => w.pid)
  assert.equal(workers.length, 2)
  assert.ok(fs.existsSync(socket))

  const submit = async (ms: number): Promise<string> => {
    const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'sleep', params: { ms } }) })
    assert.equal(res.status, 202)
    return ((await res.json()) as { id: string }).id
  }
  const short = [await submit(600), await submit(600)]
  const long = [await submit(600_000), await submit(600_000)]
  const queued = await Promise.all(Array.from({ length: 10 }, () => submit(600_000)))
  const states: string[] = await Promise.all([...short, ...long, ...queued].map(async (id) => (await json(`${url}/v1/jobs/${id}`)).state))
  assert.deepEqual(states.slice(0, 4), ['running', 'running', 'running', 'running'])
  assert.ok(states.slice(4).every((s) => s === 'queued'))

  const t0 = Date.now()
  child.kill('SIGTERM')
  const [code, signal] = await exited
  const took = Date.now() - t0
  assert.equal(signal, null)
  assert.equal(code, 0)
  assert.ok(took < GRACE_MS + 5000, `exited in ${took} ms`)
  for (const id of short) assert.equal(fates.get(id), 'succeeded', `short job ${id} finished within the grace period`)
  for (const id of long) assert.equal(fates.get(id), 'cancelled', `long job ${id} was cancelled after the grace period`)
  for (const id of queued) assert.equal(fates.get(id), 'cancelled', `queued job ${id} was cancelled`)
  assert.equal(fs.existsSync(socket), false, 'the attach socket file is removed')
  for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} is gone`)
  fs.rmSync(folder, { recursive: true, force: true })
})

test('SIGTERM with a stalled 1 GiB upload: the upload is aborted, the process exits 0 within the grace, the socket file is gone', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-stalled-'))
  const socket = path.join(folder, 'attach.sock')
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--workers', '1', '--max-memory', '2GiB', '--max-buffer', '1GiB',
    '--grace-ms', String(GRACE_MS), '--log-level', 'warn', '--attach-socket', socket], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  const lines = readline.createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve) => {
    lines.on('line', (line) => {
      const found = /listening on (http:\/\/\S+)/.exec(line)?.[1]
      if (found !== undefined) resolve(found)
    })
  })
  // Wait on the event stream for the reservation, not on time.
  const events = new WebSocket(`${url.replace('http', 'ws')}/v1/events?topics=buffers`)
  await once(events, 'open')
  const created = new Promise<void>((resolve) => {
    events.on('message', (raw) => { if ((JSON.parse(String(raw)) as { type: string }).type === 'buffer.created') resolve() })
  })
  const { port } = new URL(url)
  const upload = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/buffers',
    agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(1024 ** 3) }
  })
  const uploadEnded = new Promise<number | string>((resolve) => {
    upload.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    upload.on('error', (err) => { resolve((err as NodeJS.ErrnoException).code ?? 'error') })
  })
  upload.flushHeaders()
  await created
  const stats = await json(`${url}/v1/pool`) as { bytesInUse: number }
  assert.equal(stats.bytesInUse, 1024 ** 3, 'the declared body is reserved')
  events.close()

  const t0 = Date.now()
  child.kill('SIGTERM')
  const [code, signal] = await exited
  const took = Date.now() - t0
  assert.equal(signal, null)
  assert.equal(code, 0)
  assert.ok(took < GRACE_MS + 3000, `exited in ${took} ms`)
  assert.equal(await uploadEnded, 503, 'the stalled upload was answered: the server is shutting down')
  assert.equal(fs.existsSync(socket), false, 'the attach socket file is removed')
  upload.destroy()
  fs.rmSync(folder, { recursive: true, force: true })
})
