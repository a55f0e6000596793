// pipeline.* events on /v1/events, and the ?pipeline=ID filter (its pipeline.* events and its
// steps' job.* events only).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import request from 'supertest'
import { openEvents, refusedHandshake } from '../../helpers/event-stream'
import { startApp } from '../../helpers/server-app'

test('pipeline events, whole and filtered by ?pipeline=', async (t) => {
  const app = await startApp({ poolOptions: { workers: 2 } })
  t.after(() => app.close())
  const all = await openEvents(app, '?topics=pipelines')
  t.after(() => all.close())

  // A holds a worker (a 60 s sleep) until it is cancelled.
  const a = (await request(app.server).post('/v1/pipelines').send({ name: 'held', steps: [{ id: 'nap', kind: 'sleep', params: { ms: 60_000 } }] }).expect(201)).body
  const followed = await openEvents(app, `?pipeline=${a.id}`)
  t.after(() => followed.close())
  assert.equal((await followed.next()).type, 'snapshot')

  const b = (await request(app.server).post('/v1/pipelines?wait=20000').send({
    steps: [{ id: 'raw', kind: 'fill', params: { size: 100 } }, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }] }]
  }).expect(200)).body
  assert.equal(b.state, 'succeeded')
  await request(app.server).post(`/v1/pipelines/${a.id}/cancel`).expect(200)
  const cancelled = await followed.nextOf('pipeline.cancelled', a.id)
  assert.equal(cancelled.data.steps[0].state, 'cancelled')

  // The followed stream saw A's job and steps, and nothing of B.
  const types = followed.messages.slice(1).map((m) => m.type)
  assert.ok(types.includes('job.cancelled') && types.includes('pipeline.step'), types.join())
  for (const m of followed.messages.slice(1)) {
    if (m.type === 'pool.stats' || m.type.startsWith('buffer.') || m.type.startsWith('worker.')) continue
    const pipeline = m.type.startsWith('job.') || m.type === 'pipeline.step' ? m.data.pipeline : m.data.id
    assert.equal(pipeline, a.id, `${m.type} of another pipeline`)
  }

  // The whole stream: B from created to succeeded, its steps in between, in order.
  await all.nextOf('pipeline.created', b.id)
  const steps: string[] = []
  for (;;) {
    const m = await all.next((x) => (x.type === 'pipeline.step' && x.data.pipeline === b.id) || (x.type === 'pipeline.succeeded' && x.data.id === b.id))
    if (m.type === 'pipeline.succeeded') break
    steps.push(`${m.data.step.id}:${m.data.step.state}`)
  }
  assert.deepEqual(steps.filter((s) => /succeeded$/.test(s)), ['raw:succeeded', 'zip:succeeded'])
  assert.ok(all.messages.every((m) => m.type === 'snapshot' || m.type.startsWith('pipeline.')), 'topics=pipelines carries only pipeline events')

  const unknown = await refusedHandshake(app, '?pipeline=pl_doesnotexist')
  assert.equal(unknown.status, 404)
  assert.equal(unknown.body.error.code, 'NOT_FOUND')
})
