// Every built-in kind through real worker processes, against an independent computation here.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import type { Pool } from '../../../server/pool/pool'
import { sealedBuffer, startPool } from '../../helpers/pool'

let pool: Pool
// Two sort threads whatever the machine has, so the parallel path is what the sort test checks.
before(async () => { pool = await startPool({ maxMemoryBytes: 2 * 1024 ** 3, worker: { sortThreads: 2 } }) })
after(async () => { await pool.close() })

function bytesOf (id: string): Buffer {
  const lease = pool.store.acquire(id)
  try { return Buffer.from(lease.view(0, lease.info.size)) } finally { lease.release() }
}

test('checksum over 256 MiB: sha256 and crc32 equal node:crypto and zlib here', async () => {
  const size = 256 * 1024 * 1024
  const info = pool.store.create({ size })
  const chunk = crypto.randomBytes(1 << 20)
  for (let off = 0; off < size; off += chunk.length) pool.store.write(info.id, off, chunk)
  pool.store.seal(info.id)
  const lease = pool.store.acquire(info.id)
  const whole = lease.view(0, size)
  const sha = crypto.createHash('sha256').update(whole).digest('hex')
  const crc = zlib.crc32(whole).toString(16).padStart(8, '0')
  lease.release()
  const [a, b] = await Promise.all([
    pool.submit({ kind: 'checksum', inputs: [info.id] }),
    pool.submit({ kind: 'checksum', inputs: [info.id], params: { algorithm: 'crc32' } })
  ])
  assert.equal(a.state, 'succeeded', JSON.stringify(a.error))
  assert.deepEqual(a.result, { algorithm: 'sha256', digest: sha, bytes: size })
  assert.deepEqual(b.result, { algorithm: 'crc32', digest: crc, bytes: size })
  pool.store.delete(info.id)
})

test('checksum ranges: a slice, the empty range, and a range past the end', async () => {
  const data = crypto.randomBytes(10_000)
  const id = sealedBuffer(pool, data)
  const slice = await pool.submit({ kind: 'checksum', inputs: [id], params: { algorithm: 'md5', offset: 100, length: 900 } })
  assert.equal(slice.result!.digest, crypto.createHash('md5').update(data.subarray(100, 1000)).digest('hex'))
  const empty = await pool.submit({ kind: 'checksum', inputs: [id], params: { algorithm: 'sha1', offset: 10_000, length: 0 } })
  assert.equal(empty.result!.digest, crypto.createHash('sha1').update(Buffer.alloc(0)).digest('hex'))
  const past = await pool.submit({ kind: 'checksum', inputs: [id], params: { offset: 9000, length: 2000 } })
  assert.equal(past.state, 'failed')
  assert.equal(past.error!.code, 'INVALID_RANGE')
})

test('gzip then gunzip round-trips; outputs are new sealed buffers; gunzip honours maxOutputBytes', async () => {
  const data = Buffer.from('memfd '.repeat(50_000))
  const id = sealedBuffer(pool, data)
  const gz = await pool.submit({ kind: 'gzip', inputs: [id], params: { level: 9 } })
  assert.equal(gz.state, 'succeeded')
  assert.equal(gz.outputs.length, 1)
  const out = pool.store.get(gz.outputs[0])
  assert.equal(out.sealed, true)
  assert.deepEqual(zlib.gunzipSync(bytesOf(out.id)), data)
  assert.deepEqual(gz.result, { bytesIn: data.length, bytesOut: out.size })
  const back = await pool.submit({ kind: 'gunzip', inputs: [out.id] })
  assert.deepEqual(bytesOf(back.outputs[0]), data)
  const bounded = await pool.submit({ kind: 'gunzip', inputs: [out.id], params: { maxOutputBytes: 1000 } })
  assert.equal(bounded.state, 'failed')
  assert.equal(bounded.error!.code, 'OUTPUT_TOO_LARGE')
  assert.deepEqual(bounded.outputs, [])
})

test('sort and stats agree with a sort and a sum here; a misaligned length is refused', async () => {
  const values = new Float64Array(100_000).map(() => (Math.random() - 0.5) * 1e6)
  const id = sealedBuffer(pool, new Uint8Array(values.buffer))
  const sorted = await pool.submit({ kind: 'sort', inputs: [id], params: { dtype: 'f64', order: 'desc' } })
  assert.equal(sorted.state, 'succeeded', JSON.stringify(sorted.error))
  const got = new Float64Array(new Uint8Array(bytesOf(sorted.outputs[0])).buffer)
  assert.deepEqual(Array.from(got), Array.from(values).sort((a, b) => b - a))
  const stats = await pool.submit({ kind: 'stats', inputs: [id], params: { dtype: 'f64' } })
  const sum = values.reduce((a, b) => a + b, 0)
  assert.equal(stats.result!.count, values.length)
  assert.equal(stats.result!.min, Math.min(...values))
  assert.equal(stats.result!.max, Math.max(...values))
  assert.ok(Math.abs((stats.result!.sum as number) - sum) < 1e-3)
  const odd = sealedBuffer(pool, Buffer.alloc(7))
  const refused = await pool.submit({ kind: 'sort', inputs: [odd], params: { dtype: 'u32' } })
  assert.equal(refused.error!.code, 'INVALID_INPUT')
})

test('a 32 MiB sort in a worker process runs on two threads and matches a sort here', async () => {
  const values = new Int32Array(8 * 1024 * 1024)
  crypto.randomFillSync(values)
  const id = sealedBuffer(pool, new Uint8Array(values.buffer))
  const sorted = await pool.submit({ kind: 'sort', inputs: [id], params: { dtype: 'i32' } })
  assert.equal(sorted.state, 'succeeded', JSON.stringify(sorted.error))
  assert.deepEqual(sorted.result, { count: values.length, threads: 2 })
  const expected = Buffer.from(values.slice().sort().buffer)
  assert.ok(bytesOf(sorted.outputs[0]).equals(expected))
  pool.store.delete(id)
  pool.store.delete(sorted.outputs[0])
})

test('fill: the same seed gives the same bytes; byte pattern; outputs count against the quota', async () => {
  const a = await pool.submit({ kind: 'fill', params: { size: 1 << 20, pattern: 'random', seed: 42 } })
  const b = await pool.submit({ kind: 'fill', params: { size: 1 << 20, pattern: 'random', seed: 42 } })
  const c = await pool.submit({ kind: 'fill', params: { size: 1000, pattern: 'byte', byte: 7 } })
  assert.deepEqual(bytesOf(a.outputs[0]), bytesOf(b.outputs[0]))
  assert.deepEqual(bytesOf(c.outputs[0]), Buffer.alloc(1000, 7))
  const tooBig = await pool.submit({ kind: 'fill', params: { size: 3 * 1024 ** 3 } })
  assert.equal(tooBig.state, 'failed')
  assert.equal(tooBig.error!.code, 'OUTPUT_TOO_LARGE')
})

test('noop and sleep', async () => {
  const noop = await pool.submit({ kind: 'noop' })
  assert.deepEqual(noop.result, {})
  const sleep = await pool.submit({ kind: 'sleep', params: { ms: 20 } })
  assert.deepEqual(sleep.result, { sleptMs: 20 })
})

test('submit refuses bad jobs before queueing them', () => {
  const unsealed = pool.store.create({ size: 10 })
  assert.throws(() => pool.enqueue({ kind: 'nope' }), { code: 'UNKNOWN_KIND' })
  assert.throws(() => pool.enqueue({ kind: 'checksum', inputs: [unsealed.id] }), { code: 'BUFFER_NOT_SEALED' })
  assert.throws(() => pool.enqueue({ kind: 'checksum', inputs: ['buf_missing'] }), { code: 'NOT_FOUND' })
  assert.throws(() => pool.enqueue({ kind: 'checksum', inputs: [] }), { code: 'INVALID_INPUTS' })
  assert.throws(() => pool.enqueue({ kind: 'sleep', params: { ms: -1 } }), { code: 'INVALID_PARAMS' })
  assert.throws(() => pool.enqueue({ kind: 'checksum', inputs: [unsealed.id], params: { algorithm: 'sha3' } }), { code: 'BUFFER_NOT_SEALED' })
  assert.throws(() => pool.enqueue({ kind: 'sleep', params: { ms: 1, extra: true } }), { code: 'INVALID_PARAMS' })
  pool.store.delete(unsealed.id)
})
