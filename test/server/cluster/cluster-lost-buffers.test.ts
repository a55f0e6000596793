// The buffer directory (server/cluster/buffer-directory.ts) on a real cluster: redis-server on a
// free loopback port and nodes as separate server processes. A buffer is found through its
// directory entry (only its owner is asked), a SIGKILLed node's buffers answer 410 BUFFER_LOST
// naming it (a replica elsewhere still serves, and can be pulled from), a node started again
// under the same name drops the entries of its earlier life, an owner that does not answer is
// 503, DELETE and expiry remove an entry, changes made while Redis was away (emptied, or keeping
// its data while it refused the node) are repaired by the resync, and every node's descriptors
// return to their baseline.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { call, clusterUntil, startNode, upload, type Json, type NodeProcess } from '../../helpers/cluster-node'
import { countFds, idleFds, memfdDescriptors, settledCount } from '../../helpers/proc'
import { haveRedis, RedisServer } from '../../helpers/redis'

const LOST_AFTER = '1500'
const OWNER_KEY = 'memfd-pool:buffer-owner'
const setKey = (node: string): string => `memfd-pool:node-buffers:${node}`
const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

async function content (node: NodeProcess, id: string): Promise<{ status: number, bytes: Buffer, text: string }> {
  const response = await fetch(`${node.url}/v1/buffers/${id}/content`, { headers: { connection: 'close' } })
  const bytes = Buffer.from(await response.arrayBuffer())
  return { status: response.status, bytes, text: bytes.toString() }
}

/** Reads `read` until `check` holds on its value, within `ms` (Redis is written a moment after the answer). */
async function until<T> (what: string, read: () => Promise<T>, check: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  let value = await read()
  while (!check(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: never got there; last ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
    value = await read()
  }
  return value
}

const redis = new RedisServer()
let client: Redis
let a: NodeProcess
let b: NodeProcess
let c: NodeProcess
const baseline = new Map<NodeProcess, { fds: number, memfds: number }>()
const owner = async (id: string): Promise<string | null> => await client.hget(OWNER_KEY, id)

async function takeBaseline (node: NodeProcess): Promise<void> {
  baseline.set(node, { fds: await idleFds(node.pid), memfds: memfdDescriptors(node.pid).length })
}

before(async () => {
  if (skip !== false) return
  await redis.start()
  client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  client.on('error', () => {})
  ;[a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (name) => await startNode(name, redis.url, ['--node-lost-after', LOST_AFTER])))
  await clusterUntil(b, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')))
  for (const node of [b, c]) await takeBaseline(node)
})

after(async () => {
  for (const node of [a, b, c]) await node?.stop('SIGKILL')
  client?.disconnect()
  await redis.close()
})

// Shared by the tests below, in order: A's buffer with no copy, A's buffer replicated on C.
let onlyOnA = ''
let replicated = ''
const replicatedBytes = crypto.randomBytes(3000)
let replicaOutput = ''
let leftOnD = ''

test('a buffer made on A is entered in the directory as A\'s, and B finds it by asking A alone (a stopped C is never asked)', { skip, timeout: 60_000 }, async () => {
  const bytes = crypto.randomBytes(10_000)
  onlyOnA = await upload(a, bytes)
  await until('the directory entry', async () => await owner(onlyOnA), (v) => v === 'a')
  assert.ok(await client.sismember(setKey('a'), onlyOnA))
  // C frozen: a lookup that asked every node would wait for C's answer until the peer timeout (5 s).
  process.kill(c.pid, 'SIGSTOP')
  let took: number
  let info: { status: number, body: Json }
  let read: Awaited<ReturnType<typeof content>>
  try {
    const started = Date.now()
    info = await call(b, 'GET', `/v1/buffers/${onlyOnA}`)
    read = await content(b, onlyOnA)
    took = Date.now() - started
  } finally {
    process.kill(c.pid, 'SIGCONT')
  }
  assert.equal(info.status, 200, JSON.stringify(info.body))
  assert.equal(info.body.node, 'a')
  assert.equal(info.body.size, bytes.length)
  assert.equal(read.status, 200)
  assert.ok(read.bytes.equals(bytes))
  assert.ok(took < 4500, `answered through the directory in ${took} ms, not after C's timeout`)
  // An id nobody has: no entry, every node asked, 404 as before.
  const missing = await call(b, 'GET', '/v1/buffers/buf_nosuchbufferxxxx')
  assert.equal(missing.status, 404)
  assert.equal(missing.body.error.code, 'NOT_FOUND')
  await clusterUntil(b, (nodes) => nodes.every((n) => n.state === 'up'))
})

test('an owner that is up but does not answer: 503 NODE_UNREACHABLE naming it, not 404', { skip, timeout: 60_000 }, async () => {
  process.kill(a.pid, 'SIGSTOP')
  let info: { status: number, body: Json }
  try {
    info = await call(b, 'GET', `/v1/buffers/${onlyOnA}`)
  } finally {
    process.kill(a.pid, 'SIGCONT')
  }
  assert.equal(info.status, 503, JSON.stringify(info.body))
  assert.equal(info.body.error.code, 'NODE_UNREACHABLE')
  assert.match(info.body.error.message, new RegExp(`^Buffer ${onlyOnA} is on node a \\(${a.url}\\), which did not answer`))
  await clusterUntil(b, (nodes) => nodes.every((n) => n.state === 'up'))
  assert.equal((await call(b, 'GET', `/v1/buffers/${onlyOnA}`)).status, 200)
})

test('a replica pulled to C is not entered as C\'s, and GET /v1/cluster counts the buffers each node owns', { skip, timeout: 60_000 }, async () => {
  replicated = await upload(a, replicatedBytes)
  // A concat whose larger input is C's runs on C and pulls A's small one into a replica there.
  const large = await upload(c, crypto.randomBytes(50_000))
  const job = await call(b, 'POST', '/v1/jobs?wait=20000', { kind: 'concat', inputs: [large, replicated] })
  assert.equal(job.body.state, 'succeeded', JSON.stringify(job.body))
  assert.equal(job.body.node, 'c')
  assert.equal(job.body.bytesPulled, replicatedBytes.length)
  replicaOutput = job.body.outputs[0]
  assert.equal((await call(c, 'DELETE', `/v1/buffers/${large}`)).status, 204)
  const local = (await call(c, 'GET', '/v1/buffers')).body.buffers.find((x: Json) => x.name === `replica of ${replicated}`)
  assert.ok(local !== undefined, 'C holds the replica')
  await until('the output\'s entry', async () => await owner(replicaOutput), (v) => v === 'c')
  assert.equal(await owner(replicated), 'a')
  assert.equal(await owner(local.id), null, 'the replica\'s local id is no entry')
  assert.deepEqual(await client.smembers(setKey('c')), [replicaOutput])
  // C's heartbeat reports one buffer of its own (the output), not the replica; A two.
  const nodes = await clusterUntil(b, (nodes) => nodes.find((n) => n.name === 'c')?.buffers === 1 && nodes.find((n) => n.name === 'a')?.buffers === 2)
  assert.equal(nodes.find((n) => n.name === 'b')?.buffers, 0)
})

test('SIGKILL A: on B its buffer answers 410 BUFFER_LOST naming A (JSON and content), a job on it is refused 410; the one replicated on C is still served', { skip, timeout: 60_000 }, async () => {
  await a.stop('SIGKILL')
  const nodes = await clusterUntil(b, (nodes) => nodes.some((n) => n.name === 'a' && n.state === 'lost'))
  const lastSeen: string = nodes.find((n) => n.name === 'a')?.lastSeen
  for (const node of [b, c]) {
    const info = await call(node, 'GET', `/v1/buffers/${onlyOnA}`)
    assert.equal(info.status, 410, JSON.stringify(info.body))
    assert.equal(info.body.error.code, 'BUFFER_LOST')
    assert.equal(info.body.error.message, `Buffer ${onlyOnA} lived on node a, lost since ${lastSeen}`)
    const read = await content(node, onlyOnA)
    assert.equal(read.status, 410)
    assert.equal(JSON.parse(read.text).error.code, 'BUFFER_LOST')
    assert.match(JSON.parse(read.text).error.message, / lived on node a, lost since /)
  }
  const job = await call(b, 'POST', '/v1/jobs', { kind: 'checksum', inputs: [onlyOnA] })
  assert.equal(job.status, 410, JSON.stringify(job.body))
  assert.equal(job.body.error.code, 'BUFFER_LOST')
  // The replica on C answers for A's buffer, on C and through B, bytes and all.
  for (const node of [b, c]) {
    const info = await call(node, 'GET', `/v1/buffers/${replicated}`)
    assert.equal(info.status, 200, JSON.stringify(info.body))
    assert.equal(info.body.node, 'c')
    assert.equal(info.body.id, replicated)
    const read = await content(node, replicated)
    assert.equal(read.status, 200, read.text)
    assert.ok(read.bytes.equals(replicatedBytes), `${node.name} serves the replica's bytes`)
  }
  const fromReplica = await call(b, 'POST', '/v1/jobs?wait=10000', { kind: 'checksum', inputs: [replicated] })
  assert.equal(fromReplica.body.state, 'succeeded', JSON.stringify(fromReplica.body))
  assert.equal(fromReplica.body.node, 'c')
  assert.equal(fromReplica.body.result.digest, crypto.createHash('sha256').update(replicatedBytes).digest('hex'))
  assert.deepEqual(fromReplica.body.outputs, [])
  // A job placed away from the replica pulls from it (digest and bytes answered by C's copy).
  const bigOnB = crypto.randomBytes(40_000)
  const idBig = await upload(b, bigOnB)
  const pulled = await call(c, 'POST', '/v1/jobs?wait=20000', { kind: 'concat', inputs: [idBig, replicated] })
  assert.equal(pulled.body.state, 'succeeded', JSON.stringify(pulled.body))
  assert.equal(pulled.body.node, 'b')
  assert.equal(pulled.body.bytesPulled, replicatedBytes.length)
  assert.ok((await content(b, pulled.body.outputs[0])).bytes.equals(Buffer.concat([bigOnB, replicatedBytes])))
  for (const id of [idBig, pulled.body.outputs[0], replicated]) assert.equal((await call(b, 'DELETE', `/v1/buffers/${id as string}`)).status, 204, `delete ${id as string} on B`)
})

test('A started again under the same name drops the entries of its earlier life: its old buffer is 404, not 410', { skip, timeout: 60_000 }, async () => {
  a = await startNode('a', redis.url, ['--node-lost-after', LOST_AFTER])
  await clusterUntil(b, (nodes) => nodes.some((n) => n.name === 'a' && n.state === 'up'))
  await until('the old entries dropped', async () => await client.smembers(setKey('a')), (v) => v.length === 0)
  assert.equal(await owner(onlyOnA), null)
  assert.equal(await owner(replicated), null)
  await takeBaseline(a)
  for (const node of [a, b]) {
    const info = await call(node, 'GET', `/v1/buffers/${onlyOnA}`)
    assert.equal(info.status, 404, JSON.stringify(info.body))
    assert.equal(info.body.error.code, 'NOT_FOUND')
    assert.equal((await content(node, onlyOnA)).status, 404)
  }
  // The replica on C outlives both lives of A, until it is deleted there by the original's id.
  assert.equal((await call(b, 'GET', `/v1/buffers/${replicated}`)).body.node, 'c')
  assert.equal((await call(c, 'DELETE', `/v1/buffers/${replicated}`)).status, 204)
  assert.equal((await call(b, 'GET', `/v1/buffers/${replicated}`)).status, 404)
})

test('DELETE and expiry remove the directory entry (and the id from its node\'s set)', { skip, timeout: 60_000 }, async () => {
  const id = await upload(b, crypto.randomBytes(500))
  await until('the entry', async () => await owner(id), (v) => v === 'b')
  assert.ok(await client.sismember(setKey('b'), id))
  assert.equal((await call(b, 'DELETE', `/v1/buffers/${id}`)).status, 204)
  await until('the entry gone', async () => await owner(id), (v) => v === null)
  assert.equal(await client.sismember(setKey('b'), id), 0)
  assert.equal((await call(c, 'GET', `/v1/buffers/${id}`)).status, 404)
  // A buffer that expires leaves the directory the same way.
  const expiring = await call(b, 'POST', '/v1/buffers?ttlMs=1000', crypto.randomBytes(100))
  assert.equal(expiring.status, 201)
  await until('the expiring buffer\'s entry', async () => await owner(expiring.body.id), (v) => v === 'b')
  await until('the expired buffer\'s entry gone', async () => await owner(expiring.body.id), (v) => v === null)
  assert.equal((await call(b, 'GET', `/v1/buffers/${expiring.body.id as string}`)).status, 404)
  // The output of the job that made C's replica: its owner is C.
  assert.equal((await call(c, 'DELETE', `/v1/buffers/${replicaOutput}`)).status, 204)
  await until('the output\'s entry gone', async () => await owner(replicaOutput), (v) => v === null)
})

test('Redis stopped while B makes a buffer: B keeps serving it; Redis back (empty): B enters it again, and the cluster finds it', { skip, timeout: 90_000 }, async () => {
  const before = await upload(b, crypto.randomBytes(700))
  await until('the entry', async () => await owner(before), (v) => v === 'b')
  await redis.stop()
  await until('B sees Redis gone', async () => (await call(b, 'GET', '/v1/cluster')).status, (s) => s === 503)
  const bytes = crypto.randomBytes(9000)
  const during = await upload(b, bytes)
  assert.ok((await content(b, during)).bytes.equals(bytes), 'served locally while Redis is away')
  assert.equal((await call(b, 'DELETE', `/v1/buffers/${before}`)).status, 204)
  await redis.start()
  // The Redis that came back has no data: what is in it now, B wrote after reconnecting.
  await until('the entry written by the resync', async () => await owner(during).catch(() => null), (v) => v === 'b')
  assert.deepEqual(await client.smembers(setKey('b')), [during])
  assert.equal(await owner(before), null)
  await clusterUntil(c, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')))
  const read = await content(c, during)
  assert.equal(read.status, 200)
  assert.ok(read.bytes.equals(bytes))
  assert.equal((await call(b, 'DELETE', `/v1/buffers/${during}`)).status, 204)
  await until('the entry gone', async () => await owner(during), (v) => v === null)
})

test('Redis refusing B (a password set, its connections cut) while a buffer is deleted and another made: the data kept, B\'s resync drops the one and enters the other', { skip, timeout: 90_000 }, async () => {
  const gone = await upload(b, crypto.randomBytes(300))
  await until('the entry', async () => await owner(gone), (v) => v === 'b')
  await client.config('SET', 'requirepass', 'shut-out')
  await client.call('CLIENT', 'KILL', 'TYPE', 'normal')
  client.disconnect()
  const admin = new Redis(redis.url, { password: 'shut-out', maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  admin.on('error', () => {})
  let made = ''
  try {
    await until('B shut out', async () => (await call(b, 'GET', '/v1/cluster')).status, (s) => s === 503)
    assert.equal((await call(b, 'DELETE', `/v1/buffers/${gone}`)).status, 204)
    made = await upload(b, crypto.randomBytes(400))
    // Redis kept B's old entry: nothing told it of the deletion.
    assert.equal(await admin.hget(OWNER_KEY, gone), 'b')
    assert.equal(await admin.hget(OWNER_KEY, made), null)
  } finally {
    await admin.config('SET', 'requirepass', '')
    admin.disconnect()
    client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 })
    client.on('error', () => {})
  }
  await until('the resync', async () => await client.smembers(setKey('b')), (v) => v.length === 1 && v[0] === made)
  assert.equal(await owner(gone), null)
  assert.equal(await owner(made), 'b')
  await clusterUntil(c, (nodes) => ['a', 'b', 'c'].every((n) => nodes.some((x) => x.name === n && x.state === 'up')))
  assert.equal((await call(c, 'GET', `/v1/buffers/${gone}`)).status, 404)
  assert.equal((await call(c, 'GET', `/v1/buffers/${made}`)).body.node, 'b')
  assert.equal((await call(b, 'DELETE', `/v1/buffers/${made}`)).status, 204)
  await until('the entry gone', async () => await owner(made), (v) => v === null)
})

test('a node stopped cleanly (SIGTERM): its buffer answers 410 BUFFER_LOST, "which left the cluster"', { skip, timeout: 60_000 }, async () => {
  const d = await startNode('d', redis.url, ['--node-lost-after', LOST_AFTER])
  try {
    await clusterUntil(b, (nodes) => nodes.some((n) => n.name === 'd' && n.state === 'up'))
    leftOnD = await upload(d, crypto.randomBytes(100))
    await until('the entry', async () => await owner(leftOnD), (v) => v === 'd')
    await d.stop()
    await clusterUntil(b, (nodes) => nodes.some((n) => n.name === 'd' && n.state === 'lost'))
    const info = await call(b, 'GET', `/v1/buffers/${leftOnD}`)
    assert.equal(info.status, 410, JSON.stringify(info.body))
    assert.equal(info.body.error.message, `Buffer ${leftOnD} lived on node d, which left the cluster`)
  } finally {
    await d.stop('SIGKILL')
  }
})

test('every node\'s buffers, memfds and descriptors are back at their baseline; the directory holds only what died with D', { skip, timeout: 60_000 }, async () => {
  for (const node of [a, b, c]) {
    const base = baseline.get(node) as { fds: number, memfds: number }
    assert.deepEqual((await call(node, 'GET', '/v1/buffers')).body.buffers, [], `${node.name} still holds buffers`)
    assert.equal(await settledCount(() => memfdDescriptors(node.pid).length, base.memfds, 5000), base.memfds, `${node.name}: memfds`)
    assert.equal(await settledCount(() => countFds(node.pid), base.fds, 15_000), base.fds, `${node.name}: descriptors`)
  }
  // Only the entry of D, which left and never came back: it says what died with it.
  assert.deepEqual(await client.hgetall(OWNER_KEY), { [leftOnD]: 'd' })
})
