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
