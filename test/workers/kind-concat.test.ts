// The concat kind through real worker processes: bytes in order, empty inputs, the 1–64 bounds.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { PoolError } from '../../server/pool/pool-error'
import { sealedBuffer, startPool } from '../helpers/pool'

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
  assert.throws(() => pool.enqueue({ kind: 'concat', inputs: Array(33).fill(ids[0]) }), (err: unknown) => err instanceof PoolError && err.code === 'INVALID_INPUTS')
  const kind = pool.kinds().find((k) => k.name === 'concat')
  assert.deepEqual([kind?.inputs, kind?.outputs], [{ min: 1, max: 32 }, { min: 1, max: 1 }])
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
