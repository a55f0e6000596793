// A seeded fuzzer over the attach socket: random bytes, truncated and mutated JSON, every op with
// fields of the wrong type, real and unknown ids and tokens, descriptors of every kind (memfds
// sealed and not, pipes, /dev/null, sockets) in random numbers. The server answers each request
// with one JSON reply or closes that connection, never crashes or blocks others, and its
// descriptor count is back to baseline afterwards.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import * as native from '../../native'
import { countFds } from '../helpers/proc'
import { RawClient, startAttachApp } from '../helpers/attach'
import { seededRandom } from '../helpers/random'

const CASES = process.env.MEMFD_POOL_LONG === '1' ? 20_000 : 2000
const SEED = Number(process.env.MEMFD_POOL_FUZZ_SEED ?? 424242)

test(`attach fuzz: ${CASES} seeded requests`, async (t) => {
  const { app, socketPath, dir } = await startAttachApp()
  t.after(async () => { await app.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const store = app.pool.store
  const writable = store.create({ size: 4096, name: 'fuzz-w' })
  const sealed = store.create({ size: 4096, name: 'fuzz-s' })
  store.seal(sealed.id)
  const ids = [writable.id, sealed.id]
  const tokens = [writable.attachToken, sealed.attachToken]

  // Descriptors of every kind for requests to carry (ours; the server gets copies).
  const sealedMemfd = native.memfdCreate('fuzz-sealed')
  native.ftruncate(sealedMemfd, 100)
  native.addSeals(sealedMemfd, ['shrink', 'grow', 'write'])
  const plainMemfd = native.memfdCreate('fuzz-plain')
  native.ftruncate(plainMemfd, 100)
  const devnull = fs.openSync('/dev/null', 'r')
  const [sockA, sockB] = native.socketPair()
  const pool = [sealedMemfd, plainMemfd, devnull, sockA, 0]
  const baseline = countFds()

  const rnd = seededRandom(SEED)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
  const weird = (): unknown => pick([null, 1, -1, 1e300, '', 'x'.repeat(300), [], {}, true, pick(ids), pick(tokens), 'buf_nope'])
  const request = (): Buffer => {
    const r = rnd()
    if (r < 0.15) return Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)))
    const message: Record<string, unknown> = {
      op: rnd() < 0.85 ? pick(['attach', 'register', 'ping']) : weird(),
      buffer: rnd() < 0.7 ? pick(ids) : weird(),
      token: rnd() < 0.5 ? pick(tokens) : weird(),
      mode: rnd() < 0.7 ? pick(['r', 'rw']) : weird(),
      name: rnd() < 0.5 ? 'fuzz' : weird()
    }
    for (const key of Object.keys(message)) if (rnd() < 0.2) delete message[key]
    const text = JSON.stringify(message)
    if (r < 0.25) return Buffer.from(text.slice(0, Math.floor(rnd() * text.length)) || '{')
    if (r < 0.3) return Buffer.from(text.replace(/"/g, pick(["'", '', '\u0000'])) || '"')
    return Buffer.from(text)
  }

  let replies = 0
  let closedConnections = 0
  let attached = 0
  // Four lanes share the socket: one hostile lane must not stall the others.
  await Promise.all(Array.from({ length: 4 }, async () => {
    let client = await RawClient.connect(socketPath, { maxFds: 64 })
    for (let i = 0; i < CASES / 4; i++) {
      const fds = rnd() < 0.3 ? Array.from({ length: Math.floor(rnd() * (rnd() < 0.1 ? 40 : 3)) }, () => pick(pool)) : []
      try {
        client.send(request(), fds)
      } catch {
        client = await RawClient.connect(socketPath, { maxFds: 64 })
        continue
      }
      const reply = await client.next()
      if (reply === null) { // the server may drop a connection that breaks its limits
        closedConnections++
        client = await RawClient.connect(socketPath, { maxFds: 64 })
        continue
      }
      replies++
      if (reply.reply.ok === true && reply.fds.length > 0) attached++
      if (reply.reply.ok !== true) assert.equal(reply.fds.length, 0, 'a refusal carries no descriptor')
      for (const fd of reply.fds) native.close(fd)
    }
    await client.close()
  }))
  t.diagnostic(`seed ${SEED}; cases ${CASES}; replies ${replies}; dropped connections ${closedConnections}; descriptors granted ${attached}`)
  assert.ok(replies > CASES * 0.9, 'nearly every request got a reply')

  // The server is still well: a proper attach works.
  const client = await RawClient.connect(socketPath)
  const ok = await client.request({ op: 'attach', buffer: sealed.id, token: sealed.attachToken, mode: 'r' })
  assert.equal(ok.reply.ok, true)
  for (const fd of ok.fds) native.close(fd)
  await client.close()
  // The server notices each client's close on its next loop turn: wait (bounded) until it has
  // dropped every connection, and with them the leases of attached buffers.
  const deadline = Date.now() + 5000
  while (app.attachServer.connections > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(app.attachServer.connections, 0)
  // Registered buffers (valid register requests) are the only things the fuzz may leave.
  for (const b of store.list()) if (!ids.includes(b.id)) store.delete(b.id)
  for (const fd of [sealedMemfd, plainMemfd, sockA, sockB]) native.close(fd)
  fs.closeSync(devnull)
  assert.equal(countFds(), baseline - 5, 'only our own descriptors were closed; the server kept none')
})
