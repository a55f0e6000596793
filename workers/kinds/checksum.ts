import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { Type, type Static } from '@sinclair/typebox'
import { KindError, type JobKind } from '../kind-api'
import { chunksOf, throwIfCancelled } from './cancellation'

const Algorithm = Type.Union(
  [Type.Literal('sha256'), Type.Literal('sha1'), Type.Literal('md5'), Type.Literal('crc32')],
  { default: 'sha256', description: 'Digest algorithm; crc32 is zlib\'s CRC-32 (as in gzip and PNG).' }
)
type Algorithm = Static<typeof Algorithm>

const ChecksumParams = Type.Object({
  algorithm: Type.Optional(Algorithm),
  offset: Type.Optional(Type.Integer({
    minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'First byte of the input to hash.'
  })),
  length: Type.Optional(Type.Integer({
    minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'How many bytes to hash; default: to the end of the input.'
  }))
}, { additionalProperties: false })

interface Digester { update: (chunk: Buffer) => void, hex: () => string }

function createDigester (algorithm: Algorithm): Digester {
  if (algorithm === 'crc32') {
    let crc = 0
    return {
      update: (chunk) => { crc = crc32(chunk, crc) },
      hex: () => crc.toString(16).padStart(8, '0')
    }
  }
  const hash = createHash(algorithm)
  return { update: (chunk) => { hash.update(chunk) }, hex: () => hash.digest('hex') }
}

export const checksumKind: JobKind<Static<typeof ChecksumParams>> = {
  name: 'checksum',
  description: 'Hashes one input, or the byte range `offset`..`offset+length` of it. ' +
    'Result: {algorithm, digest (lowercase hex; crc32 as 8 digits), bytes}.',
  inputs: { min: 1, max: 1 },
  outputs: { min: 0, max: 0 },
  params: ChecksumParams,
  async run (ctx) {
    const input = ctx.inputs[0]
    const { algorithm = 'sha256', offset = 0, length } = ctx.params
    if (offset > input.length) {
      throw new KindError('INVALID_RANGE', `offset ${offset} is past the end of the ${input.length}-byte input`)
    }
    const end = length === undefined ? input.length : offset + length
    if (end > input.length) {
      throw new KindError('INVALID_RANGE',
        `offset ${offset} + length ${length ?? 0} = ${end} runs past the end of the ${input.length}-byte input`)
    }
    throwIfCancelled(ctx.signal)
    const range = input.subarray(offset, end)
    const digester = createDigester(algorithm)
    for await (const chunk of chunksOf(ctx, range)) digester.update(chunk)
    return { algorithm, digest: digester.hex(), bytes: range.length }
  }
}
