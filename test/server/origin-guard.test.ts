// What a web page can make the server do (issue 15 item 16): the WebSocket refuses foreign
// Origins (its snapshot carries attach tokens), state-changing requests from foreign Origins are
// 403, a text/plain POST (no CORS preflight) cannot seal a buffer, and a Host that names another
// server (DNS rebinding) is 403 everywhere unless --allowed-hosts lists it.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { openEvents, refusedHandshake } from '../helpers/event-stream'
import { errorCode, portOf, startApp } from '../helpers/server-app'
import { hostAllowed, hostnameOf } from '../../server/plugins/origin-guard'

let app: FastifyInstance
let trusting: FastifyInstance

before(async () => {
  app = await startApp()
  trusting = await startApp({ allowedHosts: ['pool.example.com', '.lab.internal'] })
})
after(async () => {
  await app.close()
  await trusting.close()
})

test('Host names: IP literals and localhost names pass; others only when listed', () => {
  assert.equal(hostnameOf('127.0.0.1:8080'), '127.0.0.1')
  assert.equal(hostnameOf('[::1]:8080'), '::1')
  assert.equal(hostnameOf('Example.COM'), 'example.com')
  for (const host of ['127.0.0.1', '::1', '10.1.2.3', 'localhost', 'app.localhost']) assert.ok(hostAllowed(host, []), host)
  for (const host of ['evil.example', 'localhost.evil.example', '']) assert.ok(!hostAllowed(host, []), host)
  assert.ok(hostAllowed('a.lab.internal', ['.lab.internal']))
  assert.ok(hostAllowed('lab.internal', ['.lab.internal']))
  assert.ok(!hostAllowed('xlab.internal', ['.lab.internal']))
  assert.ok(hostAllowed('anything', ['*']))
})

test('a foreign Host (DNS rebinding) is 403 FORBIDDEN_HOST on every route; an allowed one passes', async () => {
  for (const path of ['/v1/buffers', '/healthz', '/']) {
    const res = await request(app.server).get(path).set('host', `rebound.evil.example:${portOf(app)}`)
    assert.equal(res.status, 403, path)
    assert.equal(errorCode(res), 'FORBIDDEN_HOST')
  }
  await request(app.server).get('/v1/buffers').set('host', `localhost:${portOf(app)}`).expect(200)
  await request(trusting.server).get('/v1/buffers').set('host', 'pool.example.com').expect(200)
  await request(trusting.server).get('/v1/buffers').set('host', 'node1.lab.internal:8080').expect(200)
  const refused = await request(trusting.server).get('/v1/buffers').set('host', 'other.example.com')
  assert.equal(refused.status, 403)
})

test('the WebSocket refuses a foreign Origin before the upgrade; the server\'s own origin and no Origin pass', async () => {
  const refused = await refusedHandshake(app, '', { origin: 'https://evil.example' })
  assert.equal(refused.status, 403)
  assert.equal(refused.body.error.code, 'FORBIDDEN_ORIGIN')
  const nullOrigin = await refusedHandshake(app, '', { origin: 'null' })
  assert.equal(nullOrigin.status, 403)
  const sameOrigin = await openEvents(app, '', { origin: `http://127.0.0.1:${portOf(app)}` })
  assert.equal((await sameOrigin.next()).type, 'snapshot')
  sameOrigin.close()
  const noOrigin = await openEvents(app)
  assert.equal((await noOrigin.next()).type, 'snapshot')
  noOrigin.close()
})

test('state-changing requests from a foreign Origin are 403 and change nothing; reads are not refused', async () => {
  const created = await request(app.server).post('/v1/buffers').send({ size: 8 }).expect(201)
  const id: string = created.body.id
  const attempts = [
    request(app.server).post(`/v1/buffers/${id}/seal`),
    request(app.server).delete(`/v1/buffers/${id}`),
    request(app.server).post('/v1/buffers').send({ size: 8 }),
    request(app.server).post('/v1/jobs').send({ kind: 'noop' })
  ]
  for (const attempt of attempts) {
    const res = await attempt.set('origin', 'http://localhost:3000')
    assert.equal(res.status, 403)
    assert.equal(errorCode(res), 'FORBIDDEN_ORIGIN')
  }
  const after = await request(app.server).get(`/v1/buffers/${id}`).set('origin', 'http://localhost:3000').expect(200)
  assert.equal(after.body.sealed, false, 'the seal did not happen')
  // The dashboard's own origin may change state.
  await request(app.server).post(`/v1/buffers/${id}/seal`).set('origin', `http://127.0.0.1:${portOf(app)}`).expect(200)
  // A page on a host the operator listed too.
  const other = await request(trusting.server).post('/v1/buffers').set('origin', 'https://pool.example.com').send({ size: 1 })
  assert.equal(other.status, 201)
})

test('a text/plain POST (what a page sends without a preflight) cannot seal a buffer, even from no Origin', async () => {
  const { body: { id } } = await request(app.server).post('/v1/buffers').send({ size: 8 }).expect(201)
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const res = await request(app.server).post(`/v1/buffers/${id}/seal`).set('content-type', type).send('x')
    assert.equal(res.status, 415, type)
    assert.equal(errorCode(res), 'UNSUPPORTED_MEDIA_TYPE')
    assert.match(res.body.error.message, /application\/json/)
  }
  assert.equal((await request(app.server).get(`/v1/buffers/${id}`).expect(200)).body.sealed, false)
})
