// Pipelines across a real cluster: redis-server on a free loopback port and three nodes as
// separate server processes (C also serves the test kind `hold`). A pipeline is placed as a unit
// where its input bytes are, among nodes serving every kind of its steps; the node running it
// pulls what it lacks (sha256-checked); any node reads, waits on and cancels it; a pull that
// fails refuses it; Redis down refuses new ones; every node's descriptors end at their baseline.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { call, clusterUntil, startNode, upload, type Json, type NodeProcess } from '../../helpers/cluster-node'
import { countFds, idleFds, memfdDescriptors, settledCount } from '../../helpers/proc'
import { haveRedis, RedisServer } from '../../helpers/redis'

const HOLD_KIND = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'kinds', 'hold.js')
const LOST_AFTER = '1500'
const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

async function bytesOf (node: NodeProcess, id: string): Promise<Buffer> {
  const response = await fetch(`${node.url}/v1/buffers/${id}/content`, { headers: { connection: 'close' } })
  assert.equal(response.status, 200, `content of ${id}`)
  return Buffer.from(await response.arrayBuffer())
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex')
const step = (pipeline: Json, id: string): Json => pipeline.steps.find((s: Json) => s.id === id)

const redis = new RedisServer()
let a: NodeProcess
let b: NodeProcess
let c: NodeProcess
const baseline = new Map<NodeProcess, { fds: number, memfds: number }>()

before(async () => {
  if (skip !== false) return
  await redis.start()
  ;[a, b, c] = await Promise.all([
    startNode('a', redis.url, ['--node-lost-after', LOST_AFTER]),
    startNode('b', redis.url, ['--node-lost-after', LOST_AFTER]),
    startNode('c', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  ])
  await clusterUntil(a, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up' && x.kinds.includes('concat'))) &&
    nodes.some((x) => x.name === 'c' && x.kinds.includes('hold')))
  for (const node of [a, b, c]) baseline.set(node, { fds: await idleFds(node.pid), memfds: memfdDescriptors(node.pid).length })
})

after(async () => {
  for (const node of [a, b, c]) await node?.stop()
  await redis.close()
})

test('a pipeline submitted to B whose input lives on A runs on A, pulls nothing, and is read and waited on through C', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(200_000)
  const id = await upload(a, bytes)
  const submitted = await call(b, 'POST', '/v1/pipelines', {
    steps: [
      { id: 'sum', kind: 'checksum', inputs: [id] },
      { id: 'z', kind: 'gzip', inputs: [id], params: { level: 1 } },
      { id: 'back', kind: 'gunzip', inputs: [{ step: 'z' }] }
    ]
  })
  assert.ok(submitted.status === 201 || submitted.status === 200, JSON.stringify(submitted.body))
  assert.equal(submitted.body.node, 'a')
  assert.equal(submitted.body.bytesPulled, 0)
  assert.equal(submitted.headers.get('location'), `/v1/pipelines/${submitted.body.id as string}`)
  const done = await call(c, 'GET', `/v1/pipelines/${submitted.body.id as string}?wait=20000`)
  assert.equal(done.status, 200)
  assert.equal(done.body.state, 'succeeded', JSON.stringify(done.body))
  assert.equal(done.body.node, 'a')
  assert.equal(done.body.bytesPulled, 0)
  assert.deepEqual(step(done.body, 'sum').inputs, [id])
  assert.equal(step(done.body, 'sum').result.digest, sha(bytes))
  assert.deepEqual(Object.keys(done.body.outputs).sort(), ['back', 'sum'])
  const back = done.body.outputs.back[0]
  assert.equal(sha(await bytesOf(c, back)), sha(bytes), 'gzip then gunzip, read through C, gives the input back')
  assert.equal((await call(b, 'GET', `/v1/buffers/${back as string}`)).body.node, 'a')
  // The intermediate stayed on A and was freed there.
  assert.equal((await call(a, 'GET', `/v1/buffers/${step(done.body, 'z').outputs[0] as string}`)).status, 404)
  // The list is each node's own.
  assert.equal((await call(a, 'GET', '/v1/pipelines')).body.pipelines.find((p: Json) => p.id === done.body.id)?.node, 'a')
  assert.equal((await call(b, 'GET', '/v1/pipelines')).body.pipelines.some((p: Json) => p.id === done.body.id), false)
  const missing = await call(c, 'GET', '/v1/pipelines/pl_nosuchpipelinexx')
  assert.equal(missing.status, 404)
  assert.equal(missing.body.error.code, 'NOT_FOUND')
  assert.deepEqual(done.body.outputs.sum, [], 'a checksum makes no buffer')
  for (const x of [id, back]) assert.equal((await call(a, 'DELETE', `/v1/buffers/${x as string}`)).status, 204)
})

test('concat then checksum over inputs on A (large) and B (small), submitted to C: runs on A, pulls B\'s bytes once, right digest', { skip, timeout: 60_000 }, async () => {
  const large = crypto.randomBytes(6 * 1024 * 1024 + 17)
  const small = crypto.randomBytes(5 * 1024 * 1024 + 3)
  const idLarge = await upload(a, large)
  const idSmall = await upload(b, small)
  const spec = { steps: [{ id: 'both', kind: 'concat', inputs: [idSmall, idLarge] }, { id: 'sum', kind: 'checksum', inputs: [{ step: 'both' }] }] }
  const r = await call(c, 'POST', '/v1/pipelines?wait=20000', spec)
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.state, 'succeeded', JSON.stringify(r.body))
  assert.equal(r.body.node, 'a')
  assert.equal(r.body.bytesPulled, small.length)
  assert.equal(step(r.body, 'sum').result.digest, sha(Buffer.concat([small, large])))
  assert.deepEqual(step(r.body, 'both').inputs, [idSmall, idLarge], 'the original ids, not the replica\'s')
  assert.deepEqual(Object.keys(r.body.outputs), ['sum'])
  assert.equal((await call(a, 'GET', `/v1/buffers/${step(r.body, 'both').outputs[0] as string}`)).status, 404, 'the concat intermediate was freed')
  assert.equal((await call(a, 'GET', '/v1/cluster')).body.pulledBytes.b, small.length)
  // Again from B: still A (its bytes are larger), and A's replica serves: nothing crosses again.
  const again = await call(b, 'POST', '/v1/pipelines?wait=20000', spec)
  assert.equal(again.status, 200, JSON.stringify(again.body))
  assert.equal(again.body.node, 'a')
  assert.equal(again.body.bytesPulled, 0)
  assert.equal(step(again.body, 'sum').result.digest, step(r.body, 'sum').result.digest)
  assert.deepEqual([r.body.outputs.sum, again.body.outputs.sum], [[], []], 'a checksum makes no buffer')
  for (const [node, id] of [[a, idLarge], [b, idSmall]] as const) assert.equal((await call(node, 'DELETE', `/v1/buffers/${id}`)).status, 204)
  // B's deletion is published: A drops its replica too.
  assert.equal(await settledCount(() => memfdDescriptors(a.pid).length, baseline.get(a)?.memfds, 5000), baseline.get(a)?.memfds)
})

test('a step only C serves: placed on C, which pulls the input from A; waited on from A, cancelled from B', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(300_000)
  const id = await upload(a, bytes)
  const submitted = await call(a, 'POST', '/v1/pipelines', { name: 'held', steps: [{ id: 'h', kind: 'hold', inputs: [id] }, { id: 'after', kind: 'checksum', inputs: [{ step: 'h' }] }] })
  assert.equal(submitted.status, 201, JSON.stringify(submitted.body))
  assert.equal(submitted.body.node, 'c')
  assert.equal(submitted.body.bytesPulled, bytes.length)
  assert.deepEqual(step(submitted.body, 'h').inputs, [id])
  const pid: string = submitted.body.id
  const deadline = Date.now() + 10_000
  while (step((await call(b, 'GET', `/v1/pipelines/${pid}`)).body, 'h').state !== 'running') {
    assert.ok(Date.now() < deadline, 'the hold step never started')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const waiting = call(a, 'GET', `/v1/pipelines/${pid}?wait=20000`)
  const cancelled = await call(b, 'POST', `/v1/pipelines/${pid}/cancel`)
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body))
  assert.equal(cancelled.body.node, 'c')
  const ended = await waiting
  assert.equal(ended.status, 200)
  assert.equal(ended.body.state, 'cancelled', JSON.stringify(ended.body))
  assert.equal(ended.body.node, 'c')
  assert.equal(step(ended.body, 'after').state, 'cancelled')
  const twice = await call(a, 'POST', `/v1/pipelines/${pid}/cancel`)
  assert.equal(twice.status, 409)
  assert.equal(twice.body.error.code, 'PIPELINE_FINISHED')
  assert.equal((await call(b, 'POST', '/v1/pipelines/pl_nosuchpipelinexx/cancel')).status, 404)
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${id}`)).status, 204)
  assert.equal(await settledCount(() => memfdDescriptors(c.pid).length, baseline.get(c)?.memfds, 5000), baseline.get(c)?.memfds, 'C dropped its replica')
})

test('refusals: a kind no node serves (400, the kind and step named), a missing or unsealed input, a bad graph refused by the node it was passed on to', { skip, timeout: 60_000 }, async () => {
  const unknown = await call(b, 'POST', '/v1/pipelines', { steps: [{ id: 'ok', kind: 'noop' }, { id: 'odd', kind: 'nosuchkind' }] })
  assert.equal(unknown.status, 400)
  assert.equal(unknown.body.error.code, 'UNKNOWN_KIND')
  assert.match(unknown.body.error.message, /"odd".*"nosuchkind"/)
  const missing = await call(c, 'POST', '/v1/pipelines', { steps: [{ id: 's', kind: 'checksum', inputs: ['buf_nosuchbufferxxxx'] }] })
  assert.equal(missing.status, 404)
  assert.equal(missing.body.error.code, 'NOT_FOUND')
  assert.match(missing.body.error.message, /"s"/)
  const open = await call(a, 'POST', '/v1/buffers', { size: 10 })
  const unsealed = await call(b, 'POST', '/v1/pipelines', { steps: [{ id: 's', kind: 'checksum', inputs: [open.body.id] }] })
  assert.equal(unsealed.status, 409)
  assert.equal(unsealed.body.error.code, 'BUFFER_NOT_SEALED')
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${open.body.id as string}`)).status, 204)
  // Placed on A (its input is there) from B, and refused by A's own check of the graph.
  const id = await upload(a, crypto.randomBytes(1000))
  const cycle = await call(b, 'POST', '/v1/pipelines', {
    steps: [{ id: 'x', kind: 'concat', inputs: [id, { step: 'y' }] }, { id: 'y', kind: 'concat', inputs: [{ step: 'x' }] }]
  })
  assert.equal(cycle.status, 400, JSON.stringify(cycle.body))
  assert.equal(cycle.body.error.code, 'INVALID_PIPELINE')
  assert.match(cycle.body.error.message, /cycle/)
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${id}`)).status, 204)
})

test('a stand-in node: a pull whose sha256 does not match refuses PULL_FAILED, one whose buffer is gone INPUT_LOST, kinds no one node serves together 400; no memfd left behind', { skip, timeout: 60_000 }, async () => {
  // A node of the registry that serves one kind of its own and holds two buffers: it misreports
  // the digest of the first and has lost the second by the time it is pulled.
  const bytes = crypto.randomBytes(100_000)
  const id = 'buf_fakenodebuffer01'
  const gone = 'buf_fakenodebuffer02'
  const fake = http.createServer((req, res) => {
    const url = req.url ?? ''
    if (url === `/v1/buffers/${id}` || url === `/v1/buffers/${gone}`) {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ id: url.slice('/v1/buffers/'.length), size: bytes.length, sealed: true, name: '' }))
    } else if (url === `/v1/cluster/buffers/${id}/digest`) {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ size: bytes.length, sha256: '0'.repeat(64) }))
    } else if (url === `/v1/buffers/${id}/content`) {
      const [, from, to] = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? ['', '0', String(bytes.length - 1)]
      res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${bytes.length}` })
      res.end(bytes.subarray(Number(from), Number(to) + 1))
    } else {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not here' } }))
    }
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  const client = new Redis(redis.url)
  const entry = { name: 'fake', url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, workers: 1, kinds: ['fakeonly'], memoryInUse: 0, maxMemory: 1, queued: 0, running: 0, maxQueue: 1, lastSeen: Date.now() + 3_600_000 }
  try {
    await client.hset('memfd-pool:nodes', 'fake', JSON.stringify(entry))
    const r = await call(b, 'POST', '/v1/pipelines?wait=10000', { steps: [{ id: 's', kind: 'checksum', inputs: [id] }] })
    assert.equal(r.status, 503, JSON.stringify(r.body))
    assert.equal(r.body.error.code, 'PULL_FAILED')
    assert.match(r.body.error.message, /sha256/)
    const lost = await call(c, 'POST', '/v1/pipelines', { steps: [{ id: 's', kind: 'checksum', inputs: [gone] }] })
    assert.equal(lost.status, 404, JSON.stringify(lost.body))
    assert.equal(lost.body.error.code, 'INPUT_LOST')
    const apart = await call(a, 'POST', '/v1/pipelines', { steps: [{ id: 'h', kind: 'hold' }, { id: 'f', kind: 'fakeonly' }] })
    assert.equal(apart.status, 400)
    assert.equal(apart.body.error.code, 'UNKNOWN_KIND')
    assert.match(apart.body.error.message, /every kind.*hold, fakeonly/)
  } finally {
    await client.hdel('memfd-pool:nodes', 'fake')
    client.disconnect()
    await new Promise((resolve) => fake.close(resolve))
  }
  for (const node of [a, b, c]) {
    assert.equal(await settledCount(() => memfdDescriptors(node.pid).length, baseline.get(node)?.memfds, 5000), baseline.get(node)?.memfds, `${node.name}: memfds`)
    assert.deepEqual((await call(node, 'GET', '/v1/pipelines')).body.pipelines.filter((p: Json) => p.state === 'running'), [])
  }
})

test('Redis stopped: a new pipeline gets 503 CLUSTER_UNAVAILABLE, a pipeline held elsewhere too, one held here is still read; Redis back: they run again', { skip, timeout: 90_000 }, async () => {
  const ran = await call(b, 'POST', '/v1/pipelines?wait=10000', { steps: [{ id: 'n', kind: 'noop' }] })
  assert.equal(ran.body.state, 'succeeded', JSON.stringify(ran.body))
  const owner = [a, b, c].find((n) => n.name === ran.body.node) as NodeProcess
  const other = [a, b, c].find((n) => n !== owner) as NodeProcess
  await redis.stop()
  const deadline = Date.now() + 10_000
  let refused = await call(a, 'POST', '/v1/pipelines', { steps: [{ id: 'n', kind: 'noop' }] })
  while (refused.status !== 503 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    refused = await call(a, 'POST', '/v1/pipelines', { steps: [{ id: 'n', kind: 'noop' }] })
  }
  assert.equal(refused.status, 503)
  assert.equal(refused.body.error.code, 'CLUSTER_UNAVAILABLE')
  assert.equal((await call(owner, 'GET', `/v1/pipelines/${ran.body.id as string}`)).body.state, 'succeeded')
  const elsewhere = await call(other, 'GET', `/v1/pipelines/${ran.body.id as string}`)
  assert.equal(elsewhere.status, 503)
  assert.equal(elsewhere.body.error.code, 'CLUSTER_UNAVAILABLE')

  await redis.start()
  await clusterUntil(a, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')))
  const back = await call(c, 'POST', '/v1/pipelines?wait=10000', { steps: [{ id: 'n', kind: 'noop' }] })
  assert.equal(back.status, 200, JSON.stringify(back.body))
  assert.equal(back.body.state, 'succeeded')
  assert.equal((await call(a, 'GET', `/v1/pipelines/${back.body.id as string}`)).body.state, 'succeeded')
})

test('every node\'s buffers, memfds and descriptors are back at their baseline', { skip, timeout: 60_000 }, async () => {
  for (const node of [a, b, c]) {
    const base = baseline.get(node) as { fds: number, memfds: number }
    assert.deepEqual((await call(node, 'GET', '/v1/buffers')).body.buffers.map((x: Json) => x.name), [], `${node.name} still holds buffers`)
    assert.equal(await settledCount(() => memfdDescriptors(node.pid).length, base.memfds, 5000), base.memfds, `${node.name}: memfds`)
    assert.equal(await settledCount(() => countFds(node.pid), base.fds, 15_000), base.fds, `${node.name}: descriptors`)
  }
})
