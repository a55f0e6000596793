// A buffer's bytes over REST: PUT at offsets, GET whole and by Range, and each refusal.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type http from 'node:http'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { memfdMappings } from '../helpers/proc'
import { MiB, binaryParser, errorCode, jsonOf, openRequest, rawRequest, startApp, text } from '../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp({ poolOptions: { maxMemoryBytes: 32 * MiB } }) })
after(async () => { await app.close() })

async function createBuffer (size: number): Promise<string> {
  return (await request(app.server).post('/v1/buffers').send({ size }).expect(201)).body.id
}

async function put (id: string, bytes: Buffer, offset?: number): Promise<request.Response> {
  const query = offset === undefined ? '' : `?offset=${offset}`
  return await request(app.server).put(`/v1/buffers/${id}/content${query}`).set('content-type', 'application/octet-stream').send(bytes)
}

async function download (id: string, range?: string): Promise<request.Response> {
  const req = request(app.server).get(`/v1/buffers/${id}/content`)
  if (range !== undefined) void req.set('range', range)
  return await req.buffer(true).parse(binaryParser)
}

test('PUT writes at offsets; GET returns the bytes with Content-Length and Accept-Ranges', async () => {
  const id = await createBuffer(16)
  const first = await put(id, Buffer.from('hello'))
  assert.equal(first.status, 200)
  assert.deepEqual(first.body, { written: 5 })
  assert.deepEqual((await put(id, Buffer.from('world'), 11)).body, { written: 5 })
  const res = await download(id)
  assert.equal(res.status, 200)
  assert.equal(res.headers['content-type'], 'application/octet-stream')
  assert.equal(res.headers['content-length'], '16')
  assert.equal(res.headers['accept-ranges'], 'bytes')
  assert.deepEqual(res.body, Buffer.concat([Buffer.from('hello'), Buffer.alloc(6), Buffer.from('world')]))
})

test('PUT, GET, PUT again, GET: each read sees the latest bytes; the server maps the buffer read-only', async () => {
  // The store writes with pwrite and reads through one MAP_SHARED read-only mapping, made by
  // the first GET: a later PUT must show through it, and no writable mapping may exist.
  const id = await createBuffer(64 * 1024)
  const first = Buffer.alloc(64 * 1024, 1)
  await put(id, first)
  assert.deepEqual((await download(id)).body, first)
  const second = Buffer.alloc(4096, 2)
  await put(id, second, 4096)
  assert.deepEqual((await download(id, 'bytes=4095-8192')).body, Buffer.concat([Buffer.from([1]), second, Buffer.from([1])]))
  const maps = memfdMappings('self', id)
  assert.equal(maps.length, 1)
  assert.match(maps[0].split(' ')[1], /^r--s$/)
})

test('PUT up to the last byte fits exactly; an empty body writes nothing', async () => {
  const id = await createBuffer(8)
  assert.deepEqual((await put(id, Buffer.from('12345678'))).body, { written: 8 })
  assert.deepEqual((await put(id, Buffer.alloc(0), 8)).body, { written: 0 })
})

test('PUT with a chunked body (no Content-Length) streams in', async () => {
  const id = await createBuffer(12)
  const res = await rawRequest(app, {
    method: 'PUT', path: `/v1/buffers/${id}/content?offset=2`, headers: { 'content-type': 'application/octet-stream' }
  }, ['abc', 'defg', 'hij'])
  assert.equal(res.status, 200)
  assert.deepEqual(jsonOf(res), { written: 10 })
  assert.deepEqual((await download(id)).body, Buffer.from('\0\0abcdefghij'))
})

test('Range reads: first-last, open-ended, suffix, clamped, and ignored forms', async () => {
  const bytes = Buffer.from('0123456789abcdef')
  const id = (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)).body.id
  const cases: Array<[string, number, string, string | undefined]> = [
    ['bytes=0-3', 206, '0123', 'bytes 0-3/16'],
    ['bytes=10-', 206, 'abcdef', 'bytes 10-15/16'],
    ['bytes=-4', 206, 'cdef', 'bytes 12-15/16'],
    ['bytes=14-100', 206, 'ef', 'bytes 14-15/16'],
    ['bytes=-100', 206, bytes.toString(), 'bytes 0-15/16'],
    ['bytes=5-5', 206, '5', 'bytes 5-5/16'],
    // Several ranges, or nonsense: the whole buffer (RFC 9110 lets a server ignore Range).
    ['bytes=0-1,4-5', 200, bytes.toString(), undefined],
    ['pages=1-2', 200, bytes.toString(), undefined],
    ['bytes=5-2', 200, bytes.toString(), undefined]
  ]
  for (const [range, status, body, contentRange] of cases) {
    const res = await download(id, range)
    assert.equal(res.status, status, range)
    assert.equal(res.body.toString(), body, range)
    assert.equal(res.headers['content-length'], String(body.length), range)
    assert.equal(res.headers['content-range'], contentRange, range)
  }
})

test('an unsatisfiable Range is 416 with Content-Range: bytes */size', async () => {
  const id = await createBuffer(10)
  for (const range of ['bytes=10-', 'bytes=99-100', 'bytes=-0']) {
    const res = await request(app.server).get(`/v1/buffers/${id}/content`).set('range', range)
    assert.equal(res.status, 416, range)
    assert.equal(errorCode(res), 'RANGE_NOT_SATISFIABLE')
    assert.equal(res.headers['content-range'], 'bytes */10')
  }
})

test('an empty buffer downloads as zero bytes; any range of it is 416', async () => {
  const id = await createBuffer(0)
  const res = await download(id)
  assert.equal(res.status, 200)
  assert.equal(res.headers['content-length'], '0')
  assert.equal(res.body.length, 0)
  assert.equal((await request(app.server).get(`/v1/buffers/${id}/content`).set('range', 'bytes=0-')).status, 416)
})

test('HEAD on the content gives the headers without the bytes', async () => {
  const id = await createBuffer(1000)
  const res = await rawRequest(app, { method: 'HEAD', path: `/v1/buffers/${id}/content` })
  assert.equal(res.status, 200)
  assert.equal(res.headers['content-length'], '1000')
  assert.equal(res.body.length, 0)
  // The lease was released: the buffer can be deleted and is freed.
  const before = app.pool.store.bytesInUse
  await request(app.server).delete(`/v1/buffers/${id}`).expect(204)
  assert.equal(app.pool.store.bytesInUse, before - 1000)
})

test('refusals: sealed 409, past the end 416, too long 413, wrong media type 415, unknown 404, bad offset 400', async () => {
  const id = await createBuffer(8)

  const past = await put(id, Buffer.from('x'), 9)
  assert.equal(past.status, 416)
  assert.equal(errorCode(past), 'RANGE_NOT_SATISFIABLE')

  const tooLong = await put(id, Buffer.from('123456789'))
  assert.equal(tooLong.status, 413)
  assert.equal(errorCode(tooLong), 'PAYLOAD_TOO_LARGE')
  const tooLongAtOffset = await put(id, Buffer.from('1234'), 5)
  assert.equal(tooLongAtOffset.status, 413)

  const json = await request(app.server).put(`/v1/buffers/${id}/content`).send({ bytes: 'abc' })
  assert.equal(json.status, 415)
  assert.equal(errorCode(json), 'UNSUPPORTED_MEDIA_TYPE')
  const text = await request(app.server).put(`/v1/buffers/${id}/content`).set('content-type', 'text/plain').send('abc')
  assert.equal(text.status, 415)
  const gzip = await request(app.server).put(`/v1/buffers/${id}/content`).set('content-type', 'application/octet-stream')
    .set('content-encoding', 'gzip').send(Buffer.from('abc'))
  assert.equal(gzip.status, 415)

  for (const offset of ['-1', 'x', '1.5']) {
    const bad = await request(app.server).put(`/v1/buffers/${id}/content?offset=${offset}`).set('content-type', 'application/octet-stream').send(Buffer.from('a'))
    assert.equal(bad.status, 400, offset)
    assert.equal(errorCode(bad), 'VALIDATION_ERROR')
    assert.match(bad.body.error.message, /^query\.offset /)
  }

  const unknown = await put('buf_unknown', Buffer.from('a'))
  assert.equal(unknown.status, 404)
  assert.equal(errorCode(unknown), 'NOT_FOUND')

  await request(app.server).post(`/v1/buffers/${id}/seal`).expect(200)
  const sealed = await put(id, Buffer.from('a'))
  assert.equal(sealed.status, 409)
  assert.equal(errorCode(sealed), 'BUFFER_SEALED')
})

test('a chunked PUT that outgrows the buffer is refused mid-stream with 413', async () => {
  const id = await createBuffer(1 * MiB)
  const chunk = Buffer.alloc(256 * 1024, 7)
  // Five chunks of 256 KiB into 1 MiB: the fifth passes the limit.
  const res = await rawRequest(app, {
    method: 'PUT', path: `/v1/buffers/${id}/content`, headers: { 'content-type': 'application/octet-stream' }
  }, [chunk, chunk, chunk, chunk, chunk])
  assert.equal(res.status, 413)
  assert.equal(jsonOf(res).error.code, 'PAYLOAD_TOO_LARGE')
  assert.equal(res.headers.connection, 'close')
  // The server is fine and the buffer is still usable.
  assert.deepEqual((await put(id, Buffer.from('ok'))).body, { written: 2 })
})

test('a Content-Length larger than the space left is refused before the body is read', async () => {
  const id = await createBuffer(1024)
  // Only the headers are sent: the answer must come without the body.
  const req = openRequest(app, {
    method: 'PUT', path: `/v1/buffers/${id}/content`, headers: { 'content-type': 'application/octet-stream', 'content-length': String(64 * MiB) }
  })
  req.flushHeaders()
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  const body = JSON.parse(await text(res))
  req.destroy()
  assert.equal(res.statusCode, 413)
  assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE')
})

test('an octet-stream upload the client abandons leaves no buffer behind', async () => {
  const store = app.pool.store
  const before = { count: store.count, bytes: store.bytesInUse }
  const req = openRequest(app, {
    method: 'POST', path: '/v1/buffers', headers: { 'content-type': 'application/octet-stream', 'content-length': String(4 * MiB) }
  })
  req.on('error', () => {})
  const created = once(store, 'buffer.created')
  req.write(Buffer.alloc(MiB))
  const [info] = await created as [{ id: string }]
  // The client goes away half-way through the body.
  const deleted = once(store, 'buffer.deleted')
  req.destroy()
  const [gone] = await deleted as [{ id: string }]
  assert.equal(gone.id, info.id)
  assert.equal(store.count, before.count)
  assert.equal(store.bytesInUse, before.bytes)
})
