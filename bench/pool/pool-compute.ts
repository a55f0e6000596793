/**
 * memfd-pool, compute section: a `checksum` job (sha256 or crc32) over a sealed memfd, one worker
 * process × one thread, through the library API. The job maps the input in its thread and hashes
 * the shared memory in place; the digest comes back in the job's result.
 */
import { createPool, type Pool } from '../../server/pool/pool';
import type { ComputeTarget } from '../targets';
import { sealedComputeBuffer } from './pool-buffers';

export function createPoolCompute(): ComputeTarget<string> {
  let pool: Pool | null = null;
  return {
    name: 'memfd-pool',
    description: 'memfd-pool library API, 1 worker × 1 thread, checksum job (node:crypto / zlib.crc32) over a sealed memfd',
    async setup() {
      pool = await createPool({ workers: 1, threadsPerWorker: 1 });
      await pool.whenReady();
    },
    async prepare(size) {
      if (!pool) throw new Error('memfd-pool: not set up');
      return sealedComputeBuffer(pool, size);
    },
    async run(id, algorithm) {
      if (!pool) throw new Error('memfd-pool: not set up');
      const job = await pool.submit({ kind: 'checksum', inputs: [id], params: { algorithm } });
      if (job.state !== 'succeeded' || job.result === null) {
        throw new Error(`memfd-pool: checksum ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`);
      }
      return String(job.result.digest);
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
