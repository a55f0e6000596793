// Sorting a large input on several threads: the input is copied into shared scratch memory, cut
// into as many slices as there are threads, each slice sorted by its own thread at once (the
// job's thread sorts one, helper threads started for the job the others), and the sorted slices
// merged into the output. TypedArray#sort is single-threaded and O(n log n); the merge is O(n·k)
// with k ≤ 8 slices, so for inputs of tens of MiB and more the threads win back many times
// what starting them costs (~10–30 ms each).
//
// The helpers use cores beyond the worker's own thread for the duration of the sort, like any
// multi-threaded library a kind might call; the worker's sortThreads setting (--sort-threads)
// caps them (default: what os.availableParallelism() reports, at most 8). The scratch memory (as large as the input) is
// outside the pool's quota, so a machine with less than twice that available sorts serially.
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { KindError, type KindContext } from '../kind-api'
import { cancellationError, throwIfCancelled } from './cancellation'
import { elementsOver, type ElementType, type Elements } from './element-types'
import type { SortPart } from './sort-part'
import { MAX_SORT_THREADS } from '../worker-settings'

/** Inputs smaller than this are sorted on the job's thread alone. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024
const MAX_THREADS = MAX_SORT_THREADS
/** What the sort needs of its job: the signal and a progress report. */
export type SortJob = Pick<KindContext<unknown>, 'signal' | 'progress'>

/** Progress reported when the slices start sorting, and when the merge starts. */
const SORTING = 0.05
const MERGING = 0.7
/** Elements merged between two looks at the job's signal. */
const MERGE_STRIDE = 1 << 20

let configuredThreads: number | null = null

/** The --sort-threads setting of this thread (null: the machine's parallelism, at most 8). */
export function setSortThreads (threads: number | null): void {
  configuredThreads = threads !== null && Number.isSafeInteger(threads) && threads > 0 ? threads : null
}

/** How many threads a sort of `byteLength` bytes uses (1: no helpers). */
export function sortThreads (byteLength: number): number {
  if (byteLength < PARALLEL_MIN_BYTES) return 1
  // The scratch copy is memory outside the pool's quota: sort in place (serially) rather than
  // push a machine that has little left into the OOM killer.
  if (os.freemem() < 2 * byteLength) return 1
  const wanted = configuredThreads ?? os.availableParallelism()
  return Math.max(1, Math.min(wanted, MAX_THREADS))
}

/**
 * The order TypedArray#sort gives floats: numeric, -0 before +0, NaN after everything. The
 * merge must follow it exactly, or a parallel sort's bytes would differ from a serial one's.
 */
function floatBefore (a: number, b: number): boolean {
  if (b !== b) return a === a // eslint-disable-line no-self-compare -- NaN test
  if (a < b) return true
  return a === 0 && b === 0 && Object.is(a, -0) && !Object.is(b, -0)
}

function intBefore (a: number, b: number): boolean { return a < b }

/** Starts a helper thread sorting `count` elements of `scratch` from element `start`. */
function sortOnHelper (part: SortPart, signal: AbortSignal): { done: Promise<void>, stop: () => Promise<number> } {
  const helper = new Worker(path.join(__dirname, 'sort-part.js'), { workerData: part })
  const done = new Promise<void>((resolve, reject) => {
    helper.once('message', () => resolve())
    helper.once('error', (err) => reject(new KindError('HANDLER_ERROR', `a sort helper thread failed: ${err.message}`)))
    helper.once('exit', (code) => reject(new KindError('HANDLER_ERROR', `a sort helper thread exited (${code}) before it finished`)))
    signal.addEventListener('abort', () => reject(cancellationError(signal)), { once: true })
  })
  return { done, stop: async () => await helper.terminate() }
}

/**
 * Sorts the little-endian elements of `input` ascending into `target` (a direct view of the
 * output, as many elements) using `threads` threads.
 */
export async function sortInParallel (dtype: ElementType, input: Buffer, target: Elements, threads: number, job: SortJob): Promise<void> {
  const { signal } = job
  const count = target.length
  const size = target.BYTES_PER_ELEMENT
  const scratch = new SharedArrayBuffer(count * size)
  new Uint8Array(scratch).set(input)
  const bounds = Array.from({ length: threads + 1 }, (_, i) => Math.floor(count * i / threads))
  const runs = bounds.slice(0, -1).map((start, i) => elementsOver(dtype, scratch, start * size, bounds[i + 1] - start))

  const helpers = runs.slice(1).map((run, i) => sortOnHelper({ scratch, dtype, start: bounds[i + 1], count: run.length }, signal))
  job.progress(SORTING)
  try {
    runs[0].sort()
    await Promise.all(helpers.map(async (h) => await h.done))
  } finally {
    // Done ones have exited already; on a failure or a cancel the others must not go on.
    await Promise.all(helpers.map(async (h) => await h.stop()))
  }
  throwIfCancelled(signal)
  job.progress(MERGING)
  await merge(runs, target, dtype === 'f32' || dtype === 'f64', job)
}

/** Reports the merge's progress, lets a cancel reach this thread (it arrives as a message), and stops here if it did. */
async function mergeCheckpoint (job: SortJob, merged: number, total: number): Promise<void> {
  job.progress(MERGING + (1 - MERGING) * merged / total)
  await new Promise((resolve) => setImmediate(resolve))
  throwIfCancelled(job.signal)
}

/**
 * Merges sorted `runs` into `target`, taking the earlier run on ties. Two runs (two threads, the
 * common case) get a loop of their own with the comparison inlined: the general k-way loop costs
 * a call per element and made the merge several times slower than the loop below.
 */
async function merge (runs: Elements[], target: Elements, floats: boolean, job: SortJob): Promise<void> {
  // The loops below only compare and copy elements, which works the same on the BigInt arrays of
  // u64/i64 (`<` and `<=` compare BigInts exactly): one type for the compiler, every dtype at run time.
  const sameRuns = runs as unknown as Float64Array[]
  const sameTarget = target as unknown as Float64Array
  if (runs.length === 2) await mergeTwo(sameRuns[0], sameRuns[1], sameTarget, floats, job)
  else await mergeMany(sameRuns, sameTarget, floats ? floatBefore : intBefore, job)
}

async function mergeTwo (a: Float64Array, b: Float64Array, target: Float64Array, floats: boolean, job: SortJob): Promise<void> {
  let i = 0
  let j = 0
  let w = 0
  while (i < a.length && j < b.length) {
    const stop = Math.min(target.length, w + MERGE_STRIDE)
    if (!floats) {
      while (w < stop && i < a.length && j < b.length) target[w++] = a[i] <= b[j] ? a[i++] : b[j++]
    } else {
      while (w < stop && i < a.length && j < b.length) {
        const x = a[i]
        const y = b[j]
        // b's element first only when it sorts strictly before a's (see floatBefore).
        const takeB = y < x ? true : x < y ? false : x === y ? (x === 0 && Object.is(y, -0) && !Object.is(x, -0)) : (x !== x && y === y) // eslint-disable-line no-self-compare -- NaN test
        target[w++] = takeB ? b[j++] : a[i++]
      }
    }
    await mergeCheckpoint(job, w, target.length)
  }
  // One run is used up: the rest of the other is already in order.
  target.set(i < a.length ? a.subarray(i) : b.subarray(j), w)
}

async function mergeMany (runs: Float64Array[], target: Float64Array, before: (a: number, b: number) => boolean, job: SortJob): Promise<void> {
  const heads = runs.map(() => 0)
  let written = 0
  while (written < target.length) {
    const stop = Math.min(target.length, written + MERGE_STRIDE)
    while (written < stop) {
      let best = -1
      for (let r = 0; r < runs.length; r++) {
        if (heads[r] === runs[r].length) continue
        if (best === -1 || before(runs[r][heads[r]], runs[best][heads[best]])) best = r
      }
      target[written++] = runs[best][heads[best]++]
    }
    await mergeCheckpoint(job, written, target.length)
  }
}
