/**
 * Filling pool buffers for the benchmark targets, outside the timed parts: the bytes go through
 * `store.write` (one memcpy into the shared mapping per chunk), in chunks, so a 1 GiB payload
 * never needs a 1 GiB Buffer on the JavaScript heap.
 */
import * as path from 'node:path'
import type { Pool } from '../../server/pool/pool'
import { DISPATCH_FILL_BYTE, dispatchLastByte, DISPATCH_FIRST_BYTE, fillComputePayload } from '../targets'

/** dist/bench/kinds: the bench-only kinds (bench-probe), passed to the pool as `kindsDir`. */
export const BENCH_KINDS_DIR = path.join(__dirname, '..', 'kinds')

/** 64 MiB: a multiple of fillComputePayload's 64 KiB block, so chunks repeat the pattern exactly. */
const CHUNK = 64 * 1024 * 1024

function writeRepeated (pool: Pool, id: string, size: number, chunk: Buffer): void {
  for (let off = 0; off < size; off += chunk.length) {
    pool.store.write(id, off, chunk.subarray(0, Math.min(chunk.length, size - off)))
  }
}

/** A sealed buffer with the dispatch payload (same bytes as fillDispatchPayload). */
export function sealedDispatchBuffer (pool: Pool, size: number): string {
  const { id } = pool.store.create({ size, name: `bench-dispatch-${size}` })
  writeRepeated(pool, id, size, Buffer.alloc(Math.min(CHUNK, size), DISPATCH_FILL_BYTE))
  pool.store.write(id, 0, Buffer.from([DISPATCH_FIRST_BYTE]))
  pool.store.write(id, size - 1, Buffer.from([dispatchLastByte(size)]))
  pool.store.seal(id)
  return id
}

/** A sealed buffer with the compute payload (same bytes as fillComputePayload over `size`). */
export function sealedComputeBuffer (pool: Pool, size: number): string {
  const { id } = pool.store.create({ size, name: `bench-compute-${size}` })
  const chunk = Buffer.allocUnsafeSlow(Math.min(CHUNK, size))
  fillComputePayload(chunk)
  writeRepeated(pool, id, size, chunk)
  pool.store.seal(id)
  return id
}
