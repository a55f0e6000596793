/**
 * memfd-pool, dispatch section: the pool's library API in this process, one worker process with
 * one thread (like the one-thread alternatives). `prepare(size)` creates, fills and seals a
 * buffer outside the clock; the timed round trip is `pool.submit` of a `bench-probe` job on it:
 * the server reopens the memfd read-only and passes the descriptor (SCM_RIGHTS) to the worker,
 * whose thread maps it, reads the first and last byte and answers.
 */
import { createPool, type Pool } from '../../server/pool/pool';
import type { ByteProbe, DispatchTarget } from '../targets';
import { BENCH_KINDS_DIR, sealedDispatchBuffer } from './pool-buffers';

export function createPoolDispatch(): DispatchTarget<string> {
  let pool: Pool | null = null;
  return {
    name: 'memfd-pool',
    description: 'memfd-pool library API, 1 worker process × 1 thread, sealed memfd passed by descriptor, job maps it',
    async setup() {
      pool = await createPool({ workers: 1, threadsPerWorker: 1, kindsDir: BENCH_KINDS_DIR });
      await pool.whenReady();
    },
    async prepare(size) {
      if (!pool) throw new Error('memfd-pool: not set up');
      return sealedDispatchBuffer(pool, size);
    },
    async roundTrip(id): Promise<ByteProbe> {
      if (!pool) throw new Error('memfd-pool: not set up');
      const job = await pool.submit({ kind: 'bench-probe', inputs: [id] });
      if (job.state !== 'succeeded' || job.result === null) {
        throw new Error(`memfd-pool: job ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`);
      }
      return { first: Number(job.result.first), last: Number(job.result.last) };
    },
    async release(id) {
      pool?.store.delete(id);
    },
    async teardown() {
      const p = pool;
      pool = null;
      if (p) await p.close({ graceMs: 1000 });
    },
  };
}
