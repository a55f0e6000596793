// How many buffers the server may hold. Each buffer costs the server one descriptor for its whole
// life, and descriptors are also what every HTTP connection, attach connection, worker channel and
// in-flight job input needs. Without a bound, ~20k one-byte buffers (19 KB of quota) took the
// server to RLIMIT_NOFILE: creates answered 500, /healthz connections were reset, a crashed worker
// could not be respawned (issue 15, item 8). So buffers get what the open-file limit leaves after
// a reserve for everything else.
import * as native from '../../native'

/** Descriptors kept back from buffers at least (connections, workers, transient reopens and dups). */
export const MIN_DESCRIPTOR_RESERVE = 256
/** ...and at most: past this many, a quarter of a large limit is more than any of those needs. */
export const MAX_DESCRIPTOR_RESERVE = 16_384

/** The reserve for a given open-file limit: a quarter of it, within the bounds above, never over half. */
export function descriptorReserve (limit: number): number {
  const quarter = Math.floor(limit / 4)
  return Math.min(Math.floor(limit / 2), Math.max(MIN_DESCRIPTOR_RESERVE, Math.min(MAX_DESCRIPTOR_RESERVE, quarter)))
}

/** Buffers a process with this open-file limit may hold. */
export function maxBuffersFor (limit: number): number {
  if (!Number.isFinite(limit)) return Number.MAX_SAFE_INTEGER
  return Math.max(0, limit - descriptorReserve(limit))
}

/**
 * The default buffer budget of this process: raises the soft open-file limit to the hard one first
 * (always allowed; the node binary does it at start-up too, but an embedder or a parent may have
 * lowered it), then leaves the reserve. Worker processes spawned later inherit the raised limit.
 */
export function defaultMaxBuffers (): { maxBuffers: number, fileLimit: number } {
  let limit: native.FileLimit
  try {
    limit = native.raiseFileLimit()
  } catch {
    limit = native.fileLimit()
  }
  return { maxBuffers: maxBuffersFor(limit.soft), fileLimit: limit.soft }
}
