// Placement: the node with the most input bytes among those up, serving the kind and not full;
// the least loaded when no candidate holds any input bytes; none when every candidate is full.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeEntry } from '../../../server/cluster/node-registry'
import { placeJob } from '../../../server/cluster/placement'

function node (name: string, over: Partial<NodeEntry> = {}): NodeEntry {
  return { name, url: `http://${name}`, state: 'up', workers: 2, kinds: ['concat', 'noop'], memoryInUse: 0, maxMemory: 100, queued: 0, running: 0, maxQueue: 10, pulledBytes: 0, servedBytes: 0, lastSeen: new Date().toISOString(), ...over }
}

test('the largest share of input bytes wins, summed over inputs', () => {
  const nodes = [node('a'), node('b'), node('c')]
  const inputs = [{ id: '1', node: 'a', size: 60 }, { id: '2', node: 'b', size: 50 }, { id: '3', node: 'b', size: 20 }]
  assert.equal(placeJob(nodes, 'concat', inputs)?.name, 'b')
})

test('lost nodes, nodes not serving the kind and full nodes are passed over, bytes or not', () => {
  const inputs = [{ id: '1', node: 'a', size: 1000 }, { id: '2', node: 'b', size: 10 }]
  assert.equal(placeJob([node('a', { state: 'lost' }), node('b'), node('c')], 'concat', inputs)?.name, 'b')
  assert.equal(placeJob([node('a', { kinds: ['noop'] }), node('b'), node('c')], 'concat', inputs)?.name, 'b')
  assert.equal(placeJob([node('a', { queued: 10 }), node('b'), node('c')], 'concat', inputs)?.name, 'b')
  assert.equal(placeJob([node('a', { queued: 10 }), node('b', { queued: 12 })], 'concat', inputs), null)
  assert.equal(placeJob([node('a')], 'gzip', []), null)
})

test('no inputs: the least loaded per worker, then the first name', () => {
  assert.equal(placeJob([node('a', { running: 2 }), node('b', { queued: 1, workers: 4 }), node('c', { running: 1 })], 'noop', [])?.name, 'b')
  assert.equal(placeJob([node('b'), node('a')], 'noop', [])?.name, 'a')
})
