// Chaos: thousands of mixed jobs while workers are SIGKILLed at random moments. Every job ends,
// retries carry most of them through, no result is wrong, and nothing leaks.
// MEMFD_POOL_LONG=1 runs the long variant.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import type { JobInfo } from '../../server/pool/types'
import { countFds, memfdDescriptors, settledCount } from '../helpers/proc'
import { allWorkersReady, sealedBuffer, startPool } from '../helpers/pool'

const LONG = process.env.MEMFD_POOL_LONG === '1'
const TOTAL = LONG ? 20_000 : 2000

test(`chaos: ${TOTAL} mixed jobs, workers killed at random`, async (t) => {
  const pool = await startPool({ workers: 2, threadsPerWorker: 2, maxQueue: 100_000 })
  t.after(() => pool.close())
  const data = crypto.randomBytes(256 * 1024)
  const input = sealedBuffer(pool, data)
  const sha = crypto.createHash('sha256').update(data).digest('hex')
  const baselineFds = countFds()

  let kills = 0
  const killing = { stop: false }
  // Random intervals are the point here (not synchronisation): kill whichever worker is up.
  const killer = (async () => {
    while (!killing.stop) {
      await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 450))
      const pids = pool.workers().filter((w) => w.state === 'ready').map((w) => w.pid!)
      if (pids.length === 0 || killing.stop) continue
      try { process.kill(pids[Math.floor(Math.random() * pids.length)], 'SIGKILL'); kills++ } catch { /* already gone */ }
    }
  })()

  const counts: Record<string, number> = { succeeded: 0, failed: 0, cancelled: 0 }
  const wrong: string[] = []
  const failures = new Map<string, number>()
  let next = 0
  async function lane (): Promise<void> {
    while (next < TOTAL) {
      const i = next++
      const kind = i % 3 === 0 ? 'checksum' : i % 3 === 1 ? 'gzip' : 'sleep'
      const job: JobInfo = await pool.submit(kind === 'sleep'
        ? { kind, params: { ms: 1 + (i % 5) }, maxAttempts: 3 }
        : { kind, inputs: [input], maxAttempts: 3 })
      counts[job.state]++
      if (job.state === 'succeeded') {
        if (kind === 'checksum' && job.result!.digest !== sha) wrong.push(job.id)
        if (kind === 'gzip') {
          const lease = pool.store.acquire(job.outputs[0])
          if (!zlib.gunzipSync(lease.view(0, lease.info.size)).equals(data)) wrong.push(job.id)
          lease.release()
        }
      } else {
        failures.set(job.error!.code, (failures.get(job.error!.code) ?? 0) + 1)
      }
      for (const id of job.outputs) pool.store.delete(id)
    }
  }
  await Promise.all(Array.from({ length: 32 }, lane))
  killing.stop = true
  await killer
  // Every killed worker is back before the counts below are read.
  await allWorkersReady(pool)
  assert.deepEqual(pool.workers().map((w) => w.state), ['ready', 'ready'])

  const finished = counts.succeeded + counts.failed + counts.cancelled
  const rate = counts.succeeded / TOTAL
  t.diagnostic(`jobs ${TOTAL}, kills ${kills}, succeeded ${counts.succeeded} (${(rate * 100).toFixed(1)} %), failed ${counts.failed} ${JSON.stringify(Object.fromEntries(failures))}`)
  assert.equal(finished, TOTAL, 'every job reached a terminal state')
  assert.ok(kills >= 5, `workers were killed (${kills})`)
  assert.ok(rate >= 0.8, `at least 80 % succeed with maxAttempts 3 (${(rate * 100).toFixed(1)} %)`)
  assert.deepEqual(wrong, [], 'no result is wrong')
  for (const code of failures.keys()) assert.equal(code, 'WORKER_CRASHED')

  // Afterwards: the server holds one memfd per live buffer and its baseline of descriptors.
  assert.equal(pool.store.count, 1)
  assert.equal(memfdDescriptors().length, 1)
  assert.equal(countFds(), baselineFds)
  const check = await pool.submit({ kind: 'checksum', inputs: [input] })
  assert.equal(check.result!.digest, sha)
  for (const pid of pool.workerPids()) assert.equal(await settledCount(() => memfdDescriptors(pid).length, 0), 0, `worker ${pid} holds no memfd between jobs`)
})
