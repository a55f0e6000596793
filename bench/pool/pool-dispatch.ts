/**
 * memfd-pool, dispatch section: the pool's library API in this process, one worker process with
 * one thread (like the one-thread alternatives). `prepare(size)` creates, fills and seals a
 * buffer outside the clock; the timed round trip is `pool.submit` of a `bench-probe` job on it:
 * the server reopens the memfd read-only and passes the descriptor (SCM_RIGHTS) to the worker,
 * whose thread maps it, reads the first and last byte and answers.
 */
import type { ByteProbe, DispatchTarget } from '../targets'
import { jobFailure, libraryPool } from './library-pool'
import { BENCH_KINDS_DIR, sealedDispatchBuffer } from './pool-buffers'

export function createPoolDispatch (): DispatchTarget<string> {
  const pool = libraryPool()
  return {
    name: 'memfd-pool',
    description: 'memfd-pool library API, 1 worker process × 1 thread, sealed memfd passed by descriptor, job maps it',
    async setup () {
      await pool.start({ workers: 1, threadsPerWorker: 1, kindsDir: BENCH_KINDS_DIR })
    },
    async prepare (size) {
      return sealedDispatchBuffer(pool.get(), size)
    },
    async roundTrip (id): Promise<ByteProbe> {
      const job = await pool.get().submit({ kind: 'bench-probe', inputs: [id] })
      if (job.state !== 'succeeded' || job.result === null) throw jobFailure('job', job)
      return { first: Number(job.result.first), last: Number(job.result.last) }
    },
    async release (id) {
      pool.current?.store.delete(id)
    },
    async teardown () {
      await pool.close()
    },
  }
}
