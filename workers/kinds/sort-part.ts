// A helper thread of a parallel sort (sort-parallel.ts): sorts one slice of the job's shared
// scratch memory in place and says so. Started per job, never imported: its top level is its work.
import { parentPort, workerData } from 'node:worker_threads'
import { elementSize, elementsOver, type ElementType } from './element-arrays'

export interface SortPart {
  scratch: SharedArrayBuffer
  dtype: ElementType
  /** First element of the slice, and how many. */
  start: number
  count: number
}

const part = workerData as SortPart
elementsOver(part.dtype, part.scratch, part.start * elementSize(part.dtype), part.count).sort()
parentPort?.postMessage('sorted')
