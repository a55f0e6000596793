// A node running pipelines is lost (SIGKILL): the other nodes answer for its pipelines as they do
// for its jobs. One that had ended is read as its node last recorded it; one still running is
// `failed` with NODE_LOST on every step not finished, and can no longer be cancelled. Real
// redis-server, two real node processes (C also serves the test kind `hold`).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { call, clusterUntil, startNode, upload, type Json, type NodeProcess } from '../../helpers/cluster-node'
import { haveRedis, RedisServer } from '../../helpers/redis'

const HOLD_KIND = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'kinds', 'hold.js')
const LOST_AFTER = '1500'
const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

const step = (pipeline: Json, id: string): Json => pipeline.steps.find((s: Json) => s.id === id)

async function until (what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const redis = new RedisServer()
let a: NodeProcess
let c: NodeProcess

before(async () => {
  if (skip !== false) return
  await redis.start()
  ;[a, c] = await Promise.all([
    startNode('a', redis.url, ['--node-lost-after', LOST_AFTER]),
    startNode('c', redis.url, ['--node-lost-after', LOST_AFTER, '--kind-file', HOLD_KIND])
  ])
  // Up with their kinds: a node's first heartbeat may come before its workers reported them.
  await clusterUntil(a, (nodes) => {
    const up = (name: string, kind: string): boolean => nodes.some((x) => x.name === name && x.state === 'up' && x.kinds.includes(kind))
    return up('a', 'checksum') && up('c', 'checksum') && up('c', 'hold')
  })
})

after(async () => {
  for (const node of [a, c]) await node?.stop()
  await redis.close()
})

test('a lost node\'s pipelines: an ended one reads as it ended, a running one failed NODE_LOST, neither cancellable', { skip, timeout: 90_000 }, async () => {
  const bytes = crypto.randomBytes(100_000)
  const id = await upload(c, bytes)

  // Ended before the loss: placed on C by its input, waited on through A.
  const done = await call(a, 'POST', '/v1/pipelines?wait=20000', { steps: [{ id: 'sum', kind: 'checksum', inputs: [id] }] })
  assert.equal(done.status, 200, JSON.stringify(done.body))
  assert.equal(done.body.node, 'c')
  assert.equal(done.body.state, 'succeeded')
  const digest = crypto.createHash('sha256').update(bytes).digest('hex')
  assert.equal(step(done.body, 'sum').result.digest, digest)

  // Running at the loss: its first step holds until cancelled, its second waits for it.
  const held = await call(a, 'POST', '/v1/pipelines', { steps: [{ id: 'h', kind: 'hold', inputs: [id] }, { id: 'then', kind: 'checksum', inputs: [{ step: 'h' }] }] })
  assert.equal(held.status, 201, JSON.stringify(held.body))
  assert.equal(held.body.node, 'c')
  const running: string = held.body.id
  await until('the hold step runs', async () => step((await call(a, 'GET', `/v1/pipelines/${running}`)).body, 'h')?.state === 'running')

  await c.stop('SIGKILL')
  await clusterUntil(a, (nodes) => nodes.some((x) => x.name === 'c' && x.state === 'lost'))

  const ended = await call(a, 'GET', `/v1/pipelines/${done.body.id}`)
  assert.equal(ended.status, 200, JSON.stringify(ended.body))
  assert.equal(ended.body.state, 'succeeded')
  assert.equal(ended.body.node, 'c')
  assert.equal(step(ended.body, 'sum').result.digest, digest)

  // A wait does not sit out its time: the pipeline has ended, with its node.
  const started = Date.now()
  const lost = await call(a, 'GET', `/v1/pipelines/${running}?wait=10000`)
  assert.ok(Date.now() - started < 5000, 'answered at once')
  assert.equal(lost.status, 200, JSON.stringify(lost.body))
  assert.equal(lost.body.state, 'failed')
  assert.equal(lost.body.node, 'c')
  assert.equal(lost.body.error.code, 'NODE_LOST')
  assert.equal(lost.body.error.step, 'h')
  assert.match(lost.body.error.message, /Node c, which ran the pipeline, was lost/)
  assert.ok(lost.body.finishedAt !== null)
  for (const s of ['h', 'then']) {
    assert.equal(step(lost.body, s).state, 'failed', s)
    assert.equal(step(lost.body, s).error.code, 'NODE_LOST', s)
  }

  const cancel = await call(a, 'POST', `/v1/pipelines/${running}/cancel`)
  assert.equal(cancel.status, 409, JSON.stringify(cancel.body))
  assert.equal(cancel.body.error.code, 'PIPELINE_FINISHED')
  assert.match(cancel.body.error.message, /already failed/)

  const unknown = await call(a, 'GET', '/v1/pipelines/pln_doesnotexist000000')
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body))
})
