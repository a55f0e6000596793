// Without --cluster nothing changes: neither BullMQ nor ioredis is loaded, GET /v1/cluster says
// so, jobs and buffers carry no `node`, and a buffer's digest is still served.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { after, before, test } from 'node:test'
import supertest from 'supertest'
import type { FastifyInstance } from 'fastify'
import { startApp } from '../../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp() })
after(async () => { await app.close() })

test('no Redis client is loaded by a server without --cluster', () => {
  const loaded = Object.keys(require.cache).filter((file) => /[/\\]node_modules[/\\](bullmq|ioredis)[/\\]/.test(file))
  assert.deepEqual(loaded, [])
  assert.equal(app.cluster, null)
})

test('GET /v1/cluster: self null, no nodes; jobs and buffers carry no node', async () => {
  const cluster = await supertest(app.server).get('/v1/cluster').expect(200)
  assert.deepEqual(cluster.body, { self: null, nodes: [], pulledBytes: {}, servedBytes: {} })
  const bytes = crypto.randomBytes(1000)
  const buffer = await supertest(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)
  assert.equal('node' in buffer.body, false)
  const job = await supertest(app.server).post('/v1/jobs?wait=10000').send({ kind: 'checksum', inputs: [buffer.body.id] }).expect(200)
  assert.equal('node' in job.body, false)
  assert.equal('bytesPulled' in job.body, false)
  const digest = await supertest(app.server).get(`/v1/cluster/buffers/${buffer.body.id}/digest`).expect(200)
  assert.deepEqual(digest.body, { id: buffer.body.id, size: 1000, sha256: crypto.createHash('sha256').update(bytes).digest('hex') })
  await supertest(app.server).get('/v1/cluster/buffers/buf_nosuchthingxxxx/digest').expect(404)
  await supertest(app.server).delete(`/v1/buffers/${buffer.body.id}`).expect(204)
})
