// The buffer store on its own (no pool, no HTTP): sizes and quota, the buffer budget, the seal
// policy against mappings in this process, leases across delete, holders and their events, and
// descriptor ownership (every refusal closes what it was given; /proc/self/fd counts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import * as native from '../../../native'
import { BufferStore } from '../../../server/store/buffer-store'
import { descriptorReserve, maxBuffersFor } from '../../../server/store/descriptor-budget'
import type { BufferInfo } from '../../../server/pool/types'
import { countFds } from '../../helpers/proc'

const MiB = 1024 * 1024

function newStore (options: { maxBuffers?: number, maxMemoryBytes?: number } = {}): BufferStore {
  return new BufferStore({ maxMemoryBytes: options.maxMemoryBytes ?? 16 * MiB, maxBufferBytes: 16 * MiB, maxBuffers: options.maxBuffers ?? 1000 })
}

function sealedMemfd (bytes: Buffer, seals: native.SealName[] = ['shrink', 'grow', 'write']): number {
  const fd = native.memfdCreate('store-test')
  if (bytes.length > 0) fs.writeSync(fd, bytes, 0, bytes.length, 0)
  native.addSeals(fd, seals)
  return fd
}

test('create, write, seal: one descriptor per buffer, read-write then read-only; the bytes read back', () => {
  const store = newStore()
  const fdsBefore = countFds()
  const info = store.create({ size: 10, name: 'one' })
  assert.deepEqual([info.name, info.size, info.sealed, info.state], ['one', 10, false, 'writable'])
  assert.equal(countFds(), fdsBefore + 1)
  const fd = info.descriptors[0].fd!
  assert.equal(native.accessMode(fd), 'rw')
  const seals = native.getSeals(fd)
  assert.ok(seals.includes('shrink') && seals.includes('grow'), 'size sealed from creation')
  assert.ok(!seals.includes('write') && !seals.includes('future-write'))
  store.write(info.id, 2, Buffer.from('abc'))
  const sealed = store.seal(info.id)
  assert.equal(sealed.sealed, true)
  assert.equal(countFds(), fdsBefore + 1, 'the writable descriptor was swapped, not added to')
  const roFd = sealed.descriptors[0].fd!
  assert.equal(native.accessMode(roFd), 'r')
  assert.ok(['shrink', 'grow', 'write'].every((s) => native.getSeals(roFd).includes(s as native.SealName)))
  assert.ok(!native.getSeals(roFd).includes('future-write'), 'write, never future-write alone')
  const lease = store.acquire(info.id)
  assert.deepEqual([...lease.view(0, 10)], [0, 0, 97, 98, 99, 0, 0, 0, 0, 0])
  lease.release()
  assert.throws(() => store.write(info.id, 0, Buffer.from('x')), { code: 'BUFFER_SEALED' })
  assert.deepEqual(store.seal(info.id), sealed, 'idempotent')
  store.delete(info.id)
  assert.equal(countFds(), fdsBefore)
})

test('sizes, ranges and the quota', () => {
  const store = newStore({ maxMemoryBytes: 8 * MiB })
  assert.throws(() => store.create({ size: -1 }), { code: 'INVALID_SIZE' })
  assert.throws(() => store.create({ size: 1.5 }), { code: 'INVALID_SIZE' })
  assert.throws(() => store.create({ size: 9 * MiB }), { code: 'PAYLOAD_TOO_LARGE' })
  const a = store.create({ size: 6 * MiB })
  assert.throws(() => store.create({ size: 3 * MiB }), { code: 'QUOTA_EXCEEDED' })
  assert.equal(store.available, 2 * MiB)
  assert.throws(() => store.write(a.id, 6 * MiB - 1, Buffer.from('xy')), { code: 'RANGE_NOT_SATISFIABLE' })
  assert.throws(() => store.write(a.id, -1, Buffer.from('x')), { code: 'RANGE_NOT_SATISFIABLE' })
  assert.throws(() => store.get('buf_nope'), { code: 'NOT_FOUND' })
  store.closeAll()
  assert.equal(store.bytesInUse, 0)
})

test('the buffer budget: TOO_MANY_BUFFERS at maxBuffers, deleted-but-leased ones count, room again once freed', () => {
  const store = newStore({ maxBuffers: 3 })
  const fdsBefore = countFds()
  const ids = [0, 1, 2].map(() => store.create({ size: 1 }).id)
  assert.throws(() => store.create({ size: 1 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TOO_MANY_BUFFERS')
    assert.match(err.message, /maxBuffers 3/)
    return true
  })
  const fd = sealedMemfd(Buffer.from('adopt me'))
  assert.throws(() => store.adopt(fd), { code: 'TOO_MANY_BUFFERS' })
  assert.equal(countFds(), fdsBefore + 3, 'adopt closed the refused descriptor')
  const lease = store.acquire(ids[0])
  store.delete(ids[0])
  assert.equal(store.count, 2)
  assert.equal(store.held, 3, 'its descriptor is still open for the lease')
  assert.throws(() => store.create({ size: 1 }), { code: 'TOO_MANY_BUFFERS' })
  lease.release()
  assert.equal(store.create({ size: 1 }).size, 1)
  store.closeAll()
  assert.equal(countFds(), fdsBefore)
})

test('the default budget leaves a reserve below the open-file limit', () => {
  assert.equal(descriptorReserve(1024), 256)
  assert.equal(maxBuffersFor(1024), 768)
  assert.equal(maxBuffersFor(20_000), 15_000)
  assert.equal(maxBuffersFor(1_048_576), 1_048_576 - 16_384)
  assert.equal(maxBuffersFor(300), 150, 'never more than half kept back')
  const store = new BufferStore({ maxMemoryBytes: MiB, maxBufferBytes: MiB })
  const limit = native.fileLimit()
  assert.equal(limit.soft, limit.hard, 'the soft limit was raised to the hard one')
  assert.equal(store.maxBuffers, maxBuffersFor(limit.soft))
})

test('a seal is refused while this process maps the buffer writable, and the buffer stays writable and unchanged', () => {
  const store = newStore()
  const info = store.create({ size: 4096 })
  const rw = store.writableDescriptor(info.id)
  assert.notEqual(rw, info.descriptors[0].fd)
  const mapping = native.mapShared(rw, { length: 4096, writable: true })
  mapping.write('mapped')
  assert.throws(() => store.seal(info.id), { code: 'BUFFER_MAPPED_WRITABLE' })
  assert.equal(store.get(info.id).sealed, false)
  assert.deepEqual(native.getSeals(rw).filter((s) => s === 'write' || s === 'future-write'), [], 'no write seal of any kind was added')
  store.write(info.id, 10, Buffer.from('!'))
  const lease = store.acquire(info.id)
  assert.equal(lease.view(0, 11).toString('latin1').replace(/\0/g, '.'), 'mapped....!')
  native.release(mapping)
  assert.equal(store.seal(info.id).sealed, true, 'sealed once the writable mapping is gone')
  // The store's own read mapping (made above, while unsealed) did not count as writable.
  assert.equal(lease.view(0, 6).toString(), 'mapped')
  lease.release()
  native.close(rw)
  store.closeAll()
})

test('the store\'s own read of an unsealed buffer does not block its seal', () => {
  const store = newStore()
  const info = store.create({ size: 8192 })
  const lease = store.acquire(info.id)
  assert.equal(lease.view(0, 8192).length, 8192)
  assert.equal(store.seal(info.id).sealed, true)
  lease.release()
  store.closeAll()
})

test('writableDescriptor is a reopen: flags set on it do not reach the store\'s descriptor', () => {
  const store = newStore()
  const info = store.create({ size: 64 })
  const rw = store.writableDescriptor(info.id)
  const storeFd = info.descriptors[0].fd!
  const flagsOf = (fd: number): number => parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8)
  assert.notEqual(fs.readFileSync(`/proc/self/fdinfo/${rw}`, 'utf8').match(/^ino:.*$/m)?.[0], undefined)
  // Node cannot set O_APPEND on an open descriptor; what matters is a separate description:
  // its offset moves on its own.
  fs.writeSync(rw, Buffer.from('moved'))
  assert.equal(/^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${rw}`, 'utf8'))![1], '5')
  assert.equal(/^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${storeFd}`, 'utf8'))![1], '0')
  assert.equal(flagsOf(rw) & 0o3, 0o2, 'O_RDWR')
  native.close(rw)
  store.seal(info.id)
  assert.throws(() => store.writableDescriptor(info.id), { code: 'BUFFER_SEALED' })
  store.closeAll()
})

test('a write seal added through a handed-out descriptor: write() answers BUFFER_SEALED and the store seals', () => {
  const store = newStore()
  const info = store.create({ size: 16 })
  const sealedEvents: BufferInfo[] = []
  store.on('buffer.sealed', (i) => sealedEvents.push(i))
  const rw = store.writableDescriptor(info.id)
  native.addSeals(rw, ['write'])
  native.close(rw)
  assert.throws(() => store.write(info.id, 0, Buffer.from('x')), { code: 'BUFFER_SEALED' })
  assert.equal(store.get(info.id).sealed, true)
  assert.equal(sealedEvents.length, 1)
  store.closeAll()
})

test('adopt: only ordinary memfds sealed for readers; future-write gets F_SEAL_WRITE added; every refusal closes the descriptor', () => {
  const store = newStore()
  const fdsBefore = countFds()
  const refuse = (make: () => number, code: string): void => {
    assert.throws(() => store.adopt(make()), { code })
    assert.equal(countFds(), fdsBefore, `closed after ${code}`)
  }
  refuse(() => fs.openSync('/dev/null', 'r'), 'NOT_A_MEMFD')
  refuse(() => sealedMemfd(Buffer.from('x'), []), 'NOT_SEALED')
  refuse(() => sealedMemfd(Buffer.from('x'), ['shrink', 'grow']), 'NOT_SEALED')
  refuse(() => sealedMemfd(Buffer.from('x'), ['shrink', 'grow', 'future-write', 'seal']), 'NOT_SEALED')
  refuse(() => {
    const fd = native.memfdCreate('store-test-huge', { hugePages: true })
    native.ftruncate(fd, 2 * MiB)
    native.addSeals(fd, ['shrink', 'grow', 'write'])
    return fd
  }, 'NOT_A_MEMFD')

  const future = sealedMemfd(Buffer.from('future'), ['shrink', 'grow', 'future-write'])
  const mine = native.dup(future)
  const info = store.adopt(future, { name: 'future' })
  assert.deepEqual([info.name, info.size, info.sealed], ['future', 6, true])
  assert.ok(native.getSeals(mine).includes('write'), 'the store made it write-sealed')
  native.close(mine)
  // Sent read-only: the store still adds F_SEAL_WRITE (through a reopen of its own).
  const source = sealedMemfd(Buffer.from('ro'), ['shrink', 'grow', 'future-write'])
  const readOnly = native.reopenReadOnly(source)
  store.adopt(readOnly)
  assert.ok(native.getSeals(source).includes('write'))
  native.close(source)
  assert.equal(countFds(), fdsBefore + 2, 'one descriptor per adopted buffer, nothing else')
  store.closeAll()
  assert.equal(countFds(), fdsBefore)
})

test('leases keep a deleted buffer\'s memory until the last one drops; a released lease refuses use', () => {
  const store = newStore()
  const info = store.create({ size: 100 })
  store.seal(info.id)
  const a = store.acquire(info.id)
  const b = store.acquire(info.id)
  const view = a.view(0, 100)
  store.delete(info.id)
  assert.equal(store.has(info.id), false)
  assert.equal(store.bytesInUse, 100)
  a.release()
  a.release()
  assert.throws(() => a.view(0, 1), { code: 'LEASE_RELEASED' })
  assert.throws(() => a.readOnlyDescriptor(), { code: 'LEASE_RELEASED' })
  assert.equal(store.bytesInUse, 100)
  const fd = b.readOnlyDescriptor()
  assert.equal(native.accessMode(fd), 'r')
  native.close(fd)
  b.release()
  assert.equal(store.bytesInUse, 0)
  assert.equal(view.length, 100, 'a stale view reads zeros, it never faults')
  assert.ok(view.every((x) => x === 0))
})

test('holders: listed while held, and every change is a buffer.holders event with the buffer\'s info', () => {
  const store = newStore()
  const info = store.create({ size: 8 })
  const events: BufferInfo[] = []
  store.on('buffer.holders', (i) => events.push(i))
  const lease = store.acquire(info.id)
  const removeWorker = lease.addHolder({ pid: 4711, fd: 5, role: 'worker' })
  const removeAttached = store.addHolder(info.id, { pid: 4712, fd: null, role: 'attached' })
  assert.deepEqual(store.get(info.id).descriptors.map((d) => d.role), ['server', 'worker', 'attached'])
  removeWorker()
  removeWorker()
  removeAttached()
  lease.addHolder({ pid: 4713, fd: 6, role: 'worker' })
  lease.addHolder({ pid: 4714, fd: 7, role: 'worker' })
  lease.release()
  assert.deepEqual(events.map((e) => e.descriptors.map((d) => d.pid)), [
    [process.pid, 4711],
    [process.pid, 4711, 4712],
    [process.pid, 4712],
    [process.pid],
    [process.pid, 4713],
    [process.pid, 4713, 4714],
    [process.pid] // a lease's holders leave together: one event
  ])
  assert.ok(events.every((e) => e.id === info.id && e.size === 8 && typeof e.attachToken === 'string'))
  // A deleted buffer's holders leaving makes no event: it is gone from every view.
  const held = store.acquire(info.id)
  held.addHolder({ pid: 1, fd: 1, role: 'worker' })
  store.delete(info.id)
  const count = events.length
  held.release()
  assert.equal(events.length, count)
})
