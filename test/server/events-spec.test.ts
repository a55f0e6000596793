// Every message a live server sends on /v1/events matches openapi/asyncapi.yaml: each type is a
// message of the spec, and its payload validates against that message's schema (Ajv, the
// validator Fastify uses). Covers the snapshot with its bounds and history, buffer.holders and
// worker.updated, and the events that were there before them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import request from 'supertest'
import { openEvents } from '../helpers/event-stream'
import { startApp } from '../helpers/server-app'
import { loadAsyncApi } from '../helpers/asyncapi'

const NAP_KINDS = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dashboard-kinds')

test('every message of a busy stream matches its AsyncAPI message schema', async (t) => {
  const spec = loadAsyncApi()

  const app = await startApp({ poolOptions: { workers: 1, kindsDir: NAP_KINDS } })
  t.after(() => app.close())
  await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'noop' }).expect(200)
  const events = await openEvents(app)
  t.after(() => events.close())
  await events.nextOf('snapshot')

  const input = (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.from('spec')).expect(201)).body.id
  const writable = (await request(app.server).post('/v1/buffers').send({ size: 4, name: 'w' }).expect(201)).body.id
  await request(app.server).post(`/v1/buffers/${writable}/seal`).expect(200)
  const job = (await request(app.server).post('/v1/jobs').send({ kind: 'nap', inputs: [input], params: { ms: 150 } }).expect(202)).body.id
  await events.nextOf('job.succeeded', job)
  const cancelled = (await request(app.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 60_000 } }).expect(202)).body.id
  await events.nextOf('job.started', cancelled)
  await request(app.server).post(`/v1/jobs/${cancelled}/cancel`).expect(200)
  await events.nextOf('job.cancelled', cancelled)
  const failed = (await request(app.server).post('/v1/jobs').send({ kind: 'gunzip', inputs: [input] }).expect(202)).body.id
  await events.nextOf('job.failed', failed)
  await request(app.server).delete(`/v1/buffers/${writable}`).expect(204)
  await events.nextOf('buffer.deleted', writable)
  await events.any((m) => m.type === 'worker.updated' && m.data.running === 0)
  await events.nextOf('pool.stats')

  const types = new Set(events.messages.map((m) => m.type))
  for (const type of ['snapshot', 'buffer.created', 'buffer.sealed', 'buffer.holders', 'buffer.deleted', 'job.queued', 'job.started',
    'job.progress', 'job.succeeded', 'job.failed', 'job.cancelled', 'worker.updated', 'pool.stats']) {
    assert.ok(types.has(type), `the stream carried ${type}`)
  }
  for (const message of events.messages) spec.check(message)
  const snapshot = events.messages[0]
  assert.ok(Array.isArray(snapshot.data.history) && snapshot.data.truncated !== undefined && snapshot.data.counts !== undefined)
})
