// `prefetch`: jobs sent to a worker ahead of a free thread. By default ('auto') only jobs of kinds
// that have been running under SHORT_RUN_MS go ahead, and only to a worker running nothing else;
// other jobs wait in the pool's queue until a thread is free. A number sends that many ahead
// whatever the kind; they wait in the worker and still finish, and a job sent ahead that has not
// reached a thread can be cancelled. A job that finds a free thread leaves at once (enqueue
// answers it `running`); one that can only go ahead leaves at the end of the event loop's turn,
// with the others queued in that turn (one message for them all).
import { setImmediate as turnEnd } from 'node:timers/promises'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AUTO_PREFETCH } from '../../../server/pool/pool'
import type { PoolEvent } from '../../../server/pool/types'
import { startPool } from '../../helpers/pool'

/** Records the pool's job.started and job.succeeded events, in order, as "started ID" / "succeeded ID". */
function recordJobEvents (pool: { on: (e: 'event', l: (ev: PoolEvent) => void) => unknown }): string[] {
  const seen: string[] = []
  pool.on('event', (event) => {
    if (event.type === 'job.started' || event.type === 'job.succeeded') seen.push(`${event.type.slice(4)} ${(event.data as { id: string }).id}`)
  })
  return seen
}

test('default: a worker gets one job per thread of a kind not known to be short; the rest stay queued in the pool', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  assert.equal(pool.options.prefetch, 'auto')
  const jobs = [0, 1, 2].map(() => pool.enqueue({ kind: 'sleep', params: { ms: 50 } }))
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'queued', 'queued'])
  for (const job of jobs) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
})

test('auto: once noop is known to be short, noops go ahead to a worker running only noops, never behind a long job', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  // Nothing is known of a kind at first: one job per thread.
  const first = [0, 1].map(() => pool.enqueue({ kind: 'noop' }))
  assert.deepEqual(first.map((j) => j.state), ['running', 'queued'])
  for (const job of first) await pool.wait(job.id, 10_000)
  // The worker reports each job's run time; after a few runs averaging under SHORT_RUN_MS, noop
  // counts as short: the second of two noops enqueued together then goes ahead of the thread. (A
  // loop, not a fixed count: on a loaded machine a run can be stretched past the threshold.)
  // Ahead: the second starts (is sent) before the first has succeeded.
  const events = recordJobEvents(pool)
  let ahead = false
  for (let i = 0; i < 200 && !ahead; i++) {
    const pair = [pool.enqueue({ kind: 'noop' }), pool.enqueue({ kind: 'noop' })]
    assert.deepEqual(pair.map((j) => j.state), ['running', 'queued'], 'only the first finds a free thread; the second leaves at the turn\'s end')
    for (const job of pair) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
    ahead = events.indexOf(`started ${pair[1].id}`) < events.indexOf(`succeeded ${pair[0].id}`)
  }
  assert.ok(ahead, 'noop never counted as short')

  // One on the thread and AUTO_PREFETCH ahead of it, never more: the rest wait in the pool's queue.
  events.length = 0
  const burst = Array.from({ length: AUTO_PREFETCH + 3 }, () => pool.enqueue({ kind: 'noop' }))
  for (const job of burst) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
  let inWorker = 0
  let most = 0
  for (const event of events) {
    inWorker += event.startsWith('started') ? 1 : -1
    most = Math.max(most, inWorker)
  }
  assert.equal(most, AUTO_PREFETCH + 1, `jobs in the worker at once: ${events.join(', ')}`)

  // Behind a long job nothing goes ahead: the noops wait in the pool until the thread is free,
  // also once the turn in which they were queued is over.
  const long = pool.enqueue({ kind: 'sleep', params: { ms: 200 } })
  const after = [0, 1, 2].map(() => pool.enqueue({ kind: 'noop' }))
  assert.equal(long.state, 'running')
  await turnEnd()
  assert.deepEqual(after.map((j) => pool.get(j.id).state), ['queued', 'queued', 'queued'])
  assert.equal((await pool.wait(long.id, 10_000)).state, 'succeeded')
  for (const job of after) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
})

test('prefetch 0: never ahead, even for a short kind', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1, prefetch: 0 })
  t.after(() => pool.close())
  for (let i = 0; i < 10; i++) await pool.submit({ kind: 'noop' })
  const jobs = [0, 1, 2].map(() => pool.enqueue({ kind: 'noop' }))
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'queued', 'queued'])
  for (const job of jobs) assert.equal((await pool.wait(job.id, 10_000)).state, 'succeeded')
})

test('prefetch 2: three jobs go to a one-thread worker at once, all finish, a waiting one can be cancelled', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1, prefetch: 2 })
  t.after(() => pool.close())
  assert.equal(pool.options.prefetch, 2)
  const jobs = [0, 1, 2, 3].map(() => pool.enqueue({ kind: 'sleep', params: { ms: 100 } }))
  assert.deepEqual(jobs.map((j) => j.state), ['running', 'queued', 'queued', 'queued'], 'the first finds the thread free')
  await turnEnd() // the two that go ahead leave together at the end of the turn
  assert.deepEqual(jobs.map((j) => pool.get(j.id).state), ['running', 'running', 'running', 'queued'])
  pool.cancel(jobs[2].id) // still waiting in the worker, behind two others
  const states = await Promise.all(jobs.map(async (j) => (await pool.wait(j.id, 10_000)).state))
  assert.deepEqual(states, ['succeeded', 'succeeded', 'cancelled', 'succeeded'])
})
