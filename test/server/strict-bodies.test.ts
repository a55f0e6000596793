// JSON bodies are validated as sent: a wrong type is a 400 naming the field, never coerced
// (issue 15 item 17: {"size": true} made a 1-byte buffer, "1e3" 1000, [5] 5, "x" ["x"]). Query
// strings are text and are still coerced (?wait=10, ?limit=5, ?offset=2).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { errorCode, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp() })
after(async () => { await app.close() })

test('POST /v1/buffers refuses a size that is not a JSON integer, naming body.size', async () => {
  const before = (await request(app.server).get('/v1/buffers').expect(200)).body.buffers.length
  for (const size of [true, false, null, '1e3', '5', [5], { n: 1 }, 1.5]) {
    const res = await request(app.server).post('/v1/buffers').send({ size })
    assert.equal(res.status, 400, JSON.stringify(size))
    assert.equal(errorCode(res), 'VALIDATION_ERROR')
    assert.match(res.body.error.message, /body\.size/, JSON.stringify(size))
  }
  const res = await request(app.server).post('/v1/buffers').send({ size: 4, name: 7 })
  assert.equal(res.status, 400)
  assert.match(res.body.error.message, /body\.name/)
  assert.equal((await request(app.server).get('/v1/buffers').expect(200)).body.buffers.length, before, 'nothing was created')
})

test('POST /v1/jobs refuses wrong types in inputs, maxAttempts, timeoutMs and params, naming each', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ kind: 'noop', inputs: 'x' }, /body\.inputs/],
    [{ kind: 'noop', maxAttempts: '2' }, /body\.maxAttempts/],
    [{ kind: 'noop', timeoutMs: '100' }, /body\.timeoutMs/],
    [{ kind: 'noop', timeoutMs: true }, /body\.timeoutMs/],
    [{ kind: 'noop', params: [] }, /body\.params/],
    [{ kind: 5 }, /body\.kind/]
  ]
  for (const [body, field] of cases) {
    const res = await request(app.server).post('/v1/jobs').send(body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(errorCode(res), 'VALIDATION_ERROR')
    assert.match(res.body.error.message, field)
  }
  assert.equal((await request(app.server).get('/v1/jobs').expect(200)).body.jobs.length, 0, 'no job was queued')
})

test('query strings are still coerced from text', async () => {
  const job = await request(app.server).post('/v1/jobs?wait=5000').send({ kind: 'noop' }).expect(200)
  assert.equal(job.body.state, 'succeeded')
  const list = await request(app.server).get('/v1/jobs?limit=1').expect(200)
  assert.equal(list.body.jobs.length, 1)
  const buffer = await request(app.server).post('/v1/buffers').send({ size: 4 }).expect(201)
  const written = await request(app.server).put(`/v1/buffers/${buffer.body.id}/content?offset=2`)
    .set('content-type', 'application/octet-stream').send(Buffer.from('ab')).expect(200)
  assert.equal(written.body.written, 2)
})
