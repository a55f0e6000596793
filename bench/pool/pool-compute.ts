/**
 * memfd-pool, compute section: a `checksum` job (sha256 or crc32) over a sealed memfd, one worker
 * process × one thread, through the library API. The job maps the input in its thread and hashes
 * the shared memory in place; the digest comes back in the job's result.
 */
import type { ComputeTarget } from '../targets'
import { jobFailure, libraryPool } from './library-pool'
import { sealedComputeBuffer } from './pool-buffers'

export function createPoolCompute (): ComputeTarget<string> {
  const pool = libraryPool()
  return {
    name: 'memfd-pool',
    description: 'memfd-pool library API, 1 worker × 1 thread, checksum job (node:crypto / zlib.crc32) over a sealed memfd',
    async setup () {
      await pool.start({ workers: 1, threadsPerWorker: 1 })
    },
    async prepare (size) {
      return sealedComputeBuffer(pool.get(), size)
    },
    async run (id, algorithm) {
      const job = await pool.get().submit({ kind: 'checksum', inputs: [id], params: { algorithm } })
      if (job.state !== 'succeeded' || job.result === null) throw jobFailure('checksum', job)
      return String(job.result.digest)
    },
    async release (id) {
      pool.current?.store.delete(id)
    },
    async teardown () {
      await pool.close()
    },
  }
}
