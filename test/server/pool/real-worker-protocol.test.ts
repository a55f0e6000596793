// The engine's side of the heartbeat and of 'outputs' messages, through the real worker program
// (workers/worker-process.ts) rather than the protocol fixture. They need the worker side of
// issue 11 (pong answers, 'outputs' messages, kinds loaded from createPool({ kinds })), which is
// on main: on the engine branch alone, whose worker program predates it, they fail.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { WorkerInfo } from '../../../server/pool/types'
import { jobStarted, nextEvent, startPool } from '../../helpers/pool'

const EXTRA_KINDS = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'extra-kinds')
const MANY_OUTPUTS = path.join(EXTRA_KINDS, 'many-outputs.js')

test('a real worker stopped with SIGSTOP is detected by its heartbeat, replaced, and its job retried', async (t) => {
  const pool = await startPool({ workers: 1, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 1000 })
  t.after(() => pool.close())
  const job = pool.enqueue({ kind: 'sleep', params: { ms: 3000 }, maxAttempts: 2 })
  await jobStarted(pool, job.id)
  const pid = pool.get(job.id).workerPid!
  const hung = nextEvent(pool, (e) => e.type === 'worker.updated' && (e.data as WorkerInfo).state === 'unresponsive')
  const replaced = nextEvent(pool, (e) => e.type === 'worker.started')
  process.kill(pid, 'SIGSTOP')
  await hung
  assert.equal(pool.ready, false)
  assert.notEqual(((await replaced).data as WorkerInfo).pid, pid)
  const done = await pool.wait(job.id, 30_000)
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  assert.equal(done.attempts, 2)
})

test('a real kind with 40 outputs: the job ends, with its 40 outputs in order', async (t) => {
  const pool = await startPool({ workers: 1, kinds: [MANY_OUTPUTS] })
  t.after(() => pool.close())
  const job = await pool.submit({ kind: 'many-outputs', params: { count: 40 } })
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error))
  assert.equal(job.outputs.length, 40)
  job.outputs.forEach((id, i) => {
    const lease = pool.store.acquire(id)
    assert.equal(lease.view(0, 1)[0], i)
    lease.release()
  })
})

test('a custom kind module is never loaded by the server process; its params still validate and it runs', async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-pid-'))
  const pidFile = path.join(folder, 'pids')
  const pool = await startPool({ workers: 1, kinds: [path.join(EXTRA_KINDS, 'records-pid.js')], workerEnv: { MEMFD_POOL_TEST_PID_FILE: pidFile } })
  t.after(async () => { await pool.close(); fs.rmSync(folder, { recursive: true }) })
  assert.throws(() => pool.enqueue({ kind: 'records-pid', params: { n: 6 } }), { code: 'INVALID_PARAMS', message: /params\.n: must be <= 5/ })
  const job = await pool.submit({ kind: 'records-pid', params: { n: 2 } })
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error))
  assert.notEqual(job.result!.pid, process.pid)
  const loadedIn = fs.readFileSync(pidFile, 'utf8').trim().split('\n').map(Number)
  assert.ok(loadedIn.length > 0)
  assert.equal(loadedIn.includes(process.pid), false, `the server (pid ${process.pid}) loaded it: ${loadedIn.join(', ')}`)
})
