// Every error leaving the server has the shape {"error":{"code","message"}} and a status from
// server/errors.ts, including Fastify's own refusals and HTTP the parser cannot read.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import fs from 'node:fs'
import path from 'node:path'
import { ApiError, ERROR_CODES, ERRORS, JOB_ERROR_CODES, POOL_ERROR_CODES, type PoolErrorCode } from '../../server/errors'
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

const SOURCE_ROOT = path.join(__dirname, '..', '..', '..')

function sourceFiles (folder: string): string[] {
  return fs.readdirSync(path.join(SOURCE_ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts')).map((file) => path.join(SOURCE_ROOT, folder, file))
}

test('the table: every code has a 4xx or 5xx status and a message', () => {
  for (const code of ERROR_CODES) {
    assert.match(code, /^[A-Z][A-Z_]+$/)
    assert.ok(ERRORS[code].status >= 400 && ERRORS[code].status < 600, code)
    assert.ok(ERRORS[code].message.length > 0, code)
  }
})

test('every job failure code the pool and the workers write is listed in JOB_ERROR_CODES', () => {
  // Job codes are strings on the wire (custom kinds may add their own), so the compiler cannot
  // hold them to the table: this reads the sources for the codes our own code fails jobs with.
  const used = new Set<string>()
  for (const file of [...sourceFiles('workers'), ...sourceFiles('server/pool')]) {
    const text = fs.readFileSync(file, 'utf8')
    for (const match of text.matchAll(/(?:KindError\(|\bcode: )'([A-Z][A-Z_]+)'/g)) {
      // System-style codes on Error objects (ESPAWN, ERR_CHANNEL_CLOSED) name why a send or spawn
      // failed inside the server; they are not job failure codes.
      if (/^(E[A-Z]+|ERR_[A-Z_]+)$/.test(match[1])) continue
      used.add(match[1])
    }
  }
  assert.ok(used.size >= 8, `found the codes in the sources (${[...used].join(', ')})`)
  const unlisted = [...used].filter((code) => !Object.hasOwn(JOB_ERROR_CODES, code))
  assert.deepEqual(unlisted, [], 'add these to JOB_ERROR_CODES in server/errors.ts')
})

test('classification: every PoolError code keeps its code and its own status; no pool code becomes a 500', () => {
  assert.deepEqual(classifyError(new ApiError('LENGTH_REQUIRED')), { code: 'LENGTH_REQUIRED', message: ERRORS.LENGTH_REQUIRED.message })
  for (const code of Object.keys(POOL_ERROR_CODES) as PoolErrorCode[]) {
    const classified = classifyError(new PoolError(code, `the ${code} case`))
    assert.deepEqual(classified, { code, message: `the ${code} case` })
    assert.ok(ERRORS[code].status < 500 || ERRORS[code].status === 503 || ERRORS[code].status === 507, `${code} is a refusal, not a bug`)
  }
  // A code smuggled past the compiler is a bug: still a 500, but one that names it.
  const smuggled = classifyError(new PoolError('SOMETHING_NEW' as PoolErrorCode, 'x'))
  assert.equal(smuggled.code, 'INTERNAL_ERROR')
  assert.match(smuggled.message, /SOMETHING_NEW/)
  assert.equal(classifyError(new TypeError('bug')).code, 'INTERNAL_ERROR')
})

test('unknown paths are 404 NOT_FOUND in the error shape', async () => {
  for (const [method, path] of [['get', '/nope'], ['post', '/v1/nope'], ['get', '/v1/buffers/x/nope']] as const) {
    const res = await request(app.server)[method](path)
    assert.equal(res.status, 404, `${method} ${path}`)
    assert.equal(errorCode(res), 'NOT_FOUND')
    assert.match(res.headers['content-type'], /^application\/json/)
    assert.equal(res.headers.allow, undefined)
  }
})

test('a wrong method on an existing path is 405 METHOD_NOT_ALLOWED with Allow', async () => {
  const cases = [
    ['delete', '/healthz', 'GET, HEAD'],
    ['patch', '/v1/buffers', 'GET, HEAD, POST'],
    ['put', '/v1/jobs', 'GET, HEAD, POST'],
    ['post', '/v1/buffers/b_someid', 'DELETE, GET, HEAD'],
    ['get', '/v1/buffers/b_someid/seal', 'POST']
  ] as const
  for (const [method, path, allow] of cases) {
    const res = await request(app.server)[method](path)
    assert.equal(res.status, 405, `${method} ${path}`)
    assert.equal(errorCode(res), 'METHOD_NOT_ALLOWED')
    assert.equal(res.headers.allow, allow, `${method} ${path}`)
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

test('unsupported media types are 415 everywhere, and the message names what the route takes', async () => {
  for (const [path, accepted] of [['/v1/buffers', /application\/json or application\/octet-stream/], ['/v1/jobs', /send application\/json$/]] as const) {
    const res = await request(app.server).post(path).set('content-type', 'image/png').send(Buffer.from([1, 2, 3]))
    assert.equal(res.status, 415, path)
    assert.equal(errorCode(res), 'UNSUPPORTED_MEDIA_TYPE')
    assert.match(res.body.error.message, /image\/png/)
    assert.match(res.body.error.message, accepted)
  }
})

test('POST /v1/jobs with text/plain is 415 (as documented), not a 400 from validating a string', async () => {
  const res = await request(app.server).post('/v1/jobs').set('content-type', 'text/plain').send('{"kind":"noop"}')
  assert.equal(res.status, 415)
  assert.equal(errorCode(res), 'UNSUPPORTED_MEDIA_TYPE')
  assert.match(res.body.error.message, /text\/plain.*application\/json/)
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
