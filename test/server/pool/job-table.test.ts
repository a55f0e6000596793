// The job table: records, copies, waiters, the bounded history and the throughput count. No processes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JobTable } from '../../../server/pool/job-table'

const spec = { kind: 'k', inputs: [], params: { a: 1 }, maxAttempts: 1, timeoutMs: null }

test('snapshots are copies: changing one changes neither the record nor another', () => {
  const table = new JobTable(10)
  const record = table.create(spec, [])
  const snap = table.snapshot(record)
  snap.outputs.push('x')
  snap.state = 'failed'
  assert.deepEqual(table.snapshot(record).outputs, [])
  assert.equal(table.lookup(record.info.id).info.state, 'queued')
  assert.throws(() => table.lookup('job_nope'), { code: 'NOT_FOUND' })
  assert.equal(table.find(42), undefined)
})

test('wait: resolves when the job is retired, or after its time with the state then', async () => {
  const table = new JobTable(10)
  const record = table.create(spec, [])
  const early = await table.wait(record.info.id, 1)
  assert.equal(early.state, 'queued')
  const waiting = table.wait(record.info.id, Infinity)
  const settled = table.settle(record, 'succeeded', null)
  assert.equal(settled.state, 'succeeded')
  table.retire(record)
  assert.equal((await waiting).state, 'succeeded')
  assert.equal((await table.wait(record.info.id, Infinity)).state, 'succeeded', 'a finished job answers at once')
  assert.equal(table.jobsDone, 1)
  assert.equal(table.throughput(), 1)
  assert.equal(table.throughput(Date.now() + 5000), 0)
})

test('list: newest first, filtered by state, limited; the history keeps only the newest finished jobs', () => {
  const table = new JobTable(3)
  const records = Array.from({ length: 5 }, () => table.create(spec, []))
  assert.deepEqual(table.list().map((j) => j.id), records.map((r) => r.info.id).reverse())
  assert.deepEqual(table.list({ limit: 2 }).map((j) => j.id), [records[4].info.id, records[3].info.id])
  for (const record of records.slice(0, 4)) {
    table.settle(record, 'failed', { code: 'X', message: 'x' })
    table.retire(record)
  }
  // Four finished, three kept: the oldest is gone; the queued one stays whatever its age.
  assert.throws(() => table.lookup(records[0].info.id), { code: 'NOT_FOUND' })
  assert.deepEqual(table.list({ state: 'failed' }).map((j) => j.id), [records[3].info.id, records[2].info.id, records[1].info.id])
  assert.deepEqual(table.list({ state: 'queued' }).map((j) => j.id), [records[4].info.id])
  assert.equal(table.running().length, 0)
})
