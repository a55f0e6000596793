// The concat kind through real worker processes: bytes in order, empty inputs, the 1–64 bounds (64 itself: many-inputs.test.ts).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import request from 'supertest'
import { PoolError } from '../../server/pool/pool-error'
import { MAX_JOB_INPUTS } from '../../server/schemas/limits'
import { WORKER_CHANNEL } from '../../workers/protocol'
import { sealedBuffer, startPool } from '../helpers/pool'
import { startApp } from '../helpers/server-app'

test('concat joins its inputs in order', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close({ graceMs: 0 }))
  const parts = [crypto.randomBytes(5000), Buffer.alloc(0), Buffer.from('middle'), crypto.randomBytes(70_000)]
  const ids = parts.map((bytes) => sealedBuffer(pool, bytes))
  // The same buffer twice is two inputs.
  const job = await pool.submit({ kind: 'concat', inputs: [...ids, ids[2]] })
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error))
  assert.deepEqual(job.result, { inputs: 5, bytes: 75_012 })
  const lease = pool.store.acquire(job.outputs[0])
  t.after(() => lease.release())
  assert.deepEqual(Buffer.from(lease.view(0, lease.info.size)), Buffer.concat([...parts, parts[2]]))

  const empty = await pool.submit({ kind: 'concat', inputs: [ids[1]] })
  assert.equal(empty.state, 'succeeded', JSON.stringify(empty.error))
  assert.equal(pool.store.get(empty.outputs[0]).size, 0)

  assert.throws(() => pool.enqueue({ kind: 'concat', inputs: [] }), (err: unknown) => err instanceof PoolError && err.code === 'INVALID_INPUTS')
  // 65 is past every job's bound: INVALID_INPUTS from the kind's, or INVALID_JOB once the library
  // checks a JobSpec with the REST schema first (its inputs' maxItems).
  assert.throws(() => pool.enqueue({ kind: 'concat', inputs: Array(65).fill(ids[0]) }),
    (err: unknown) => err instanceof PoolError && ['INVALID_INPUTS', 'INVALID_JOB'].includes(err.code) && /input/.test(err.message))
  const kind = pool.kinds().find((k) => k.name === 'concat')
  assert.deepEqual([kind?.inputs, kind?.outputs], [{ min: 1, max: 64 }, { min: 1, max: 1 }])
})

test('concat of 32 inputs (as many descriptors as one worker message carries)', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close({ graceMs: 0 }))
  const parts = Array.from({ length: 32 }, (_, i) => Buffer.from(`part ${i};`))
  const ids = parts.map((bytes) => sealedBuffer(pool, bytes))
  const job = await pool.submit({ kind: 'concat', inputs: ids })
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error))
  const lease = pool.store.acquire(job.outputs[0])
  t.after(() => lease.release())
  assert.deepEqual(Buffer.from(lease.view(0, lease.info.size)), Buffer.concat(parts))
})

test('POST /v1/jobs: concat of 32 over REST (one worker message\'s worth); 65 refused', async (t) => {
  assert.equal(MAX_JOB_INPUTS, 2 * WORKER_CHANNEL.maxFds)
  const app = await startApp()
  t.after(() => app.close())
  const ids = Array.from({ length: 32 }, (_, i) => sealedBuffer(app.pool, Buffer.from([i])))
  const res = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'concat', inputs: ids })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(res.body.state, 'succeeded', JSON.stringify(res.body.error))
  assert.deepEqual(res.body.result, { inputs: 32, bytes: 32 })
  const over = await request(app.server).post('/v1/jobs').send({ kind: 'concat', inputs: [...ids, ...ids, ids[0]] })
  assert.equal(over.status, 400)
})
