// The pool's new events: buffer.holders (who holds a buffer, as it changes: the dashboard's
// descriptor map without polling) and worker.updated (a worker's counters, at most ten a second
// per worker, the last change always sent).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BufferInfo, JobInfo, PoolEvent, WorkerInfo } from '../../../server/pool/types'
import { jobProgressed, nextEvent, sealedBuffer, startPool } from '../../helpers/pool'

test('buffer.holders: a worker\'s descriptor appears while its job runs and goes when it ends', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close())
  const input = sealedBuffer(pool, Buffer.from('held'))
  const withWorker = nextEvent(pool, (e) => e.type === 'buffer.holders' && (e.data as BufferInfo).descriptors.some((d) => d.role === 'worker'))
  const job = pool.enqueue({ kind: 'hold', inputs: [input] })
  const shown = (await withWorker).data as Pick<BufferInfo, 'id' | 'descriptors'>
  await jobProgressed(pool, job.id)
  assert.equal(shown.id, input)
  const worker = shown.descriptors.find((d) => d.role === 'worker')!
  assert.equal(worker.pid, pool.get(job.id).workerPid)
  assert.ok(Number.isInteger(worker.fd), 'the worker\'s own descriptor number')
  assert.deepEqual(Object.keys(shown).sort(), ['descriptors', 'id'])
  const serverOnly = nextEvent(pool, (e) => e.type === 'buffer.holders' && (e.data as BufferInfo).id === input && (e.data as BufferInfo).descriptors.every((d) => d.role === 'server'))
  pool.cancel(job.id)
  await serverOnly
  assert.equal((await pool.wait(job.id, 10_000)).state, 'cancelled')
})

test('worker.updated: coalesced to at most 10 a second per worker, ending with the final counts', async (t) => {
  const pool = await startPool({ workers: 2 })
  t.after(() => pool.close())
  const seen = new Map<string, Array<{ at: number, info: WorkerInfo }>>()
  const listener = (event: PoolEvent): void => {
    if (event.type !== 'worker.updated') return
    const info = event.data as WorkerInfo
    if (!seen.has(info.id)) seen.set(info.id, [])
    seen.get(info.id)!.push({ at: Date.now(), info })
  }
  pool.on('event', listener)
  const total = 600
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < total) {
      next++
      const job: JobInfo = await pool.submit({ kind: 'noop' })
      assert.equal(job.state, 'succeeded')
    }
  }))
  // The trailing update of each worker carries its final count.
  const finals = pool.workers()
  await Promise.all(finals.map(async (w) => {
    const last = seen.get(w.id)?.at(-1)?.info
    if (last?.jobsDone === w.jobsDone && last.running === 0) return
    await nextEvent(pool, (e) => e.type === 'worker.updated' && (e.data as WorkerInfo).id === w.id && (e.data as WorkerInfo).jobsDone === w.jobsDone && (e.data as WorkerInfo).running === 0)
  }))
  pool.off('event', listener)
  assert.equal(finals.reduce((n, w) => n + w.jobsDone, 0), total)
  for (const [id, updates] of seen) {
    for (let i = 1; i < updates.length; i++) {
      const gap = updates[i].at - updates[i - 1].at
      assert.ok(gap >= 95, `worker ${id}: updates ${i - 1} and ${i} only ${gap} ms apart`)
    }
    assert.ok(updates.length < total / 4, `worker ${id}: ${updates.length} updates for ${total} jobs`)
    assert.deepEqual(Object.keys(updates[0].info).sort(), ['external', 'id', 'jobsDone', 'name', 'pid', 'restarts', 'running', 'startedAt', 'state', 'threads'])
  }
})
