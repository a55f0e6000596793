// Worker threads keep input mappings between jobs (keyed by buffer id + generation) and let go
// of them when the buffer is deleted or a job on it does not succeed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { memfdMappings } from '../../helpers/proc'
import { sealedBuffer, startPool } from '../../helpers/pool'

/** Polls /proc until `pid` maps `name` `count` times (the worker hears of a delete asynchronously). */
async function mappingsBecome (pid: number, name: string, count: number): Promise<number> {
  const deadline = Date.now() + 10_000
  let seen = memfdMappings(pid, name).length
  while (seen !== count && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve))
    seen = memfdMappings(pid, name).length
  }
  return seen
}

test('repeated jobs on one buffer map it once; deleting the buffer unmaps it in the worker', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  const id = sealedBuffer(pool, Buffer.alloc(1 << 20, 7))
  const pid = pool.workerPids()[0]
  for (let i = 0; i < 5; i++) {
    const job = await pool.submit({ kind: 'checksum', inputs: [id], params: { algorithm: 'crc32' } })
    assert.equal(job.state, 'succeeded')
  }
  assert.equal(memfdMappings(pid, `memfd-pool:${id}`).length, 1, 'one mapping kept across five jobs')
  pool.store.delete(id)
  assert.equal(await mappingsBecome(pid, `memfd-pool:${id}`, 0), 0, 'unmapped once the buffer is deleted')
  assert.equal(pool.store.bytesInUse, 0)
})

test('a job that fails takes its input mapping with it', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  const id = sealedBuffer(pool, Buffer.alloc(4096, 1))
  const pid = pool.workerPids()[0]
  assert.equal((await pool.submit({ kind: 'checksum', inputs: [id] })).state, 'succeeded')
  assert.equal(memfdMappings(pid, `memfd-pool:${id}`).length, 1)
  const failed = await pool.submit({ kind: 'checksum', inputs: [id], params: { offset: 5000 } })
  assert.equal(failed.error?.code, 'INVALID_RANGE')
  assert.equal(memfdMappings(pid, `memfd-pool:${id}`).length, 0, 'unmapped after the failed job')
})

test('the cache is bounded: the least recently used mapping is unmapped', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1, worker: { mappingCache: { entries: 2, bytes: 8 * 1024 ** 3 } } })
  t.after(() => pool.close())
  const pid = pool.workerPids()[0]
  const ids = [1, 2, 3].map((n) => sealedBuffer(pool, Buffer.alloc(4096, n)))
  for (const id of ids) assert.equal((await pool.submit({ kind: 'checksum', inputs: [id] })).state, 'succeeded')
  assert.deepEqual(ids.map((id) => memfdMappings(pid, `memfd-pool:${id}`).length), [0, 1, 1])
})

test('a kind cannot release the kept mapping: later jobs on the buffer still read its bytes', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 1 })
  t.after(() => pool.close())
  const data = crypto.randomBytes(1 << 16)
  const id = sealedBuffer(pool, data)
  assert.equal((await pool.submit({ kind: 'checksum', inputs: [id] })).state, 'succeeded')
  const attempt = await pool.submit({ kind: 'release-input', inputs: [id] })
  assert.deepEqual(attempt.result, { released: false, error: 'TypeError' })
  const again = await pool.submit({ kind: 'checksum', inputs: [id] })
  assert.equal(again.result!.digest, crypto.createHash('sha256').update(data).digest('hex'))
})
