// An accepted external worker's messages, sent by a raw client: runs arrive with fresh read-only
// descriptors; answers are checked before they are emitted; descriptors that do not add up are
// closed and the answer delivered without them; anything outside the protocol closes the worker
// with PROTOCOL_ERROR. The test process is both server and client, so /proc/self/fd counts both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import * as native from '../../../native'
import type { ExternalWorkerConnection } from '../../../server/worker-socket/external-worker-connection'
import type { WorkerMessage } from '../../../workers/protocol'
import { RawClient } from '../../helpers/attach'
import { countFds } from '../../helpers/proc'
import { sealedInput, startWorkerSocket } from '../../helpers/worker-socket'

interface Accepted {
  client: RawClient
  connection: ExternalWorkerConnection
  received: Array<{ message: WorkerMessage, fds: number[] }>
  done: () => void
}

/** A socket, a raw client through the handshake, and every emitted message with the descriptors its listener took. */
async function accepted (body: (a: Accepted) => Promise<void>): Promise<void> {
  const baseline = countFds()
  const setup = startWorkerSocket({ timings: { refusalLingerMs: 20 } })
  try {
    const client = await RawClient.connect(setup.socketPath, { maxMessageBytes: 1024 * 1024, maxFds: 64 })
    await client.request({ t: 'hello', pid: 1, protocol: 1 })
    const connection = await setup.nextConnection()
    connection.once('ready', () => connection.accept())
    await client.request({ t: 'ready', threads: 2, kinds: [{ name: 'k', inputs: { min: 0, max: 2 }, outputs: { min: 0, max: 40 } }] })
    const received: Accepted['received'] = []
    connection.on('message', (message, fds) => { received.push({ message, fds: fds.takeAll() }) })
    await body({ client, connection, received, done: () => {} })
    for (const { fds } of received) for (const fd of fds) native.close(fd)
    await client.close()
  } finally {
    setup.close()
  }
  assert.equal(countFds(), baseline, 'no descriptor left in this process')
}

/** Resolves on the connection's next emitted message or its close. */
async function nextEvent (connection: ExternalWorkerConnection): Promise<{ message: WorkerMessage } | { close: unknown }> {
  return await new Promise((resolve) => {
    const onMessage = (message: WorkerMessage): void => { connection.off('close', onClose); resolve({ message }) }
    const onClose = (reason: unknown): void => { connection.off('message', onMessage); resolve({ close: reason }) }
    connection.once('message', onMessage)
    connection.once('close', onClose)
  })
}

function memfdOf (fd: number): string { return fs.readlinkSync(`/proc/self/fd/${fd}`) }

test('a run\'s descriptors reach the worker as fresh read-only reopens, even when the caller passed a writable one', async () => {
  await accepted(async ({ client, connection }) => {
    const writable = native.memfdCreate('writable-input')
    const input = sealedInput(Buffer.from('abc'), 'sealed-input')
    try {
      assert.ok(connection.send({ t: 'run', job: 'j1', kind: 'k', params: {}, inputs: [], fdCount: 2, maxOutputBytes: 0 }, [writable, input.readOnly]))
      const run = await client.next()
      assert.equal(run?.reply.t, 'run')
      assert.equal(run?.fds.length, 2)
      assert.equal(memfdOf(run!.fds[0]), memfdOf(writable))
      assert.equal(native.accessMode(run!.fds[0]), 'r', 'the worker cannot write through it')
      assert.equal(native.accessMode(run!.fds[1]), 'r')
      // A file description of its own: moving its offset moves nobody else's.
      fs.readSync(run!.fds[1], Buffer.alloc(2), 0, 2, null)
      assert.equal(fs.readFileSync(`/proc/self/fdinfo/${input.readOnly}`, 'utf8').match(/pos:\s+(\d+)/)?.[1], '0')
      for (const fd of run!.fds) native.close(fd)
    } finally {
      native.close(writable)
      input.close()
    }
  })
})

test('answers are emitted as checked messages; outputs with their descriptors, batches split in order', async () => {
  await accepted(async ({ client, received, connection }) => {
    const out1 = sealedInput(Buffer.from('one'), 'out1')
    const out2 = sealedInput(Buffer.from('two'), 'out2')
    try {
      client.send({ t: 'started', job: 'j1', fds: [5, 'x'] })
      client.send({ t: 'progress', job: 'j1', progress: 7 })
      client.send({
        t: 'batch',
        messages: [
          { t: 'done', job: 'j1', ok: true, result: { a: 1 }, outputs: [{ size: 3 }], fdCount: 1, runMs: 2, extra: 'dropped' },
          { t: 'done', job: 'j2', ok: false, error: { code: 'MY_ERROR', message: 'bad' }, fdCount: 0 },
          { t: 'done', job: 'j3', ok: true, outputs: [{ size: 3 }], fdCount: 1 }
        ]
      }, [out1.fd, out2.fd])
      client.send({ t: 'pong', seq: 9 })
      while (received.length < 6) await nextEvent(connection)
      assert.deepEqual(received.map((r) => r.message), [
        { t: 'started', job: 'j1', fds: [5, -1] },
        { t: 'progress', job: 'j1', progress: 1 },
        { t: 'done', job: 'j1', ok: true, result: { a: 1 }, outputs: [{ size: 3 }], fdCount: 1, runMs: 2 },
        { t: 'done', job: 'j2', ok: false, error: { code: 'MY_ERROR', message: 'bad' }, fdCount: 0 },
        { t: 'done', job: 'j3', ok: true, result: {}, outputs: [{ size: 3 }], fdCount: 1 },
        { t: 'pong', seq: 9 }
      ])
      assert.equal(memfdOf(received[2].fds[0]), memfdOf(out1.fd))
      assert.equal(memfdOf(received[4].fds[0]), memfdOf(out2.fd))
    } finally {
      out1.close()
      out2.close()
    }
  })
})

test('descriptors that do not add up are all closed; the answers arrive without any', async () => {
  await accepted(async ({ client, received, connection }) => {
    const stray = native.memfdCreate('stray')
    try {
      const before = countFds()
      client.send({ t: 'done', job: 'j1', ok: true, outputs: [{ size: 1 }, { size: 1 }], fdCount: 2 }, [stray])
      await nextEvent(connection)
      client.send({ t: 'progress', job: 'j1', progress: 0.5 }, [stray])
      await nextEvent(connection)
      assert.deepEqual(received.map((r) => r.fds), [[], []])
      assert.equal(received[0].message.t, 'done')
      assert.equal(countFds(), before, 'the server closed both copies')
      assert.equal(connection.open, true, 'a job-level mistake does not close the worker')
    } finally {
      native.close(stray)
    }
  })
})

test('more descriptors than a message may carry: all closed, the answer delivered without them', async () => {
  await accepted(async ({ client, received, connection }) => {
    const memfd = native.memfdCreate('flood')
    try {
      const before = countFds()
      client.send({ t: 'done', job: 'j1', ok: true, outputs: [{ size: 0 }], fdCount: 1 }, Array(40).fill(memfd))
      await nextEvent(connection)
      assert.deepEqual(received.map((r) => [r.message.t, r.fds]), [['done', []]])
      assert.equal(countFds(), before, 'the channel closed all 40 copies')
      assert.equal(connection.open, true)
    } finally {
      native.close(memfd)
    }
  })
})

test('anything outside the protocol closes the worker with PROTOCOL_ERROR and a reason it can read', async () => {
  const cases: Array<[object | string, RegExp]> = [
    ['{"t":', /not UTF-8 JSON/],
    [{ t: 'run', job: 'j' }, /does not send "run"/],
    [{ t: 'done', ok: true }, /needs a "job"/],
    [{ t: 'done', job: 'j', ok: 'yes' }, /boolean "ok"/],
    [{ t: 'done', job: 'j', ok: false, error: { code: 'lower', message: 'x' } }, /UPPER_SNAKE/],
    [{ t: 'progress', job: 'j', progress: 'half' }, /finite number/],
    [{ t: 'batch', messages: [{ t: 'batch', messages: [] }] }, /batch cannot contain a batch/],
    [{ t: 'hello', pid: 1, protocol: 1 }, /does not send "hello"/]
  ]
  for (const [message, text] of cases) {
    await accepted(async ({ client, connection, received }) => {
      client.send(message)
      const event = await nextEvent(connection)
      assert.ok('close' in event, `${JSON.stringify(message)} was emitted: ${JSON.stringify(event)}`)
      const reason = event.close as { code: string, message: string }
      assert.equal(reason.code, message === '{"t":' ? 'BAD_REQUEST' : 'PROTOCOL_ERROR')
      assert.match(reason.message, text)
      assert.deepEqual((await client.next())?.reply, { t: 'refused', error: reason })
      assert.deepEqual(received, [])
      assert.equal(connection.send({ t: 'ping', seq: 1 }), false, 'nothing is sent to a closed worker')
    })
  }
})

test('runs are refused before the worker is accepted and after it closed', async () => {
  const setup = startWorkerSocket()
  try {
    const client = await RawClient.connect(setup.socketPath)
    await client.request({ t: 'hello', pid: 1, protocol: 1 })
    const connection = await setup.nextConnection()
    assert.equal(connection.send({ t: 'ping', seq: 1 }), false)
    await client.close()
  } finally {
    setup.close()
  }
})
