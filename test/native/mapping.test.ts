import { test } from 'node:test'
import assert from 'node:assert/strict'
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

test('release() unmaps now and empties every view', async (t) => {
  const fd = native.memfdCreate('released')
  t.after(() => native.close(fd))
  native.ftruncate(fd, 8192)
  const buffer = native.mapShared(fd, { length: 8192, writable: true })
  const view = buffer.subarray(100, 200)
  buffer.fill(1)
  assert.equal(native.release(buffer), true)
  assert.equal(buffer.length, 0)
  assert.equal(view.length, 0, 'a view cannot reach unmapped memory')
  assert.equal(native.release(buffer), false)
  for (let i = 0; i < 20 && memfdMappings('self', 'released').length > 0; i++) await collectGarbage()
  assert.equal(memfdMappings('self', 'released').length, 0)
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
