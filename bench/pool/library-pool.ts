/**
 * The pool a library-API target (pool-dispatch, pool-noop, pool-compute) runs in this process:
 * created and started by the target's `setup`, closed by its `teardown` — which, as targets.ts
 * asks of every teardown, is safe before `setup` and after a failed one.
 */
import { createPool, type Pool, type PoolOptions } from '../../server/pool/pool'
import type { JobInfo } from '../../server/pool/types'

export interface LibraryPool {
  /** The pool from `start` until `close`, else null. */
  readonly current: Pool | null
  /** The pool from `start` until `close`; throws otherwise. */
  get(): Pool
  /** Creates the pool and waits for its workers to be ready. */
  start(options: PoolOptions): Promise<Pool>
  close(): Promise<void>
}

export function libraryPool (): LibraryPool {
  let pool: Pool | null = null
  return {
    get current () {
      return pool
    },
    get () {
      if (!pool) throw new Error('memfd-pool: not set up')
      return pool
    },
    async start (options) {
      pool = await createPool(options)
      await pool.whenReady()
      return pool
    },
    async close () {
      const p = pool
      pool = null
      if (p) await p.close({ graceMs: 1000 })
    },
  }
}

/** The error a target fails with when a job (`what`: its kind, or 'job') did not succeed. */
export function jobFailure (what: string, job: JobInfo): Error {
  return new Error(`memfd-pool: ${what} ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}`)
}
