// Placement of a pipeline: like a job's (placement.ts), but the node must serve every kind its
// steps use; bytes decide among those, then load.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeEntry } from '../../../server/cluster/node-registry'
import { placeByBytes, placeJob } from '../../../server/cluster/placement'

function node (name: string, over: Partial<NodeEntry> = {}): NodeEntry {
  return { name, url: `http://${name}`, state: 'up', workers: 2, kinds: ['concat', 'checksum'], memoryInUse: 0, maxMemory: 100, queued: 0, running: 0, maxQueue: 10, pulledBytes: 0, servedBytes: 0, lastSeen: new Date().toISOString(), ...over }
}

test('only nodes serving every kind are candidates, however many bytes another holds', () => {
  const nodes = [node('a', { kinds: ['concat'] }), node('b'), node('c')]
  const inputs = [{ id: '1', node: 'a', size: 1000 }, { id: '2', node: 'c', size: 10 }]
  assert.equal(placeByBytes(nodes, ['concat', 'checksum'], inputs)?.name, 'c')
  assert.equal(placeByBytes(nodes, ['concat'], inputs)?.name, 'a')
  assert.equal(placeByBytes(nodes, ['concat', 'hold'], inputs), null)
})

test('among candidates: most bytes, then least loaded, then the first name; full and lost ones passed over', () => {
  const inputs = [{ id: '1', node: 'b', size: 50 }, { id: '2', node: 'b', size: 20 }, { id: '3', node: 'c', size: 60 }]
  assert.equal(placeByBytes([node('a'), node('b'), node('c')], ['concat', 'checksum'], inputs)?.name, 'b')
  assert.equal(placeByBytes([node('a'), node('b', { queued: 10 }), node('c')], ['concat', 'checksum'], inputs)?.name, 'c')
  assert.equal(placeByBytes([node('a', { running: 3 }), node('b', { state: 'lost' }), node('c', { running: 1 })], ['checksum'], [])?.name, 'c')
  assert.equal(placeByBytes([node('b'), node('a')], ['checksum'], [])?.name, 'a')
})

test('a job is placed as a one-kind pipeline would be', () => {
  const nodes = [node('a', { kinds: ['noop'] }), node('b')]
  assert.equal(placeJob(nodes, 'concat', [{ id: '1', node: 'a', size: 5 }])?.name, 'b')
  assert.deepEqual(placeJob(nodes, 'concat', []), placeByBytes(nodes, ['concat'], []))
})
