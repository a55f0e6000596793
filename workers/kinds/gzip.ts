import { createGzip } from 'node:zlib'
import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'
import { transformIntoOutput, zlibStreamOptions } from './zlib-transform'

const GzipParams = Type.Object({
  level: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: 9,
    default: 6,
    description: 'zlib compression level: 0 stores without compressing, 9 compresses hardest.'
  }))
}, { additionalProperties: false })

export const gzipKind: JobKind<Static<typeof GzipParams>> = {
  name: 'gzip',
  description: 'Compresses one input into a new gzip (RFC 1952) buffer. Result: {bytesIn, bytesOut}.',
  inputs: { min: 1, max: 1 },
  outputs: { min: 1, max: 1 },
  params: GzipParams,
  async run (ctx) {
    const gzip = createGzip({ ...zlibStreamOptions, level: ctx.params.level ?? 6 })
    // Compressed output is at most a few bytes per 16 KiB larger than the input, so no limit here;
    // ctx.output still refuses a size over the job's quota.
    return await transformIntoOutput(ctx, gzip, ctx.inputs[0], Number.MAX_SAFE_INTEGER)
  }
}
