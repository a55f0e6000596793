// Descriptors and memfds return to baseline after thousands of jobs with outputs, in the server
// and in every worker process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { countFds, idleFds, memfdDescriptors, settledCount } from '../../helpers/proc'
import { sealedBuffer, startPool } from '../../helpers/pool'

test('5,000 jobs with outputs created and deleted: descriptors and memfds back to baseline', async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 2 })
  t.after(() => pool.close())
  const input = sealedBuffer(pool, Buffer.from('leak check '.repeat(100)))
  // Warm up so lazily opened descriptors (thread pools, timers) exist before the baseline.
  for (let i = 0; i < 50; i++) {
    const job = await pool.submit({ kind: 'gzip', inputs: [input] })
    for (const id of job.outputs) pool.store.delete(id)
  }
  const pids = pool.workerPids()
  const baseline = { server: countFds(), memfds: memfdDescriptors().length, workers: await Promise.all(pids.map(idleFds)) }
  assert.equal(baseline.memfds, 1, 'the server holds exactly one descriptor per live buffer')

  const total = 5000
  const inFlight = 64
  let failed = 0
  let submitted = 0
  async function lane (): Promise<void> {
    while (submitted < total) {
      submitted++
      const kind = submitted % 3 === 0 ? 'fill' : 'gzip'
      const job = await pool.submit(kind === 'fill'
        ? { kind, params: { size: 4096, pattern: 'byte', byte: 1 } }
        : { kind, inputs: [input] })
      if (job.state !== 'succeeded') failed++
      for (const id of job.outputs) pool.store.delete(id)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  assert.equal(failed, 0)
  assert.deepEqual(pool.workerPids(), pids, 'no worker died')
  assert.equal(pool.store.count, 1)
  assert.equal(memfdDescriptors().length, baseline.memfds, 'no memfd left open in the server')
  assert.equal(countFds(), baseline.server, 'server descriptors back to baseline')
  assert.deepEqual(await settledCount(() => pids.map((pid) => countFds(pid)), baseline.workers), baseline.workers, 'worker descriptors back to baseline')
  for (const pid of pids) assert.equal(memfdDescriptors(pid).length, 0, `worker ${pid} holds no memfd between jobs`)
})
