// "A sealed buffer never changes", held against real client processes (issue 15, items 1–4): a
// seal with a live writable mapping anywhere is refused, a registered memfd must be write-sealed
// (or write-sealable) by the server, an `rw` client gets an open file description of its own, and
// what a client can still do to a writable buffer turns into a 4xx, never a 500. Each check reads
// the other process's /proc/PID/maps or the server's /proc/self/fdinfo.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { HolderProcess, attachAppPerFile, sha256 } from '../helpers/attach'
import { binaryParser, errorCode } from '../helpers/server-app'

let app: FastifyInstance
let socketPath: string

attachAppPerFile((started) => { ({ app, socketPath } = started) })

async function writableBuffer (size = 4096): Promise<{ id: string, attachToken: string }> {
  return (await request(app.server).post('/v1/buffers').send({ size }).expect(201)).body
}

async function content (id: string): Promise<Buffer> {
  return (await request(app.server).get(`/v1/buffers/${id}/content`).buffer(true).parse(binaryParser).expect(200)).body as Buffer
}

async function put (id: string, bytes: Buffer, offset = 0): Promise<request.Response> {
  return await request(app.server).put(`/v1/buffers/${id}/content?offset=${offset}`).set('content-type', 'application/octet-stream').send(bytes)
}

async function checksum (id: string): Promise<string> {
  const job = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'checksum', inputs: [id], params: { algorithm: 'sha256' } })
  assert.equal(job.body.state, 'succeeded', JSON.stringify(job.body))
  return job.body.result.digest
}

/** The server's own descriptor of a buffer (this process is the server) and its status flags. */
function serverFdFlags (id: string): number {
  const fd = app.pool.store.get(id).descriptors.find((d) => d.role === 'server')!.fd!
  const flags = /^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]
  return parseInt(flags, 8)
}
const O_APPEND = 0o2000

test('seal while a client maps the buffer writable: 409 BUFFER_MAPPED_WRITABLE, still writable and unchanged; sealed once it unmaps', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  assert.equal((await put(buffer.id, Buffer.from('server bytes'))).status, 200)
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'rw' })).ok, true)
  assert.equal((await holder.do({ cmd: 'map', writable: true })).ok, true)
  assert.equal(holder.memfdMaps().filter((l) => / rw-s /.test(l)).length, 1, 'the client really maps it MAP_SHARED writable')

  const refused = await request(app.server).post(`/v1/buffers/${buffer.id}/seal`)
  assert.equal(refused.status, 409)
  assert.equal(errorCode(refused), 'BUFFER_MAPPED_WRITABLE')
  assert.match(refused.body.error.message, /still maps it writable.*unmap it \(or detach\) and seal again/i)
  const after = (await request(app.server).get(`/v1/buffers/${buffer.id}`).expect(200)).body
  assert.equal(after.sealed, false)
  assert.equal(after.state, 'writable')
  // The refusal changed nothing: REST and the client both still write, and see each other's bytes.
  assert.equal((await put(buffer.id, Buffer.from('more'), 100)).status, 200)
  assert.equal((await holder.do({ cmd: 'write', offset: 200, text: 'from the client' })).ok, true)
  const bytes = await content(buffer.id)
  assert.equal(bytes.subarray(0, 12).toString(), 'server bytes')
  assert.equal(bytes.subarray(100, 104).toString(), 'more')
  assert.equal(bytes.subarray(200, 215).toString(), 'from the client')

  // Unmapped (the rw descriptor alone does not stop a seal): the seal goes through, and from then
  // on nobody writes — a new writable mapping of the same descriptor is refused by the kernel.
  assert.equal((await holder.do({ cmd: 'unmap' })).ok, true)
  assert.deepEqual(holder.memfdMaps(), [])
  const sealed = await request(app.server).post(`/v1/buffers/${buffer.id}/seal`).expect(200)
  assert.equal(sealed.body.sealed, true)
  const remap = await holder.do({ cmd: 'map', writable: true })
  assert.deepEqual([remap.ok, remap.code], [false, 'EPERM'])
  assert.equal(await checksum(buffer.id), sha256(bytes), 'a job reads exactly the bytes seen before the seal')
  assert.equal(sha256(await content(buffer.id)), sha256(bytes))
})

test('register of a memfd its sender still maps writable (future-write and F_SEAL_SEAL) is refused; the sender keeps it', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffersBefore = app.pool.store.count
  // F_SEAL_SEAL after future-write: nobody can add F_SEAL_WRITE any more, so nothing can prove
  // the mapping is gone. The old server tolerated the failed F_SEAL_WRITE and took it.
  const sealSealed = await holder.do({ cmd: 'register-mapped', size: 8192, seals: ['shrink', 'grow', 'future-write', 'seal'] })
  assert.deepEqual([sealSealed.ok, sealSealed.code], [false, 'NOT_SEALED'], JSON.stringify(sealSealed))
  assert.equal(holder.memfdMaps().filter((l) => / rw-s /.test(l)).length, 1, 'its writable mapping is still there')
  assert.equal(app.pool.store.count, buffersBefore, 'no buffer was made')
  assert.equal((await holder.do({ cmd: 'unmap' })).ok, true)
  assert.equal((await holder.do({ cmd: 'close' })).ok, true)

  // Without F_SEAL_SEAL, the server tries F_SEAL_WRITE itself: EBUSY while the mapping exists.
  const busy = await holder.do({ cmd: 'register-mapped', size: 8192, seals: ['shrink', 'grow', 'future-write'] })
  assert.deepEqual([busy.ok, busy.code], [false, 'NOT_SEALED'])
  assert.match(busy.message, /writable shared mapping/)
  assert.equal(app.pool.store.count, buffersBefore)
})

test('an rw client that sets O_APPEND on its descriptor does not reach the server\'s: PUT still writes where it says', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'rw' })).ok, true)
  assert.equal((await holder.do({ cmd: 'append' })).ok, true)
  await holder.stop()
  // Its own open file description (a reopen, not a dup): the flag stayed with the client's.
  assert.equal(serverFdFlags(buffer.id) & O_APPEND, 0, 'the server\'s descriptor has no O_APPEND')
  const res = await put(buffer.id, Buffer.from('at offset ten'), 10)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal((await content(buffer.id)).subarray(10, 23).toString(), 'at offset ten')
})

test('an rw client that write-seals the buffer itself: PUT answers 409 BUFFER_SEALED (not 500) and the buffer counts as sealed', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  assert.equal((await put(buffer.id, Buffer.from('before'))).status, 200)
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'rw' })).ok, true)
  assert.equal((await holder.do({ cmd: 'seal', seals: ['write'] })).ok, true)
  const res = await put(buffer.id, Buffer.from('after'))
  assert.equal(res.status, 409, JSON.stringify(res.body))
  assert.equal(errorCode(res), 'BUFFER_SEALED')
  const info = (await request(app.server).get(`/v1/buffers/${buffer.id}`).expect(200)).body
  assert.equal(info.sealed, true, 'the store took the client\'s seal for what it is')
  assert.equal((await content(buffer.id)).subarray(0, 6).toString(), 'before')
  assert.equal(await checksum(buffer.id), sha256(await content(buffer.id)), 'and jobs may read it')
})

test('an rw client that adds future-write while mapping it writable: PUT 409 BUFFER_SEALED, seal 409 BUFFER_MAPPED_WRITABLE, then sealed once unmapped', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'rw' })).ok, true)
  assert.equal((await holder.do({ cmd: 'map', writable: true })).ok, true)
  assert.equal((await holder.do({ cmd: 'seal', seals: ['future-write'] })).ok, true)
  const res = await put(buffer.id, Buffer.from('x'))
  assert.equal(res.status, 409, JSON.stringify(res.body))
  assert.equal(errorCode(res), 'BUFFER_SEALED')
  assert.match(res.body.error.message, /can no longer be written/)
  const seal = await request(app.server).post(`/v1/buffers/${buffer.id}/seal`)
  assert.equal(seal.status, 409)
  assert.equal(errorCode(seal), 'BUFFER_MAPPED_WRITABLE')
  // Its old mapping still writes (future-write allows that): exactly why the seal is refused.
  assert.equal((await holder.do({ cmd: 'write', offset: 0, text: 'still' })).ok, true)
  assert.equal((await content(buffer.id)).subarray(0, 5).toString(), 'still')
  assert.equal((await holder.do({ cmd: 'unmap' })).ok, true)
  assert.equal((await request(app.server).post(`/v1/buffers/${buffer.id}/seal`).expect(200)).body.sealed, true)
})

test('an rw client that forbids seals (F_SEAL_SEAL): seal answers 409 SEAL_REFUSED, PUT still works', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'rw' })).ok, true)
  assert.equal((await holder.do({ cmd: 'seal', seals: ['seal'] })).ok, true)
  const seal = await request(app.server).post(`/v1/buffers/${buffer.id}/seal`)
  assert.equal(seal.status, 409)
  assert.equal(errorCode(seal), 'SEAL_REFUSED')
  assert.equal((await put(buffer.id, Buffer.from('fine'))).status, 200)
})

test('an r descriptor of an unsealed buffer (asked for explicitly) can be reopened writable, as the reply warns; of a sealed one it cannot', async (t) => {
  const holder = await HolderProcess.start(socketPath)
  t.after(() => holder.stop())
  const buffer = await writableBuffer()
  const refused = await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken })
  assert.deepEqual([refused.ok, refused.code], [false, 'BUFFER_NOT_SEALED'])
  const attached = await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken, unsealed: true })
  assert.equal(attached.ok, true)
  assert.match(attached.warning, /reopened writable through \/proc\/self\/fd/)
  assert.equal((await holder.do({ cmd: 'reopen-write', offset: 0, text: 'reopened' })).ok, true)
  assert.equal((await content(buffer.id)).subarray(0, 8).toString(), 'reopened', 'the warning is true')
  assert.equal((await holder.do({ cmd: 'close' })).ok, true)

  await request(app.server).post(`/v1/buffers/${buffer.id}/seal`).expect(200)
  assert.equal((await holder.do({ cmd: 'attach', buffer: buffer.id, token: buffer.attachToken })).warning, null)
  const write = await holder.do({ cmd: 'reopen-write', offset: 0, text: 'nope' })
  assert.deepEqual([write.ok, write.code], [false, 'EPERM'], 'a sealed buffer refuses writes through any descriptor')
  assert.equal((await content(buffer.id)).subarray(0, 8).toString(), 'reopened')
})
