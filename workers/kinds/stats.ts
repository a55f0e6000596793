import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'
import { chunksOf, throwIfCancelled } from './cancellation'
import { ElementTypeSchema, elementCount, readElements, type Elements } from './element-types'

const StatsParams = Type.Object({ dtype: ElementTypeSchema }, { additionalProperties: false })

/**
 * Elements are converted into this Float64Array before the scan loop, so the loop only ever sees
 * one array type. Scanning the six typed-array types directly makes the loop's element access
 * polymorphic once a thread has run stats on several dtypes, and it measured up to 10x slower then.
 */
const SCAN_BLOCK = 64 * 1024

interface Range { min: number, max: number }

/** Sum of `values[0..n)`, widening `range`. Math.min/max propagate NaN, so one NaN makes both NaN. */
function scan (values: Float64Array, n: number, range: Range): number {
  let { min, max } = range
  let sum = 0
  for (let i = 0; i < n; i++) {
    const value = values[i]
    min = Math.min(min, value)
    max = Math.max(max, value)
    sum += value
  }
  range.min = min
  range.max = max
  return sum
}

function scanElements (elements: Elements, scratch: Float64Array, range: Range): number {
  let sum = 0
  for (let start = 0; start < elements.length; start += scratch.length) {
    const block = elements.subarray(start, start + scratch.length)
    scratch.set(block)
    sum += scan(scratch, block.length, range)
  }
  return sum
}

export const statsKind: JobKind<Static<typeof StatsParams>> = {
  name: 'stats',
  description: 'Summarises one input of little-endian numbers. Result: {count, min, max, sum, mean}; ' +
    'min, max and mean are null for an empty input, and NaN or infinite values come out as null in JSON.',
  inputs: { min: 1, max: 1 },
  outputs: { min: 0, max: 0 },
  params: StatsParams,
  async run (ctx) {
    const input = ctx.inputs[0]
    const { dtype } = ctx.params
    const count = elementCount(dtype, input.length)
    if (count === 0) return { count, min: null, max: null, sum: 0, mean: null }
    throwIfCancelled(ctx.signal)
    const integer = !dtype.startsWith('f')
    const range: Range = { min: Infinity, max: -Infinity }
    const scratch = new Float64Array(Math.min(SCAN_BLOCK, count))
    let floatSum = 0
    // Integer sums are exact: each chunk's sum stays below 2**53 (8 MiB holds at most 2**21
    // 32-bit elements, each below 2**32), and chunks add up in a BigInt.
    let integerSum = 0n
    for await (const chunk of chunksOf(ctx, input)) {
      const chunkSum = scanElements(readElements(dtype, chunk), scratch, range)
      if (integer) integerSum += BigInt(chunkSum)
      else floatSum += chunkSum
    }
    const sum = integer ? Number(integerSum) : floatSum
    return { count, min: range.min, max: range.max, sum, mean: sum / count }
  }
}
