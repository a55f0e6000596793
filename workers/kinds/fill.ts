import { endianness } from 'node:os'
import { Type, type Static } from '@sinclair/typebox'
import { KindError, type JobKind, type KindContext } from '../kind-api'
import { CHUNK_BYTES, chunksOf, throwIfCancelled } from './cancellation'

const FillParams = Type.Object({
  size: Type.Integer({ minimum: 0, maximum: 2 ** 40, description: 'Size of the new buffer in bytes.' }),
  pattern: Type.Optional(Type.Union([Type.Literal('zero'), Type.Literal('byte'), Type.Literal('random')], {
    default: 'zero',
    description: 'zero: all zero bytes; byte: every byte is `byte`; random: deterministic pseudo-random ' +
      'bytes from `seed` (xorshift128, not cryptographic).'
  })),
  byte: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'The byte value; required with pattern "byte".' })),
  seed: Type.Optional(Type.Integer({
    minimum: 0, maximum: 0xffff_ffff, description: 'Seed for pattern "random" (default 0): same seed, same bytes.'
  }))
}, { additionalProperties: false })

/** MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85eb_ca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2_ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * The documented byte stream of pattern "random": the 32-bit outputs of Marsaglia's xorshift128
 * (period 2**128 - 1, so no repeats within 2**40 bytes), each written little-endian. The state
 * words are fmix32(seed + k * 0x9e3779b9) for k = 1..4; fmix32 is a bijection, so the four
 * inputs, being distinct, give distinct words, and the state is never all zero.
 */
class XorShift128 {
  private x: number
  private y: number
  private z: number
  private w: number
  constructor (seed: number) {
    const word = (k: number): number => fmix32((seed + Math.imul(k, 0x9e37_79b9)) >>> 0) | 0
    this.x = word(1); this.y = word(2); this.z = word(3); this.w = word(4)
  }

  fill (words: Uint32Array): void {
    // Locals in the hot loop, all kept as signed int32 (no `>>> 0`): a uint32 above 2**31 is a
    // double to V8, ~20% slower here. Storing into the Uint32Array wraps the value to unsigned.
    let { x, y, z, w } = this
    for (let i = 0; i < words.length; i++) {
      const t = x ^ (x << 11)
      x = y; y = z; z = w
      w = w ^ (w >>> 19) ^ t ^ (t >>> 8)
      words[i] = w
    }
    this.x = x; this.y = y; this.z = z; this.w = w
  }
}

async function fillRandom (ctx: KindContext<unknown>, target: Buffer, seed: number): Promise<void> {
  const rng = new XorShift128(seed)
  // Generated into a heap block and copied: that works at any alignment and byte order, and the
  // copy (~18 GB/s) is cheap next to generating the numbers.
  const words = new Uint32Array(Math.min(CHUNK_BYTES, target.length + 3) >>> 2)
  const bytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength)
  for await (const chunk of chunksOf(ctx, target)) {
    rng.fill(words)
    if (endianness() !== 'LE') bytes.swap32()
    bytes.copy(chunk, 0, 0, chunk.length)
  }
}

export const fillKind: JobKind<Static<typeof FillParams>> = {
  name: 'fill',
  description: 'Creates a buffer of `size` bytes filled with zeros, one byte value, or seeded ' +
    'pseudo-random bytes; for generating test data. Result: {size, pattern}.',
  inputs: { min: 0, max: 0 },
  outputs: { min: 1, max: 1 },
  params: FillParams,
  async run (ctx) {
    const { size, pattern = 'zero', byte, seed = 0 } = ctx.params
    // Contradictory params fail rather than being ignored: a forgotten `pattern` would otherwise
    // silently produce zeros.
    if ((pattern === 'byte') !== (byte !== undefined)) {
      throw new KindError('INVALID_PARAMS', 'params.byte is required with pattern "byte" and only allowed with it')
    }
    if (pattern !== 'random' && ctx.params.seed !== undefined) {
      throw new KindError('INVALID_PARAMS', 'params.seed is only allowed with pattern "random"')
    }
    throwIfCancelled(ctx.signal)
    const out = ctx.output(size)
    const target = out.buffer.subarray(0, size)
    if (pattern === 'byte') {
      for await (const chunk of chunksOf(ctx, target)) chunk.fill(byte ?? 0)
    } else if (pattern === 'random') {
      await fillRandom(ctx, target, seed)
    } // 'zero': an output starts zero-filled (fresh memfd pages), so there is nothing to write.
    out.end(size)
    return { size, pattern }
  }
}
