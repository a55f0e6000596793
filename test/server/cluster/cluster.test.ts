// A real cluster on this machine: redis-server on a free loopback port and nodes as separate
// server processes with their own ports, sockets and quotas. Placement by bytes, a two-node input
// pulled and verified, buffers read through any node (Range included), a killed node's queued and
// running jobs ended, Redis stopped and started again, and every node's descriptors back to
// their baseline at the end.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { call, clusterUntil, startNode, upload, type Json, type NodeProcess } from '../../helpers/cluster-node'
import { countFds, idleFds, memfdDescriptors, settledCount } from '../../helpers/proc'
import { haveRedis, RedisServer } from '../../helpers/redis'

const HOLD_KIND = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'kinds', 'hold.js')
const LOST_AFTER = '1500'
const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

async function bytesOf (node: NodeProcess, id: string, range?: string): Promise<{ status: number, bytes: Buffer, headers: Headers }> {
  const response = await fetch(`${node.url}/v1/buffers/${id}/content`, { headers: range === undefined ? { connection: 'close' } : { range, connection: 'close' } })
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers }
}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex')

const redis = new RedisServer()
let a: NodeProcess
let b: NodeProcess
let c: NodeProcess
const baseline = new Map<NodeProcess, { fds: number, memfds: number }>()

before(async () => {
  if (skip !== false) return
  await redis.start()
  ;[a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (name) => await startNode(name, redis.url, ['--node-lost-after', LOST_AFTER])))
  await clusterUntil(a, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up' && x.kinds.includes('concat'))))
  for (const node of [a, b, c]) baseline.set(node, { fds: await idleFds(node.pid), memfds: memfdDescriptors(node.pid).length })
})

after(async () => {
  for (const node of [a, b, c]) await node?.stop()
  await redis.close()
})

test('GET /v1/cluster on any node lists every node up, with its URL, workers, kinds and memory', { skip, timeout: 60_000 }, async () => {
  const r = await call(b, 'GET', '/v1/cluster')
  assert.equal(r.status, 200)
  assert.equal(r.body.self, 'b')
  assert.deepEqual(r.body.nodes.map((n: Json) => n.name), ['a', 'b', 'c'])
  const nodeA = r.body.nodes[0]
  assert.equal(nodeA.url, a.url)
  assert.equal(nodeA.state, 'up')
  assert.equal(nodeA.workers, 1)
  assert.equal(nodeA.maxMemory, 64 * 1024 * 1024)
  assert.ok(Date.now() - Date.parse(nodeA.lastSeen) < 5000)
})

test('a buffer made on A is read through B and C (JSON, whole bytes, a Range) and says it lives on A', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(300_000)
  const created = await call(a, 'POST', '/v1/buffers', bytes)
  assert.equal(created.status, 201)
  assert.equal(created.body.node, 'a')
  const id: string = created.body.id
  assert.equal((await call(a, 'GET', '/v1/buffers')).body.buffers.find((x: Json) => x.id === id).node, 'a')
  const info = await call(c, 'GET', `/v1/buffers/${id}`)
  assert.equal(info.status, 200)
  assert.equal(info.body.node, 'a')
  assert.equal(info.body.size, bytes.length)
  const whole = await bytesOf(b, id)
  assert.equal(whole.status, 200)
  assert.ok(whole.bytes.equals(bytes))
  const part = await bytesOf(c, id, 'bytes=1000-1999')
  assert.equal(part.status, 206)
  assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${bytes.length}`)
  assert.ok(part.bytes.equals(bytes.subarray(1000, 2000)))
  const unsatisfiable = await bytesOf(b, id, `bytes=${bytes.length + 10}-`)
  assert.equal(unsatisfiable.status, 416)
  const missing = await call(b, 'GET', '/v1/buffers/buf_nosuchbufferxxxx')
  assert.equal(missing.status, 404)
  assert.equal(missing.body.error.code, 'NOT_FOUND')
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${id}`)).status, 204)
})

test('a job submitted to B whose input lives on A runs on A, pulls nothing, and is visible from C', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(100_000)
  const id = await upload(a, bytes)
  const submitted = await call(b, 'POST', '/v1/jobs?wait=10000', { kind: 'checksum', inputs: [id] })
  assert.equal(submitted.status, 200, JSON.stringify(submitted.body))
  assert.equal(submitted.body.state, 'succeeded')
  assert.equal(submitted.body.node, 'a')
  assert.equal(submitted.body.bytesPulled, 0)
  assert.equal(submitted.body.result.digest, sha(bytes))
  assert.deepEqual(submitted.body.inputs, [id])
  const seen = await call(c, 'GET', `/v1/jobs/${submitted.body.id}`)
  assert.equal(seen.status, 200)
  assert.equal(seen.body.state, 'succeeded')
  assert.equal(seen.body.node, 'a')
  assert.equal((await call(c, 'GET', '/v1/jobs/job_nosuchjobxxxxxxx')).body.error.code, 'NOT_FOUND')
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${id}`)).status, 204)
})

test('concat of inputs on A (large) and B (small) submitted to C runs on A, pulls B\'s bytes (sha256-checked) and gives the right bytes', { skip, timeout: 60_000 }, async () => {
  const large = crypto.randomBytes(6 * 1024 * 1024 + 17)
  const small = crypto.randomBytes(5 * 1024 * 1024 + 3)
  const idLarge = await upload(a, large)
  const idSmall = await upload(b, small)
  const r = await call(c, 'POST', '/v1/jobs?wait=20000', { kind: 'concat', inputs: [idSmall, idLarge] })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.state, 'succeeded', JSON.stringify(r.body))
  assert.equal(r.body.node, 'a')
  assert.equal(r.body.bytesPulled, small.length)
  const out = r.body.outputs[0]
  const expected = Buffer.concat([small, large])
  const read = await bytesOf(c, out)
  assert.ok(read.bytes.equals(expected), 'the output read through C is small + large')
  assert.equal((await call(b, 'GET', `/v1/buffers/${out}`)).body.node, 'a')
  // A second job over the same inputs uses A's replica: nothing crosses the network again.
  const again = await call(b, 'POST', '/v1/jobs?wait=20000', { kind: 'checksum', inputs: [idSmall, idLarge].slice(0, 1) })
  assert.equal(again.body.state, 'succeeded', JSON.stringify(again.body))
  assert.equal(again.body.node, 'b', 'the small input\'s owner holds all of its bytes')
  const pulled = await call(a, 'GET', '/v1/cluster')
  assert.equal(pulled.body.pulledBytes.b, small.length)
  assert.equal((await call(b, 'GET', '/v1/cluster')).body.servedBytes.a, small.length)
  const metrics = await (await fetch(`${a.url}/metrics`, { headers: { connection: 'close' } })).text()
  assert.match(metrics, new RegExp(`memfd_pool_cluster_pulled_bytes\\{peer="b"\\} ${small.length}`))
  // Deleting the original on B frees A's replica too (the deletion is published).
  for (const [node, id] of [[a, idLarge], [b, idSmall], [a, out]] as const) assert.equal((await call(node, 'DELETE', `/v1/buffers/${id}`)).status, 204)
  const left = await settledCount(() => memfdDescriptors(a.pid).length, baseline.get(a)?.memfds, 5000)
  assert.equal(left, baseline.get(a)?.memfds, 'A holds no replica or output any more')
})

test('100 short jobs with ?wait on alternating nodes all answer 200 succeeded (a record read as its job finishes is read again)', { skip, timeout: 60_000 }, async () => {
  const nodes = [a, b, c]
  const counts: Record<string, number> = {}
  for (let i = 0; i < 100; i++) {
    const r = await call(nodes[i % 3], 'POST', '/v1/jobs?wait=10000', { kind: 'noop' })
    assert.equal(r.status, 200, `job ${i}: ${JSON.stringify(r.body)}`)
    assert.equal(r.body.state, 'succeeded')
    counts[r.body.node] = (counts[r.body.node] ?? 0) + 1
  }
  assert.equal(Object.values(counts).reduce((x, y) => x + y, 0), 100)
})

test('a killed node: its queued job with a replica elsewhere runs there, one whose input only it held fails INPUT_LOST, its running jobs fail NODE_LOST', { skip, timeout: 90_000 }, async () => {
  const d = await startNode('d', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  try {
    await clusterUntil(a, (nodes) => nodes.some((n) => n.name === 'd' && n.state === 'up' && n.kinds.includes('hold')))
    const z = crypto.randomBytes(1000)
    const v = crypto.randomBytes(2000)
    const idZ = await upload(d, z)
    const idV = await upload(d, v)
    // B gets a replica of Z: a concat whose larger input is B's runs on B and pulls Z.
    const idW = await upload(b, crypto.randomBytes(50_000))
    const warm = await call(a, 'POST', '/v1/jobs?wait=20000', { kind: 'concat', inputs: [idW, idZ] })
    assert.equal(warm.body.node, 'b', JSON.stringify(warm.body))
    assert.equal(warm.body.bytesPulled, z.length)
    // Only D serves `hold`: two of them fill D's share of its queue (one worker, one thread: two taken at once).
    const holds = []
    for (let i = 0; i < 2; i++) holds.push((await call(a, 'POST', '/v1/jobs', { kind: 'hold' })).body.id)
    for (const id of holds) {
      const deadline = Date.now() + 10_000
      while ((await call(c, 'GET', `/v1/jobs/${id}`)).body.state !== 'running') {
        assert.ok(Date.now() < deadline, `hold ${id} never started`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const onZ = await call(a, 'POST', '/v1/jobs', { kind: 'checksum', inputs: [idZ] })
    const onV = await call(a, 'POST', '/v1/jobs', { kind: 'checksum', inputs: [idV] })
    assert.equal(onZ.status, 202)
    assert.equal(onZ.body.node, 'd', 'placed with its bytes, on D')
    assert.equal(onV.body.node, 'd')
    assert.equal((await call(b, 'GET', `/v1/jobs/${onZ.body.id}`)).body.state, 'queued')

    await d.stop('SIGKILL')
    await clusterUntil(a, (nodes) => nodes.some((n) => n.name === 'd' && n.state === 'lost'))
    const movedZ = await call(c, 'GET', `/v1/jobs/${onZ.body.id}?wait=20000`)
    assert.equal(movedZ.body.state, 'succeeded', JSON.stringify(movedZ.body))
    assert.equal(movedZ.body.node, 'b', 'run from B\'s replica')
    assert.equal(movedZ.body.result.digest, sha(z))
    assert.equal(movedZ.body.bytesPulled, 0)
    const lostV = await call(c, 'GET', `/v1/jobs/${onV.body.id}?wait=20000`)
    assert.equal(lostV.body.state, 'failed')
    assert.equal(lostV.body.error.code, 'INPUT_LOST')
    assert.match(lostV.body.error.message, new RegExp(`^Buffer ${idV} lived on node d, lost since .*; node d was lost before the job ran$`))
    for (const id of holds) {
      const held = await call(b, 'GET', `/v1/jobs/${id}?wait=20000`)
      assert.equal(held.body.state, 'failed')
      assert.equal(held.body.error.code, 'NODE_LOST')
    }
    // V is gone with D: a new job on it is refused, not queued (the directory says it died with D); Z still runs from its replica.
    const refused = await call(a, 'POST', '/v1/jobs', { kind: 'checksum', inputs: [idV] })
    assert.equal(refused.status, 410)
    assert.equal(refused.body.error.code, 'BUFFER_LOST')
    assert.match(refused.body.error.message, new RegExp(`${idV} lived on node d, lost since `))
    const fromReplica = await call(a, 'POST', '/v1/jobs?wait=10000', { kind: 'checksum', inputs: [idZ] })
    assert.equal(fromReplica.body.node, 'b', JSON.stringify(fromReplica.body))
    assert.equal(fromReplica.body.result.digest, sha(z))
    // B's replica of Z is the last copy (its owner is gone, so no deletion was published): B deletes it by Z's id.
    for (const id of [idW, warm.body.outputs[0], idZ, movedZ.body.outputs[0], fromReplica.body.outputs[0]].filter((x) => x !== undefined)) {
      assert.equal((await call(b, 'DELETE', `/v1/buffers/${id}`)).status, 204, `delete ${id as string}`)
    }
  } finally {
    await d.stop('SIGKILL')
  }
})

test('SIGTERM: a node leaves at once, cancels its running jobs after the grace, exits 0, and its queued job is dealt with by the others', { skip, timeout: 90_000 }, async () => {
  const e = await startNode('e', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  try {
    await clusterUntil(a, (nodes) => nodes.some((n) => n.name === 'e' && n.state === 'up' && n.kinds.includes('hold')))
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await call(b, 'POST', '/v1/jobs', { kind: 'hold' })).body.id)
    const deadline = Date.now() + 10_000
    while ((await Promise.all(ids.slice(0, 2).map(async (id) => (await call(a, 'GET', `/v1/jobs/${id}`)).body.state))).some((s) => s !== 'running')) {
      assert.ok(Date.now() < deadline, 'the holds never started')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.equal((await call(a, 'GET', `/v1/jobs/${ids[2]}`)).body.state, 'queued')
    const exited = new Promise<number | null>((resolve) => e.child.once('exit', (code) => { resolve(code) }))
    e.child.kill('SIGTERM')
    assert.equal(await exited, 0)
    await clusterUntil(a, (nodes) => nodes.some((n) => n.name === 'e' && n.state === 'lost'), 3000)
    for (const id of ids.slice(0, 2)) {
      const job = await call(c, 'GET', `/v1/jobs/${id}?wait=10000`)
      assert.equal(job.body.state, 'cancelled', JSON.stringify(job.body))
      assert.equal(job.body.node, 'e')
    }
    // Nobody else serves `hold`: the queued one cannot be placed again.
    const queued = await call(c, 'GET', `/v1/jobs/${ids[2]}?wait=10000`)
    assert.equal(queued.body.state, 'failed')
    assert.equal(queued.body.error.code, 'NODE_LOST')
  } finally {
    await e.stop('SIGKILL')
  }
})

test('cancel through any node: a job running on another node is cancelled there, a queued one leaves its queue, a finished one is 409', { skip, timeout: 90_000 }, async () => {
  const f = await startNode('f', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  try {
    await clusterUntil(a, (nodes) => nodes.some((n) => n.name === 'f' && n.state === 'up' && n.kinds.includes('hold')))
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await call(a, 'POST', '/v1/jobs', { kind: 'hold' })).body.id)
    const deadline = Date.now() + 10_000
    while ((await call(b, 'GET', `/v1/jobs/${ids[0]}`)).body.state !== 'running') {
      assert.ok(Date.now() < deadline, 'the hold never started')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.equal((await call(b, 'GET', `/v1/jobs/${ids[2]}`)).body.state, 'queued')
    const queued = await call(c, 'POST', `/v1/jobs/${ids[2]}/cancel`)
    assert.equal(queued.status, 200, JSON.stringify(queued.body))
    assert.equal(queued.body.state, 'cancelled')
    assert.equal((await call(a, 'GET', `/v1/jobs/${ids[2]}`)).body.state, 'cancelled')
    for (const id of ids.slice(0, 2)) {
      const r = await call(b, 'POST', `/v1/jobs/${id}/cancel`)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const ended = await call(c, 'GET', `/v1/jobs/${id}?wait=10000`)
      assert.equal(ended.body.state, 'cancelled', JSON.stringify(ended.body))
      assert.equal(ended.body.node, 'f')
    }
    const again = await call(a, 'POST', `/v1/jobs/${ids[0]}/cancel`)
    assert.equal(again.status, 409)
    assert.equal(again.body.error.code, 'JOB_FINISHED')
    assert.equal((await call(a, 'POST', '/v1/jobs/job_nosuchjobxxxxxxx/cancel')).status, 404)
  } finally {
    await f.stop()
  }
})

test('Redis stopped: new cluster jobs get 503 CLUSTER_UNAVAILABLE, local buffers keep working; Redis back: jobs run again', { skip, timeout: 90_000 }, async () => {
  await redis.stop()
  const deadline = Date.now() + 10_000
  let refused = await call(a, 'POST', '/v1/jobs', { kind: 'noop' })
  while (refused.status !== 503 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    refused = await call(a, 'POST', '/v1/jobs', { kind: 'noop' })
  }
  assert.equal(refused.status, 503)
  assert.equal(refused.body.error.code, 'CLUSTER_UNAVAILABLE')
  assert.equal((await call(a, 'GET', '/v1/cluster')).status, 503)
  const bytes = crypto.randomBytes(4096)
  const id = await upload(a, bytes)
  assert.ok((await bytesOf(a, id)).bytes.equals(bytes))
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${id}`)).status, 204)

  await redis.start()
  // Redis came back empty (no persistence): the nodes register again on their next heartbeat.
  await clusterUntil(a, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')))
  const ran = await call(c, 'POST', '/v1/jobs?wait=10000', { kind: 'noop' })
  assert.equal(ran.status, 200, JSON.stringify(ran.body))
  assert.equal(ran.body.state, 'succeeded')
})

test('every node\'s descriptors are back at their baseline', { skip, timeout: 60_000 }, async () => {
  for (const node of [a, b, c]) {
    const base = baseline.get(node) as { fds: number, memfds: number }
    const buffers = (await call(node, 'GET', '/v1/buffers')).body.buffers
    assert.deepEqual(buffers.map((x: Json) => x.name), [], `${node.name} still holds buffers`)
    assert.equal(await settledCount(() => memfdDescriptors(node.pid).length, base.memfds, 5000), base.memfds, `${node.name}: memfds`)
    // Peer connections close once idle (fetch's keep-alive), Redis ones were reopened one for one.
    const fds = await settledCount(() => countFds(node.pid), base.fds, 15_000)
    assert.equal(fds, base.fds, `${node.name}: descriptors`)
  }
})
