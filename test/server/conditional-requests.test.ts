// Conditional downloads (RFC 9110 §13): a sealed buffer's bytes carry a strong ETag, If-None-Match
// answers 304, and If-Range keeps a range only while the client's validator still matches;
// otherwise the whole buffer comes back (200), never a piece of something else.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { binaryParser, startApp } from '../helpers/server-app'

let app: FastifyInstance
const bytes = Buffer.from('0123456789abcdef')
let sealedId: string
let writableId: string

before(async () => {
  app = await startApp()
  sealedId = (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)).body.id
  writableId = (await request(app.server).post('/v1/buffers').send({ size: 16 }).expect(201)).body.id
})
after(async () => { await app.close() })

function get (id: string): request.Test {
  return request(app.server).get(`/v1/buffers/${id}/content`).buffer(true).parse(binaryParser)
}

test('a sealed buffer\'s content has a strong ETag; a writable one has none', async () => {
  const sealed = await get(sealedId).expect(200)
  assert.match(sealed.headers.etag, /^"[^"]+"$/, 'strong (no W/)')
  assert.deepEqual(sealed.body, bytes)
  const again = await get(sealedId).expect(200)
  assert.equal(again.headers.etag, sealed.headers.etag)
  const writable = await get(writableId).expect(200)
  assert.equal(writable.headers.etag, undefined)
})

test('If-None-Match with the ETag is 304 without a body', async () => {
  const { headers } = await get(sealedId).expect(200)
  const res = await get(sealedId).set('if-none-match', headers.etag).expect(304)
  assert.equal(res.body.length, 0)
  await get(sealedId).set('if-none-match', '"something-else"').expect(200)
})

test('If-Range: the matching ETag keeps the range (206); another validator or a date gets the whole buffer (200)', async () => {
  const { headers } = await get(sealedId).expect(200)
  const partial = await get(sealedId).set('range', 'bytes=2-5').set('if-range', headers.etag).expect(206)
  assert.deepEqual(partial.body, bytes.subarray(2, 6))
  assert.equal(partial.headers['content-range'], `bytes 2-5/${bytes.length}`)
  for (const validator of ['"stale"', `W/${String(headers.etag)}`, 'Tue, 01 Dec 2026 00:00:00 GMT']) {
    const whole = await get(sealedId).set('range', 'bytes=2-5').set('if-range', validator).expect(200)
    assert.deepEqual(whole.body, bytes, validator)
    assert.equal(whole.headers['content-range'], undefined)
  }
  // A writable buffer has no validator, so If-Range can never match it.
  const writable = await get(writableId).set('range', 'bytes=0-1').set('if-range', '"anything"').expect(200)
  assert.equal(writable.body.length, 16)
})
