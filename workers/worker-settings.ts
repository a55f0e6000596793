// Defaults and allowed values of the settings a worker process obeys (WorkerConfig, sent in its
// 'config' message). A tiny module of constants, so the server's settings table (server/config.ts)
// and the engine that builds the config can share them without loading any worker code.
import type { WorkerConfig } from './protocol'

/**
 * Built-in kinds that may run on a worker's main thread (`inlineKinds`): O(1) work that never
 * waits. Custom kinds never do — one that blocked would stall the worker's channel.
 */
export const INLINE_CAPABLE_KINDS: readonly string[] = ['noop']

/** Most helper threads a parallel sort starts, whatever `sortThreads` says. */
export const MAX_SORT_THREADS = 8

export const WORKER_DEFAULTS: Omit<WorkerConfig, 'threads' | 'kindsDir' | 'kindFiles'> = {
  /** How long a cancelled job's kind gets to honour its AbortSignal before its thread is terminated. */
  cancelGraceMs: 1000,
  /**
   * A job still running after this long tells the server it started (with its descriptor
   * numbers, for the buffers' descriptor map); a faster one answers 'done' only. One message per
   * job instead of two: each message wakes the server, and on 2 vCPUs a wake-up costs more than
   * the job.
   */
  startedAfterMs: 2,
  inlineKinds: ['noop'],
  mappingCache: { entries: 16, bytes: 8 * 1024 ** 3 },
  sortThreads: null
}
