// The cluster on the event stream, with a real redis-server and nodes as separate processes: a
// WebSocket subscriber of node A sees the snapshot's cluster view, `cluster.node` when B joins,
// `job.placed` naming the node that holds a job's bytes, the byte totals each node reports after
// a cross-node pull, and, when B is SIGKILLed, B turning `lost` followed by A placing B's queued
// job again. Every message matches openapi/asyncapi.yaml, and no cluster.node repeats a node's
// entry unchanged (lastSeen alone is no change).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import path from 'node:path'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import { ClusterNodeSchema } from '../../../server/schemas/cluster'
import { call, startNode, upload, type Json, type NodeProcess } from '../../helpers/cluster-node'
import { EventStream, type EventMessage } from '../../helpers/event-stream'
import { haveRedis, RedisServer } from '../../helpers/redis'
import { loadAsyncApi } from '../../helpers/asyncapi'

const ROOT = path.join(__dirname, '..', '..', '..', '..')
const HOLD_KIND = path.join(ROOT, 'test', 'fixtures', 'kinds', 'hold.js')
const LOST_AFTER = '1500'
const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

async function subscribe (node: NodeProcess, query: string): Promise<EventStream> {
  const socket = new WebSocket(`${node.url.replace(/^http/, 'ws')}/v1/events${query}`)
  const stream = new EventStream(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  return stream
}

const isNode = (name: string, check: (data: Json) => boolean = () => true) =>
  (m: EventMessage): boolean => m.type === 'cluster.node' && m.data.name === name && check(m.data)
const isPlaced = (id: string) => (m: EventMessage): boolean => m.type === 'job.placed' && m.data.id === id
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex')

const redis = new RedisServer()
let a: NodeProcess
let b: NodeProcess
let events: EventStream
let snapshot: EventMessage
/** A's replica of a buffer of B's, made by the concat test and used by the failover test. */
let replicaOnA: { id: string, bytes: Buffer } | null = null

before(async () => {
  if (skip !== false) return
  await redis.start()
  a = await startNode('a', redis.url, ['--node-lost-after', LOST_AFTER])
  events = await subscribe(a, '?topics=cluster,jobs')
  snapshot = await events.nextOf('snapshot')
})

after(async () => {
  events?.close()
  await a?.stop()
  await b?.stop('SIGKILL')
  await redis.close()
})

test('the snapshot carries the cluster view; a second node joining is a cluster.node on the first node\'s stream', { skip, timeout: 60_000 }, async () => {
  assert.equal(snapshot.data.cluster.self, 'a')
  assert.ok(Array.isArray(snapshot.data.cluster.nodes))
  // A's own entry: in the snapshot when its first heartbeat came before the subscriber, else next.
  const self = snapshot.data.cluster.nodes.find((n: Json) => n.name === 'a') ?? (await events.any(isNode('a'))).data
  assert.equal(self.state, 'up')
  assert.equal(self.url, a.url)
  b = await startNode('b', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  const seen = (await events.next(isNode('b'))).data
  assert.equal(seen.state, 'up')
  assert.equal(seen.url, b.url)
  // Its first heartbeat may come before its workers are up: their kinds follow as a change.
  const joined = seen.kinds.includes('hold') ? seen : (await events.next(isNode('b', (n) => n.kinds.includes('hold')))).data
  assert.equal(joined.workers, 1)
  assert.equal(joined.maxMemory, 64 * 1024 * 1024)
  assert.ok(joined.kinds.includes('hold') && joined.kinds.includes('checksum'))
  assert.equal(joined.pulledBytes, 0)
  assert.equal(joined.servedBytes, 0)
  // A stream asked for other topics only carries no cluster.node (but the snapshot's view).
  const jobsOnly = await subscribe(a, '?topics=jobs')
  const first = await jobsOnly.nextOf('snapshot')
  assert.deepEqual(first.data.cluster.nodes.map((n: Json) => n.name), ['a', 'b'])
  jobsOnly.close()
  assert.equal(jobsOnly.messages.filter((m) => m.type === 'cluster.node').length, 0)
})

test('job.placed on the submitting node names the node that holds the job\'s bytes', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(100_000)
  const id = await upload(b, bytes)
  const done = await call(a, 'POST', '/v1/jobs?wait=20000', { kind: 'checksum', inputs: [id] })
  assert.equal(done.status, 200, JSON.stringify(done.body))
  assert.equal(done.body.node, 'b')
  const placed = await events.any(isPlaced(done.body.id))
  assert.deepEqual(placed.data, { id: done.body.id, kind: 'checksum', node: 'b', from: 'a', inputBytes: 100_000, localBytes: 100_000 })
  assert.equal((await call(b, 'DELETE', `/v1/buffers/${id}`)).status, 204)
})

test('after a cross-node concat, A reports the bytes it pulled and B the bytes it served, on the stream and in GET /v1/cluster', { skip, timeout: 60_000 }, async () => {
  const large = crypto.randomBytes(300_000)
  const small = crypto.randomBytes(20_000)
  const onA = await upload(a, large)
  const onB = await upload(b, small)
  const done = await call(a, 'POST', '/v1/jobs?wait=20000', { kind: 'concat', inputs: [onA, onB] })
  assert.equal(done.body.state, 'succeeded', JSON.stringify(done.body))
  assert.equal(done.body.node, 'a')
  assert.equal(done.body.bytesPulled, small.length)
  const placed = await events.any(isPlaced(done.body.id))
  assert.deepEqual(placed.data, { id: done.body.id, kind: 'concat', node: 'a', from: 'a', inputBytes: 320_000, localBytes: 300_000 })
  await events.any(isNode('a', (n) => n.pulledBytes === small.length))
  await events.any(isNode('b', (n) => n.servedBytes === small.length))
  const listed = await call(b, 'GET', '/v1/cluster')
  const byName = new Map<string, Json>(listed.body.nodes.map((n: Json) => [n.name, n]))
  assert.equal(byName.get('a')?.pulledBytes, small.length)
  assert.equal(byName.get('b')?.servedBytes, small.length)
  assert.equal(listed.body.servedBytes.a, small.length, 'the per-peer map agrees with the total')
  // A keeps its replica of onB (the failover test below runs a job from it).
  for (const id of [onA, done.body.outputs[0]]) assert.equal((await call(a, 'DELETE', `/v1/buffers/${id as string}`)).status, 204)
  replicaOnA = { id: onB, bytes: small }
})

test('B SIGKILLed: its entry turns lost on A\'s stream, then A places B\'s queued job again (job.placed from A) and it runs there', { skip, timeout: 90_000 }, async () => {
  assert.ok(replicaOnA !== null, 'the concat test ran first')
  const { id: z, bytes } = replicaOnA
  // Only B serves `hold`: two of them take both of B's queue slots (one worker, one thread).
  const holds: string[] = []
  for (let i = 0; i < 2; i++) {
    const r = await call(a, 'POST', '/v1/jobs', { kind: 'hold' })
    assert.equal(r.body.node, 'b')
    holds.push(r.body.id)
    assert.deepEqual((await events.any(isPlaced(r.body.id))).data, { id: r.body.id, kind: 'hold', node: 'b', from: 'a', inputBytes: 0, localBytes: 0 })
  }
  // B's own figures say both are taken: one running, one in its pool's queue.
  await events.any(isNode('b', (n) => n.running === 1 && n.queued === 1))
  // Submitted to B, which holds Z: placed there, where it waits in B's BullMQ queue.
  const queued = await call(b, 'POST', '/v1/jobs', { kind: 'checksum', inputs: [z] })
  assert.equal(queued.status, 202, JSON.stringify(queued.body))
  assert.equal(queued.body.node, 'b')
  assert.equal((await call(a, 'GET', `/v1/jobs/${queued.body.id as string}`)).body.state, 'queued')

  await b.stop('SIGKILL')
  const lost = await events.next(isNode('b', (n) => n.state === 'lost'))
  const moved = await events.next(isPlaced(queued.body.id))
  assert.ok(events.messages.indexOf(lost) < events.messages.indexOf(moved), 'lost first, then placed again')
  assert.deepEqual(moved.data, { id: queued.body.id, kind: 'checksum', node: 'a', from: 'a', inputBytes: bytes.length, localBytes: bytes.length })
  const ran = await call(a, 'GET', `/v1/jobs/${queued.body.id as string}?wait=20000`)
  assert.equal(ran.body.state, 'succeeded', JSON.stringify(ran.body))
  assert.equal(ran.body.node, 'a')
  assert.equal(ran.body.result.digest, sha(bytes))
  for (const id of holds) assert.equal((await call(a, 'GET', `/v1/jobs/${id}?wait=20000`)).body.error?.code, 'NODE_LOST')
})

test('every message matches its AsyncAPI schema, and no node\'s cluster.node repeats its entry unchanged', { skip, timeout: 30_000 }, async () => {
  const spec = loadAsyncApi()
  const types = new Set(events.messages.map((m) => m.type))
  for (const type of ['snapshot', 'cluster.node', 'job.placed']) assert.ok(types.has(type), `the stream carried ${type}`)
  for (const message of events.messages) spec.check(message)
  // The AsyncAPI entry is the REST one (GET /v1/cluster), field for field.
  assert.deepEqual(Object.keys(spec.document.components.schemas.ClusterNode.properties).sort(), Object.keys(ClusterNodeSchema.properties).sort())

  const last = new Map<string, string>()
  for (const m of events.messages.filter((x) => x.type === 'cluster.node')) {
    const { lastSeen: _lastSeen, ...figures } = m.data
    const text = JSON.stringify(figures, Object.keys(figures).sort())
    assert.notEqual(last.get(m.data.name), text, `cluster.node for ${m.data.name as string} repeated an unchanged entry`)
    last.set(m.data.name, text)
  }
})
