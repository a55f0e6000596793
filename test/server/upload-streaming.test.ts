// A 256 MiB upload goes into the shared mapping chunk by chunk: the server's heap (this process:
// the app runs in-process) does not grow by anything like the upload's size, and every byte lands
// where it belongs (checked by a sha256 job in a worker process).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type http from 'node:http'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { collectGarbage } from '../helpers/gc'
import { MiB, openRequest, startApp, text } from '../helpers/server-app'

const UPLOAD_BYTES = 256 * MiB
/** A period that shares no factor with the socket's read sizes, so a misplaced chunk changes the digest. */
const PERIOD = 1_000_003

let app: FastifyInstance

before(async () => { app = await startApp({ poolOptions: { maxMemoryBytes: 512 * MiB } }) })
after(async () => { await app.close() })

interface MemorySample { heapUsed: number, arrayBuffers: number }

function sample (): MemorySample {
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return { heapUsed, arrayBuffers }
}

test('a 256 MiB PUT streams into the mapping without growing the heap', async (t) => {
  const id = (await request(app.server).post('/v1/buffers').send({ size: UPLOAD_BYTES }).expect(201)).body.id as string
  // Map the buffer before the baseline: the mapping itself is not heap.
  await request(app.server).put(`/v1/buffers/${id}/content`).set('content-type', 'application/octet-stream').send(Buffer.from([0])).expect(200)

  const pattern = randomBytes(PERIOD)
  const expected = createHash('sha256')
  await collectGarbage()
  const baseline = sample()
  const peak = { ...baseline }
  const watch = (): void => {
    const now = sample()
    peak.heapUsed = Math.max(peak.heapUsed, now.heapUsed)
    peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers)
  }

  const req = openRequest(app, {
    method: 'PUT',
    path: `/v1/buffers/${id}/content?offset=0`,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(UPLOAD_BYTES) }
  })
  const response = once(req, 'response') as Promise<[http.IncomingMessage]>
  for (let sent = 0; sent < UPLOAD_BYTES;) {
    const chunk = pattern.subarray(0, Math.min(PERIOD, UPLOAD_BYTES - sent))
    expected.update(chunk)
    sent += chunk.length
    watch()
    if (!req.write(chunk)) await once(req, 'drain')
  }
  req.end()
  const [res] = await response
  const body = JSON.parse(await text(res))
  watch()
  assert.equal(res.statusCode, 200)
  assert.deepEqual(body, { written: UPLOAD_BYTES })

  const growth = { heapUsed: peak.heapUsed - baseline.heapUsed, arrayBuffers: peak.arrayBuffers - baseline.arrayBuffers }
  t.diagnostic(`upload ${UPLOAD_BYTES / MiB} MiB: peak heapUsed growth ${(growth.heapUsed / MiB).toFixed(1)} MiB, ` +
    `peak arrayBuffers growth ${(growth.arrayBuffers / MiB).toFixed(1)} MiB`)
  // Buffering the body would cost the upload's size in one of the two. Socket reads are short-lived
  // Buffers (arrayBuffers counts them until a collection), hence the looser second bound.
  assert.ok(growth.heapUsed < 32 * MiB, `heapUsed grew by ${growth.heapUsed} bytes`)
  assert.ok(growth.arrayBuffers < UPLOAD_BYTES / 2, `arrayBuffers grew by ${growth.arrayBuffers} bytes`)

  await request(app.server).post(`/v1/buffers/${id}/seal`).expect(200)
  const job = await request(app.server).post('/v1/jobs?wait=60000').send({ kind: 'checksum', inputs: [id] }).expect(200)
  assert.equal(job.body.state, 'succeeded')
  assert.equal(job.body.result.digest, expected.digest('hex'))
  assert.equal(job.body.result.bytes, UPLOAD_BYTES)
  await request(app.server).delete(`/v1/buffers/${id}`).expect(204)
})
