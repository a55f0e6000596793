import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { once } from 'node:events'
import path from 'node:path'
import * as native from '../../native'
import { countFds } from '../helpers/proc'

const child = path.join(__dirname, '..', 'fixtures', 'map-child.js')

test('two processes: a sealed memfd sent read-only is mapped, hashed, and cannot be changed', async () => {
  const before = countFds()
  const size = 3 * 1024 * 1024 + 17
  const fd = native.memfdCreate('shared-with-child')
  native.ftruncate(fd, size)
  const map = native.mapShared(fd, { length: size, writable: true })
  crypto.randomFillSync(map)
  const expected = crypto.createHash('sha256').update(map).digest('hex')
  native.release(map)
  native.addSeals(fd, ['shrink', 'grow', 'write', 'seal'])
  const readOnly = native.reopenReadOnly(fd)

  const [parentEnd, childEnd] = native.socketPair()
  const proc = spawn(process.execPath, [child], { stdio: ['ignore', 'inherit', 'inherit', childEnd] })
  native.close(childEnd) // the child has its own copy as fd 3
  const channel = new native.Channel(parentEnd)
  const closed = once(channel, 'close')
  await once(proc, 'spawn')

  channel.send(JSON.stringify({ parentFd: fd, size }))
  const [guess] = await once(channel, 'message') as [Buffer]
  const { parentNumber } = JSON.parse(guess.toString())
  assert.ok(!String(parentNumber).includes('shared-with-child'), `the parent's number ${fd} must not name the buffer in the child (got ${parentNumber})`)

  channel.send(JSON.stringify({ parentFd: fd, size }), [readOnly])
  native.close(readOnly) // send() does not take ownership; the child got its own descriptor
  const [data, fds] = await once(channel, 'message') as [Buffer, number[]]
  assert.deepEqual(fds, [])
  const report = JSON.parse(data.toString())
  const [exitCode] = await once(proc, 'exit')
  await closed

  assert.equal(exitCode, 0)
  assert.equal(report.fdCount, 1)
  assert.equal(report.sha256, expected, 'the child read the same bytes')
  assert.equal(report.accessMode, 'r')
  assert.equal(report.mapWritable, 'EACCES')
  assert.ok(['EINVAL', 'EPERM'].includes(report.shrink), report.shrink) // EINVAL: not even open for writing
  assert.ok(['EBADF', 'EPERM'].includes(report.write), report.write)
  assert.equal(report.peer.pid, process.pid, 'the child sees the parent as its peer')
  assert.equal(report.peer.uid, process.getuid!())

  native.close(fd)
  assert.equal(countFds(), before)
})

test('peer() reports the child process', async () => {
  const [parentEnd, childEnd] = native.socketPair()
  const proc = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: ['ignore', 'ignore', 'inherit', childEnd] })
  native.close(childEnd)
  await once(proc, 'spawn')
  const channel = new native.Channel(parentEnd)
  // socketpair() records the creator's credentials on both ends; the process that *uses* the
  // other end is known from spawn. SO_PEERCRED is meaningful for connected sockets (below).
  assert.equal(channel.peer().uid, process.getuid!())
  channel.close()
  proc.kill()
  await once(proc, 'exit')
})

test('peer() over a listening socket names the connecting process', async (t) => {
  const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp('/tmp/memfd-pool-peer-'))
  const socketPath = path.join(dir, 's')
  const server = native.listenSeqpacket(socketPath)
  t.after(() => server.close())
  const script = `const n=require(${JSON.stringify(path.join(__dirname, '..', '..', 'native'))});n.connectSeqpacket(${JSON.stringify(socketPath)}).then(c=>{c.send('hi');c.on('close',()=>{})})`
  const proc = spawn(process.execPath, ['-e', script], { stdio: 'inherit' })
  const [channel] = await once(server, 'connection') as [native.Channel]
  await once(channel, 'message')
  assert.deepEqual(channel.peer(), { pid: proc.pid, uid: process.getuid!(), gid: process.getgid!() })
  channel.close()
  await once(proc, 'exit')
})
