// Issue 15 item 12, as it was found: 15,000 buffers and 300 subscribers that never read took the
// server from 143 MiB to 3.9 GiB RSS and /healthz to 18 s, each subscriber holding its own
// ~5 MB snapshot. Now the snapshot is bounded and its bytes shared: RSS grows by a bounded
// amount, /healthz answers at once, and the server still serves a reading client.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import request from 'supertest'
import { openEvents, until } from '../helpers/event-stream'
import { collectGarbage } from '../helpers/gc'
import { MiB, portOf, startApp } from '../helpers/server-app'

const BUFFERS = 15_000
/**
 * Names as long as REST allows (200): each buffer is ~450 bytes of JSON, an unbounded snapshot
 * ~6.8 MB, more than loopback's socket buffers absorb for a peer that never reads (~4 MB here),
 * so the rest stays in the server's memory, per subscriber.
 */
const NAME = 'n'.repeat(200)
const SUBSCRIBERS = 300
/**
 * What 300 stalled subscribers may cost: their sockets and queues, a few shared snapshots (~1 MiB
 * each at most), noise. Unbounded, the same run grows by several GiB.
 */
const MAX_RSS_GROWTH = 200 * MiB

/** A WebSocket handshake on a raw socket that then never reads a byte (the kernel's buffers fill, then the server's). */
function stalledSubscriber (port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.pause()
  socket.on('error', () => {}) // the server may drop it at shutdown
  socket.write('GET /v1/events HTTP/1.1\r\n' +
    `Host: 127.0.0.1:${port}\r\n` +
    'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  return socket
}

test('15,000 buffers and 300 subscribers that never read: bounded RSS, /healthz answers', async (t) => {
  // One more than the stalled ones: a reading watcher times the test by pool.stats.
  const app = await startApp({ events: { maxSubscribers: SUBSCRIBERS + 1 } })
  const sockets: net.Socket[] = []
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    await app.close()
  })
  for (let i = 0; i < BUFFERS; i++) app.pool.store.create({ size: 0, name: NAME })
  await collectGarbage()
  const before = process.memoryUsage().rss
  const peakBefore = process.resourceUsage().maxRSS * 1024

  for (let i = 0; i < SUBSCRIBERS; i++) sockets.push(stalledSubscriber(portOf(app)))
  await until(() => app.eventHub.size === SUBSCRIBERS, `${SUBSCRIBERS} subscribers are served`, 60_000)
  // A couple of pool.stats rounds on top, for every stalled subscriber.
  const watcher = await openEvents(app, '?topics=pool')
  t.after(() => watcher.close())
  await watcher.nextOf('snapshot')
  await watcher.nextOf('pool.stats')
  await watcher.nextOf('pool.stats')

  const started = Date.now()
  await request(app.server).get('/healthz').expect(200)
  const healthzMs = Date.now() - started
  // The peak counts: a burst of handshakes is served in a few turns of the loop, and whatever
  // each one allocated is all alive at once (a later GC would hide it).
  const peakGrowth = process.resourceUsage().maxRSS * 1024 - Math.max(before, peakBefore)
  await collectGarbage()
  const growth = process.memoryUsage().rss - before
  t.diagnostic(`RSS ${(before / MiB).toFixed(0)} MiB → peak +${(peakGrowth / MiB).toFixed(0)} MiB, after +${(growth / MiB).toFixed(0)} MiB with ${SUBSCRIBERS} stalled subscribers over ${BUFFERS} buffers; /healthz in ${healthzMs} ms`)
  assert.ok(peakGrowth < MAX_RSS_GROWTH, `peak RSS grew by ${(peakGrowth / MiB).toFixed(0)} MiB`)
  assert.ok(growth < MAX_RSS_GROWTH, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`)
  assert.ok(healthzMs < 1000, `/healthz took ${healthzMs} ms`)
})
