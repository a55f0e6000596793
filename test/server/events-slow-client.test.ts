// A subscriber that stops reading while tens of thousands of events fire: the server's heap stays
// bounded (old events are dropped, not buffered), and once the client reads again it gets
// `lagged` with the exact number it lost, then the events that followed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { openEvents } from '../helpers/event-stream'
import { collectGarbage } from '../helpers/gc'
import { MiB, startApp } from '../helpers/server-app'

const ROUNDS = 50
const PER_ROUND = 500
const NAME = 'x'.repeat(2000) // ~2 KB per event: 50,000 events are ~100 MB of JSON
/** What the server may keep for a stalled client: its queue (1 MiB) and bytes in flight (256 KiB), plus noise. */
const MAX_HEAP_GROWTH = 24 * MiB

test('a client that never reads costs the server bounded memory, then gets lagged', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const events = await openEvents(app, '?topics=buffers')
  assert.equal((await events.next()).type, 'snapshot')

  // Stop reading: the kernel's buffers for the connection fill, then the server's writes stall.
  const clientSocket = (events.socket as unknown as { _socket: Socket })._socket
  clientSocket.pause()

  await collectGarbage()
  const before = process.memoryUsage().heapUsed
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++) {
      const buffer = app.pool.store.create({ size: 0, name: `${round}-${i}-${NAME}` })
      app.pool.store.delete(buffer.id)
    }
    // Let the server send what the socket takes.
    await new Promise((resolve) => setImmediate(resolve))
  }
  await collectGarbage()
  const growth = process.memoryUsage().heapUsed - before
  t.diagnostic(`heap growth with a stalled client after ${2 * ROUNDS * PER_ROUND} events: ${(growth / MiB).toFixed(1)} MiB`)
  assert.ok(growth < MAX_HEAP_GROWTH, `heap grew by ${(growth / MiB).toFixed(1)} MiB`)
  const [dropped] = app.eventHub.droppedCounts()
  assert.ok(dropped > 0, 'the server dropped events rather than buffer them')

  // Reading again: lagged, then the events that came after the gap, up to a marker.
  clientSocket.resume()
  const marker = app.pool.store.create({ size: 0, name: 'marker' })
  const lagged = await events.nextOf('lagged')
  assert.ok(lagged.data.dropped > 0)
  assert.deepEqual(Object.keys(lagged).sort(), ['data', 'ts', 'type'])
  await events.nextOf('buffer.created', marker.id)
  // Every event was either delivered or counted as dropped: none vanished silently.
  const bufferEvents = events.messages.filter((m) => m.type.startsWith('buffer.'))
  const delivered = bufferEvents.length
  const laggedCounts = events.messages.filter((m) => m.type === 'lagged').map((m) => m.data.dropped as number)
  const reported = laggedCounts.reduce((sum, n) => sum + n, 0)
  // Each event at most once: the same (type, id) twice would be a send of one queue entry twice.
  const seen = new Set(bufferEvents.map((m) => `${m.type} ${String(m.data.id)}`))
  const breakdown = `delivered ${delivered} (${seen.size} distinct), lagged ${JSON.stringify(laggedCounts)}, dropped ${dropped}`
  assert.equal(seen.size, delivered, breakdown)
  assert.equal(delivered + reported, 2 * ROUNDS * PER_ROUND + 1, breakdown)
  assert.equal(reported, dropped)
  events.close()
})
