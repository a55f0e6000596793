// Pipelines through the library (pool.pipeline): real worker processes run every step.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import type { Pool } from '../../../server/pool/pool'
import type { JobInfo } from '../../../server/pool/types'
import { sealedBuffer, startPool } from '../../helpers/pool'

function bytesOf (pool: Pool, id: string): Buffer {
  const lease = pool.store.acquire(id)
  try {
    return Buffer.from(lease.view(0, lease.info.size))
  } finally {
    lease.release()
  }
}

test('the issue\'s example: fill → gzip → checksum, and a concat of raw with an existing buffer', async (t) => {
  const pool = await startPool()
  t.after(async () => { await pool.close({ graceMs: 0 }) })
  const existing = sealedBuffer(pool, Buffer.from('and the tail'))
  const baseline = pool.store.count

  const started = pool.pipeline({
    name: 'thumbs',
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 1048576, pattern: 'random', seed: 7 } },
      { id: 'small', kind: 'gzip', inputs: [{ step: 'raw' }], params: { level: 1 } },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'small', output: 0 }] },
      { id: 'both', kind: 'concat', inputs: [{ step: 'raw' }, existing] }
    ],
    keep: ['small'],
    outputTtlMs: 600000
  })
  assert.equal(started.state, 'running')
  assert.equal(started.name, 'thumbs')
  const done = await pool.pipelines.wait(started.id, Infinity)
  assert.equal(done.state, 'succeeded', JSON.stringify(done))
  assert.equal(done.error, null)
  assert.deepEqual(Object.keys(done.outputs).sort(), ['both', 'small', 'sum'])
  assert.equal(done.outputs.sum.length, 0)
  const [small] = done.outputs.small
  const [both] = done.outputs.both
  const steps = Object.fromEntries(done.steps.map((s) => [s.id, s]))
  const [raw] = steps.raw.outputs

  // sum's digest is the sha256 of small's bytes.
  const smallBytes = bytesOf(pool, small)
  assert.equal(steps.sum.result?.digest, crypto.createHash('sha256').update(smallBytes).digest('hex'))
  // both is raw followed by the existing buffer; raw itself is gone.
  assert.equal(pool.store.has(raw), false)
  const bothBytes = bytesOf(pool, both)
  assert.equal(bothBytes.length, 1048576 + 12)
  assert.deepEqual(bothBytes.subarray(1048576), Buffer.from('and the tail'))
  const zlib = await import('node:zlib')
  assert.deepEqual(zlib.gunzipSync(smallBytes), bothBytes.subarray(0, 1048576))
  // Only the results were added; they carry lineage and expiry.
  assert.equal(pool.store.count, baseline + 2)
  const info = pool.store.get(small)
  assert.deepEqual(info.producedBy, { job: steps.small.jobId, pipeline: done.id, step: 'small' })
  assert.ok(info.expiresAt !== null && Date.parse(info.expiresAt) > Date.now() + 500_000)
  // The steps ran as ordinary jobs carrying their pipeline and step.
  const job: JobInfo = pool.get(steps.both.jobId!)
  assert.equal(job.pipeline, done.id)
  assert.equal(job.step, 'both')
  assert.equal(pool.store.get(existing).producedBy, null)
})

test('independent steps run at once; a step whose job is cancelled through the jobs API fails the pipeline', async (t) => {
  const pool = await startPool({ workers: 2 })
  t.after(async () => { await pool.close({ graceMs: 0 }) })
  const started = pool.pipeline({
    steps: [
      { id: 'left', kind: 'sleep', params: { ms: 60_000 } },
      { id: 'right', kind: 'sleep', params: { ms: 60_000 } }
    ]
  })
  // Two idle workers: both steps went to one each as the pipeline started.
  assert.deepEqual(started.steps.map((s) => s.state), ['running', 'running'])
  const [left, right] = started.steps.map((s) => s.jobId!)
  assert.equal(pool.get(left).state, 'running')
  assert.equal(pool.get(right).state, 'running')
  pool.cancel(left)
  await pool.wait(left, Infinity)
  // The other branch goes on until the pipeline is cancelled.
  assert.equal(pool.pipelines.get(started.id).state, 'running')
  assert.equal(pool.get(right).state, 'running')
  pool.pipelines.cancel(started.id)
  const done = await pool.pipelines.wait(started.id, Infinity)
  assert.equal(done.state, 'cancelled')
  assert.equal(done.error?.step, 'left')
  assert.equal(done.error?.code, 'CANCELLED')
  assert.equal(pool.get(right).state, 'cancelled')
})

test('an existing input deleted before its step starts: that step fails with NOT_FOUND, nothing leaks', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(async () => { await pool.close({ graceMs: 0 }) })
  const existing = sealedBuffer(pool, Buffer.from('tail'))
  const started = pool.pipeline({
    steps: [
      { id: 'head', kind: 'fill', params: { size: 100_000, pattern: 'random' } },
      { id: 'join', kind: 'concat', inputs: [{ step: 'head' }, existing] },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'join' }] }
    ]
  })
  pool.store.delete(existing) // while head still runs: join cannot be queued later
  const done = await pool.pipelines.wait(started.id, Infinity)
  assert.equal(done.state, 'failed')
  assert.equal(done.error?.step, 'join')
  assert.equal(done.error?.code, 'NOT_FOUND')
  const steps = Object.fromEntries(done.steps.map((s) => [s.id, s]))
  assert.equal(steps.head.state, 'succeeded')
  assert.equal(steps.join.jobId, null)
  assert.equal(steps.sum.error?.code, 'UPSTREAM_FAILED')
  assert.equal(pool.store.has(steps.head.outputs[0]), false, 'head\'s output was an intermediate')
  assert.equal(pool.store.count, 0)
  assert.equal(pool.store.bytesInUse, 0)
})

test('closing the pool under a running pipeline ends it, and frees everything', async () => {
  const pool = await startPool({ workers: 1 })
  const started = pool.pipeline({
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 1000 } },
      { id: 'nap', kind: 'sleep', params: { ms: 60_000 } },
      { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }] },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'zip' }] }
    ]
  })
  const ended = pool.pipelines.wait(started.id, Infinity)
  await pool.close({ graceMs: 0 })
  const done = await ended
  assert.notEqual(done.state, 'running')
  assert.ok(done.steps.every((s) => ['succeeded', 'failed', 'cancelled'].includes(s.state)), JSON.stringify(done.steps))
  assert.equal(pool.store.bytesInUse, 0)
  assert.throws(() => pool.pipeline({ steps: [{ id: 'a', kind: 'noop' }] }), (err: unknown) => (err as { code?: string }).code === 'POOL_CLOSED')
})
