// A job with more than 32 outputs: the worker sends them ahead of 'done' in 'outputs' messages
// of at most 32 descriptors (a channel message carries no more), the pool adopts them all, in
// order (issue 15, item 9: such a job never ended). Server side, with a real process speaking
// the protocol (test/fixtures/protocol-worker.ts); the same through the real worker program is
// in real-worker-protocol.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPool } from '../../../server/pool/pool'
import { PROTOCOL_WORKER } from '../../helpers/pool'
import { countFds, memfdDescriptors } from '../../helpers/proc'

test('40 and 100 outputs arrive in order; descriptors back to baseline once they are deleted', async (t) => {
  const pool = await createPool({ workers: 1, workerScript: PROTOCOL_WORKER })
  t.after(() => pool.close())
  await pool.whenReady()
  await pool.submit({ kind: 'outputs', params: { count: 1 } }).then((j) => j.outputs.forEach((id) => pool.store.delete(id)))
  const baseline = countFds()
  for (const count of [33, 40, 100]) {
    const job = await pool.submit({ kind: 'outputs', params: { count } })
    assert.equal(job.state, 'succeeded', JSON.stringify(job.error))
    assert.equal(job.outputs.length, count)
    job.outputs.forEach((id, i) => {
      const lease = pool.store.acquire(id)
      assert.equal(lease.view(0, 1)[0], i % 256, `output ${i} of ${count} in its place`)
      lease.release()
    })
    assert.equal(memfdDescriptors().length, count, 'one descriptor per output, nothing else kept')
    for (const id of job.outputs) pool.store.delete(id)
    assert.equal(countFds(), baseline)
  }
})
