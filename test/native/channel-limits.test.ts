import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../../native'
import { countFds } from '../helpers/proc'

function pair (a: native.ChannelOptions = {}, b: native.ChannelOptions = {}): [native.Channel, native.Channel] {
  const [x, y] = native.socketPair()
  return [new native.Channel(x, a), new native.Channel(y, b)]
}

test('backpressure: thousands of descriptor-carrying messages sent faster than read all arrive in order', async () => {
  const before = countFds()
  const fd = native.memfdCreate('backpressure')
  const [sender, receiver] = pair()
  const total = 5000
  let queued = 0
  // A synchronous loop: the receiver cannot read until it ends, so the socket fills and
  // send() must queue (returning false) and flush on writability.
  for (let i = 0; i < total; i++) {
    if (!sender.send(`message ${i}`, [fd])) queued++
  }
  assert.ok(queued > 0, 'the socket filled up and messages were queued')
  assert.ok(countFds() > before + 1, 'queued messages hold their own descriptor copies')
  let next = 0
  await new Promise<void>((resolve, reject) => {
    receiver.on('message', (data, fds) => {
      try {
        assert.equal(data.toString(), `message ${next}`)
        assert.equal(fds.length, 1)
        for (const each of fds) native.close(each)
      } catch (err) { reject(err); return }
      if (++next === total) resolve()
    })
  })
  assert.equal(sender.pending, 0)
  sender.close()
  receiver.close()
  await once(receiver, 'close')
  native.close(fd)
  assert.equal(countFds(), before)
})

test('too many descriptors: an error, every descriptor that arrived closed, the channel still usable', async () => {
  const before = countFds()
  const fd = native.memfdCreate('too-many')
  const [sender, receiver] = pair({ maxFds: 64 }, { maxFds: 4 })
  sender.send('twenty', new Array(20).fill(fd))
  const [err] = await once(receiver, 'error') as [native.SystemError]
  assert.equal(err.code, 'ERR_TOO_MANY_DESCRIPTORS')
  assert.equal(err.data?.toString(), 'twenty', 'the bytes arrive so the receiver can answer')
  sender.send('one', [fd])
  const [data, fds] = await once(receiver, 'message') as [Buffer, number[]]
  assert.equal(data.toString(), 'one')
  native.close(fds[0])
  sender.close(); receiver.close(); native.close(fd)
  await once(receiver, 'close')
  assert.equal(countFds(), before)
})

test('oversize message: refused with its descriptors closed', async () => {
  const before = countFds()
  const fd = native.memfdCreate('oversize')
  const [sender, receiver] = pair({ maxMessageBytes: 200_000 }, { maxMessageBytes: 1024 })
  sender.send(Buffer.alloc(100_000, 1), [fd])
  const [err] = await once(receiver, 'error') as [native.SystemError]
  assert.equal(err.code, 'ERR_MESSAGE_TOO_LARGE')
  sender.close(); receiver.close(); native.close(fd)
  await once(receiver, 'close')
  assert.equal(countFds(), before)
})

test('send-side limits and misuse throw clear errors', async () => {
  const [a, b] = pair({ maxFds: 2, maxMessageBytes: 16 })
  assert.throws(() => a.send(''), RangeError)
  assert.throws(() => a.send('x'.repeat(17)), { code: 'ERR_MESSAGE_TOO_LARGE' })
  assert.throws(() => a.send('x', [0, 1, 2]), { code: 'ERR_TOO_MANY_DESCRIPTORS' })
  assert.throws(() => a.send('x', [-1]), RangeError)
  assert.throws(() => a.send('x', [123456]), { code: 'EBADF' })
  assert.throws(() => a.send(42 as unknown as string), TypeError)
  assert.throws(() => new native.Channel(native.memfdCreate('not-a-socket')), { code: 'ENOTSOCK' })
  b.close()
  await once(a, 'close') // the peer closing is a 'close' event, not a crash
  assert.throws(() => a.send('x'), { code: 'ERR_CHANNEL_CLOSED' })
})

test('garbage from a peer is just bytes; a peer closing mid-stream is a close event', async () => {
  const [a, b] = pair()
  const received: string[] = []
  b.on('message', (data) => received.push(data.toString('hex')))
  a.send(Buffer.from([0xff, 0x00, 0xfe]))
  a.close()
  await once(b, 'close')
  assert.deepEqual(received, ['ff00fe'])
})

test('listenSeqpacket: 0600 socket, stale file replaced, live one refused, removed on close', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-listen-'))
  const socketPath = path.join(dir, 'attach.sock')
  const first = native.listenSeqpacket(socketPath)
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600)
  const client = await native.connectSeqpacket(socketPath)
  const [server] = await once(first, 'connection') as [native.Channel]
  client.send('ping')
  const [data] = await once(server, 'message') as [Buffer]
  assert.equal(data.toString(), 'ping')
  client.close(); server.close()
  // A live listener is never replaced (the probe connection it gets is closed at once).
  assert.throws(() => native.listenSeqpacket(socketPath), { code: 'EADDRINUSE' })
  first.close()
  assert.equal(fs.existsSync(socketPath), false)

  // A stale socket file (no listener behind it) is replaced...
  const stale = native.listenSeqpacket(socketPath)
  fs.renameSync(socketPath, socketPath + '.keep')
  fs.renameSync(socketPath + '.keep', socketPath)
  const staleIno = fs.statSync(socketPath).ino
  stale.close() // unlinks the file it created
  fs.writeFileSync(path.join(dir, 'note'), '')
  // ...a regular file in the way is not deleted.
  fs.writeFileSync(socketPath, 'not a socket')
  assert.throws(() => native.listenSeqpacket(socketPath), { code: 'EADDRINUSE' })
  assert.equal(fs.readFileSync(socketPath, 'utf8'), 'not a socket')
  fs.unlinkSync(socketPath)
  assert.ok(staleIno > 0)
  await assert.rejects(native.connectSeqpacket(socketPath), { code: 'ENOENT' })
  fs.rmSync(dir, { recursive: true })
})
