/**
 * memfd-pool, latency/throughput section: a `noop` job with one input buffer (so one descriptor
 * crosses to the worker and is mapped there) through the library API, on `workers` processes ×
 * `threadsPerWorker` threads. Registered twice with 2 threads in total — 1 × 2 and 2 × 1 — to
 * match piscina-noop's 2 threads both ways: one process with two threads, or two processes.
 */
import { createPool, type Pool } from '../../server/pool/pool';
import type { TaskTarget } from '../targets';
import { sealedDispatchBuffer } from './pool-buffers';

export function createPoolNoop(workers: number, threadsPerWorker: number): TaskTarget {
  let pool: Pool | null = null;
  let input = '';
  return {
    name: `memfd-pool ${workers}×${threadsPerWorker}`,
    description: `memfd-pool library API, ${workers} worker process(es) × ${threadsPerWorker} thread(s), noop job with one 4 KiB sealed input`,
    workers: workers * threadsPerWorker,
    async setup() {
      pool = await createPool({ workers, threadsPerWorker });
      await pool.whenReady();
      input = sealedDispatchBuffer(pool, 4096);
    },
    async runOne() {
      if (!pool) throw new Error('memfd-pool: not set up');
      const job = await pool.submit({ kind: 'noop', inputs: [input] });
      if (job.state !== 'succeeded') throw new Error(`memfd-pool: noop ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`);
    },
    async teardown() {
      const p = pool;
      pool = null;
      if (p) await p.close({ graceMs: 1000 });
    },
  };
}
