// Replicas a running pipeline will still read are pinned: a pull needing room evicts the least
// recently used replica that nobody pinned, and a pinned one only once every pin is given back.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReplicaTable } from '../../../server/cluster/replica-table'
import { BufferStore } from '../../../server/store/buffer-store'

test('eviction passes over pinned replicas until their last pin is given back', () => {
  const store = new BufferStore({ maxMemoryBytes: 1024 * 1024, maxBufferBytes: 1024 * 1024, maxBuffers: 100 })
  const replicas = new ReplicaTable(store)
  const first = store.create({ size: 10, name: 'replica of x' }).id
  const second = store.create({ size: 10, name: 'replica of y' }).id
  replicas.add('x', first)
  replicas.add('y', second)
  replicas.pin('x')
  replicas.pin('x')
  assert.equal(replicas.evictOne(), true)
  assert.equal(store.has(second), false, 'the unpinned one went, though more recently used')
  assert.equal(store.has(first), true)
  assert.equal(replicas.evictOne(), false, 'nothing unpinned is left')
  replicas.unpin('x')
  assert.equal(replicas.evictOne(), false, 'still pinned once')
  replicas.unpin('x')
  assert.equal(replicas.evictOne(), true)
  assert.equal(store.has(first), false)
  assert.deepEqual(store.list(), [])
})

test('a pinned replica still goes when its original is deleted', () => {
  const store = new BufferStore({ maxMemoryBytes: 1024 * 1024, maxBufferBytes: 1024 * 1024, maxBuffers: 100 })
  const replicas = new ReplicaTable(store)
  const local = store.create({ size: 10, name: 'replica of x' }).id
  replicas.add('x', local)
  replicas.pin('x')
  replicas.forget('x')
  assert.equal(store.has(local), false)
  assert.equal(replicas.lookup('x'), null)
})
