// The dispatcher with fake workers (DispatchTargets): order, batching per pass, kinds served,
// jobs given back by a worker going away, and re-entrant dispatch from a job that fails as it
// is sent. No processes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FixedPrefetch } from '../../../server/pool/dispatch-policy'
import { Dispatcher, type DispatchTarget } from '../../../server/pool/dispatcher'
import { JobTable, type JobRecord } from '../../../server/pool/job-table'

class FakeTarget implements DispatchTarget {
  readonly id: string
  readonly capacity: number
  readonly kinds: Set<string>
  accepting = true
  held: JobRecord[] = []
  calls: string[][] = []
  /** What start() does with the jobs: take them (default), or give them all back. */
  onStart: (records: JobRecord[]) => JobRecord[] = (records) => { this.held.push(...records); return [] }

  constructor (id: string, capacity: number, kinds: string[]) {
    this.id = id
    this.capacity = capacity
    this.kinds = new Set(kinds)
  }

  get load (): number { return this.held.length }
  get heldKinds (): Iterable<string> { return new Set(this.held.map((r) => r.info.kind)) }
  serves (kind: string): boolean { return this.kinds.has(kind) }
  start (records: JobRecord[]): JobRecord[] {
    this.calls.push(records.map((r) => r.info.id))
    return this.onStart(records)
  }
}

const table = new JobTable(100)
const job = (kind: string): JobRecord => table.create({ kind, inputs: [], params: {}, maxAttempts: 1, timeoutMs: null }, [])

test('jobs leave in order to the least loaded worker; one start() per worker per pass', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const a = new FakeTarget('a', 2, ['k'])
  const b = new FakeTarget('b', 2, ['k'])
  dispatcher.addTarget(a)
  dispatcher.addTarget(b)
  const jobs = Array.from({ length: 5 }, () => job('k'))
  for (const j of jobs) dispatcher.push(j)
  dispatcher.dispatch()
  assert.deepEqual(a.calls, [[jobs[0].info.id, jobs[2].info.id]])
  assert.deepEqual(b.calls, [[jobs[1].info.id, jobs[3].info.id]])
  assert.equal(dispatcher.queueDepth, 1, 'the fifth waits: every thread is busy')
  a.held.shift()
  dispatcher.dispatch()
  assert.deepEqual(a.calls[1], [jobs[4].info.id])
})

test('a worker that does not serve a kind gets none of its jobs; one not accepting gets nothing', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const a = new FakeTarget('a', 4, ['x'])
  const b = new FakeTarget('b', 4, ['y'])
  const c = new FakeTarget('c', 4, ['x', 'y'])
  c.accepting = false
  for (const t of [a, b, c]) dispatcher.addTarget(t)
  const [x, y] = [job('x'), job('y')]
  dispatcher.push(x)
  dispatcher.push(y)
  dispatcher.dispatch()
  assert.deepEqual(a.calls, [[x.info.id]])
  assert.deepEqual(b.calls, [[y.info.id]])
  assert.deepEqual(c.calls, [])
})

test('a head whose kind no live worker serves does not hold the queue: later jobs of served kinds go', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const a = new FakeTarget('a', 4, ['x'])
  dispatcher.addTarget(a)
  const [n1, x1, n2, x2] = [job('nobody'), job('x'), job('nobody'), job('x')]
  for (const j of [n1, x1, n2, x2]) dispatcher.push(j)
  dispatcher.dispatch()
  assert.deepEqual(a.calls, [[x1.info.id, x2.info.id]])
  assert.equal(dispatcher.queueDepth, 2, 'the unserved ones wait, in order')
  // A worker for the kind comes: they leave in their order.
  const b = new FakeTarget('b', 4, ['nobody'])
  dispatcher.addTarget(b)
  dispatcher.dispatch()
  assert.deepEqual(b.calls, [[n1.info.id, n2.info.id]])
  assert.equal(dispatcher.queueDepth, 0)
})

test('skipping keeps FIFO per kind and per worker: a waiting job is not jumped by a later one for the same workers', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const shared = new FakeTarget('shared', 1, ['x', 'y'])
  const other = new FakeTarget('other', 1, ['z'])
  dispatcher.addTarget(shared)
  dispatcher.addTarget(other)
  const [x1, x2, y1, z1] = [job('x'), job('x'), job('y'), job('z')]
  for (const j of [x1, x2, y1, z1]) dispatcher.push(j)
  dispatcher.dispatch()
  // x1 fills `shared`; x2 waits for it, so y1 (which only `shared` serves) may not jump x2; z1 goes elsewhere.
  assert.deepEqual(shared.calls, [[x1.info.id]])
  assert.deepEqual(other.calls, [[z1.info.id]])
  shared.held.shift()
  dispatcher.dispatch()
  assert.deepEqual(shared.calls[1], [x2.info.id], 'x2 before y1: they arrived in that order')
  shared.held.shift()
  dispatcher.dispatch()
  assert.deepEqual(shared.calls[2], [y1.info.id])
})

test('removeWhere takes matching queued jobs out in order and leaves the rest', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const [a1, b1, a2] = [job('a'), job('b'), job('a')]
  for (const j of [a1, b1, a2]) dispatcher.push(j)
  assert.deepEqual(dispatcher.removeWhere((r) => r.info.kind === 'a'), [a1, a2])
  assert.equal(dispatcher.queueDepth, 1)
})

test('jobs a worker gives back (it is going away) go to the others, first', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const leaving = new FakeTarget('a', 2, ['k'])
  const staying = new FakeTarget('b', 1, ['k'])
  leaving.onStart = (records) => { leaving.accepting = false; return records }
  dispatcher.addTarget(leaving)
  dispatcher.addTarget(staying)
  const jobs = [job('k'), job('k'), job('k')]
  for (const j of jobs) dispatcher.push(j)
  dispatcher.dispatch()
  // Pass 1: a got 0 and 2, b got 1. a gave 0 and 2 back: b is full, so they wait, in order.
  assert.deepEqual(staying.held.map((r) => r.info.id), [jobs[1].info.id])
  staying.held.length = 0
  dispatcher.dispatch()
  assert.deepEqual(staying.held.map((r) => r.info.id), [jobs[0].info.id])
  assert.equal(dispatcher.queueDepth, 1)
})

test('a dispatch from inside start() (a job failed as it was sent) runs after the pass, never over the limit', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const a = new FakeTarget('a', 1, ['k'])
  const b = new FakeTarget('b', 1, ['k'])
  let failedOne = false
  a.onStart = (records) => {
    if (!failedOne) {
      failedOne = true
      dispatcher.dispatch() // what finishing a failed job does
      return []
    }
    a.held.push(...records)
    return []
  }
  dispatcher.addTarget(a)
  dispatcher.addTarget(b)
  const jobs = [job('k'), job('k'), job('k')]
  for (const j of jobs) dispatcher.push(j)
  dispatcher.dispatch()
  assert.equal(b.held.length, 1, 'b never got more than its one thread')
  assert.deepEqual(a.held.map((r) => r.info.id), [jobs[2].info.id], 'a got the next job once its first had failed')
  assert.equal(dispatcher.queueDepth, 0)
})

test('remove() takes a queued job out; drain() empties the queue', () => {
  const dispatcher = new Dispatcher(new FixedPrefetch(0))
  const [x, y] = [job('k'), job('k')]
  dispatcher.push(x)
  dispatcher.push(y)
  assert.equal(dispatcher.remove(x), true)
  assert.equal(dispatcher.remove(x), false)
  assert.deepEqual(dispatcher.drain(), [y])
  assert.equal(dispatcher.queueDepth, 0)
})
