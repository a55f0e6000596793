// Locality with real worker processes: a job on a buffer goes to the worker that made it (or last
// ran a job on it) when that worker is free — a pipeline step finds its input where the step
// before it ran — and never at the cost of leaving a job waiting while another worker is free.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startPool } from '../../helpers/pool'

test('a job on an output runs on the worker that made it, when both workers are free', async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 1 })
  t.after(() => pool.close())
  const [first, second] = pool.workerPids()
  assert.ok(first !== undefined && second !== undefined && first !== second)
  for (let round = 0; round < 6; round++) {
    // Two fills at once: one on each worker.
    const made = await Promise.all([0, 1].map(async (i) => await pool.submit({ kind: 'fill', params: { size: 65536, pattern: 'random', seed: round * 2 + i } })))
    assert.deepEqual(new Set(made.map((j) => j.workerPid)), new Set([first, second]), 'one fill on each worker')
    // Then, both idle, a checksum of each output, one after the other: each goes where its bytes
    // were made. The policy alone would send both to the first of equals.
    for (const fill of made) {
      const sum = await pool.submit({ kind: 'checksum', inputs: fill.outputs })
      assert.equal(sum.state, 'succeeded')
      assert.equal(sum.workerPid, fill.workerPid, `round ${round}: the checksum of ${fill.outputs[0]} ran where it was made`)
    }
    for (const fill of made) pool.store.delete(fill.outputs[0])
  }
})

test('locality never leaves a job waiting: with the near worker busy, the job goes to the free one', async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 1, prefetch: 0 })
  t.after(() => pool.close())
  const made = await pool.submit({ kind: 'fill', params: { size: 4096 } })
  const near = made.workerPid
  // Occupy the near worker: a sleep that the near rule does not steer (no inputs) goes to the
  // first free worker; submit until one runs on the near worker.
  let blocker = pool.enqueue({ kind: 'sleep', params: { ms: 3000 } })
  const spare: string[] = []
  while (blocker.workerPid !== near) {
    spare.push(blocker.id)
    blocker = pool.enqueue({ kind: 'sleep', params: { ms: 3000 } })
  }
  for (const id of spare) pool.cancel(id)
  for (const id of spare) await pool.wait(id, 10_000)
  const sum = pool.enqueue({ kind: 'checksum', inputs: made.outputs })
  assert.equal(sum.state, 'running', 'sent at once to the free worker, not queued for the near one')
  assert.notEqual(sum.workerPid, near)
  assert.equal((await pool.wait(sum.id, 10_000)).state, 'succeeded')
  pool.cancel(blocker.id)
  await pool.wait(blocker.id, 10_000)
})
