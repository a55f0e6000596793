// What a pool can be told, and the values it runs with when it is not told.
import os from 'node:os'
import type { WorkerSettings } from './worker-config'

export interface PoolOptions {
  /** Worker processes (default: one per core). */
  workers?: number
  /** piscina threads per worker = jobs a worker runs at once (default 1). */
  threadsPerWorker?: number
  /**
   * Jobs sent to a worker ahead of a free thread, where they wait in the worker's own queue. More
   * in flight per worker means fewer round trips spent waiting: several jobs and answers per
   * wake-up. But a job sent ahead is committed to its worker: it waits there behind the jobs
   * before it even if another worker goes idle, and it counts as running (its `startedAt` and
   * `timeoutMs` start, and a crash of its worker uses up an attempt) from when it was sent.
   *
   * `'auto'` (default): only short jobs go ahead — of kinds whose recent runs took under
   * SHORT_RUN_MS on their thread — up to AUTO_PREFETCH per worker, and only to a worker that is
   * running nothing but such jobs, so no job ever waits behind a long one. A number: that many
   * ahead of the threads, whatever the kind. 0: never. (dispatch-policy.ts)
   */
  prefetch?: number | 'auto'
  /** Total bytes all buffers may hold (default: half of physical memory). */
  maxMemoryBytes?: number
  /** Largest single buffer (default and ceiling: the quota, at most 4 GiB). */
  maxBufferBytes?: number
  /** Jobs waiting for a worker before submit refuses with QUEUE_FULL (default 10,000). */
  maxQueue?: number
  /** Folder of custom kind modules, loaded by the workers (never by the server). */
  kindsDir?: string | null
  /** Custom kind module files, loaded by workers after the folder's. */
  kinds?: string[]
  /** Finished jobs kept for pool.list() (default 1,000). */
  historySize?: number
  /** How long a cancelled or timed-out job may take to stop before its worker is killed (default 3 s). */
  killAfterMs?: number
  /** The server pings each worker this often (default 1 s). */
  heartbeatIntervalMs?: number
  /** A worker silent for this long is hung: it is killed and replaced, its jobs retried or failed (default 10 s). */
  heartbeatTimeoutMs?: number
  /**
   * A kind nobody serves any more (its last external worker left): its queued jobs wait this
   * long for a worker to serve it again, then fail NO_WORKER (default 30 s).
   */
  kindWaitMs?: number
  /** Settings of the worker processes, sent to each in its 'config' message. */
  worker?: WorkerSettings
  /** Extra environment for worker processes. */
  workerEnv?: Record<string, string>
  /** A different worker program speaking workers/protocol.ts (tests use a hostile one). */
  workerScript?: string
  /** Structured log sink (pino-compatible subset). */
  logger?: { info: (o: object, m?: string) => void, warn: (o: object, m?: string) => void, error: (o: object, m?: string) => void }
  /** The attach socket's path, when one is served (reported in stats). */
  attachSocket?: string | null
  /** Job outputs expire (are deleted) this long after they are made, unless a job says otherwise (default: never). */
  outputTtlMs?: number | null
}

export interface ResolvedPoolOptions {
  workers: number
  threadsPerWorker: number
  prefetch: number | 'auto'
  maxMemoryBytes: number
  maxBufferBytes: number
  maxQueue: number
  kindsDir: string | null
  kinds: string[]
  historySize: number
  killAfterMs: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  kindWaitMs: number
  outputTtlMs: number | null
}

export function resolvePoolOptions (options: PoolOptions = {}): ResolvedPoolOptions {
  const maxMemoryBytes = options.maxMemoryBytes ?? Math.floor(os.totalmem() / 2)
  return {
    workers: options.workers ?? Math.max(1, os.availableParallelism()),
    threadsPerWorker: options.threadsPerWorker ?? 1,
    prefetch: options.prefetch === undefined || options.prefetch === 'auto' ? 'auto' : Math.max(0, Math.floor(options.prefetch)),
    maxMemoryBytes,
    maxBufferBytes: Math.min(options.maxBufferBytes ?? maxMemoryBytes, maxMemoryBytes, 4 * 1024 ** 3),
    maxQueue: options.maxQueue ?? 10_000,
    kindsDir: options.kindsDir ?? null,
    kinds: [...(options.kinds ?? [])],
    historySize: options.historySize ?? 1000,
    killAfterMs: options.killAfterMs ?? 3000,
    heartbeatIntervalMs: Math.max(1, options.heartbeatIntervalMs ?? 1000),
    heartbeatTimeoutMs: Math.max(1, options.heartbeatTimeoutMs ?? 10_000),
    kindWaitMs: Math.max(0, options.kindWaitMs ?? 30_000),
    outputTtlMs: options.outputTtlMs ?? null
  }
}
