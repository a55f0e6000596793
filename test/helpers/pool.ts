// Builds a real pool (real worker processes) for tests, with the test kinds loaded.
import path from 'node:path'
import { createPool, type Pool, type PoolOptions } from '../../server/pool/pool'
import type { JobInfo, PoolEvent } from '../../server/pool/types'

export const TEST_KINDS_DIR = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'kinds')
/** A worker program speaking the protocol as written, with kinds of its own (echo, outputs). */
export const PROTOCOL_WORKER = path.join(__dirname, '..', 'fixtures', 'protocol-worker.js')

export async function startPool (options: PoolOptions = {}): Promise<Pool> {
  const pool = await createPool({
    workers: 2,
    maxMemoryBytes: 1024 ** 3,
    kindsDir: TEST_KINDS_DIR,
    killAfterMs: 1500,
    ...options,
    worker: { cancelGraceMs: 300, ...options.worker }
  })
  await pool.whenReady()
  return pool
}

/** A sealed buffer holding `bytes`. */
export function sealedBuffer (pool: Pool, bytes: Uint8Array, name?: string): string {
  const info = pool.store.create({ size: bytes.length, name })
  if (bytes.length > 0) pool.store.write(info.id, 0, bytes)
  pool.store.seal(info.id)
  return info.id
}

/** Resolves with the first pool event matching `predicate`. */
export async function nextEvent (pool: Pool, predicate: (e: PoolEvent) => boolean): Promise<PoolEvent> {
  return await new Promise((resolve) => {
    const listener = (event: PoolEvent): void => {
      if (!predicate(event)) return
      pool.off('event', listener)
      resolve(event)
    }
    pool.on('event', listener)
  })
}

/** Waits until the job reports progress (the hold kind's "mapped" signal). */
export async function jobProgressed (pool: Pool, id: string): Promise<void> {
  if (pool.get(id).progress > 0) return
  await nextEvent(pool, (e) => e.type === 'job.progress' && (e.data as JobInfo).id === id)
}

/** Resolves with the pid of the next worker that starts (call before causing the restart). */
export async function workerStarted (pool: Pool): Promise<number> {
  const event = await nextEvent(pool, (e) => e.type === 'worker.started')
  return (event.data as { pid: number }).pid
}

/** Waits until the job runs on a worker (it may already, when a worker was free at enqueue). */
export async function jobStarted (pool: Pool, id: string): Promise<void> {
  if (pool.get(id).state !== 'queued') return
  await nextEvent(pool, (e) => e.type === 'job.started' && (e.data as JobInfo).id === id)
}

/** Resolves once every worker is up and answering (pool.healthy): after kills, when all are back. */
export async function allWorkersReady (pool: Pool): Promise<void> {
  if (pool.healthy) return
  await nextEvent(pool, () => pool.healthy)
}
