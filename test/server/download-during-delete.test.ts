// A download holds its buffer: a DELETE while it streams hides the buffer at once, the download
// still completes byte for byte, and the memory is freed when the download ends.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type http from 'node:http'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { countFds } from '../helpers/proc'
import { MiB, errorCode, openRequest, startApp } from '../helpers/server-app'

const SIZE = 64 * MiB

let app: FastifyInstance

before(async () => { app = await startApp({ poolOptions: { maxMemoryBytes: 256 * MiB } }) })
after(async () => { await app.close() })

test('DELETE during a slow download: the download completes intact, then the memory is freed', async () => {
  const fill = await request(app.server).post('/v1/jobs?wait=60000')
    .send({ kind: 'fill', params: { size: SIZE, pattern: 'random', seed: 42 } }).expect(200)
  assert.equal(fill.body.state, 'succeeded')
  const id = fill.body.outputs[0] as string
  const checksum = await request(app.server).post('/v1/jobs?wait=60000').send({ kind: 'checksum', inputs: [id] }).expect(200)
  const expected = checksum.body.result.digest as string

  const store = app.pool.store
  const bytesBefore = store.bytesInUse
  const fdsBefore = countFds()

  const req = openRequest(app, { method: 'GET', path: `/v1/buffers/${id}/content` })
  req.end()
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers['content-length'], String(SIZE))

  // A slow reader: take the first chunk, then stop reading while the buffer is deleted.
  const hash = createHash('sha256')
  let received = 0
  const [first] = await once(res, 'data') as [Buffer]
  res.pause()
  hash.update(first)
  received += first.length
  assert.ok(received < SIZE, 'the download is still in flight')

  await request(app.server).delete(`/v1/buffers/${id}`).expect(204)
  const gone = await request(app.server).get(`/v1/buffers/${id}`)
  assert.equal(gone.status, 404)
  assert.equal(errorCode(gone), 'NOT_FOUND')
  assert.equal(store.bytesInUse, bytesBefore, 'the memory is held while the download streams')

  const freed = once(res.socket, 'close')
  res.on('data', (chunk: Buffer) => { hash.update(chunk); received += chunk.length })
  res.resume()
  await once(res, 'end')
  assert.equal(received, SIZE)
  assert.equal(hash.digest('hex'), expected)

  // The lease drops when the server's response closes; wait for our socket's close (agent: false).
  await freed
  while (store.bytesInUse !== bytesBefore - SIZE) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(store.bytesInUse, bytesBefore - SIZE)
  assert.ok(countFds() <= fdsBefore, `descriptors back to ${fdsBefore} (now ${countFds()})`)
})
