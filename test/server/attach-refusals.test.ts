// Every refusal of the attach socket: the right code, no descriptor with it, the connection still
// usable, and every descriptor the request brought closed (the server shares this process, so
// /proc/self/fd counts both ends).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import * as native from '../../native'
import { RawClient, startAttachApp } from '../helpers/attach'
import { sealedBuffer } from '../helpers/pool'
import { countFds } from '../helpers/proc'

let app: FastifyInstance
let socketPath: string
let dir: string
let client: RawClient
let sealed: { id: string, token: string }
let writable: { id: string, token: string }

before(async () => {
  ({ app, socketPath, dir } = await startAttachApp())
  client = await RawClient.connect(socketPath, { maxFds: 64 })
  // Answered once the server has accepted: its end of the connection now counts in the baseline.
  assert.equal(await client.code({ op: 'ping' }), 'OK')
  const id = sealedBuffer(app.pool, Buffer.from('sealed bytes'))
  sealed = { id, token: app.pool.store.get(id).attachToken }
  const info = app.pool.store.create({ size: 64 })
  writable = { id: info.id, token: info.attachToken }
})
after(async () => {
  await client.close()
  await app.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/**
 * Sends one request with the descriptors `makeFds` opens (closed again by us afterwards) and
 * returns the reply's code, after checking that the server kept no descriptor and still answers.
 */
async function refusal (message: object | string | Buffer, makeFds: () => number[] = () => []): Promise<string> {
  const fdsBefore = countFds()
  const fds = makeFds()
  let code: string
  try {
    code = await client.code(message, fds)
  } finally {
    for (const fd of fds) native.close(fd)
  }
  assert.equal(countFds(), fdsBefore, `no descriptor left behind (${JSON.stringify(message).slice(0, 80)})`)
  assert.equal(await client.code({ op: 'ping' }), 'OK', 'the connection stays usable')
  return code
}

function memfd (size: number, seals: native.SealName[] = []): number {
  const fd = native.memfdCreate('attach-test')
  native.ftruncate(fd, size)
  if (seals.length > 0) native.addSeals(fd, seals)
  return fd
}

const devNull = (): number => fs.openSync('/dev/null', 'r')

test('attach: wrong token, unknown or deleted id, rw on a sealed buffer, bad members', async () => {
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: 'x'.repeat(32) }), 'FORBIDDEN')
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: sealed.token.slice(0, -1) }), 'FORBIDDEN')
  assert.equal(await refusal({ op: 'attach', buffer: 'buf_doesnotexist', token: sealed.token }), 'NOT_FOUND')
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: sealed.token, mode: 'rw' }), 'BUFFER_SEALED')
  // A wrong token learns nothing about the buffer beyond its existence.
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: 'nope', mode: 'rw' }), 'FORBIDDEN')
  // Tokens of one buffer open no other.
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: writable.token }), 'FORBIDDEN')

  const doomed = app.pool.store.create({ size: 8 })
  app.pool.store.delete(doomed.id)
  assert.equal(await refusal({ op: 'attach', buffer: doomed.id, token: doomed.attachToken }), 'NOT_FOUND')

  for (const bad of [
    { op: 'attach', buffer: sealed.id },
    { op: 'attach', token: sealed.token },
    { op: 'attach', buffer: 42, token: sealed.token },
    { op: 'attach', buffer: sealed.id, token: null },
    { op: 'attach', buffer: sealed.id, token: sealed.token, mode: 'w' },
    { op: 'attach', buffer: sealed.id, token: sealed.token, mode: null },
    { op: 'attach', buffer: 'b'.repeat(10_000), token: sealed.token }
  ]) {
    assert.equal(await refusal(bad), 'BAD_REQUEST', JSON.stringify(bad).slice(0, 80))
  }
  // Members a server does not know are ignored.
  const { reply, fds } = await client.request({ op: 'attach', buffer: sealed.id, token: sealed.token, future: [1, 2] })
  assert.equal(reply.ok, true)
  fds.forEach(native.close)
})

test('a refusal echoes no token and no unbounded client string', async () => {
  const { reply } = await client.request({ op: 'attach', buffer: sealed.id, token: 'secret-looking-token' })
  assert.doesNotMatch(JSON.stringify(reply), /secret-looking-token/)
  const long = await client.request({ op: 'x'.repeat(60_000) })
  assert.equal(long.reply.error.code, 'UNKNOWN_OP')
  assert.ok(JSON.stringify(long.reply).length < 300)
})

test('junk, wrong shapes and unknown ops', async () => {
  const junk: Array<string | Buffer> = [
    Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]), // not UTF-8
    Buffer.from('\u00ff\u00fe{"op":"ping"}', 'latin1'),
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"op":"ping"}')]), // a BOM
    Buffer.from('{"op":"ping"}\0'), // a trailing NUL
    '{', 'ping', '[]', '"ping"', 'null', '42', '{}', '{"op":5}', '{"op":null}', '{"op":["ping"]}',
    '{"op":"register","name":7}',
    '['.repeat(60_000) // deep nesting must not overflow anything
  ]
  for (const message of junk) assert.equal(await refusal(message), 'BAD_REQUEST', String(message).slice(0, 40))
  for (const op of ['PING', 'attach ', 'delete', 'constructor', '__proto__']) {
    assert.equal(await refusal({ op }), 'UNKNOWN_OP', op)
  }
  // A stray descriptor with junk is closed too.
  assert.equal(await refusal('not json', () => [devNull()]), 'BAD_REQUEST')
})

test('oversize messages are refused; 65 536 bytes exactly is fine', async () => {
  const exact = Buffer.alloc(65_536, ' ')
  exact.write('{"op":"ping"}')
  assert.equal(await refusal(exact), 'OK')
  assert.equal(await refusal(Buffer.alloc(65_537, ' ')), 'MESSAGE_TOO_LARGE')
  assert.equal(await refusal(Buffer.alloc(128 * 1024, 'x'), () => [memfd(4096)]), 'MESSAGE_TOO_LARGE')
})

test('descriptors: 8 extras, more than the server makes room for, and ones no op takes', async () => {
  const many = (n: number) => () => Array.from({ length: n }, devNull)
  assert.equal(await refusal({ op: 'ping' }, many(8)), 'TOO_MANY_DESCRIPTORS')
  assert.equal(await refusal({ op: 'register' }, () => [memfd(4096, ['shrink', 'grow', 'write']), ...many(8)()]), 'TOO_MANY_DESCRIPTORS')
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: sealed.token }, many(8)), 'TOO_MANY_DESCRIPTORS')
  // Past the room the server receives with: the kernel truncates the control data (MSG_CTRUNC).
  assert.equal(await refusal({ op: 'ping' }, many(40)), 'TOO_MANY_DESCRIPTORS')
  assert.equal(await refusal({ op: 'ping' }, () => [devNull()]), 'UNEXPECTED_DESCRIPTOR')
  assert.equal(await refusal({ op: 'attach', buffer: sealed.id, token: sealed.token }, () => [memfd(16)]), 'UNEXPECTED_DESCRIPTOR')
})

test('register refuses whatever is not a sealed memfd that fits', async () => {
  assert.equal(await refusal({ op: 'register' }), 'BAD_REQUEST')
  assert.equal(await refusal({ op: 'register', name: 'x'.repeat(201) }, () => [memfd(16, ['shrink', 'grow', 'write'])]), 'BAD_REQUEST')
  assert.equal(await refusal({ op: 'register' }, () => [memfd(4096)]), 'NOT_SEALED')
  assert.equal(await refusal({ op: 'register' }, () => [memfd(4096, ['shrink', 'grow'])]), 'NOT_SEALED')
  assert.equal(await refusal({ op: 'register' }, () => [memfd(4096, ['write'])]), 'NOT_SEALED')

  const file = path.join(dir, 'regular-file')
  fs.writeFileSync(file, 'a regular file')
  assert.equal(await refusal({ op: 'register' }, () => [fs.openSync(file, 'r+')]), 'NOT_A_MEMFD')
  assert.equal(await refusal({ op: 'register' }, () => [devNull()]), 'NOT_A_MEMFD')
  assert.equal(await refusal({ op: 'register' }, () => { const [a, b] = native.socketPair(); native.close(b); return [a] }), 'NOT_A_MEMFD')

  // Larger than one buffer may be (the pool's quota here is 64 MiB; the memfd stays sparse).
  assert.equal(await refusal({ op: 'register' }, () => [memfd(65 * 1024 * 1024, ['shrink', 'grow', 'write'])]), 'PAYLOAD_TOO_LARGE')
  // Fits one buffer, not what is left of the quota.
  assert.equal(await refusal({ op: 'register' }, () => [memfd(64 * 1024 * 1024, ['shrink', 'grow', 'write'])]), 'QUOTA_EXCEEDED')
})

test('register with future-write: refused while a writable mapping exists, accepted (and write-sealed) after', async () => {
  const fd = memfd(4096)
  const mapping = native.mapShared(fd, { length: 4096, writable: true })
  mapping.write('still writable')
  native.addSeals(fd, ['shrink', 'grow', 'future-write'])
  assert.equal(await refusal({ op: 'register' }, () => [native.dup(fd)]), 'NOT_SEALED')
  // Sent read-only, it is refused the same way: the server adds F_SEAL_WRITE through a reopen.
  assert.equal(await refusal({ op: 'register' }, () => [native.reopenReadOnly(fd)]), 'NOT_SEALED')
  native.release(mapping)

  const fdsBefore = countFds()
  const { reply, fds } = await client.request({ op: 'register', name: 'future' }, [fd])
  assert.equal(reply.ok, true, JSON.stringify(reply))
  assert.equal(fds.length, 0)
  assert.ok(native.getSeals(fd).includes('write'), 'the server proved no writable mapping is left')
  native.close(fd)
  assert.equal(countFds(), fdsBefore, 'the store keeps exactly one descriptor (ours is closed)')
  app.pool.store.delete(reply.buffer.id)
  assert.equal(countFds(), fdsBefore - 1)
})

test('attach sends one descriptor and keeps none', async () => {
  const fdsBefore = countFds()
  for (const [target, mode] of [[sealed, 'r'], [writable, 'r'], [writable, 'rw']] as const) {
    const { reply, fds } = await client.request({ op: 'attach', buffer: target.id, token: target.token, mode, unsealed: true })
    assert.equal(reply.ok, true)
    assert.equal(fds.length, 1)
    assert.equal(native.accessMode(fds[0]), mode)
    assert.equal(countFds(), fdsBefore + 1, 'only the client\'s copy exists')
    native.close(fds[0])
  }
  assert.equal(countFds(), fdsBefore)
})

test('pipelined requests, junk among them, are answered in order', async () => {
  const requests: Array<[object | string, string]> = []
  for (let i = 0; i < 60; i++) {
    requests.push(
      [{ op: 'ping' }, 'OK'],
      ['\u0000junk', 'BAD_REQUEST'],
      [{ op: 'attach', buffer: sealed.id, token: 'wrong' }, 'FORBIDDEN'],
      [{ op: 'nope' }, 'UNKNOWN_OP']
    )
  }
  for (const [message] of requests) client.send(message)
  const codes: string[] = []
  for (let i = 0; i < requests.length; i++) {
    const got = await client.next()
    assert.ok(got !== null)
    codes.push(got.reply.ok === true ? 'OK' : got.reply.error.code)
  }
  assert.deepEqual(codes, requests.map(([, code]) => code))
})

test('register refuses future-write that can never become write, and hugetlb memfds', async () => {
  // F_SEAL_SEAL before F_SEAL_WRITE: nobody can prove the bytes are fixed (the old server took it).
  assert.equal(await refusal({ op: 'register' }, () => [memfd(4096, ['shrink', 'grow', 'future-write', 'seal'])]), 'NOT_SEALED')
  // MFD_HUGETLB: sealed and sized, but with no huge pages reserved (this machine) unmappable, so
  // GET content answered 500 (issue 15, item 15). Refused at the door now.
  let huge: number
  try {
    huge = native.memfdCreate('attach-huge', { hugePages: true })
    native.ftruncate(huge, 2 * 1024 * 1024)
    native.addSeals(huge, ['shrink', 'grow', 'write'])
  } catch (err) {
    assert.fail(`a hugetlb memfd could not be prepared here: ${(err as Error).message}`)
  }
  const fdsBefore = countFds()
  const { reply } = await client.request({ op: 'register' }, [huge])
  native.close(huge)
  assert.equal(reply.ok, false)
  assert.equal(reply.error.code, 'NOT_A_MEMFD')
  assert.match(reply.error.message, /hugetlb/)
  assert.equal(countFds(), fdsBefore - 1, 'the server closed its copy')
})

test('attach r of an unsealed buffer only when asked for, and the reply says what it means', async () => {
  assert.equal(await refusal({ op: 'attach', buffer: writable.id, token: writable.token }), 'BUFFER_NOT_SEALED')
  assert.equal(await refusal({ op: 'attach', buffer: writable.id, token: writable.token, unsealed: false }), 'BUFFER_NOT_SEALED')
  assert.equal(await refusal({ op: 'attach', buffer: writable.id, token: writable.token, unsealed: 'yes' }), 'BAD_REQUEST')
  const { reply, fds } = await client.request({ op: 'attach', buffer: writable.id, token: writable.token, unsealed: true })
  assert.equal(reply.ok, true)
  assert.equal(reply.buffer.sealed, false)
  assert.match(reply.warning, /reopened writable/)
  assert.equal(fds.length, 1)
  assert.equal(native.accessMode(fds[0]), 'r')
  native.close(fds[0])
  // A sealed buffer needs no flag and carries no warning.
  const sealedReply = await client.request({ op: 'attach', buffer: sealed.id, token: sealed.token })
  assert.equal(sealedReply.reply.warning, undefined)
  sealedReply.fds.forEach(native.close)
})
