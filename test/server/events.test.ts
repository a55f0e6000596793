// GET /v1/events: the snapshot first, then every event of a job started over REST, in order;
// the topic and job filters; refusals before the upgrade; token auth; 1001 on shutdown.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { type EventMessage, openEvents, refusedHandshake } from '../helpers/event-stream'
import { errorCode, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => {
  // Two workers: a job held on one leaves the other free.
  app = await startApp({ poolOptions: { workers: 2 } })
})
after(async () => { await app.close() })

async function sealedBuffer (bytes: Buffer): Promise<string> {
  return (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)).body.id
}

test('the first message is a snapshot of the pool, its workers, buffers and recent jobs', async (t) => {
  const existing = await sealedBuffer(Buffer.from('already here'))
  const done = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'noop' }).expect(200)
  const events = await openEvents(app)
  t.after(() => events.close())
  const first = await events.next()
  assert.equal(first.type, 'snapshot')
  assert.ok(!Number.isNaN(Date.parse(first.ts)))
  assert.deepEqual(Object.keys(first.data).sort(), ['buffers', 'cluster', 'counts', 'history', 'jobs', 'pool', 'truncated', 'workers'])
  assert.equal(first.data.cluster, null, 'no cluster without --cluster')
  assert.deepEqual(first.data.truncated, { buffers: false, jobs: false })
  assert.equal(first.data.counts.buffers, first.data.buffers.length)
  assert.equal(first.data.pool.workers, 2)
  assert.equal(typeof first.data.pool.queueDepth, 'number')
  assert.equal(typeof first.data.pool.quotaBytes, 'number')
  assert.deepEqual(first.data.workers.map((w: { pid: number }) => w.pid).sort(), app.pool.workerPids().sort())
  const buffer = first.data.buffers.find((b: { id: string }) => b.id === existing)
  assert.ok(buffer, 'the snapshot lists the live buffer')
  assert.deepEqual(buffer.descriptors, [{ pid: process.pid, fd: buffer.descriptors[0].fd, role: 'server' }])
  assert.equal(first.data.jobs[0].id, done.body.id, 'jobs are newest first')
  assert.equal(first.data.jobs[0].state, 'succeeded')
  await request(app.server).delete(`/v1/buffers/${existing}`).expect(204)
})

test('a job started over REST: buffer.created, buffer.sealed, job.queued, job.started, job.succeeded, in order', async (t) => {
  const events = await openEvents(app)
  t.after(() => events.close())
  assert.equal((await events.next()).type, 'snapshot')

  const bytes = Buffer.from('bytes the worker reads in place')
  const created = (await request(app.server).post('/v1/buffers').send({ size: bytes.length, name: 'input' }).expect(201)).body
  await request(app.server).put(`/v1/buffers/${created.id}/content`).set('content-type', 'application/octet-stream').send(bytes).expect(200)
  await request(app.server).post(`/v1/buffers/${created.id}/seal`).expect(200)
  const submitted = await request(app.server).post('/v1/jobs').send({ kind: 'checksum', inputs: [created.id], params: { algorithm: 'sha256' } }).expect(202)
  const job = submitted.body.id as string

  // next() only moves forward: each event must come after the one before.
  const createdEvent = await events.nextOf('buffer.created', created.id)
  assert.deepEqual({ ...createdEvent.data, descriptors: undefined }, { ...created, descriptors: undefined })
  assert.equal(createdEvent.data.sealed, false)
  const sealedEvent = await events.nextOf('buffer.sealed', created.id)
  assert.equal(sealedEvent.data.sealed, true)
  assert.equal(sealedEvent.data.state, 'sealed')
  const queued = await events.nextOf('job.queued', job)
  assert.equal(queued.data.state, 'queued')
  assert.deepEqual(queued.data.inputs, [created.id])
  const started = await events.nextOf('job.started', job)
  assert.equal(started.data.state, 'running')
  assert.ok(app.pool.workerPids().includes(started.data.workerPid))
  const succeeded = await events.nextOf('job.succeeded', job)
  assert.equal(succeeded.data.state, 'succeeded')
  assert.equal(succeeded.data.result.digest, createHash('sha256').update(bytes).digest('hex'))
  for (const message of [createdEvent, sealedEvent, queued, started, succeeded]) {
    assert.deepEqual(Object.keys(message).sort(), ['data', 'ts', 'type'])
    assert.ok(!Number.isNaN(Date.parse(message.ts)))
  }
  await request(app.server).delete(`/v1/buffers/${created.id}`).expect(204)
  await events.nextOf('buffer.deleted', created.id)
})

test('pool.stats arrives about once a second', async (t) => {
  const events = await openEvents(app, '?topics=pool')
  t.after(() => events.close())
  await events.next((m) => m.type === 'snapshot')
  const stats = await events.nextOf('pool.stats')
  for (const field of ['queueDepth', 'running', 'throughput', 'jobsDone', 'bytesInUse', 'quotaBytes', 'buffers', 'workers']) {
    assert.equal(typeof stats.data[field], 'number', field)
  }
})

/** Does one buffer's and one job's worth of work, then deletes a buffer: the marker every test waits for. */
async function someActivity (): Promise<{ buffer: string, job: string }> {
  const buffer = await sealedBuffer(Buffer.from('activity'))
  const job = (await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'checksum', inputs: [buffer] }).expect(200)).body.id
  await request(app.server).delete(`/v1/buffers/${buffer}`).expect(204)
  return { buffer, job }
}

const typesOf = (messages: EventMessage[]): string[] => [...new Set(messages.map((m) => m.type))].sort()

test('topics=buffers carries buffer events and no job, worker or pool events', async (t) => {
  const events = await openEvents(app, '?topics=buffers')
  t.after(() => events.close())
  await events.next((m) => m.type === 'snapshot')
  const { buffer } = await someActivity()
  // Events keep their order, so once the deletion (the last thing done) has arrived, any job
  // event of the activity would have arrived before it.
  await events.nextOf('buffer.deleted', buffer)
  const types = typesOf(events.messages)
  assert.ok(types.includes('buffer.created') && types.includes('buffer.deleted'), types.join())
  assert.ok(types.every((type) => type === 'snapshot' || type.startsWith('buffer.')), types.join())
})

test('topics=jobs,pool carries job events and pool.stats, and no buffer events', async (t) => {
  const events = await openEvents(app, '?topics=jobs,pool')
  t.after(() => events.close())
  await events.next((m) => m.type === 'snapshot')
  const { job } = await someActivity()
  await events.nextOf('job.succeeded', job)
  await events.nextOf('pool.stats')
  const types = typesOf(events.messages)
  assert.ok(types.every((type) => type === 'snapshot' || type === 'pool.stats' || type.startsWith('job.')), types.join())
})

test('job=<id> carries only that job\'s job events (other topics unchanged)', async (t) => {
  // The followed job holds a worker until cancelled; the other job runs meanwhile on the other worker.
  const followed = (await request(app.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 60_000 } }).expect(202)).body.id
  const events = await openEvents(app, `?job=${followed}`)
  t.after(() => events.close())
  const snapshot = await events.next()
  assert.equal(snapshot.type, 'snapshot')
  assert.deepEqual(snapshot.data.jobs.map((j: { id: string }) => j.id), [followed], 'the snapshot shows the followed job')

  const { buffer, job: other } = await someActivity()
  await request(app.server).post(`/v1/jobs/${followed}/cancel`).expect(200)
  const cancelled = await events.nextOf('job.cancelled', followed)
  assert.equal(cancelled.data.error.code, 'CANCELLED')
  const jobEvents = events.messages.filter((m) => m.type.startsWith('job.'))
  assert.ok(jobEvents.length > 0)
  assert.ok(jobEvents.every((m) => m.data.id === followed), 'no event of another job')
  assert.ok(!events.messages.some((m) => m.data?.id === other))
  assert.ok(events.messages.some((m) => m.type === 'buffer.created' && m.data.id === buffer), 'buffer events still arrive')
})

test('refusals are HTTP answers in the error shape, before any upgrade', async () => {
  const topic = await refusedHandshake(app, '?topics=jobs,bufers')
  assert.equal(topic.status, 400)
  assert.equal(topic.body.error.code, 'VALIDATION_ERROR')
  assert.match(topic.body.error.message, /bufers/)
  const job = await refusedHandshake(app, '?job=job_doesnotexist')
  assert.equal(job.status, 404)
  assert.equal(job.body.error.code, 'NOT_FOUND')
  // A plain GET (no upgrade) is told what the route is.
  const plain = await request(app.server).get('/v1/events').expect(400)
  assert.equal(errorCode(plain), 'BAD_REQUEST')
  assert.match(plain.body.error.message, /WebSocket/)
})

test('with a token: 401 without it or with a wrong one; ?token= and Bearer both work; 1001 at shutdown', async () => {
  const secured = await startApp({ token: 'open-sesame' })
  try {
    const missing = await refusedHandshake(secured)
    assert.equal(missing.status, 401)
    assert.deepEqual(Object.keys(missing.body), ['error'])
    assert.equal(missing.body.error.code, 'UNAUTHORIZED')
    assert.equal((await refusedHandshake(secured, '?token=open-sesamE')).status, 401)
    assert.equal((await refusedHandshake(secured, '', { authorization: 'Bearer wrong' })).status, 401)

    const byQuery = await openEvents(secured, '?token=open-sesame&topics=pool')
    assert.equal((await byQuery.next()).type, 'snapshot')
    const byHeader = await openEvents(secured, '?topics=pool', { authorization: 'Bearer open-sesame' })
    assert.equal((await byHeader.next()).type, 'snapshot')
    // The query token is for the WebSocket only: REST routes still want the header.
    await request(secured.server).get('/v1/pool?token=open-sesame').expect(401)

    await secured.close()
    assert.deepEqual(await byQuery.closed, { code: 1001, reason: 'server shutting down' })
    assert.equal((await byHeader.closed).code, 1001)
    assert.equal(secured.eventHub.size, 0)
  } finally {
    await secured.close()
  }
})
