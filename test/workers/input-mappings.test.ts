// The worker threads' mapping cache (workers/input-mappings.ts) on its own, over real memfds:
// hits by (id, generation) only when the descriptor names the same file, least recently used out
// by entries and bytes, and every way out unmaps at once (checked in /proc/self/maps).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as native from '../../native'
import { InputMappings, type InputRef } from '../../workers/input-mappings'
import { memfdMappings } from '../helpers/proc'

const PAGE = 4096

/** A sealed memfd named `name` holding `size` bytes of `fill`, as a worker would receive it. */
function input (t: { after: (fn: () => void) => void }, id: string, size: number, fill: number, generation = 1): InputRef & { name: string } {
  const name = `mapping-cache-test-${id}-${generation}-${Math.random().toString(36).slice(2)}`
  const fd = native.memfdCreate(name)
  native.ftruncate(fd, size)
  if (size > 0) {
    const map = native.mapShared(fd, { length: size, writable: true })
    map.fill(fill)
    native.release(map)
  }
  native.addSeals(fd, ['shrink', 'grow', 'write'])
  t.after(() => native.close(fd))
  return { id, generation, fd, size, name }
}

const mapped = (ref: { name: string }): number => memfdMappings('self', ref.name).length

test('a second job on the same buffer and generation reuses the mapping; another generation maps afresh', (t) => {
  const cache = new InputMappings({ entries: 4, bytes: 1024 ** 2 })
  const a = input(t, 'a', PAGE, 7)
  const first = cache.acquire(a)
  assert.equal(first.view[0], 7)
  cache.done(first, true)
  assert.equal(cache.size, 1)
  assert.equal(mapped(a), 1, 'kept mapped between jobs')
  const again = cache.acquire({ ...a })
  assert.equal(again, first, 'a hit')
  cache.done(again, true)

  const a2 = input(t, 'a', PAGE, 9, 2)
  const next = cache.acquire(a2)
  assert.notEqual(next, first)
  assert.equal(next.view[0], 9)
  cache.done(next, true)
  assert.equal(cache.size, 2)
})

test('the same id and generation over a different file is never a hit', (t) => {
  const cache = new InputMappings({ entries: 4, bytes: 1024 ** 2 })
  const real = input(t, 'x', PAGE, 1)
  const entry = cache.acquire(real)
  cache.done(entry, true)
  // A confused or hostile sender: the same name, another memfd.
  const impostor = input(t, 'x', PAGE, 2)
  const other = cache.acquire({ ...impostor, id: 'x', generation: 1 })
  assert.notEqual(other, entry)
  assert.equal(other.view[0], 2, 'the bytes of the descriptor actually sent')
  cache.done(other, true)
  assert.equal(mapped(real), 0, 'the stale mapping was dropped')
})

test('least recently used leaves first, by entries and by bytes, but never while a job uses it', (t) => {
  const cache = new InputMappings({ entries: 2, bytes: 3 * PAGE })
  const [a, b, c] = ['a', 'b', 'c'].map((id, i) => input(t, id, PAGE, i))
  for (const ref of [a, b]) cache.done(cache.acquire(ref), true)
  cache.done(cache.acquire(a), true) // a is now the most recent
  cache.done(cache.acquire(c), true) // over 2 entries: b (least recent) goes
  assert.equal(cache.size, 2)
  assert.deepEqual([mapped(a), mapped(b), mapped(c)], [1, 0, 1])

  // By bytes: 1 + 1 + 2 pages over a 3-page bound with room for 10 entries: the oldest goes.
  const bytes = new InputMappings({ entries: 10, bytes: 3 * PAGE })
  const big = input(t, 'big', 2 * PAGE, 5)
  for (const ref of [a, c]) bytes.done(bytes.acquire(ref), true)
  const held = bytes.acquire(big)
  assert.equal(mapped(big), 1)
  bytes.done(held, true)
  assert.equal(bytes.size, 2)
  assert.deepEqual([mapped(a), mapped(c), mapped(big)], [1, 2, 1], 'a left this cache (the other still maps a and c)')
  // A mapping in use is never evicted: over the bounds until its job ends.
  const busy = new InputMappings({ entries: 1, bytes: PAGE })
  const first = busy.acquire(b)
  const second = busy.acquire(c)
  assert.equal(first.view[0], 1)
  busy.done(second, true)
  assert.equal(busy.size, 1, 'c evicted: b is in use')
  assert.equal(first.view[0], 1)
  busy.done(first, true)
  busy.clear()
  bytes.clear()

  const none = new InputMappings({ entries: 0, bytes: 0 })
  cache.clear()
  const once = none.acquire(b)
  assert.equal(once.view[0], 1)
  none.done(once, true)
  assert.equal(none.size, 0)
  assert.equal(mapped(b), 0, 'a cache of 0 entries unmaps after each job')
})

test('a job that does not succeed takes its mappings with it', (t) => {
  const cache = new InputMappings({ entries: 4, bytes: 1024 ** 2 })
  const a = input(t, 'a', PAGE, 3)
  const first = cache.acquire(a)
  const second = cache.acquire(a) // two jobs at once on one buffer
  assert.equal(first, second)
  cache.done(first, false)
  assert.equal(mapped(a), 1, 'still used by the other job')
  assert.equal(second.view[0], 3)
  cache.done(second, true)
  assert.equal(mapped(a), 0, 'gone once the last user ended')
  assert.equal(cache.size, 0)
})

test('forget unmaps a deleted buffer now, or when its jobs end, and a late acquire is not kept', (t) => {
  const cache = new InputMappings({ entries: 4, bytes: 1024 ** 2 })
  const [a, b] = [input(t, 'a', PAGE, 1), input(t, 'b', PAGE, 2)]
  cache.done(cache.acquire(a), true)
  const inUse = cache.acquire(b)
  cache.forget(['a', 'b'])
  assert.equal(mapped(a), 0, 'idle: unmapped at once')
  assert.equal(mapped(b), 1, 'in use: kept for its job')
  assert.equal(inUse.view[0], 2)
  cache.done(inUse, true)
  assert.equal(mapped(b), 0)
  // The 'forget' overtook a job's task: that job maps it, but it is not cached.
  const late = cache.acquire(a)
  cache.done(late, true)
  assert.equal(mapped(a), 0)
  assert.equal(cache.size, 0)
})

test('clear unmaps what no job uses; empty inputs need no mapping', (t) => {
  const cache = new InputMappings({ entries: 4, bytes: 1024 ** 2 })
  const a = input(t, 'a', PAGE, 1)
  const b = input(t, 'b', PAGE, 2)
  cache.done(cache.acquire(a), true)
  const held = cache.acquire(b)
  cache.clear()
  assert.equal(mapped(a), 0)
  assert.equal(mapped(b), 1)
  cache.done(held, true)
  assert.equal(mapped(b), 0)
  const empty = input(t, 'e', 0, 0)
  const entry = cache.acquire(empty)
  assert.equal(entry.view.length, 0)
  cache.done(entry, true)
})
