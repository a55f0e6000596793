import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../../native'
import { countFds } from '../helpers/proc'

test('memfdCreate makes a sealable, close-on-exec memfd of the requested size', (t) => {
  const fd = native.memfdCreate('memfd-test')
  t.after(() => native.close(fd))
  assert.match(fs.readlinkSync(`/proc/self/fd/${fd}`), /^\/memfd:memfd-test \(deleted\)$/)
  const flags = /flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]
  assert.ok(parseInt(flags, 8) & 0o2000000, `O_CLOEXEC is set (flags ${flags})`)
  assert.equal(native.fileSize(fd), 0)
  native.ftruncate(fd, 12345)
  assert.equal(native.fileSize(fd), 12345)
  // MFD_NOEXEC_SEAL on 6.3+ shows as the exec seal; sealing itself must stay allowed.
  assert.ok(!native.getSeals(fd).includes('seal'))
})

test('sizes up to 64 GiB are exact (no 32-bit truncation)', (t) => {
  const fd = native.memfdCreate('big')
  t.after(() => native.close(fd))
  const size = 64 * 1024 ** 3 + 4096
  native.ftruncate(fd, size) // sparse: no memory is used until pages are touched
  assert.equal(native.fileSize(fd), size)
})

test('seals: shrink, grow and write refuse with EPERM; future-write refuses new writable maps', (t) => {
  const fd = native.memfdCreate('sealed')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 8192)
  const map = native.mapShared(fd, { length: 8192, writable: true })
  map.write('before', 0)
  const seals = native.addSeals(fd, ['shrink', 'grow', 'future-write'])
  assert.deepEqual(seals.filter((s) => s !== 'exec'), ['shrink', 'grow', 'future-write'])
  assert.throws(() => native.ftruncate(fd, 4096), { code: 'EPERM', syscall: 'ftruncate' })
  assert.throws(() => native.ftruncate(fd, 16384), { code: 'EPERM' })
  assert.throws(() => native.mapShared(fd, { length: 8192, writable: true }), { code: 'EPERM', syscall: 'mmap' })
  assert.throws(() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' })
  // The mapping that existed before future-write still writes: that is what the seal is for.
  map.write('after!', 0)
  assert.equal(native.mapShared(fd, { length: 6 }).toString(), 'after!')
  // F_SEAL_WRITE needs every writable mapping gone.
  assert.throws(() => native.addSeals(fd, ['write']), { code: 'EBUSY' })
  native.release(map)
})

test('write seal after unmapping; seal seal forbids more seals', (t) => {
  const fd = native.memfdCreate('write-sealed')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 4096)
  native.addSeals(fd, ['shrink', 'grow', 'write', 'seal'])
  assert.throws(() => native.mapShared(fd, { length: 4096, writable: true }), { code: 'EPERM' })
  assert.throws(() => native.addSeals(fd, ['grow']), { code: 'EPERM' })
  assert.equal(native.mapShared(fd, { length: 4096 }).length, 4096, 'read-only shared map of a sealed memfd')
})

test('reopenReadOnly gives an O_RDONLY descriptor that cannot be mapped writable', (t) => {
  const fd = native.memfdCreate('ro')
  native.ftruncate(fd, 4096)
  native.mapShared(fd, { length: 4096, writable: true }).write('shared bytes')
  const ro = native.reopenReadOnly(fd)
  t.after(() => { native.close(fd); native.close(ro) })
  assert.notEqual(ro, fd)
  assert.equal(native.accessMode(ro), 'r')
  assert.equal(native.accessMode(fd), 'rw')
  assert.equal(native.mapShared(ro, { length: 12 }).toString(), 'shared bytes')
  assert.throws(() => native.mapShared(ro, { length: 4096, writable: true }), { code: 'EACCES' })
})

test('getSeals on a regular file fails with EINVAL: a way to tell a memfd from other files', (t) => {
  const file = path.join(os.tmpdir(), `memfd-pool-regular-${process.pid}`)
  fs.writeFileSync(file, 'x')
  const fd = fs.openSync(file, 'r')
  t.after(() => { fs.closeSync(fd); fs.unlinkSync(file) })
  assert.throws(() => native.getSeals(fd), { code: 'EINVAL' })
})

test('hugePages: created and sized; mapping fails ENOMEM when no huge pages are reserved', (t) => {
  const reserved = Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'))
  const fd = native.memfdCreate('huge', { hugePages: true })
  t.after(() => native.close(fd))
  const huge = 2 * 1024 * 1024
  assert.throws(() => native.ftruncate(fd, 4096), { code: 'EINVAL' }, 'sizes must be huge-page multiples')
  native.ftruncate(fd, huge)
  assert.equal(native.fileSize(fd), huge)
  if (reserved === 0) {
    // This machine reserves no huge pages: the kernel refuses the mapping rather than faulting later.
    assert.throws(() => native.mapShared(fd, { length: huge, writable: true }), { code: 'ENOMEM' })
  } else {
    assert.equal(native.mapShared(fd, { length: huge, writable: true }).length, huge)
  }
})

test('allocate reserves memory up front', (t) => {
  const fd = native.memfdCreate('reserved')
  t.after(() => native.close(fd))
  native.allocate(fd, 0, 1 << 20)
  assert.equal(native.fileSize(fd), 1 << 20)
  const blocks = fs.fstatSync(fd).blocks
  assert.ok(blocks >= (1 << 20) / 512, `expected the pages allocated, st_blocks=${blocks}`)
})

test('bad arguments give clear errors, never a crash, and leak nothing', () => {
  const before = countFds()
  assert.throws(() => native.ftruncate(-1, 10), RangeError)
  assert.throws(() => native.ftruncate(1.5, 10), RangeError)
  assert.throws(() => native.ftruncate('3' as unknown as number, 10), TypeError)
  assert.throws(() => native.memfdCreate(42 as unknown as string), TypeError)
  assert.throws(() => native.memfdCreate('x'.repeat(300)), RangeError)
  const fd = native.memfdCreate('args')
  assert.throws(() => native.ftruncate(fd, -1), RangeError)
  assert.throws(() => native.ftruncate(fd, Number.NaN), RangeError)
  assert.throws(() => native.addSeals(fd, ['nonsense' as native.SealName]), TypeError)
  assert.throws(() => native.mapShared(fd, {} as native.MapOptions), TypeError)
  assert.throws(() => native.mapShared(fd, { length: 5 * 1024 ** 3 }), RangeError)
  native.close(fd)
  assert.throws(() => native.close(fd), { code: 'EBADF', errno: -9, syscall: 'close' })
  assert.throws(() => native.fileSize(fd), { code: 'EBADF' })
  assert.throws(() => native.getSeals(fd), { code: 'EBADF' })
  assert.throws(() => native.reopenReadOnly(fd), { code: 'ENOENT' })
  assert.throws(() => native.mapShared(fd, { length: 10 }), { code: 'EBADF' })
  assert.throws(() => native.release(Buffer.alloc(10)), TypeError, 'only mapShared buffers can be released')
  assert.equal(countFds(), before)
})

test('reopenReadWrite: a writable descriptor with an open file description of its own', () => {
  const fd = native.memfdCreate('reopen-rw')
  native.ftruncate(fd, 16)
  const readOnly = native.reopenReadOnly(fd)
  const rw = native.reopenReadWrite(readOnly)
  assert.equal(native.accessMode(rw), 'rw', 'the inode decides, not the source descriptor\'s mode')
  fs.writeSync(rw, Buffer.from('abc'))
  const pos = (n: number): string => /^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${n}`, 'utf8'))![1]
  assert.equal(pos(rw), '3')
  assert.equal(pos(fd), '0', 'offsets are not shared, unlike a dup()')
  native.addSeals(fd, ['write'])
  assert.throws(() => fs.writeSync(rw, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' }, 'seals bind every descriptor')
  for (const each of [fd, readOnly, rw]) native.close(each)
})

test('fileLimit and raiseFileLimit: the soft limit rises to the hard one', () => {
  const before = native.fileLimit()
  assert.ok(before.soft > 0 && before.hard >= before.soft)
  const raised = native.raiseFileLimit()
  assert.equal(raised.soft, raised.hard)
  assert.deepEqual(native.fileLimit(), raised)
})

test('raiseFileLimit brings a lowered soft limit back up to the hard one', async () => {
  const { execFileSync } = await import('node:child_process')
  const { hard } = native.fileLimit()
  // (Node raises its own soft limit at start-up; an embedder or a parent may have lowered it.)
  execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${countFds() + 100}:${hard}`])
  assert.equal(native.fileLimit().soft, countFds() + 100)
  assert.deepEqual(native.raiseFileLimit(), { soft: hard, hard })
  assert.deepEqual(native.fileLimit(), { soft: hard, hard })
})
