// Buffers over REST: create (JSON and octet-stream), list, get, seal, delete, and every refusal.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import * as native from '../../native'
import { memfdDescriptors } from '../helpers/proc'
import { MiB, binaryParser, errorCode, jsonOf, rawRequest, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => {
  // 8 MiB quota, 4 MiB per buffer: small enough to hit both limits cheaply.
  app = await startApp({ poolOptions: { maxMemoryBytes: 8 * MiB, maxBufferBytes: 4 * MiB } })
})
after(async () => { await app.close() })

test('POST /v1/buffers with JSON creates an empty writable buffer', async () => {
  const res = await request(app.server).post('/v1/buffers').send({ size: 1024, name: 'frame' })
  assert.equal(res.status, 201)
  assert.match(res.headers['content-type'], /^application\/json/)
  assert.equal(res.headers.location, `/v1/buffers/${res.body.id}`)
  assert.equal(typeof res.body.id, 'string')
  assert.equal(res.body.name, 'frame')
  assert.equal(res.body.size, 1024)
  assert.equal(res.body.sealed, false)
  assert.equal(res.body.state, 'writable')
  assert.ok(!Number.isNaN(Date.parse(res.body.createdAt)))
  assert.equal(typeof res.body.attachToken, 'string')
  assert.deepEqual(res.body.descriptors.map((d: { role: string, pid: number }) => [d.role, d.pid]), [['server', process.pid]])
  await request(app.server).delete(`/v1/buffers/${res.body.id}`).expect(204)
})

test('attach tokens are distinct, URL-safe, and never read as a command-line option', async () => {
  // One bare base64url token in 64 starts with "-"; `attach.py read --token -Xy…` then failed
  // in argparse (a CI run caught it). 200 tokens make a bare one start with "-" with p ≈ 0.96.
  const tokens = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const res = await request(app.server).post('/v1/buffers').send({ size: 0 }).expect(201)
    assert.match(res.body.attachToken, /^at_[A-Za-z0-9_-]{32}$/)
    tokens.add(res.body.attachToken)
    await request(app.server).delete(`/v1/buffers/${res.body.id}`).expect(204)
  }
  assert.equal(tokens.size, 200)
})

test('a zero-byte buffer is allowed; its name defaults to its id', async () => {
  const res = await request(app.server).post('/v1/buffers').send({ size: 0 }).expect(201)
  assert.equal(res.body.size, 0)
  assert.equal(res.body.name, res.body.id)
  await request(app.server).delete(`/v1/buffers/${res.body.id}`).expect(204)
})

test('POST /v1/buffers with octet-stream creates a sealed buffer holding the body', async () => {
  const bytes = Buffer.from('the quick brown fox')
  const res = await request(app.server).post('/v1/buffers?name=fox').set('content-type', 'application/octet-stream').send(bytes)
  assert.equal(res.status, 201)
  assert.equal(res.body.size, bytes.length)
  assert.equal(res.body.sealed, true)
  assert.equal(res.body.name, 'fox')
  const content = await request(app.server).get(`/v1/buffers/${res.body.id}/content`).buffer(true).parse(binaryParser)
  assert.deepEqual(content.body, bytes)
  await request(app.server).delete(`/v1/buffers/${res.body.id}`).expect(204)
})

test('GET /v1/buffers lists live buffers; GET /v1/buffers/:id returns one', async () => {
  const a = (await request(app.server).post('/v1/buffers').send({ size: 10 }).expect(201)).body
  const b = (await request(app.server).post('/v1/buffers').send({ size: 20 }).expect(201)).body
  const list = await request(app.server).get('/v1/buffers').expect(200)
  const ids = list.body.buffers.map((x: { id: string }) => x.id)
  assert.ok(ids.includes(a.id) && ids.includes(b.id))
  const one = await request(app.server).get(`/v1/buffers/${b.id}`).expect(200)
  assert.deepEqual(one.body, b)
  await request(app.server).delete(`/v1/buffers/${a.id}`).expect(204)
  await request(app.server).delete(`/v1/buffers/${b.id}`).expect(204)
  const after = await request(app.server).get('/v1/buffers').expect(200)
  assert.ok(!after.body.buffers.some((x: { id: string }) => x.id === a.id || x.id === b.id))
})

test('POST /v1/buffers/:id/seal seals, idempotently; the server then keeps one read-only descriptor', async () => {
  const before = memfdDescriptors().length
  const created = (await request(app.server).post('/v1/buffers').send({ size: 4 }).expect(201)).body
  const writable = created.descriptors[0].fd as number
  assert.equal(native.accessMode(writable), 'rw')
  assert.equal(memfdDescriptors().length, before + 1)
  const sealed = await request(app.server).post(`/v1/buffers/${created.id}/seal`).expect(200)
  assert.equal(sealed.body.sealed, true)
  assert.equal(sealed.body.state, 'sealed')
  // The app runs in this process: its descriptor can be inspected here. Still exactly one per
  // buffer, now read-only (jobs get dup()s of it), and it carries the seals.
  const readOnly = sealed.body.descriptors[0].fd as number
  assert.equal(native.accessMode(readOnly), 'r')
  const seals = native.getSeals(readOnly)
  for (const seal of ['shrink', 'grow', 'write'] as const) assert.ok(seals.includes(seal), seals.join())
  assert.equal(memfdDescriptors().length, before + 1)
  const again = await request(app.server).post(`/v1/buffers/${created.id}/seal`).expect(200)
  assert.equal(again.body.sealed, true)
  assert.equal(again.body.descriptors[0].fd, readOnly)
  await request(app.server).delete(`/v1/buffers/${created.id}`).expect(204)
  assert.equal(memfdDescriptors().length, before)
})

test('DELETE hides a buffer at once: later calls are 404 NOT_FOUND', async () => {
  const created = (await request(app.server).post('/v1/buffers').send({ size: 4 }).expect(201)).body
  await request(app.server).delete(`/v1/buffers/${created.id}`).expect(204)
  for (const [method, path] of [
    ['get', `/v1/buffers/${created.id}`],
    ['delete', `/v1/buffers/${created.id}`],
    ['post', `/v1/buffers/${created.id}/seal`],
    ['get', `/v1/buffers/${created.id}/content`]
  ] as const) {
    const res = await request(app.server)[method](path)
    assert.equal(res.status, 404, `${method} ${path}`)
    assert.equal(errorCode(res), 'NOT_FOUND')
  }
})

test('refusals: validation names the field', async () => {
  const cases: Array<[unknown, string]> = [
    [{ size: 'big' }, 'body.size'],
    [{}, 'body.size'],
    [{ size: -1 }, 'body.size'],
    [{ size: 1.5 }, 'body.size'],
    [{ size: 1, colour: 'red' }, 'body.colour'],
    [{ size: 1, name: 'x'.repeat(500) }, 'body.name'],
    [[1, 2], 'body']
  ]
  for (const [body, field] of cases) {
    const res = await request(app.server).post('/v1/buffers').send(body as object)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(errorCode(res), 'VALIDATION_ERROR')
    assert.ok(res.body.error.message.startsWith(field), `${res.body.error.message} names ${field}`)
  }
})

test('refusals: no body, malformed JSON, unsupported media type', async () => {
  const empty = await request(app.server).post('/v1/buffers')
  assert.equal(empty.status, 400)
  assert.equal(errorCode(empty), 'VALIDATION_ERROR')
  const bad = await request(app.server).post('/v1/buffers').set('content-type', 'application/json').send('{"size": 1')
  assert.equal(bad.status, 400)
  assert.equal(errorCode(bad), 'BAD_JSON')
  const xml = await request(app.server).post('/v1/buffers').set('content-type', 'application/xml').send('<size>1</size>')
  assert.equal(xml.status, 415)
  assert.equal(errorCode(xml), 'UNSUPPORTED_MEDIA_TYPE')
})

test('refusals: over the per-buffer maximum is 413, over the quota is 507', async () => {
  const tooBig = await request(app.server).post('/v1/buffers').send({ size: 4 * MiB + 1 })
  assert.equal(tooBig.status, 413)
  assert.equal(errorCode(tooBig), 'PAYLOAD_TOO_LARGE')

  const held: string[] = []
  held.push((await request(app.server).post('/v1/buffers').send({ size: 4 * MiB }).expect(201)).body.id)
  held.push((await request(app.server).post('/v1/buffers').send({ size: 3 * MiB }).expect(201)).body.id)
  const over = await request(app.server).post('/v1/buffers').send({ size: 2 * MiB })
  assert.equal(over.status, 507)
  assert.equal(errorCode(over), 'QUOTA_EXCEEDED')
  for (const id of held) await request(app.server).delete(`/v1/buffers/${id}`).expect(204)
  // Freed: the same request fits now.
  const fits = await request(app.server).post('/v1/buffers').send({ size: 2 * MiB }).expect(201)
  await request(app.server).delete(`/v1/buffers/${fits.body.id}`).expect(204)
})

test('refusals: octet-stream creation needs Content-Length (411) and must fit (413/507)', async () => {
  // A chunked body: the buffer cannot be sized before reading it.
  const chunked = await rawRequest(app, {
    method: 'POST', path: '/v1/buffers', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }
  }, ['abc'])
  assert.equal(chunked.status, 411)
  assert.equal(jsonOf(chunked).error.code, 'LENGTH_REQUIRED')

  const before = app.pool.store.count
  const big = await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.alloc(4 * MiB + 1))
  assert.equal(big.status, 413)
  assert.equal(errorCode(big), 'PAYLOAD_TOO_LARGE')
  assert.equal(app.pool.store.count, before, 'nothing left behind')
})

test('unknown ids are 404 NOT_FOUND; ids over 100 characters are 400 naming path.id, as the spec says', async () => {
  const res = await request(app.server).get('/v1/buffers/buf_nope')
  assert.equal(res.status, 404)
  assert.equal(errorCode(res), 'NOT_FOUND')
  for (const length of [101, 300, 5000]) {
    for (const path of [`/v1/buffers/${'x'.repeat(length)}`, `/v1/jobs/${'x'.repeat(length)}`, `/v1/buffers/${'x'.repeat(length)}/content`]) {
      const res = await request(app.server).get(path)
      assert.equal(res.status, 400, `${length}: ${path.slice(0, 20)}`)
      assert.equal(errorCode(res), 'VALIDATION_ERROR')
      assert.match(res.body.error.message, /path\.id/)
    }
  }
})
