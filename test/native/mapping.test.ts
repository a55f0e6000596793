import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import zlib from 'node:zlib'
import * as native from '../../native'
import { collectGarbage } from '../helpers/gc'
import { memfdMappings } from '../helpers/proc'

test('a collected mapping Buffer is unmapped', async (t) => {
  const fd = native.memfdCreate('gc-mapping')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 1 << 20)
  let buffer: Buffer | null = native.mapShared(fd, { length: 1 << 20, writable: true })
  buffer.fill(7)
  assert.equal(memfdMappings('self', 'gc-mapping').length, 1)
  buffer = null
  // Finalizers run on a later turn; collect until the mapping is gone (bounded).
  for (let i = 0; i < 20 && memfdMappings('self', 'gc-mapping').length > 0; i++) await collectGarbage()
  assert.equal(memfdMappings('self', 'gc-mapping').length, 0)
})

test('release() drops the file at once; the Buffer and its views read zeros from then on', async (t) => {
  const fd = native.memfdCreate('released')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 8192)
  const buffer = native.mapShared(fd, { length: 8192, writable: true })
  const view = buffer.subarray(100, 200)
  buffer.fill(1)
  assert.equal(memfdMappings('self', 'released').length, 1)
  assert.equal(native.release(buffer), true)
  assert.equal(memfdMappings('self', 'released').length, 0, 'no longer mapped')
  assert.equal(buffer.length, 8192)
  assert.ok(view.every((b) => b === 0), 'a stale view reads zeros, not the file and not a fault')
  buffer.fill(7) // scratch memory now: the file is untouched
  const file = Buffer.alloc(8192)
  fs.readSync(fd, file, 0, 8192, 0)
  assert.ok(file.every((b) => b === 1))
  assert.equal(native.release(buffer), false)
  // With no writable mapping of the file left, the strongest seal works.
  native.addSeals(fd, ['write'])
})

test('offsets need not be page-aligned; writes are shared between mappings', (t) => {
  const fd = native.memfdCreate('offsets')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 3 * 4096)
  const whole = native.mapShared(fd, { length: 3 * 4096, writable: true, populate: true })
  const window = native.mapShared(fd, { length: 10, offset: 4096 + 7 })
  whole.write('0123456789', 4096 + 7)
  assert.equal(window.toString(), '0123456789')
  assert.equal(native.mapShared(fd, { length: 0 }).length, 0)
})

test('release() then a new mapping at the same address: the old finalizer does not forget the new one', async (t) => {
  const fd = native.memfdCreate('reuse')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 65536)
  for (let i = 0; i < 50; i++) {
    const first = native.mapShared(fd, { length: 65536 })
    native.release(first)
    // mmap tends to hand the freed range straight back; the first Buffer's finalizer runs later.
    const second = native.mapShared(fd, { length: 65536 })
    await collectGarbage()
    assert.equal(native.release(second), true)
  }
})

test('release() while native code still reads the memory: zeros, not a crash', async (t) => {
  const fd = native.memfdCreate('in-flight')
  t.after(() => native.close(fd))
  const size = 32 * 1024 * 1024
  native.ftruncate(fd, size)
  const buffer = native.mapShared(fd, { length: size, writable: true })
  buffer.fill(0x5a)
  // zlib compresses in the thread pool with a raw pointer into the mapping; the release lands
  // while that work is queued or running. With a plain munmap this faults (SIGSEGV).
  const done = new Promise<Buffer>((resolve, reject) => zlib.deflate(buffer, (err, out) => err ? reject(err) : resolve(out)))
  native.release(buffer)
  assert.equal(memfdMappings('self', 'in-flight').length, 0, 'the file is no longer mapped, at once')
  const out = await done
  assert.ok(out.length > 0, 'the compression finished (over whatever bytes it saw)')
})
