// unpackBatch, the inverse of packBatches used by both ends of the worker channel: each part gets
// its own descriptors; counts that do not add up close everything and give every part none.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { OwnedFds } from '../../native/owned-fds'
import { decode, encode, packBatches, unpackBatch, type WorkerMessage } from '../../workers/protocol'
import { countFds } from '../helpers/proc'

const open = (n: number): number[] => Array.from({ length: n }, () => fs.openSync('/dev/null', 'r'))

test('packBatches then unpackBatch: each message comes back with its own descriptors, in order', () => {
  const before = countFds()
  const fds = open(5)
  const entries = [2, 0, 3].map((count, i) => ({
    data: encode({ t: 'done', job: `j${i}`, ok: true, result: {}, outputs: [], fdCount: count }),
    fds: fds.splice(0, count)
  }))
  const expected = entries.map((e) => [...e.fds])
  const [packed] = packBatches(entries)
  assert.equal(packed.count, 3)
  const batch = decode<WorkerMessage>(packed.data) as Extract<WorkerMessage, { t: 'batch' }>
  const parts = unpackBatch(batch.messages, OwnedFds.from(packed.fds))
  assert.deepEqual(parts.map((p) => (p.message as { job: string }).job), ['j0', 'j1', 'j2'])
  assert.deepEqual(parts.map((p) => [...p.fds]), expected)
  for (const part of parts) part.fds.closeAll()
  assert.equal(countFds(), before)
})

test('counts that do not add up: every descriptor closed, every part delivered with none', () => {
  const before = countFds()
  const fds = OwnedFds.from(open(3))
  const parts = unpackBatch([{ t: 'done', job: 'a', fdCount: 1 }, { t: 'done', job: 'b', fdCount: 1 }], fds)
  assert.deepEqual(parts.map((p) => p.fds.length), [0, 0])
  assert.equal(fds.remaining, 0)
  assert.equal(countFds(), before)
})

test('parts that are not messages, and nested batches, are dropped with their descriptors', () => {
  const before = countFds()
  const parts = unpackBatch([null, { t: 'batch', messages: [], fdCount: 1 }, { t: 'done', job: 'c', fdCount: 1 }, 7], OwnedFds.from(open(2)))
  assert.deepEqual(parts.map((p) => (p.message as { job: string }).job), ['c'])
  assert.equal(parts[0].fds.length, 1)
  parts[0].fds.closeAll()
  assert.equal(countFds(), before)
  assert.deepEqual(unpackBatch('not an array', OwnedFds.empty()), [])
})
