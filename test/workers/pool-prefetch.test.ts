// `prefetch`: jobs sent to a worker ahead of a free thread. Off by default (a job waits in the
// pool's queue until a thread is free); when set, they wait in the worker and still finish,
// and a prefetched job that has not reached a thread can be cancelled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startPool } from '../helpers/pool'

test('default: a worker gets one job per thread; the rest stay queued in the pool', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  const jobs = [0, 1, 2].map(() => pool.enqueue({ kind: 'sleep', params: { ms: 50 } }))
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'queued', 'queued'])
  for (const job of jobs) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
})

test('prefetch 2: three jobs go to a one-thread worker at once, all finish, a waiting one can be cancelled', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1, prefetch: 2 })
  t.after(() => pool.close())
  assert.equal(pool.options.prefetch, 2)
  const jobs = [0, 1, 2, 3].map(() => pool.enqueue({ kind: 'sleep', params: { ms: 100 } }))
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'running', 'running', 'queued'])
  pool.cancel(jobs[2].id) // still waiting in the worker, behind two others
  const states = await Promise.all(jobs.map(async (j) => (await pool.wait(j.id, 10_000)).state))
  assert.deepEqual(states, ['succeeded', 'succeeded', 'cancelled', 'succeeded'])
})
