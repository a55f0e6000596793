// A worker that is alive but stopped (SIGSTOP) answers no heartbeat: it is shown unresponsive,
// the pool is not ready meanwhile, and it is SIGKILLed and replaced; its job is retried, or
// fails WORKER_CRASHED saying it stopped answering (issue 15, item 10).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPool, type Pool } from '../../../server/pool/pool'
import type { JobInfo, PoolEvent, WorkerInfo } from '../../../server/pool/types'
import { nextEvent, PROTOCOL_WORKER } from '../../helpers/pool'

async function startFixturePool (): Promise<Pool> {
  const pool = await createPool({ workers: 1, workerScript: PROTOCOL_WORKER, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 500, killAfterMs: 500 })
  await pool.whenReady()
  return pool
}

async function started (pool: Pool, id: string): Promise<void> {
  if (pool.get(id).state === 'running') return
  await nextEvent(pool, (e) => e.type === 'job.started' && (e.data as JobInfo).id === id)
}

test('SIGSTOP a worker mid-job: unresponsive, not ready, killed and replaced; the job is retried', async (t) => {
  const pool = await startFixturePool()
  t.after(() => pool.close())
  const job = pool.enqueue({ kind: 'echo', params: { delayMs: 3000 }, maxAttempts: 2 })
  await started(pool, job.id)
  const pid = pool.get(job.id).workerPid!
  let readyWhileHung: boolean | null = null
  let workersReadyWhileHung: number | null = null
  const hung = nextEvent(pool, (e: PoolEvent) => {
    if (e.type !== 'worker.updated' || (e.data as WorkerInfo).state !== 'unresponsive') return false
    readyWhileHung = pool.ready
    workersReadyWhileHung = pool.stats().workersReady
    return true
  })
  const replaced = nextEvent(pool, (e) => e.type === 'worker.started')
  process.kill(pid, 'SIGSTOP')
  const hungInfo = (await hung).data as WorkerInfo
  assert.equal(hungInfo.pid, pid)
  assert.equal(readyWhileHung, false, 'pool.ready (what /readyz reports) is false while a worker is hung')
  assert.equal(workersReadyWhileHung, 0)
  const fresh = (await replaced).data as WorkerInfo
  assert.notEqual(fresh.pid, pid)
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the stopped process was killed')
  const done = await pool.wait(job.id, 20_000)
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  assert.equal(done.attempts, 2)
  assert.equal(done.workerPid, fresh.pid)
  assert.equal(pool.ready, true)
  assert.equal(pool.healthy, true)
})

test('SIGSTOP with no attempts left: WORKER_CRASHED saying the worker stopped answering', async (t) => {
  const pool = await startFixturePool()
  t.after(() => pool.close())
  const job = pool.enqueue({ kind: 'echo', params: { delayMs: 60_000 } })
  await started(pool, job.id)
  process.kill(pool.get(job.id).workerPid!, 'SIGSTOP')
  const done = await pool.wait(job.id, 20_000)
  assert.equal(done.state, 'failed')
  assert.equal(done.error!.code, 'WORKER_CRASHED')
  assert.match(done.error!.message, /stopped answering for 500 ms/)
  await pool.whenReady()
  assert.equal((await pool.submit({ kind: 'echo' })).state, 'succeeded', 'the replacement runs jobs')
})
