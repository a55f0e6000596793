// The dispatcher's locality with real worker processes: a job goes to the worker that was sent
// (and keeps mapped) its input when that worker is free, not to the first idle one.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { allWorkersReady, jobProgressed, sealedBuffer, startPool } from '../../helpers/pool'
import { until } from '../../helpers/event-stream'

test('two jobs on the same input land on the worker that holds it when both workers are idle', async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 1 })
  t.after(() => pool.close({ graceMs: 0 }))
  await allWorkersReady(pool)
  const input = sealedBuffer(pool, crypto.randomBytes(1 << 20))
  // Keep the first worker (the policy's first of equals) busy, so the first checksum goes to the
  // other one.
  const hold = pool.enqueue({ kind: 'hold' })
  await jobProgressed(pool, hold.id)
  const holdPid = pool.get(hold.id).workerPid!
  const first = await pool.submit({ kind: 'checksum', inputs: [input] })
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error))
  assert.notEqual(first.workerPid, holdPid)
  pool.cancel(hold.id)
  await pool.wait(hold.id, 10_000)
  await until(() => pool.workers().every((w) => w.running === 0), 'both workers idle', 5000)

  // Both idle now: without locality the first of equals (the hold's worker) would take these.
  for (let i = 0; i < 3; i++) {
    const again = await pool.submit({ kind: 'checksum', inputs: [input] })
    assert.equal(again.workerPid, first.workerPid, `job ${i} went to the worker that maps its input`)
  }
  // A job on another buffer still goes to the first of equals: locality moves only what it helps.
  const other = sealedBuffer(pool, Buffer.from('other'))
  const elsewhere = await pool.submit({ kind: 'checksum', inputs: [other] })
  assert.equal(elsewhere.workerPid, holdPid)

  // A 2-step pipeline: each step (the second after the first) goes where `input` is mapped.
  const p = pool.pipeline({ steps: [{ id: 'a', kind: 'concat', inputs: [input] }, { id: 'b', kind: 'concat', inputs: [{ step: 'a' }, input] }] })
  const done = await pool.pipelines.wait(p.id, 10_000)
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  for (const step of done.steps) assert.equal(pool.get(step.jobId!).workerPid, first.workerPid, `step ${step.id}`)
})
