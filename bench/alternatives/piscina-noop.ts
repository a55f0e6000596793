/**
 * piscina-noop: a piscina pool with 2 worker threads running a task that does
 * nothing (the latency/throughput reference).
 */
import { Piscina } from 'piscina'
import { fixturePath } from '../procs'
import type { TaskTarget } from '../targets'

export function createPiscinaNoop (threads = 2): TaskTarget {
  let pool: Piscina | null = null
  return {
    name: 'piscina-noop',
    description: `piscina 5, ${threads} worker threads, no-op task (default options otherwise)`,
    workers: threads,
    async setup () {
      pool = new Piscina({ filename: fixturePath('piscina-worker'), minThreads: threads, maxThreads: threads })
      // Start every thread before timing anything.
      await Promise.all(Array.from({ length: threads * 4 }, () => pool?.run(null, { name: 'noop' })))
    },
    async runOne () {
      if (!pool) throw new Error('piscina-noop: not set up')
      await pool.run(null, { name: 'noop' })
    },
    async teardown () {
      const p = pool
      pool = null
      if (p) await p.destroy()
    },
  }
}
