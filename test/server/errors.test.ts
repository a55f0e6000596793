// Every error leaving the server has the shape {"error":{"code","message"}} and a status from
// server/errors.ts, including Fastify's own refusals and HTTP the parser cannot read.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { ApiError, ERROR_CODES, ERRORS, JOB_ERROR_CODES } from '../../server/errors'
import { classifyError } from '../../server/plugins/error-handler'
import { PoolError } from '../../server/pool/pool-error'
import { MiB, errorCode, portOf, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp() })
after(async () => { await app.close() })

/** Sends raw bytes on a fresh connection and returns everything the server writes back. */
async function rawExchange (payload: string | Buffer): Promise<string> {
  const socket = net.connect(portOf(app), '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.end(payload)
  let reply = ''
  socket.setEncoding('utf8')
  for await (const chunk of socket) reply += chunk as string
  return reply
}

function parseRawReply (reply: string): { status: number, body: any } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1])
  const body = reply.slice(reply.indexOf('\r\n\r\n') + 4)
  return { status, body: JSON.parse(body) }
}

test('the table: every code has a 4xx or 5xx status and a message; job codes are separate', () => {
  for (const code of ERROR_CODES) {
    assert.match(code, /^[A-Z][A-Z_]+$/)
    assert.ok(ERRORS[code].status >= 400 && ERRORS[code].status < 600, code)
    assert.ok(ERRORS[code].message.length > 0, code)
  }
  assert.ok(Object.keys(JOB_ERROR_CODES).includes('WORKER_CRASHED'))
})

test('classification: ApiError and known PoolError codes keep their code; anything else is INTERNAL_ERROR', () => {
  assert.deepEqual(classifyError(new ApiError('LENGTH_REQUIRED')), { code: 'LENGTH_REQUIRED', message: ERRORS.LENGTH_REQUIRED.message })
  assert.equal(classifyError(new PoolError('QUEUE_FULL', 'full')).code, 'QUEUE_FULL')
  assert.equal(classifyError(new PoolError('SOMETHING_NEW', 'x')).code, 'INTERNAL_ERROR')
  assert.equal(classifyError(new TypeError('bug')).code, 'INTERNAL_ERROR')
})

test('unknown routes and methods are 404 NOT_FOUND in the error shape', async () => {
  for (const [method, path] of [['get', '/nope'], ['post', '/v1/nope'], ['delete', '/healthz'], ['patch', '/v1/buffers'], ['put', '/v1/jobs']] as const) {
    const res = await request(app.server)[method](path)
    assert.equal(res.status, 404, `${method} ${path}`)
    assert.equal(errorCode(res), 'NOT_FOUND')
    assert.match(res.headers['content-type'], /^application\/json/)
  }
})

test('a URL that cannot be decoded is 400 BAD_REQUEST', async () => {
  const res = await request(app.server).get('/v1/buffers/%E0%A4%A')
  assert.equal(res.status, 400)
  assert.equal(errorCode(res), 'BAD_REQUEST')
})

test('JSON bodies: malformed and empty are BAD_JSON, too large is PAYLOAD_TOO_LARGE', async () => {
  const malformed = await request(app.server).post('/v1/jobs').set('content-type', 'application/json').send('{"kind": noop}')
  assert.equal(malformed.status, 400)
  assert.equal(errorCode(malformed), 'BAD_JSON')
  const empty = await request(app.server).post('/v1/jobs').set('content-type', 'application/json').send('')
  assert.equal(empty.status, 400)
  assert.equal(errorCode(empty), 'BAD_JSON')
  const huge = await request(app.server).post('/v1/jobs').set('content-type', 'application/json')
    .send(JSON.stringify({ kind: 'noop', params: { pad: 'x'.repeat(2 * MiB) } }))
  assert.equal(huge.status, 413)
  assert.equal(errorCode(huge), 'PAYLOAD_TOO_LARGE')
})

test('unsupported media types are 415 everywhere', async () => {
  for (const path of ['/v1/buffers', '/v1/jobs']) {
    const res = await request(app.server).post(path).set('content-type', 'image/png').send(Buffer.from([1, 2, 3]))
    assert.equal(res.status, 415, path)
    assert.equal(errorCode(res), 'UNSUPPORTED_MEDIA_TYPE')
  }
})

test('HTTP the parser cannot read gets our error shape on the raw socket', async () => {
  const garbage = parseRawReply(await rawExchange('THIS IS NOT HTTP\r\n\r\n'))
  assert.equal(garbage.status, 400)
  assert.equal(garbage.body.error.code, 'BAD_REQUEST')

  const badLength = parseRawReply(await rawExchange('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'))
  assert.equal(badLength.status, 400)
  assert.equal(badLength.body.error.code, 'BAD_REQUEST')

  const hugeHeader = parseRawReply(await rawExchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(32 * 1024)}\r\n\r\n`))
  assert.equal(hugeHeader.status, 431)
  assert.equal(hugeHeader.body.error.code, 'HEADERS_TOO_LARGE')
})
