// The one 'config' message a worker gets after its 'hello' (workers/protocol.ts WorkerConfig):
// every setting a worker obeys, resolved here from the pool's options, none read by the worker
// from its environment.
import type { WorkerConfig } from '../../workers/protocol'

/** Settings of the worker process a pool's options may set (the rest follow from the pool's own). */
export type WorkerSettings = Partial<Pick<WorkerConfig, 'cancelGraceMs' | 'startedAfterMs' | 'inlineKinds' | 'mappingCache' | 'sortThreads'>>

export const WORKER_DEFAULTS = {
  cancelGraceMs: 1000,
  startedAfterMs: 2,
  inlineKinds: ['noop'],
  mappingCache: { entries: 16, bytes: 8 * 1024 ** 3 },
  sortThreads: null
} as const satisfies WorkerSettings

export function buildWorkerConfig (options: { threads: number, kindsDir: string | null, kindFiles: readonly string[], worker?: WorkerSettings }): WorkerConfig {
  const worker = options.worker ?? {}
  return {
    threads: options.threads,
    kindsDir: options.kindsDir,
    kindFiles: [...options.kindFiles],
    cancelGraceMs: worker.cancelGraceMs ?? WORKER_DEFAULTS.cancelGraceMs,
    startedAfterMs: worker.startedAfterMs ?? WORKER_DEFAULTS.startedAfterMs,
    inlineKinds: [...(worker.inlineKinds ?? WORKER_DEFAULTS.inlineKinds)],
    mappingCache: { ...(worker.mappingCache ?? WORKER_DEFAULTS.mappingCache) },
    sortThreads: worker.sortThreads ?? WORKER_DEFAULTS.sortThreads
  }
}
