// buffer.holders and worker.updated over a real /v1/events socket: who holds a buffer under which
// number as a job takes and drops it (checked against the worker's /proc fd table), a worker's
// counters as jobs run on it, at most ~10 worker.updated a second per worker with the final
// state last, no holders event for a deleted buffer, an attached process while its connection
// lasts, and each in its topic.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import * as native from '../../native'
import { RawClient, startAttachApp } from '../helpers/attach'
import { openEvents, type EventMessage } from '../helpers/event-stream'
import { startApp } from '../helpers/server-app'

const NAP_KINDS = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dashboard-kinds')

let app: FastifyInstance

before(async () => {
  app = await startApp({ poolOptions: { workers: 1, kindsDir: NAP_KINDS } })
})
after(async () => { await app.close() })

async function sealedBuffer (bytes: Buffer): Promise<string> {
  return (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)).body.id
}

const roles = (m: EventMessage): string[] => m.data.descriptors.map((d: { role: string }) => d.role).sort()

test('buffer.holders: the worker\'s descriptor appears after job.started and goes before job.succeeded', async (t) => {
  const events = await openEvents(app)
  t.after(() => events.close())
  await events.nextOf('snapshot')
  const input = await sealedBuffer(Buffer.from('held'))
  const job = (await request(app.server).post('/v1/jobs').send({ kind: 'nap', inputs: [input], params: { ms: 200 } }).expect(202)).body.id

  const started = await events.nextOf('job.started', job)
  const taken = await events.nextOf('buffer.holders', input)
  assert.deepEqual(Object.keys(taken.data).sort(), ['descriptors', 'id'])
  assert.deepEqual(roles(taken), ['server', 'worker'])
  const worker = taken.data.descriptors.find((d: { role: string }) => d.role === 'worker')
  assert.equal(worker.pid, started.data.workerPid)
  // The number is the worker's own, for this very buffer.
  assert.match(fs.readlinkSync(`/proc/${worker.pid as number}/fd/${worker.fd as number}`), new RegExp(`^/memfd:memfd-pool:${input}`))
  const server = taken.data.descriptors.find((d: { role: string }) => d.role === 'server')
  assert.deepEqual(server, { pid: process.pid, fd: server.fd, role: 'server' })

  const dropped = await events.nextOf('buffer.holders', input)
  assert.deepEqual(roles(dropped), ['server'])
  const succeeded = await events.nextOf('job.succeeded', job)
  assert.ok(events.messages.indexOf(dropped) < events.messages.indexOf(succeeded))
  assert.deepEqual(app.pool.store.get(input).descriptors, dropped.data.descriptors, 'the event says what the store says')
})

test('no buffer.holders for a buffer once it is deleted, though its job still drops it later', async (t) => {
  const events = await openEvents(app, '?topics=buffers,jobs')
  t.after(() => events.close())
  await events.nextOf('snapshot')
  const input = await sealedBuffer(Buffer.from('deleted under its job'))
  const job = (await request(app.server).post('/v1/jobs').send({ kind: 'nap', inputs: [input], params: { ms: 200 } }).expect(202)).body.id
  await events.nextOf('buffer.holders', input)
  await request(app.server).delete(`/v1/buffers/${input}`).expect(204)
  const deleted = await events.nextOf('buffer.deleted', input)
  await events.nextOf('job.succeeded', job)
  const later = events.messages.slice(events.messages.indexOf(deleted)).filter((m) => m.type === 'buffer.holders' && m.data.id === input)
  assert.deepEqual(later, [])
})

test('worker.updated: running 1 while a job runs, then running 0 with jobsDone one higher', async (t) => {
  const events = await openEvents(app, '?topics=workers,jobs')
  t.after(() => events.close())
  const snapshot = await events.nextOf('snapshot')
  const before = snapshot.data.workers[0]
  const job = (await request(app.server).post('/v1/jobs').send({ kind: 'nap', params: { ms: 150 } }).expect(202)).body.id
  await events.nextOf('job.started', job)
  const busy = await events.next((m) => m.type === 'worker.updated' && m.data.running === 1)
  assert.deepEqual(Object.keys(busy.data).sort(), Object.keys(before).sort(), 'a whole Worker object')
  assert.equal(busy.data.id, before.id)
  assert.equal(busy.data.pid, before.pid)
  const idle = await events.next((m) => m.type === 'worker.updated' && m.data.running === 0)
  assert.equal(idle.data.jobsDone, before.jobsDone + 1)
  assert.equal(idle.data.state, 'ready')
})

test('worker.updated is coalesced to about 10 a second per worker, the final counters last', async (t) => {
  const events = await openEvents(app, '?topics=workers')
  t.after(() => events.close())
  const snapshot = await events.nextOf('snapshot')
  const before = snapshot.data.workers[0].jobsDone as number
  const JOBS = 2000
  const ids: string[] = []
  for (let i = 0; i < JOBS; i++) ids.push(app.pool.enqueue({ kind: 'noop' }).id)
  await app.pool.wait(ids[ids.length - 1], Infinity)
  // The trailing event carries the state after the last job, whatever was coalesced before it.
  const last = await events.next((m) => m.type === 'worker.updated' && m.data.jobsDone === before + JOBS && m.data.running === 0)
  const updates = events.messages.filter((m) => m.type === 'worker.updated')
  assert.equal(updates[updates.length - 1], last)
  const times = updates.map((m) => Date.parse(m.ts))
  for (let i = 1; i < times.length; i++) {
    // ts has millisecond resolution and the timer may fire a millisecond early: allow 2 ms.
    assert.ok(times[i] - times[i - 1] >= 98, `worker.updated ${times[i] - times[i - 1]} ms after the previous one`)
  }
  t.diagnostic(`${JOBS} jobs, ${updates.length} worker.updated`)
  assert.ok(updates.length < JOBS / 10)
})

test('topics: buffer.holders comes with buffers, worker.updated with workers', async (t) => {
  const workersOnly = await openEvents(app, '?topics=workers')
  const buffersOnly = await openEvents(app, '?topics=buffers')
  t.after(() => { workersOnly.close(); buffersOnly.close() })
  await workersOnly.nextOf('snapshot')
  await buffersOnly.nextOf('snapshot')
  const input = await sealedBuffer(Buffer.from('topics'))
  await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'nap', inputs: [input], params: { ms: 10 } }).expect(200)
  await workersOnly.next((m) => m.type === 'worker.updated' && m.data.running === 0)
  await buffersOnly.nextOf('buffer.holders', input)
  await buffersOnly.nextOf('buffer.holders', input)
  assert.ok(workersOnly.messages.every((m) => m.type === 'snapshot' || m.type.startsWith('worker.')))
  assert.ok(buffersOnly.messages.every((m) => m.type === 'snapshot' || m.type.startsWith('buffer.')))
})

test('buffer.holders: an attached process while its attach connection is open, gone when it closes', async (t) => {
  const { app: attachApp, socketPath, dir } = await startAttachApp()
  t.after(async () => {
    await attachApp.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const events = await openEvents(attachApp, '?topics=buffers')
  t.after(() => events.close())
  await events.nextOf('snapshot')
  const buffer = (await request(attachApp.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.from('attached')).expect(201)).body
  const client = await RawClient.connect(socketPath)
  const { reply, fds } = await client.request({ op: 'attach', buffer: buffer.id, token: buffer.attachToken, mode: 'r' })
  for (const fd of fds) native.close(fd)
  assert.equal(reply.ok, true)
  const attached = await events.nextOf('buffer.holders', buffer.id)
  assert.deepEqual(attached.data.descriptors.filter((d: { role: string }) => d.role === 'attached'), [{ pid: process.pid, fd: null, role: 'attached' }])
  await client.close()
  const detached = await events.nextOf('buffer.holders', buffer.id)
  assert.deepEqual(roles(detached), ['server'])
})
