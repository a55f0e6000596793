// The snapshot is bounded (issue 15 item 12): each list keeps its newest items within a count and
// a byte budget and says so (`truncated`, `counts`); its bytes are built once and shared until
// the next event; it carries the counters' recent history for the charts. Subscribers are
// capped: one too many is closed with 1013 and a reason, and a slot that frees up is usable.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import request from 'supertest'
import { parseConfig } from '../../server/config'
import { TOPICS } from '../../server/events/topics'
import { openEvents, until } from '../helpers/event-stream'
import { startApp } from '../helpers/server-app'

/** A `nap` kind: no params schema, so a job can carry large params. */
const NAP_KINDS = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dashboard-kinds')

test('the snapshot lists the newest buffers up to its limit, oldest first, and says how many there are', async (t) => {
  const app = await startApp({ events: { snapshot: { maxBuffers: 10 } } })
  t.after(() => app.close())
  const ids = Array.from({ length: 25 }, (_, i) => app.pool.store.create({ size: 1, name: `b${i}` }).id)
  const events = await openEvents(app)
  t.after(() => events.close())
  const snapshot = await events.nextOf('snapshot')
  assert.deepEqual(snapshot.data.buffers.map((b: { id: string }) => b.id), ids.slice(-10))
  assert.deepEqual(snapshot.data.truncated, { buffers: true, jobs: false })
  assert.deepEqual(snapshot.data.counts, { buffers: 25 })
  assert.equal(snapshot.data.pool.buffers, 25)
})

test('the byte budget bounds each list, however large its items are', async (t) => {
  const app = await startApp({ events: { snapshot: { maxListBytes: 64 * 1024 } }, poolOptions: { kindsDir: NAP_KINDS } })
  t.after(() => app.close())
  for (let i = 0; i < 100; i++) app.pool.store.create({ size: 0, name: `${i}-${'n'.repeat(2000)}` })
  // Jobs whose params are large: 40 of ~4 KB.
  for (let i = 0; i < 40; i++) {
    await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'nap', params: { ms: 0, pad: 'p'.repeat(4000) } }).expect(200)
  }
  const events = await openEvents(app)
  t.after(() => events.close())
  const snapshot = await events.nextOf('snapshot')
  const listBytes = (list: unknown[]): number => Buffer.byteLength(JSON.stringify(list))
  assert.ok(listBytes(snapshot.data.buffers) <= 64 * 1024, `buffers: ${listBytes(snapshot.data.buffers)} bytes`)
  assert.ok(listBytes(snapshot.data.jobs) <= 64 * 1024, `jobs: ${listBytes(snapshot.data.jobs)} bytes`)
  assert.ok(snapshot.data.buffers.length > 20 && snapshot.data.buffers.length < 100)
  assert.ok(snapshot.data.jobs.length > 5 && snapshot.data.jobs.length < 40)
  assert.deepEqual(snapshot.data.truncated, { buffers: true, jobs: true })
  // The newest of each are the ones kept.
  assert.equal(snapshot.data.buffers.at(-1).name.split('-')[0], '99')
  assert.equal(snapshot.data.jobs[0].id, app.pool.list({ limit: 1 })[0].id)
})

test('one snapshot\'s bytes serve every subscriber until the next event; the next event makes a new one', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const filter = { topics: new Set(TOPICS), job: null }
  const first = app.eventHub.snapshot(filter)
  assert.equal(app.eventHub.snapshot({ topics: new Set(TOPICS), job: null }), first, 'the same bytes, not a copy')
  const created = app.pool.store.create({ size: 1 })
  const second = app.eventHub.snapshot(filter)
  assert.notEqual(second, first)
  assert.ok(JSON.parse(second.toString()).data.buffers.some((b: { id: string }) => b.id === created.id))
  assert.ok(!JSON.parse(first.toString()).data.buffers.some((b: { id: string }) => b.id === created.id))
})

test('the snapshot carries the last pool.stats samples, for the charts', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const watcher = await openEvents(app, '?topics=pool')
  t.after(() => watcher.close())
  await watcher.nextOf('snapshot')
  const stats = await watcher.nextOf('pool.stats')
  const events = await openEvents(app)
  t.after(() => events.close())
  const snapshot = await events.nextOf('snapshot')
  const sample = snapshot.data.history.find((s: { ts: string }) => s.ts === stats.ts)
  assert.deepEqual(sample, { ts: stats.ts, queueDepth: stats.data.queueDepth, throughput: stats.data.throughput })
  // Without the pool topic, no history.
  const jobsOnly = await openEvents(app, '?topics=jobs')
  t.after(() => jobsOnly.close())
  assert.equal((await jobsOnly.nextOf('snapshot')).data.history, undefined)
})

test('one subscriber over the limit is closed with 1013 and a reason; a freed slot takes a new one', async (t) => {
  const app = await startApp({ events: { maxSubscribers: 2 } })
  t.after(() => app.close())
  const a = await openEvents(app)
  const b = await openEvents(app)
  t.after(() => { a.close(); b.close() })
  await a.nextOf('snapshot')
  await b.nextOf('snapshot')
  const refused = await openEvents(app)
  const closed = await refused.closed
  assert.equal(closed.code, 1013)
  assert.match(closed.reason, /too many subscribers \(the limit is 2\)/)
  assert.deepEqual(refused.messages, [], 'no snapshot for a refused subscriber')
  assert.equal(app.eventHub.size, 2)

  a.close()
  await until(() => app.eventHub.size === 1, 'the closed subscriber is gone')
  const c = await openEvents(app)
  t.after(() => c.close())
  assert.equal((await c.nextOf('snapshot')).type, 'snapshot')
})

test('the limit is a setting: --max-subscribers N or MEMFD_POOL_MAX_SUBSCRIBERS; absent, the hub\'s default of 100', async (t) => {
  assert.equal(parseConfig(['--max-subscribers', '3'], {}).maxSubscribers, 3)
  assert.equal(parseConfig([], { MEMFD_POOL_MAX_SUBSCRIBERS: '7' }).maxSubscribers, 7)
  assert.equal(parseConfig([], {}).maxSubscribers, undefined)
  const app = await startApp()
  t.after(() => app.close())
  assert.equal(app.eventHub.maxSubscribers, 100)
})
