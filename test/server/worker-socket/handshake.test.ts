// The worker socket's handshake with a raw client that can send anything: welcome, ready,
// accepted; every refusal (token, uid, protocol, descriptors, malformed declarations, the
// dispatcher's own) answered with its code and the connection closed, no descriptor left behind.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import * as native from '../../../native'
import type { ExternalWorkerReport } from '../../../server/worker-socket/external-worker-connection'
import { defaultWorkerSocketPath, type WorkerSocketServerOptions } from '../../../server/worker-socket/worker-socket-server'
import { RawClient } from '../../helpers/attach'
import { countFds } from '../../helpers/proc'
import { startWorkerSocket, type SocketSetup } from '../../helpers/worker-socket'

const KIND = { name: 'invert', description: 'inverts', inputs: { min: 1, max: 1 }, outputs: { min: 1, max: 1 }, params: { type: 'object' } }

async function connect (setup: SocketSetup): Promise<RawClient> {
  return await RawClient.connect(setup.socketPath, { maxMessageBytes: 256 * 1024, maxFds: 32 })
}

/** The refusal a message gets, asserting the server then closed the connection. */
async function refusal (client: RawClient, message: object | string, fds: number[] = []): Promise<{ code: string, message: string }> {
  const { reply, fds: got } = await client.request(message, fds)
  assert.deepEqual(got, [])
  assert.equal(reply.t, 'refused', JSON.stringify(reply))
  assert.equal(await client.next(), null, 'the server closes after a refusal')
  return reply.error
}

function withSocket (name: string, options: Partial<WorkerSocketServerOptions>, body: (setup: SocketSetup) => Promise<void>): void {
  test(name, async () => {
    const baseline = countFds()
    // A short linger: refused connections close by the timer here, since these clients never
    // send again after reading the refusal.
    const setup = startWorkerSocket({ ...options, timings: { refusalLingerMs: 20, ...options.timings } })
    try {
      await body(setup)
    } finally {
      setup.close()
    }
    assert.equal(countFds(), baseline, 'every descriptor of the socket and its connections was closed')
  })
}

withSocket('hello → welcome with an id; ready → the report; accept → accepted with the kinds', {}, async (setup) => {
  const client = await connect(setup)
  const welcomed = setup.nextConnection()
  const { reply } = await client.request({ t: 'hello', pid: 4242, protocol: 1, name: 'raw' })
  assert.deepEqual(reply, { t: 'welcome', worker: 'x0' })
  const connection = await welcomed
  assert.equal(connection.state, 'welcomed')
  const ready = new Promise<ExternalWorkerReport>((resolve) => connection.once('ready', resolve))
  client.send({ t: 'ready', threads: 3, kinds: [KIND, { name: 'count', inputs: { min: 0, max: 4 } }] })
  const report = await ready
  assert.deepEqual(report, {
    id: 'x0',
    threads: 3,
    kinds: [KIND, { name: 'count', description: '', inputs: { min: 0, max: 4 }, outputs: { min: 0, max: 0 }, params: null }],
    pid: process.pid, // SO_PEERCRED: this test process is the client
    uid: process.getuid!(),
    helloPid: 4242,
    name: 'raw'
  })
  connection.accept(['count', 'not-declared'])
  assert.deepEqual((await client.next())?.reply, { t: 'accepted', kinds: ['count'] })
  assert.equal(connection.open, true)
  assert.equal(setup.server.accepted.length, 1)
  const closed = new Promise((resolve) => connection.once('close', resolve))
  await client.close()
  assert.equal(await closed, null, 'a worker that hangs up closes with no reason')
  assert.equal(setup.server.accepted.length, 0)
})

withSocket('the socket is 0600 in a 0700 folder and goes when the server closes', {}, async (setup) => {
  assert.equal(fs.statSync(setup.socketPath).mode & 0o777, 0o600)
  assert.equal(fs.statSync(setup.socketPath.replace(/\/worker\.sock$/, '')).mode & 0o777, 0o700)
  assert.equal(defaultWorkerSocketPath('/run/user/1/memfd-pool/attach.sock'), '/run/user/1/memfd-pool/worker.sock')
  setup.server.close()
  assert.equal(fs.existsSync(setup.socketPath), false)
})

withSocket('a token is required when set, compared exactly', { token: 'wt_secret' }, async (setup) => {
  let client = await connect(setup)
  assert.equal((await refusal(client, { t: 'hello', pid: 1, protocol: 1 })).code, 'FORBIDDEN')
  client = await connect(setup)
  assert.equal((await refusal(client, { t: 'hello', pid: 1, protocol: 1, token: 'wt_secreT' })).code, 'FORBIDDEN')
  client = await connect(setup)
  assert.equal((await client.request({ t: 'hello', pid: 1, protocol: 1, token: 'wt_secret' })).reply.t, 'welcome')
  await client.close()
})

withSocket('a uid not on the allow list is refused PEER_NOT_ALLOWED, and nothing it sends is handled', { allowedUids: [987654] }, async (setup) => {
  const client = await connect(setup)
  let welcomed = false
  setup.server.on('connection', () => { welcomed = true })
  const error = await refusal(client, { t: 'hello', pid: 1, protocol: 1 })
  assert.equal(error.code, 'PEER_NOT_ALLOWED')
  assert.match(error.message, new RegExp(`uid ${process.getuid!()}`))
  assert.equal(welcomed, false)
})

withSocket('past the connection bound, SERVER_BUSY', { maxConnections: 1 }, async (setup) => {
  const first = await connect(setup)
  assert.equal((await first.request({ t: 'hello', pid: 1, protocol: 1 })).reply.t, 'welcome')
  const second = await connect(setup)
  assert.equal((await refusal(second, { t: 'hello', pid: 2, protocol: 1 })).code, 'SERVER_BUSY')
  await first.close()
})

withSocket('handshake refusals name their cause', {}, async (setup) => {
  const cases: Array<[object | string, string, RegExp]> = [
    ['not json', 'BAD_REQUEST', /not UTF-8 JSON/],
    [{ t: 'ready', threads: 1, kinds: [KIND] }, 'BAD_REQUEST', /first message must be "hello"/],
    [{ t: 'hello', pid: 1, protocol: 2 }, 'PROTOCOL_UNSUPPORTED', /protocol 1/],
    [{ t: 'hello', pid: 'me', protocol: 1 }, 'BAD_REQUEST', /"pid"/],
    [{ t: 'hello', pid: 1, protocol: 1, name: 'x'.repeat(65) }, 'BAD_REQUEST', /"name"/]
  ]
  for (const [message, code, text] of cases) {
    const client = await connect(setup)
    const error = await refusal(client, message)
    assert.equal(error.code, code, JSON.stringify(message))
    assert.match(error.message, text)
  }
})

withSocket('a descriptor with a handshake message is refused and closed', {}, async (setup) => {
  const memfd = native.memfdCreate('sent-with-hello')
  try {
    const before = countFds()
    const client = await connect(setup)
    assert.equal((await refusal(client, { t: 'hello', pid: 1, protocol: 1 }, [memfd])).code, 'UNEXPECTED_DESCRIPTOR')
    assert.equal(countFds(), before, 'the server closed its copy')
  } finally {
    native.close(memfd)
  }
})

withSocket('malformed declarations are refused with the field at fault', {}, async (setup) => {
  const bad: Array<[object, RegExp]> = [
    [{ t: 'ready', threads: 0, kinds: [KIND] }, /"threads"/],
    [{ t: 'ready', threads: 1, kinds: [] }, /"kinds" must list 1/],
    [{ t: 'ready', threads: 1, kinds: [{ ...KIND, name: 'has space' }] }, /kinds\[0\]\.name/],
    [{ t: 'ready', threads: 1, kinds: [{ ...KIND, inputs: { min: 2, max: 1 } }] }, /kinds\[0\]\.inputs/],
    [{ t: 'ready', threads: 1, kinds: [{ ...KIND, inputs: { min: 0, max: 33 } }] }, /<= 32 \(an external worker is sent a job's inputs in its one 'run' message.*up to 64\)/],
    [{ t: 'ready', threads: 1, kinds: [{ ...KIND, params: 'any' }] }, /kinds\[0\]\.params/],
    [{ t: 'ready', threads: 1, kinds: [{ ...KIND, params: nest(40) }] }, /deeper than 32/],
    [{ t: 'ready', threads: 1, kinds: [KIND, KIND] }, /declared twice/]
  ]
  for (const [message, text] of bad) {
    const client = await connect(setup)
    assert.equal((await client.request({ t: 'hello', pid: 1, protocol: 1 })).reply.t, 'welcome')
    const error = await refusal(client, message)
    assert.equal(error.code, 'BAD_REQUEST')
    assert.match(error.message, text)
  }
})

withSocket('the dispatcher refuses a kind: the worker reads why', {}, async (setup) => {
  const client = await connect(setup)
  await client.request({ t: 'hello', pid: 1, protocol: 1 })
  const connection = await setup.nextConnection()
  connection.once('ready', () => connection.refuse('KIND_REFUSED', 'Kind "invert" is a built-in kind'))
  const closed = new Promise((resolve) => connection.once('close', resolve))
  const error = await refusal(client, { t: 'ready', threads: 1, kinds: [KIND] })
  assert.deepEqual(error, { code: 'KIND_REFUSED', message: 'Kind "invert" is a built-in kind' })
  assert.deepEqual(await closed, error)
})

withSocket('no "ready" in time: HANDSHAKE_TIMEOUT', { timings: { readyTimeoutMs: 30 } }, async (setup) => {
  const client = await connect(setup)
  await client.request({ t: 'hello', pid: 1, protocol: 1 })
  const { reply } = await client.next() as { reply: { t: string, error: { code: string } } }
  assert.equal(reply.t, 'refused')
  assert.equal(reply.error.code, 'HANDSHAKE_TIMEOUT')
  assert.equal(await client.next(), null)
})

withSocket('a dispatcher that never decides: HANDSHAKE_TIMEOUT naming the decision', { timings: { readyTimeoutMs: 30 } }, async (setup) => {
  const client = await connect(setup)
  await client.request({ t: 'hello', pid: 1, protocol: 1 })
  const connection = await setup.nextConnection()
  connection.once('ready', () => {})
  const error = await refusal(client, { t: 'ready', threads: 1, kinds: [KIND] })
  assert.equal(error.code, 'HANDSHAKE_TIMEOUT')
  assert.match(error.message, /did not decide/)
})

withSocket('closing the server closes every worker with SHUTTING_DOWN', {}, async (setup) => {
  const client = await connect(setup)
  await client.request({ t: 'hello', pid: 1, protocol: 1 })
  const connection = await setup.nextConnection()
  connection.once('ready', () => connection.accept())
  await client.request({ t: 'ready', threads: 1, kinds: [KIND] })
  const closed = new Promise((resolve) => connection.once('close', resolve))
  setup.server.close()
  assert.deepEqual(await closed, { code: 'SHUTTING_DOWN', message: 'The server is closing' })
  assert.deepEqual((await client.next())?.reply, { t: 'refused', error: { code: 'SHUTTING_DOWN', message: 'The server is closing' } })
  assert.equal(await client.next(), null)
})

function nest (depth: number): object {
  let schema: object = { type: 'object' }
  for (let i = 0; i < depth; i++) schema = { type: 'object', properties: { a: schema } }
  return schema
}
