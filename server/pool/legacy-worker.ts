// TEMPORARY until the worker side lands (branch "worker", issue 11): the worker process on this
// branch still greets with a hello that carries no protocol version, reads its settings from
// environment variables and is ready at once. So that the engine can be run end to end before
// the two branches meet, the server speaks that old handshake too: it passes the settings as
// the old variables and learns the kinds by loading them itself — exactly what the new design
// forbids. Delete this file and its two uses (engine.ts: legacyKinds, legacyEnv) once workers
// answer 'config' with 'ready'.
import type { KindReport, WorkerConfig } from '../../workers/protocol'
import { loadKinds } from '../../workers/kind-loader'
import { MAX_OUTPUTS } from './kind-registry'

/** The old worker's environment for the settings that now travel in 'config'. */
export function legacyEnv (config: WorkerConfig): Record<string, string> {
  return {
    MEMFD_POOL_THREADS: String(config.threads),
    MEMFD_POOL_KINDS_DIR: config.kindsDir ?? '',
    MEMFD_POOL_CANCEL_GRACE_MS: String(config.cancelGraceMs),
    MEMFD_POOL_STARTED_AFTER_MS: String(config.startedAfterMs),
    MEMFD_POOL_INLINE_KINDS: config.inlineKinds.join(','),
    MEMFD_POOL_MAPPING_CACHE_ENTRIES: String(config.mappingCache.entries),
    MEMFD_POOL_MAPPING_CACHE_BYTES: String(config.mappingCache.bytes),
    ...(config.sortThreads !== null ? { MEMFD_POOL_SORT_THREADS: String(config.sortThreads) } : {})
  }
}

/** The reports an old worker would have sent, made by loading the kinds here (once). */
export function legacyKindReports (kindsDir: string | null): () => KindReport[] {
  let reports: KindReport[] | null = null
  return () => {
    reports ??= [...loadKinds(kindsDir).values()].map((kind) => ({
      name: kind.name,
      description: kind.description ?? '',
      inputs: { min: kind.inputs?.min ?? 0, max: kind.inputs?.max ?? 16 },
      outputs: { min: 0, max: MAX_OUTPUTS },
      params: kind.params === undefined ? null : JSON.parse(JSON.stringify(kind.params)) as Record<string, unknown>
    }))
    return reports
  }
}
