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

test('the host blocking its own event loop past the timeout kills no worker: its pong was only unread', async (t) => {
  const pool = await startFixturePool()
  t.after(() => pool.close())
  const [worker] = pool.workers()
  const exits: PoolEvent[] = []
  const onEvent = (e: PoolEvent): void => { if (e.type === 'worker.exited' || (e.type === 'worker.updated' && (e.data as WorkerInfo).state === 'unresponsive')) exits.push(e) }
  pool.on('event', onEvent)
  t.after(() => pool.off('event', onEvent))
  const job = pool.enqueue({ kind: 'echo', params: { delayMs: 100 } })
  // An embedder's long synchronous call, twice the heartbeat timeout, made from the check phase
  // (setImmediate): the loop's next phase is its timers, before it reads the worker's socket.
  await new Promise<void>((resolve) => setImmediate(() => {
    const until = Date.now() + 1000
    while (Date.now() < until) { /* the host is busy, the worker is fine */ }
    resolve()
  }))
  const done = await pool.wait(job.id, 10_000)
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  assert.equal(done.workerPid, worker.pid)
  // A round trip after the stall: the loop has passed its timers (the heartbeat's verdict) by then.
  const after = await pool.submit({ kind: 'echo', maxAttempts: 2 })
  assert.equal(after.state, 'succeeded', JSON.stringify(after.error))
  assert.deepEqual(exits, [], 'no worker was judged unresponsive or killed')
  assert.equal(pool.workers()[0].pid, worker.pid)
  assert.equal(pool.ready, true)
})
