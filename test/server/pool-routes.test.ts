// Kinds, workers, pool counters, liveness and readiness.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { buildApp } from '../../server/app'
import { MiB, errorCode, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp({ poolOptions: { workers: 2, maxMemoryBytes: 16 * MiB, maxBufferBytes: 4 * MiB, maxQueue: 50 } }) })
after(async () => { await app.close() })

test('GET /v1/kinds lists the built-in kinds with their params schemas', async () => {
  const res = await request(app.server).get('/v1/kinds').expect(200)
  const names = res.body.kinds.map((k: { name: string }) => k.name)
  for (const name of ['noop', 'sleep', 'checksum', 'gzip', 'gunzip', 'sort', 'stats', 'fill']) assert.ok(names.includes(name), name)
  const checksum = res.body.kinds.find((k: { name: string }) => k.name === 'checksum')
  assert.deepEqual(checksum.inputs, { min: 1, max: 1 })
  assert.equal(checksum.params.type, 'object')
  assert.deepEqual(checksum.params.properties.algorithm.enum, ['sha256', 'sha1', 'md5', 'crc32'])
  assert.equal(typeof checksum.description, 'string')
})

test('GET /v1/workers lists the worker processes', async () => {
  const res = await request(app.server).get('/v1/workers').expect(200)
  assert.equal(res.body.workers.length, 2)
  for (const worker of res.body.workers) {
    assert.equal(worker.state, 'ready')
    assert.equal(typeof worker.pid, 'number')
    assert.notEqual(worker.pid, process.pid)
    assert.equal(worker.threads, 1)
    assert.equal(worker.restarts, 0)
  }
})

test('GET /v1/pool reports counts and limits', async () => {
  const created = (await request(app.server).post('/v1/buffers').send({ size: 1000 }).expect(201)).body
  const res = await request(app.server).get('/v1/pool').expect(200)
  assert.equal(res.body.workers, 2)
  assert.equal(res.body.workersReady, 2)
  assert.equal(res.body.quotaBytes, 16 * MiB)
  assert.equal(res.body.maxBufferBytes, 4 * MiB)
  assert.equal(res.body.maxQueue, 50)
  assert.equal(res.body.buffers, 1)
  assert.equal(res.body.bytesInUse, 1000)
  assert.equal(res.body.queueDepth, 0)
  await request(app.server).delete(`/v1/buffers/${created.id}`).expect(204)
})

test('GET /healthz is 200; GET /readyz is 200 once the workers are up', async () => {
  assert.deepEqual((await request(app.server).get('/healthz').expect(200)).body, { status: 'ok' })
  const ready = await request(app.server).get('/readyz').expect(200)
  assert.deepEqual(ready.body, { status: 'ready', workers: 2, workersReady: 2 })
})

test('GET /readyz is 503 NOT_READY while a worker has not come up; /healthz is 200', async (t) => {
  // A worker program that never completes its handshake keeps the pool not ready.
  const stuck = await buildApp({
    pool: { workers: 1, maxMemoryBytes: 8 * MiB, workerScript: path.join(__dirname, '..', 'fixtures', 'silent-worker.js'), killAfterMs: 200 },
    graceMs: 0
  })
  t.after(async () => { await stuck.close() })
  await stuck.ready()
  assert.equal(stuck.pool.ready, false)
  const res = await request(stuck.server).get('/readyz')
  assert.equal(res.status, 503)
  assert.equal(errorCode(res), 'NOT_READY')
  assert.match(res.body.error.message, /0 of 1 worker/)
  assert.deepEqual((await request(stuck.server).get('/healthz').expect(200)).body, { status: 'ok' })
})
