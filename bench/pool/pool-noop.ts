/**
 * memfd-pool, latency/throughput section: a `noop` job with one input buffer (so one descriptor
 * crosses to the worker and is mapped there) through the library API, on `workers` processes ×
 * `threadsPerWorker` threads — registered with the same number of threads as piscina-noop, both
 * ways (one process with all of them, or one process each), with the pool's defaults, plus two
 * variants that say where the time goes:
 *  - `prefetch`: jobs sent to a worker ahead of a free thread, for every kind (a number), or never
 *    (0); by default ('auto') only jobs of kinds that run under 1 ms go ahead;
 *  - `onThread`: noop on a piscina thread like any other kind (MEMFD_POOL_INLINE_KINDS=''), where
 *    by default the worker runs this O(1) built-in kind on its main thread.
 */
import type { PoolOptions } from '../../server/pool/pool'
import type { TaskTarget } from '../targets'
import { jobFailure, libraryPool } from './library-pool'
import { sealedDispatchBuffer } from './pool-buffers'

export interface PoolNoopVariant {
  prefetch?: number
  onThread?: boolean
}

export function createPoolNoop (workers: number, threadsPerWorker: number, variant: PoolNoopVariant = {}): TaskTarget {
  const pool = libraryPool()
  let input = ''
  const prefetch = variant.prefetch
  const suffix = `${prefetch !== undefined ? ` prefetch ${prefetch}` : ''}${variant.onThread ? ' on thread' : ''}`
  return {
    name: `memfd-pool ${workers}×${threadsPerWorker}${suffix}`,
    description:
      `memfd-pool library API, ${workers} worker process(es) × ${threadsPerWorker} thread(s), noop job with one 4 KiB sealed input` +
      (prefetch !== undefined ? `, prefetch ${prefetch} (option, default 'auto')` : '') +
      (variant.onThread ? ', noop run on a piscina thread (MEMFD_POOL_INLINE_KINDS=), not inline on the worker main thread' : ''),
    workers: workers * threadsPerWorker,
    async setup () {
      // The worker's settings go two ways until every branch has the config message
      // (SHARED-INTERFACES.md): `worker` is what a worker reads from the engine's config message,
      // MEMFD_POOL_INLINE_KINDS what it read from its environment before. Typed by hand here, so
      // this compiles against the PoolOptions of either side.
      const options: PoolOptions & { worker?: { inlineKinds?: string[] } } = {
        workers,
        threadsPerWorker,
        ...(prefetch !== undefined ? { prefetch } : {}),
        ...(variant.onThread ? { worker: { inlineKinds: [] }, workerEnv: { MEMFD_POOL_INLINE_KINDS: '' } } : {}),
      }
      const started = await pool.start(options)
      input = sealedDispatchBuffer(started, 4096)
    },
    async runOne () {
      const job = await pool.get().submit({ kind: 'noop', inputs: [input] })
      if (job.state !== 'succeeded') throw jobFailure('noop', job)
    },
    async teardown () {
      await pool.close()
    },
  }
}
