// With a token, /v1 needs "Authorization: Bearer <token>"; probes, the dashboard and the docs stay
// open; /metrics follows its own flag.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { tokenMatches } from '../../server/plugins/auth'
import { errorCode, startApp } from '../helpers/server-app'
import crypto from 'node:crypto'

const TOKEN = 's3cret-token'

let app: FastifyInstance

before(async () => { app = await startApp({ token: TOKEN }) })
after(async () => { await app.close() })

test('every /v1 route refuses a missing or wrong token with 401 UNAUTHORIZED', async () => {
  const routes: Array<['get' | 'post' | 'put' | 'delete', string]> = [
    ['get', '/v1/buffers'], ['post', '/v1/buffers'], ['get', '/v1/buffers/buf_x'], ['put', '/v1/buffers/buf_x/content'],
    ['get', '/v1/buffers/buf_x/content'], ['post', '/v1/buffers/buf_x/seal'], ['delete', '/v1/buffers/buf_x'],
    ['post', '/v1/jobs'], ['get', '/v1/jobs'], ['get', '/v1/jobs/job_x'], ['post', '/v1/jobs/job_x/cancel'],
    ['get', '/v1/kinds'], ['get', '/v1/workers'], ['get', '/v1/pool'], ['get', '/v1/not-a-route']
  ]
  for (const [method, path] of routes) {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`, 'Bearer ']) {
      const req = request(app.server)[method](path)
      if (authorization !== undefined) void req.set('authorization', authorization)
      const res = await req
      assert.equal(res.status, 401, `${method} ${path} with ${authorization ?? 'nothing'}`)
      assert.equal(errorCode(res), 'UNAUTHORIZED')
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="memfd-pool"')
    }
  }
})

test('the right token opens /v1 (the scheme is case-insensitive); ?token= does not on REST routes', async () => {
  await request(app.server).get('/v1/buffers').set('authorization', `Bearer ${TOKEN}`).expect(200)
  await request(app.server).get('/v1/pool').set('authorization', `bearer ${TOKEN}`).expect(200)
  const created = await request(app.server).post('/v1/buffers').set('authorization', `Bearer ${TOKEN}`).send({ size: 3 }).expect(201)
  await request(app.server).delete(`/v1/buffers/${created.body.id}`).set('authorization', `Bearer ${TOKEN}`).expect(204)
  assert.equal((await request(app.server).get(`/v1/buffers?token=${TOKEN}`)).status, 401)
})

test('health, readiness, metrics (without --metrics-auth), the dashboard and the docs stay open', async () => {
  await request(app.server).get('/healthz').expect(200)
  await request(app.server).get('/readyz').expect(200)
  await request(app.server).get('/metrics').expect(200)
  const dashboard = await request(app.server).get('/').expect(200)
  assert.match(dashboard.headers['content-type'], /^text\/html/)
  await request(app.server).get('/openapi.json').expect(200)
  await request(app.server).get('/docs/').expect(200)
})

test('with metricsAuth, /metrics needs the token too', async (t) => {
  const guarded = await startApp({ token: TOKEN, metricsAuth: true })
  t.after(async () => { await guarded.close() })
  const res = await request(guarded.server).get('/metrics')
  assert.equal(res.status, 401)
  assert.equal(errorCode(res), 'UNAUTHORIZED')
  await request(guarded.server).get('/metrics').set('authorization', `Bearer ${TOKEN}`).expect(200)
  await request(guarded.server).get('/healthz').expect(200)
})

test('without a token nothing asks for one', async (t) => {
  const open = await startApp()
  t.after(async () => { await open.close() })
  await request(open.server).get('/v1/buffers').expect(200)
})

test('tokenMatches compares digests, so any lengths compare safely', () => {
  const expected = crypto.createHash('sha256').update(TOKEN).digest()
  assert.equal(tokenMatches(TOKEN, expected), true)
  assert.equal(tokenMatches('', expected), false)
  assert.equal(tokenMatches(TOKEN.repeat(100), expected), false)
})
