// ClusterEvents without Redis or processes: what a heartbeat's registry reading turns into
// (cluster.node only for a node first seen or whose figures changed, lastSeen alone being no
// change; an entry gone leaves the view quietly), what a placement turns into (job.placed with
// its input bytes and those already on the chosen node), and a queued cluster.node superseded
// by a newer one for the same node in a slow subscriber's queue.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClusterEvents } from '../../../server/cluster/cluster-events'
import type { NodeEntry } from '../../../server/cluster/node-registry'
import { supersedingKey } from '../../../server/events/event-client'
import type { JobInfo, PoolEvent } from '../../../server/pool/types'

function entry (name: string, over: Partial<NodeEntry> = {}): NodeEntry {
  return { name, url: `http://${name}`, state: 'up', workers: 1, kinds: ['noop'], memoryInUse: 0, maxMemory: 100, queued: 0, running: 0, maxQueue: 10, pulledBytes: 0, servedBytes: 0, lastSeen: new Date(1000).toISOString(), ...over }
}

function record (events: ClusterEvents): PoolEvent[] {
  const seen: PoolEvent[] = []
  events.on('event', (e: PoolEvent) => seen.push(e))
  return seen
}

test('a heartbeat reading emits cluster.node for new and changed nodes only; lastSeen alone is no change', () => {
  const events = new ClusterEvents()
  events.setSelf('a')
  const seen = record(events)
  events.observe([entry('a'), entry('b')])
  assert.deepEqual(seen.map((e) => [e.type, (e.data as NodeEntry).name]), [['cluster.node', 'a'], ['cluster.node', 'b']])
  events.observe([entry('a', { lastSeen: new Date(2000).toISOString() }), entry('b', { lastSeen: new Date(2000).toISOString() })])
  assert.equal(seen.length, 2, 'nothing but lastSeen moved')
  assert.equal(events.view().nodes[0].lastSeen, new Date(2000).toISOString(), 'the view keeps the latest entry all the same')
  events.observe([entry('a', { running: 1 }), entry('b', { state: 'lost' })])
  assert.deepEqual(seen.slice(2).map((e) => [(e.data as NodeEntry).name, (e.data as NodeEntry).running, (e.data as NodeEntry).state]), [['a', 1, 'up'], ['b', 0, 'lost']])
  events.observe([entry('a', { running: 1, kinds: ['noop', 'gzip'] })])
  assert.equal(seen.length, 5, 'a kind more is a change')
  assert.deepEqual(events.view(), { self: 'a', nodes: [entry('a', { running: 1, kinds: ['noop', 'gzip'] })] }, 'b left the registry: gone from the view without an event')
  for (const e of seen) assert.ok(!Number.isNaN(Date.parse(e.ts)))
})

test('job.placed counts the input bytes and those already on the chosen node', () => {
  const events = new ClusterEvents()
  events.setSelf('c')
  const seen = record(events)
  const job = { id: 'job_x', kind: 'concat', node: 'a' } as unknown as JobInfo
  events.placed(job, [{ id: 'b1', node: 'a', size: 300 }, { id: 'b2', node: 'b', size: 20 }, { id: 'b3', node: 'a', size: 5 }])
  events.placed({ ...job, id: 'job_y', kind: 'noop', node: 'b' }, [])
  assert.deepEqual(seen.map((e) => [e.type, e.data]), [
    ['job.placed', { id: 'job_x', kind: 'concat', node: 'a', from: 'c', inputBytes: 325, localBytes: 305 }],
    ['job.placed', { id: 'job_y', kind: 'noop', node: 'b', from: 'c', inputBytes: 0, localBytes: 0 }]
  ])
})

test('a newer cluster.node supersedes a queued older one for the same node, not another node\'s', () => {
  const ts = new Date().toISOString()
  const key = (name: string): string | null => supersedingKey({ type: 'cluster.node', ts, data: entry(name) })
  assert.equal(key('a'), key('a'))
  assert.notEqual(key('a'), key('b'))
  assert.equal(supersedingKey({ type: 'job.placed', ts, data: { id: 'job_x' } }), null, 'each placement is a step, kept')
})
