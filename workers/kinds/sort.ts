import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'
import { throwIfCancelled } from './cancellation'
import { ElementTypeSchema, copyElements, directView, elementCount, writeElements } from './element-types'
import { sortInParallel, sortThreads } from './sort-parallel'

const SortParams = Type.Object({
  dtype: ElementTypeSchema,
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], {
    default: 'asc', description: 'Ascending or descending. Floats sort numerically; NaNs go last (asc) or first (desc).'
  }))
}, { additionalProperties: false })

export const sortKind: JobKind<Static<typeof SortParams>> = {
  name: 'sort',
  description: 'Sorts one input of little-endian numbers into a new buffer of the same length; inputs of 16 MiB ' +
    'and more are sorted in slices on several threads and merged. Result: {count, threads}.',
  inputs: { min: 1, max: 1 },
  outputs: { min: 1, max: 1 },
  params: SortParams,
  async run (ctx) {
    const input = ctx.inputs[0]
    const { dtype, order = 'asc' } = ctx.params
    const count = elementCount(dtype, input.length)
    const out = ctx.output(input.length)
    const target = out.buffer.subarray(0, input.length)
    // Inputs are mapped read-only, so sorting happens in the output: in place when it can be viewed
    // directly (page-aligned memfd mappings always can on a little-endian host), else on a heap copy.
    // Never readElements(input): that may return a view of the input itself.
    let elements = directView(dtype, target)
    const threads = sortThreads(input.length)
    throwIfCancelled(ctx.signal) // a slice's sort cannot be interrupted; at least skip it if cancelled already
    if (elements !== undefined && threads > 1) {
      await sortInParallel(dtype, input, elements, threads, ctx)
    } else {
      if (elements !== undefined) input.copy(target)
      else elements = copyElements(dtype, input)
      elements.sort()
    }
    if (order === 'desc') elements.reverse()
    if (elements.buffer !== target.buffer) writeElements(dtype, elements, target)
    out.end(input.length)
    return { count, threads }
  }
}
