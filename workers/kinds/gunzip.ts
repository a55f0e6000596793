import { constants as bufferConstants } from 'node:buffer'
import { createGunzip } from 'node:zlib'
import { Type, type Static } from '@sinclair/typebox'
import { KindError, type JobKind } from '../kind-api'
import { transformIntoOutput, zlibStreamOptions } from './zlib-transform'

const GunzipParams = Type.Object({
  maxOutputBytes: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Fail with OUTPUT_TOO_LARGE when the decompressed data would exceed this many bytes ' +
      '(guards against decompression bombs). The pool\'s per-buffer and quota limits apply as well.'
  }))
}, { additionalProperties: false })

/** zlib reports bad data through error codes such as Z_DATA_ERROR and Z_BUF_ERROR (truncated input). */
function isZlibDataError (err: unknown): err is Error & { code: string } {
  const code: unknown = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined
  return typeof code === 'string' && code.startsWith('Z_')
}

export const gunzipKind: JobKind<Static<typeof GunzipParams>> = {
  name: 'gunzip',
  description: 'Decompresses one gzip input (concatenated members allowed) into a new buffer. ' +
    'Result: {bytesIn, bytesOut}.',
  inputs: { min: 1, max: 1 },
  outputs: { min: 1, max: 1 },
  params: GunzipParams,
  async run (ctx) {
    // Without a limit, still stop at the largest Buffer Node can hold rather than exhaust memory.
    const limit = ctx.params.maxOutputBytes ?? bufferConstants.MAX_LENGTH
    try {
      return await transformIntoOutput(ctx, createGunzip(zlibStreamOptions), ctx.inputs[0], limit)
    } catch (err) {
      if (isZlibDataError(err)) {
        throw new KindError('INVALID_INPUT', `input is not valid gzip data: ${err.message} (${err.code})`)
      }
      throw err
    }
  }
}
