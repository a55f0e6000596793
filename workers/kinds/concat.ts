// `concat`: the fan-in of pipelines. Its output is its inputs' bytes, in the order the job names
// them; the copy goes from the read-only input mappings straight into the output memfd's mapping.
import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'
import { MAX_RUN_INPUTS } from '../protocol'
import { chunksOf, throwIfCancelled } from './cancellation'

const ConcatParams = Type.Object({}, { additionalProperties: false })

export const concatKind: JobKind<Static<typeof ConcatParams>> = {
  name: 'concat',
  description: `Joins 1 to ${MAX_RUN_INPUTS} inputs into one new buffer holding their bytes in order. Result: {inputs, bytes}.`,
  // Past WORKER_CHANNEL.maxFds (32) the descriptors travel in 'inputs' messages ahead of the run.
  inputs: { min: 1, max: MAX_RUN_INPUTS },
  outputs: { min: 1, max: 1 },
  params: ConcatParams,
  async run (ctx) {
    throwIfCancelled(ctx.signal)
    const total = ctx.inputs.reduce((sum, input) => sum + input.length, 0)
    // ctx.output refuses (OUTPUT_TOO_LARGE) a total over what the job may still make.
    const out = ctx.output(total)
    let offset = 0
    for (const input of ctx.inputs) {
      // In slices, with a checkpoint between them, so a cancel stops a multi-GiB join midway.
      for await (const chunk of chunksOf(ctx, input)) offset += chunk.copy(out.buffer, offset)
      ctx.progress(total === 0 ? 1 : offset / total)
    }
    out.end(offset)
    return { inputs: ctx.inputs.length, bytes: offset }
  }
}
