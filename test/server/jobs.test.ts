// Jobs over REST: submit with and without ?wait, get, list, cancel, outputs, and every refusal.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { buildApp } from '../../server/app'
import { createPool } from '../../server/pool/pool'
import type { PoolEvent } from '../../server/pool/types'
import { MiB, binaryParser, errorCode, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => {
  // Two workers: a long sleep on one leaves the other free for the rest.
  app = await startApp({ poolOptions: { workers: 2, maxMemoryBytes: 64 * MiB } })
})
after(async () => { await app.close() })

async function sealedBuffer (bytes: Buffer): Promise<string> {
  return (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)).body.id
}

/** Resolves when the pool reports `type` for job `id` (synchronises on events, not sleeps). */
async function jobEvent (target: FastifyInstance, id: string | null, type: string): Promise<PoolEvent> {
  return await new Promise((resolve) => {
    const listener = (event: PoolEvent): void => {
      if (event.type !== type || (id !== null && (event.data as { id?: string }).id !== id)) return
      target.pool.off('event', listener)
      resolve(event)
    }
    target.pool.on('event', listener)
  })
}

/** Returns once job `id` is running (it may already be: dispatch is synchronous). */
async function untilRunning (target: FastifyInstance, id: string): Promise<void> {
  if (target.pool.get(id).state === 'queued') await jobEvent(target, id, 'job.started')
}

test('POST /v1/jobs?wait answers 200 with the finished job', async () => {
  const bytes = Buffer.from('checksum me, please')
  const input = await sealedBuffer(bytes)
  const res = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'checksum', inputs: [input], params: { algorithm: 'sha256' } })
  assert.equal(res.status, 200)
  assert.equal(res.body.state, 'succeeded')
  assert.equal(res.body.kind, 'checksum')
  assert.deepEqual(res.body.inputs, [input])
  assert.deepEqual(res.body.result, { algorithm: 'sha256', digest: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length })
  assert.equal(res.body.error, null)
  assert.equal(res.body.attempts, 1)
  assert.equal(typeof res.body.workerPid, 'number')
  for (const field of ['queuedAt', 'startedAt', 'finishedAt']) assert.ok(!Number.isNaN(Date.parse(res.body[field])), field)
})

test('POST /v1/jobs without wait answers 202 with Location; GET ?wait gets the end', async () => {
  const input = await sealedBuffer(Buffer.from('abc'))
  const res = await request(app.server).post('/v1/jobs').send({ kind: 'checksum', inputs: [input], params: { algorithm: 'crc32' } })
  assert.equal(res.status, 202)
  assert.equal(res.headers.location, `/v1/jobs/${res.body.id}`)
  assert.ok(['queued', 'running'].includes(res.body.state))
  const done = await request(app.server).get(`/v1/jobs/${res.body.id}?wait=30000`).expect(200)
  assert.equal(done.body.state, 'succeeded')
  assert.equal(done.body.result.digest, '352441c2')
  const again = await request(app.server).get(`/v1/jobs/${res.body.id}`).expect(200)
  assert.deepEqual(again.body, done.body)
})

test('many concurrent ?wait requests: each gets its own job, and Node warns about nothing', async (t) => {
  // Each waiting request once added an abort listener to one shared AbortSignal: past ten,
  // Node printed MaxListenersExceededWarning under ordinary load.
  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.after(() => { process.off('warning', onWarning) })
  const replies = await Promise.all(Array.from({ length: 30 }, async (_, i) =>
    await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'sleep', params: { ms: 10 + i } })))
  assert.deepEqual(replies.map((r) => [r.status, r.body.state]), replies.map(() => [200, 'succeeded']))
  assert.equal(new Set(replies.map((r) => r.body.id)).size, 30)
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(warnings.map((w) => w.name), [])
})

test('?wait that runs out answers 202 with the job still running', async () => {
  const res = await request(app.server).post('/v1/jobs?wait=50').send({ kind: 'sleep', params: { ms: 20000 } })
  assert.equal(res.status, 202)
  assert.ok(['queued', 'running'].includes(res.body.state))
  const cancelled = await request(app.server).post(`/v1/jobs/${res.body.id}/cancel`).expect(200)
  assert.ok(['running', 'cancelled'].includes(cancelled.body.state))
  const end = await request(app.server).get(`/v1/jobs/${res.body.id}?wait=30000`).expect(200)
  assert.equal(end.body.state, 'cancelled')
  assert.equal(end.body.error.code, 'CANCELLED')
})

test('a gzip job produces a sealed output buffer that downloads and gunzips to the input', async () => {
  const bytes = Buffer.from('memfd-pool '.repeat(10_000))
  const input = await sealedBuffer(bytes)
  const job = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'gzip', inputs: [input], params: { level: 9 } }).expect(200)
  assert.equal(job.body.state, 'succeeded')
  assert.equal(job.body.outputs.length, 1)
  const output = await request(app.server).get(`/v1/buffers/${job.body.outputs[0]}`).expect(200)
  assert.equal(output.body.sealed, true)
  assert.equal(output.body.size, job.body.result.bytesOut)
  const content = await request(app.server).get(`/v1/buffers/${job.body.outputs[0]}/content`).buffer(true).parse(binaryParser).expect(200)
  assert.deepEqual(gunzipSync(content.body), bytes)
})

test('a job that fails is still 200 within wait, with its error', async () => {
  const input = await sealedBuffer(Buffer.from('this is not gzip data'))
  const res = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'gunzip', inputs: [input] }).expect(200)
  assert.equal(res.body.state, 'failed')
  assert.equal(typeof res.body.error.code, 'string')
  assert.equal(typeof res.body.error.message, 'string')
  // The same bytes compressed properly round-trip.
  const good = await sealedBuffer(gzipSync(Buffer.from('fine')))
  const ok = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'gunzip', inputs: [good] }).expect(200)
  assert.equal(ok.body.state, 'succeeded')
})

test('GET /v1/jobs lists newest first, filtered by state, limited', async () => {
  const input = await sealedBuffer(Buffer.from('x'))
  const a = (await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'checksum', inputs: [input] }).expect(200)).body
  const b = (await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'noop' }).expect(200)).body
  const list = await request(app.server).get('/v1/jobs?limit=2').expect(200)
  assert.deepEqual(list.body.jobs.map((j: { id: string }) => j.id), [b.id, a.id])
  const succeeded = await request(app.server).get('/v1/jobs?state=succeeded').expect(200)
  assert.ok(succeeded.body.jobs.length >= 2)
  assert.ok(succeeded.body.jobs.every((j: { state: string }) => j.state === 'succeeded'))
  const cancelled = await request(app.server).get('/v1/jobs?state=cancelled').expect(200)
  assert.ok(cancelled.body.jobs.every((j: { state: string }) => j.state === 'cancelled'))
})

test('cancel a running job; cancelling it again is 409 JOB_FINISHED', async () => {
  const queued = await request(app.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 30000 } }).expect(202)
  await untilRunning(app, queued.body.id)
  const res = await request(app.server).post(`/v1/jobs/${queued.body.id}/cancel`).expect(200)
  assert.ok(['running', 'cancelled'].includes(res.body.state))
  const end = await request(app.server).get(`/v1/jobs/${queued.body.id}?wait=30000`).expect(200)
  assert.equal(end.body.state, 'cancelled')
  const again = await request(app.server).post(`/v1/jobs/${queued.body.id}/cancel`)
  assert.equal(again.status, 409)
  assert.equal(errorCode(again), 'JOB_FINISHED')
})

test('refusals: kind, params, inputs, unsealed and unknown inputs, validation', async () => {
  const sealed = await sealedBuffer(Buffer.from('abc'))
  const unsealed = (await request(app.server).post('/v1/buffers').send({ size: 3 }).expect(201)).body.id
  const cases: Array<[object, string, number, string]> = [
    [{}, '', 400, 'VALIDATION_ERROR'],
    [{ kind: 'nope' }, '', 400, 'UNKNOWN_KIND'],
    [{ kind: 'checksum', inputs: [sealed], params: { algorithm: 'md4' } }, '', 400, 'INVALID_PARAMS'],
    [{ kind: 'checksum', inputs: [sealed], params: { extra: 1 } }, '', 400, 'INVALID_PARAMS'],
    [{ kind: 'checksum' }, '', 400, 'INVALID_INPUTS'],
    [{ kind: 'checksum', inputs: [sealed, sealed] }, '', 400, 'INVALID_INPUTS'],
    [{ kind: 'checksum', inputs: ['buf_nope'] }, '', 404, 'NOT_FOUND'],
    [{ kind: 'checksum', inputs: [unsealed] }, '', 409, 'BUFFER_NOT_SEALED'],
    [{ kind: 'noop', timeoutMs: 0 }, '', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop', maxAttempts: 11 }, '', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop', params: [] }, '', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop', colour: 'red' }, '', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop' }, '?wait=60001', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop' }, '?wait=-1', 400, 'VALIDATION_ERROR'],
    [{ kind: 'noop' }, '?wait=soon', 400, 'VALIDATION_ERROR']
  ]
  for (const [body, query, status, code] of cases) {
    const res = await request(app.server).post(`/v1/jobs${query}`).send(body)
    assert.equal(res.status, status, `${JSON.stringify(body)}${query}`)
    assert.equal(errorCode(res), code, `${JSON.stringify(body)}${query}`)
  }
  const malformed = await request(app.server).post('/v1/jobs').set('content-type', 'application/json').send('{"kind":')
  assert.equal(errorCode(malformed), 'BAD_JSON')
  const octets = await request(app.server).post('/v1/jobs').set('content-type', 'application/octet-stream').send(Buffer.from('x'))
  assert.equal(octets.status, 415)
  assert.equal(errorCode(octets), 'UNSUPPORTED_MEDIA_TYPE')
})

test('refusals: unknown jobs are 404; bad list queries are 400 naming the field', async () => {
  for (const [method, path] of [['get', '/v1/jobs/job_nope'], ['post', '/v1/jobs/job_nope/cancel'], ['get', '/v1/jobs/job_nope?wait=10']] as const) {
    const res = await request(app.server)[method](path)
    assert.equal(res.status, 404, path)
    assert.equal(errorCode(res), 'NOT_FOUND')
  }
  for (const [query, field] of [['state=bogus', 'query.state'], ['limit=0', 'query.limit'], ['limit=1001', 'query.limit'], ['limit=x', 'query.limit']]) {
    const res = await request(app.server).get(`/v1/jobs?${query}`)
    assert.equal(res.status, 400, query)
    assert.equal(errorCode(res), 'VALIDATION_ERROR')
    assert.ok(res.body.error.message.startsWith(field), res.body.error.message)
  }
})

test('a full queue is 429 QUEUE_FULL with Retry-After', async (t) => {
  const small = await startApp({ poolOptions: { workers: 1, maxQueue: 1 } })
  t.after(async () => { await small.close() })
  // One running, one queued: the queue is full.
  const running = await request(small.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 30000 } }).expect(202)
  await untilRunning(small, running.body.id)
  await request(small.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 30000 } }).expect(202)
  const full = await request(small.server).post('/v1/jobs').send({ kind: 'noop' })
  assert.equal(full.status, 429)
  assert.equal(errorCode(full), 'QUEUE_FULL')
  assert.equal(full.headers['retry-after'], '1')
})

test('a closed pool refuses jobs with 503 POOL_CLOSED; an injected pool is the caller\'s to close', async (t) => {
  const pool = await createPool({ workers: 1, maxMemoryBytes: 8 * MiB })
  const injected = await buildApp({ pool })
  t.after(async () => { await injected.close(); await pool.close({ graceMs: 0 }) })
  await injected.ready()
  await pool.whenReady()
  await request(injected.server).post('/v1/jobs?wait=10000').send({ kind: 'noop' }).expect(200)
  await pool.close({ graceMs: 0 })
  const res = await request(injected.server).post('/v1/jobs').send({ kind: 'noop' })
  assert.equal(res.status, 503)
  assert.equal(errorCode(res), 'POOL_CLOSED')
})
