// 20,000 jobs with outputs created and deleted: the server's heap, RSS, descriptors and memfds
// stay flat after warm-up. The slopes are reported as test diagnostics.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { collectGarbage } from '../helpers/gc'
import { countFds, memfdDescriptors } from '../helpers/proc'
import { sealedBuffer, startPool } from '../helpers/pool'

const TOTAL = process.env.MEMFD_POOL_LONG === '1' ? 100_000 : 20_000
const SAMPLES = 10

/** Least-squares slope of y over x. */
function slope (xs: number[], ys: number[]): number {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2 }
  return num / den
}

test(`leaks over time: ${TOTAL} jobs with outputs`, async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 2, historySize: 1000 })
  t.after(() => pool.close())
  const input = sealedBuffer(pool, Buffer.from('x'.repeat(4096)))
  let next = 0
  async function run (count: number): Promise<void> {
    const end = next + count
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < end) {
        next++
        const job = await pool.submit(next % 2 === 0 ? { kind: 'gzip', inputs: [input] } : { kind: 'fill', params: { size: 8192, pattern: 'random', seed: next } })
        assert.equal(job.state, 'succeeded')
        for (const id of job.outputs) pool.store.delete(id)
      }
    }))
  }
  await run(2000) // warm-up: history fills to its bound, caches and pools settle
  const xs: number[] = []
  const heap: number[] = []
  const rss: number[] = []
  const fds: number[] = []
  const step = Math.floor((TOTAL - 2000) / SAMPLES)
  for (let s = 0; s < SAMPLES; s++) {
    await run(step)
    await collectGarbage()
    xs.push(next)
    heap.push(process.memoryUsage().heapUsed)
    rss.push(process.memoryUsage().rss)
    fds.push(countFds())
    assert.equal(memfdDescriptors().length, 1, 'one memfd: the input')
  }
  const heapSlope = slope(xs, heap)
  const rssSlope = slope(xs, rss)
  t.diagnostic(`jobs ${next}; heap slope ${heapSlope.toFixed(2)} B/job (${(heap[0] / 2 ** 20).toFixed(1)} → ${(heap[heap.length - 1] / 2 ** 20).toFixed(1)} MiB); rss slope ${rssSlope.toFixed(2)} B/job; fds ${fds.join(',')}`)
  assert.ok(new Set(fds).size === 1, `descriptor count flat: ${fds.join(',')}`)
  // A leak of one small object per job would be ~100+ B/job; noise is well under that.
  assert.ok(heapSlope < 50, `heap grows ${heapSlope.toFixed(2)} bytes per job`)
  assert.equal(pool.store.count, 1)
  assert.equal(pool.list({ limit: 1000 }).length, 1000, 'job history stays at its bound')
})
