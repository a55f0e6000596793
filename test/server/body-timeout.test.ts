// Upload bodies have an idle limit (issue 15 item 11): a request that declares a large
// Content-Length and then sends nothing used to hold its quota reservation for minutes. Now,
// after bodyTimeoutMs without a byte, it is answered 408, its connection closed, and the
// reservation released at once (a new sealed upload's buffer is deleted; a PUT's target stays).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import type { PoolEvent } from '../../server/pool/types'
import { MiB, openRequest, startApp, text } from '../helpers/server-app'
import type http from 'node:http'

const BODY_TIMEOUT_MS = 300
let app: FastifyInstance

before(async () => { app = await startApp({ bodyTimeoutMs: BODY_TIMEOUT_MS }) })
after(async () => { await app.close() })

function nextEvent (type: string): Promise<PoolEvent> {
  return new Promise((resolve) => {
    const listener = (event: PoolEvent): void => {
      if (event.type !== type) return
      app.pool.off('event', listener)
      resolve(event)
    }
    app.pool.on('event', listener)
  })
}

test('an upload that declares 32 MiB and sends nothing is 408 after the idle limit, and its quota is back', async () => {
  const created = nextEvent('buffer.created')
  const req = openRequest(app, { method: 'POST', path: '/v1/buffers', headers: { 'content-type': 'application/octet-stream', 'content-length': String(32 * MiB) } })
  req.on('error', () => {})
  req.flushHeaders()
  await created
  assert.equal(app.pool.store.bytesInUse, 32 * MiB, 'the body\'s size is reserved while it arrives')
  const t0 = Date.now()
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  const body = JSON.parse(await text(res))
  assert.equal(res.statusCode, 408)
  assert.equal(body.error.code, 'REQUEST_TIMEOUT')
  assert.ok(Date.now() - t0 < 10_000)
  assert.equal(app.pool.store.bytesInUse, 0, 'the reservation is released with the answer')
  assert.equal(app.pool.store.count, 0)
  await once(req.socket!, 'close')
})

test('a body that stalls half-way is cut off too; one that keeps arriving is not', async () => {
  const { body: { id } } = await request(app.server).post('/v1/buffers').send({ size: 4096 }).expect(201)
  const stalled = openRequest(app, { method: 'PUT', path: `/v1/buffers/${id}/content`, headers: { 'content-type': 'application/octet-stream', 'content-length': '4096' } })
  stalled.on('error', () => {})
  stalled.write(Buffer.alloc(100, 7))
  const [res] = await once(stalled, 'response') as [http.IncomingMessage]
  assert.equal(res.statusCode, 408)
  assert.match(JSON.parse(await text(res)).error.message, /100 received/)
  assert.equal(app.pool.store.get(id).sealed, false, 'the target of a PUT stays')

  // Chunks each well inside the limit keep an upload alive past it in total.
  const steady = openRequest(app, { method: 'PUT', path: `/v1/buffers/${id}/content`, headers: { 'content-type': 'application/octet-stream', 'content-length': '4' } })
  const answered = once(steady, 'response') as Promise<[http.IncomingMessage]>
  for (let i = 0; i < 4; i++) {
    steady.write(Buffer.from([i]))
    await new Promise((resolve) => setTimeout(resolve, BODY_TIMEOUT_MS / 2))
  }
  steady.end()
  const [ok] = await answered
  assert.equal(ok.statusCode, 200)
  assert.deepEqual(JSON.parse(await text(ok)), { written: 4 })
})
