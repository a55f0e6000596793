// The per-subscriber outgoing queue (server/events/event-client.ts), against a socket whose writes
// complete only when the test says so: what is sent, in which order, what is dropped and where
// `lagged` goes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { WebSocket } from 'ws'
import { EventClient, type OutgoingLimits } from '../../server/events/event-client'
import { TOPICS } from '../../server/events/topics'
import type { PoolEvent, PoolEventType } from '../../server/pool/types'

/** A socket that records what it is given and completes writes on demand (like a peer that reads when told). */
class ManualSocket {
  sent: string[] = []
  #pending: Array<() => void> = []
  send (text: string | Buffer, _options: { binary: boolean }, callback: (err?: Error) => void): void {
    this.sent.push(String(text))
    this.#pending.push(() => callback())
  }

  /** Completes every write so far (the peer read them). */
  drain (): void { for (const complete of this.#pending.splice(0)) complete() }
  close (): void {}
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

function event (type: PoolEventType, data: Record<string, unknown>): PoolEvent {
  return { type, ts: '2025-01-01T00:00:00.000Z', data }
}

function clientOver (socket: ManualSocket, limits: Partial<OutgoingLimits> = {}): EventClient {
  return new EventClient(socket as unknown as WebSocket, { topics: new Set(TOPICS), job: null }, {
    highWaterBytes: 1, // one message in flight at a time
    maxQueuedMessages: 1000,
    maxQueuedBytes: 1024 * 1024,
    ...limits
  })
}

const push = (client: EventClient, e: PoolEvent): void => { client.push(e, JSON.stringify(e)) }

/** Reads everything the client sends until it has nothing more. */
async function readAll (socket: ManualSocket): Promise<Array<{ type: string, data: any }>> {
  let seen = -1
  while (seen !== socket.sent.length) {
    seen = socket.sent.length
    socket.drain()
    await tick()
  }
  return socket.sent.map((text) => JSON.parse(text))
}

test('events go out in order; the snapshot goes first', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket)
  client.sendFirst('{"type":"snapshot"}')
  for (let i = 0; i < 5; i++) push(client, event('buffer.created', { id: `b${i}` }))
  const messages = await readAll(socket)
  assert.deepEqual(messages.map((m) => m.data?.id ?? m.type), ['snapshot', 'b0', 'b1', 'b2', 'b3', 'b4'])
})

test('a full queue drops its oldest events and says so with lagged, right where the gap is', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket, { maxQueuedMessages: 3 })
  client.sendFirst('{"type":"snapshot"}') // in flight, never completed yet: everything else queues
  for (let i = 0; i < 10; i++) push(client, event('buffer.created', { id: `b${i}` }))
  await tick()
  assert.equal(socket.sent.length, 1, 'nothing more is handed to a socket that has not written')
  assert.equal(client.droppedTotal, 7)
  const messages = await readAll(socket)
  assert.deepEqual(messages.map((m) => m.type === 'lagged' ? `lagged ${m.data.dropped}` : m.data?.id ?? m.type),
    ['snapshot', 'lagged 7', 'b7', 'b8', 'b9'])
  // Once caught up, nothing more is reported.
  push(client, event('buffer.deleted', { id: 'b9' }))
  assert.deepEqual((await readAll(socket)).slice(5).map((m) => m.type), ['buffer.deleted'])
})

test('the byte bound holds too', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket, { maxQueuedBytes: 1000 })
  client.sendFirst('{"type":"snapshot"}')
  for (let i = 0; i < 50; i++) push(client, event('buffer.created', { id: `b${i}`, name: 'n'.repeat(200) }))
  const messages = await readAll(socket)
  const ids = messages.filter((m) => m.type === 'buffer.created').map((m) => m.data.id)
  assert.ok(ids.length <= 4, `${ids.length} queued under 1000 bytes`)
  assert.equal(ids.at(-1), 'b49', 'the newest survive')
  assert.equal(messages.find((m) => m.type === 'lagged')?.data.dropped, 50 - ids.length)
})

test('a newer job.progress or pool.stats replaces a queued older one, after the events before it', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket)
  client.sendFirst('{"type":"snapshot"}')
  push(client, event('job.progress', { id: 'a', progress: 0.1 }))
  push(client, event('pool.stats', { queueDepth: 5 }))
  push(client, event('job.progress', { id: 'b', progress: 0.2 }))
  push(client, event('job.started', { id: 'c' }))
  push(client, event('job.progress', { id: 'a', progress: 0.6 }))
  push(client, event('job.succeeded', { id: 'a' }))
  push(client, event('pool.stats', { queueDepth: 4 }))
  const messages = (await readAll(socket)).slice(1)
  assert.deepEqual(messages.map((m) => `${m.type} ${m.data.id ?? m.data.queueDepth}${m.data.progress === undefined ? '' : ` ${m.data.progress}`}`), [
    'job.progress b 0.2',
    'job.started c',
    'job.progress a 0.6',
    'job.succeeded a',
    'pool.stats 4'
  ])
  assert.equal(client.droppedTotal, 0, 'replacing state with newer state loses nothing')
})

test('many superseded entries do not crowd out real events', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket, { maxQueuedMessages: 10 })
  client.sendFirst('{"type":"snapshot"}')
  push(client, event('buffer.created', { id: 'kept' }))
  for (let i = 0; i < 10_000; i++) push(client, event('job.progress', { id: 'a', progress: i / 10_000 }))
  const messages = (await readAll(socket)).slice(1)
  assert.deepEqual(messages.map((m) => m.type), ['buffer.created', 'job.progress'])
  assert.equal(messages[1].data.progress, 0.9999)
  assert.equal(client.droppedTotal, 0)
})

test('buffer.holders and worker.updated supersede per id, like job.progress; other ids and types stay', async () => {
  const socket = new ManualSocket()
  const client = clientOver(socket)
  client.sendFirst('{"type":"snapshot"}')
  push(client, event('buffer.holders', { id: 'b1', descriptors: [1] }))
  push(client, event('worker.updated', { id: 'w0', jobsDone: 1 }))
  push(client, event('buffer.holders', { id: 'b2', descriptors: [2] }))
  push(client, event('buffer.sealed', { id: 'b1' }))
  push(client, event('worker.updated', { id: 'w1', jobsDone: 7 }))
  push(client, event('buffer.holders', { id: 'b1', descriptors: [1, 2] }))
  push(client, event('worker.updated', { id: 'w0', jobsDone: 2 }))
  push(client, event('worker.exited', { id: 'w0' }))
  const messages = (await readAll(socket)).slice(1)
  assert.deepEqual(messages.map((m) => `${m.type} ${m.data.id as string} ${JSON.stringify(m.data.descriptors ?? m.data.jobsDone ?? null)}`), [
    'buffer.holders b2 [2]',
    'buffer.sealed b1 null',
    'worker.updated w1 7',
    'buffer.holders b1 [1,2]',
    'worker.updated w0 2',
    'worker.exited w0 null'
  ])
  assert.equal(client.droppedTotal, 0)
})

test('a payload given as bytes goes out as the same bytes, in a text frame', async () => {
  const sent: Array<{ payload: string | Buffer, binary: boolean }> = []
  const socket = {
    send (payload: string | Buffer, options: { binary: boolean }, callback: () => void) {
      sent.push({ payload, binary: options.binary })
      callback()
    },
    close () {}
  }
  const client = new EventClient(socket as unknown as WebSocket, { topics: new Set(TOPICS), job: null })
  const bytes = Buffer.from(JSON.stringify(event('buffer.created', { id: 'b' })))
  client.sendFirst(Buffer.from('{"type":"snapshot"}'))
  client.push(event('buffer.created', { id: 'b' }), bytes)
  await tick()
  assert.equal(sent.length, 2)
  assert.equal(sent[1].payload, bytes, 'shared, not copied')
  assert.ok(sent.every((s) => !s.binary))
})
