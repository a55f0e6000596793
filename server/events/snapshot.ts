// The `snapshot` message a subscriber gets first: the pool's state, bounded in size whatever that
// state holds. Unbounded, it was the one message that escaped the slow-client bound (issue 15
// item 12): 15,000 buffers made each snapshot ~5 MB, and 300 subscribers that never read held
// ~300 copies of it in the server (3.9 GiB RSS, /healthz at 18 s while they were serialized).
//
// So each list keeps its newest items up to a count and a byte budget, says when it left some out
// (`truncated`) and how many there are (`counts`); a client that needs them all lists them over
// REST. And the serialized bytes are built once and shared by every subscriber that connects
// before the next event (snapshot-cache in event-hub.ts), rather than copied per socket.
import type { Pool } from '../pool/pool'
import { PoolError } from '../pool/pool-error'
import type { JobInfo } from '../pool/types'
import type { ClusterNodeSchema } from '../schemas/cluster'
import type { StatsSample } from './stats-history'

export interface SnapshotLimits {
  /** Newest buffers listed at most. */
  maxBuffers: number
  /** Newest jobs listed at most (as many as GET /v1/jobs answers by default). */
  maxJobs: number
  /** Bytes of JSON each of the two lists (buffers, jobs) may take at most. */
  maxListBytes: number
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = {
  maxBuffers: 1000,
  maxJobs: 100,
  maxListBytes: 1024 * 1024
}

/** The cluster as this node last saw it (its heartbeat's reading of the registry). */
export interface ClusterSnapshot {
  self: string
  nodes: ClusterNodeSchema[]
}

/** The items of a list that fit, newest first, as JSON texts. */
interface Fitted { texts: string[], truncated: boolean }

/** Takes items from `newestFirst` while they fit in `limit` items and `maxBytes` of JSON. */
function fit<T> (newestFirst: Iterable<T>, limit: number, maxBytes: number): Fitted {
  const texts: string[] = []
  let bytes = 0
  for (const item of newestFirst) {
    if (texts.length >= limit) return { texts, truncated: true }
    const text = JSON.stringify(item)
    // One byte per comma; UTF-16 length is a lower bound of the UTF-8 one, so measure exactly.
    bytes += Buffer.byteLength(text) + 1
    if (bytes > maxBytes) return { texts, truncated: true }
    texts.push(text)
  }
  return { texts, truncated: false }
}

function * reversed<T> (items: T[]): Iterable<T> {
  for (let i = items.length - 1; i >= 0; i--) yield items[i]
}

function jobsOf (pool: Pool, job: string | null, limit: number): JobInfo[] {
  if (job === null) return pool.list({ limit })
  try {
    return [pool.get(job)]
  } catch (err) {
    // Checked before the upgrade; it may have left the history since.
    if (err instanceof PoolError && err.code === 'NOT_FOUND') return []
    throw err
  }
}

/**
 * The snapshot message, serialized: `{"type":"snapshot","ts","data":{pool, workers, buffers,
 * jobs, truncated, counts, cluster, history?}}`; `cluster` is null without --cluster, and
 * otherwise as small as the cluster (one entry per node), so never bounded here. Buffers are listed oldest first, as GET /v1/buffers
 * lists them, but are the newest ones when some are left out; jobs newest first.
 */
export function buildSnapshot (pool: Pool, job: string | null, limits: SnapshotLimits, history: StatsSample[] | null, cluster: ClusterSnapshot | null = null): string {
  const all = pool.store.list()
  const buffers = fit(reversed(all), limits.maxBuffers, limits.maxListBytes)
  const jobs = fit(jobsOf(pool, job, limits.maxJobs), Infinity, limits.maxListBytes)
  const truncated = { buffers: buffers.truncated, jobs: jobs.truncated }
  const counts = { buffers: all.length }
  // Workers are few (one per process) and always listed whole.
  return `{"type":"snapshot","ts":${JSON.stringify(new Date().toISOString())},"data":{` +
    `"pool":${JSON.stringify(pool.stats())},` +
    `"workers":${JSON.stringify(pool.workers())},` +
    `"buffers":[${buffers.texts.reverse().join(',')}],` +
    `"jobs":[${jobs.texts.join(',')}],` +
    `"truncated":${JSON.stringify(truncated)},` +
    `"counts":${JSON.stringify(counts)},` +
    `"cluster":${JSON.stringify(cluster)}` +
    (history === null ? '' : `,"history":${JSON.stringify(history)}`) +
    '}}'
}
