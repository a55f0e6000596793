// Transfers between nodes are authenticated: with --token, the nodes send it to each other (the
// cluster token defaults to it), strangers get 401, and a node holding another secret cannot pull
// (its job fails PULL_FAILED, nothing is left behind).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { after, before, test } from 'node:test'
import { startNode, type NodeProcess } from '../../helpers/cluster-node'
import { memfdDescriptors, settledCount } from '../../helpers/proc'
import { haveRedis, RedisServer } from '../../helpers/redis'

const skip = haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'
const redis = new RedisServer()
let a: NodeProcess
let b: NodeProcess
let x: NodeProcess

async function call (node: NodeProcess, method: string, url: string, token: string | null, body?: Buffer | object): Promise<{ status: number, body: any }> {
  const headers: Record<string, string> = { connection: 'close' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (Buffer.isBuffer(body)) headers['content-type'] = 'application/octet-stream'
  else if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${node.url}${url}`, { method, headers, body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : JSON.parse(text) }
}

before(async () => {
  if (skip !== false) return
  await redis.start()
  ;[a, b] = await Promise.all(['a', 'b'].map(async (name) => await startNode(name, redis.url, ['--token', 'tok'])))
  // x accepts its clients with tok but presents another secret to its peers.
  x = await startNode('x', redis.url, ['--token', 'tok', '--cluster-token', 'other'])
  const deadline = Date.now() + 15_000
  for (;;) {
    const r = await call(a, 'GET', '/v1/cluster', 'tok')
    if (r.status === 200 && r.body.nodes.filter((n: any) => n.state === 'up' && n.kinds.length > 0).length === 3) break
    assert.ok(Date.now() < deadline, `nodes never all up: ${JSON.stringify(r.body)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
})

after(async () => {
  for (const node of [a, b, x]) await node?.stop()
  await redis.close()
})

test('without the token: 401; the nodes pull from each other with it', { skip, timeout: 60_000 }, async () => {
  assert.equal((await call(a, 'GET', '/v1/cluster', null)).status, 401)
  assert.equal((await call(a, 'GET', '/v1/cluster', 'wrong')).status, 401)
  const big = crypto.randomBytes(200_000)
  const small = crypto.randomBytes(3000)
  const idBig = (await call(a, 'POST', '/v1/buffers', 'tok', big)).body.id
  const idSmall = (await call(b, 'POST', '/v1/buffers', 'tok', small)).body.id
  const r = await call(b, 'POST', '/v1/jobs?wait=20000', 'tok', { kind: 'concat', inputs: [idBig, idSmall] })
  assert.equal(r.body.state, 'succeeded', JSON.stringify(r.body))
  assert.equal(r.body.node, 'a')
  assert.equal(r.body.bytesPulled, small.length)
  for (const [node, id] of [[a, idBig], [b, idSmall], [a, r.body.outputs[0]]] as const) assert.equal((await call(node, 'DELETE', `/v1/buffers/${id as string}`, 'tok')).status, 204)
})

test('a node presenting another secret cannot pull: the job fails PULL_FAILED and leaves no buffer behind', { skip, timeout: 60_000 }, async () => {
  const base = memfdDescriptors(x.pid).length
  const onX = (await call(x, 'POST', '/v1/buffers', 'tok', crypto.randomBytes(100_000))).body.id
  const onA = (await call(a, 'POST', '/v1/buffers', 'tok', crypto.randomBytes(1000))).body.id
  const r = await call(a, 'POST', '/v1/jobs?wait=20000', 'tok', { kind: 'concat', inputs: [onX, onA] })
  assert.equal(r.body.node, 'x')
  assert.equal(r.body.state, 'failed')
  assert.equal(r.body.error.code, 'PULL_FAILED')
  assert.match(r.body.error.message, /401/)
  assert.equal((await call(x, 'DELETE', `/v1/buffers/${onX as string}`, 'tok')).status, 204)
  assert.equal((await call(a, 'DELETE', `/v1/buffers/${onA as string}`, 'tok')).status, 204)
  assert.deepEqual((await call(x, 'GET', '/v1/buffers', 'tok')).body.buffers, [])
  assert.equal(await settledCount(() => memfdDescriptors(x.pid).length, base, 5000), base)
})
