// Runs a zlib stream over an input buffer and lands the result in one output buffer, for `gzip`
// and `gunzip`. A stream rather than zlib.gzipSync/gunzipSync: it runs in slices on libuv's
// threadpool, so the job can report progress and be cancelled midway through a large buffer.
import { Readable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { KindError, type KindContext } from '../kind-api'
import { CHUNK_BYTES, cancellationError, throwIfCancelled } from './cancellation'

/**
 * zlib's output slice size. Larger than the 16 KiB default so that a multi-GiB result is thousands
 * rather than hundreds of thousands of chunks; it also bounds how far past `maxOutputBytes` the
 * stream can run before the limit check stops it.
 */
const ZLIB_CHUNK_BYTES = 256 * 1024

export const zlibStreamOptions = { chunkSize: ZLIB_CHUNK_BYTES }

// A type alias, not an interface, so it is assignable to the Record a kind returns.
export type ZlibResult = { bytesIn: number, bytesOut: number }

/**
 * Feeds `input` through `transform`, fails with OUTPUT_TOO_LARGE once more than `maxOutputBytes`
 * come out, then copies the result into a single `ctx.output` sized exactly. The result is held on
 * the heap first because its size is unknown until the stream ends, and an output cannot grow.
 * Errors from zlib itself propagate unchanged (they carry codes like Z_DATA_ERROR).
 */
export async function transformIntoOutput (
  ctx: KindContext<unknown>, transform: Transform, input: Buffer, maxOutputBytes: number
): Promise<ZlibResult> {
  throwIfCancelled(ctx.signal)
  const chunks: Buffer[] = []
  let produced = 0
  let overLimit: KindError | undefined

  function * inputChunks (): Generator<Buffer> {
    for (let start = 0; start < input.length; start += CHUNK_BYTES) {
      yield input.subarray(start, start + CHUNK_BYTES)
      // Resumed when the stream asks for the next chunk, i.e. once zlib has taken this one.
      ctx.progress(Math.min(1, (start + CHUNK_BYTES) / input.length))
    }
  }

  try {
    await pipeline(
      // highWaterMark 1: without it Readable.from reads 16 chunks ahead and progress runs early.
      Readable.from(inputChunks(), { highWaterMark: 1 }),
      transform,
      async function collect (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          produced += chunk.length
          if (produced > maxOutputBytes) {
            overLimit = new KindError('OUTPUT_TOO_LARGE', `output exceeds the limit of ${maxOutputBytes} bytes`)
            throw overLimit
          }
          chunks.push(chunk)
        }
      },
      { signal: ctx.signal }
    )
  } catch (err) {
    // pipeline can report both of these as a generic AbortError (leaving the loop above destroys
    // the zlib stream), so the cause is taken from what we know rather than from `err`.
    if (overLimit !== undefined) throw overLimit
    if (ctx.signal.aborted) throw cancellationError(ctx.signal)
    throw err
  }

  const out = ctx.output(produced)
  let offset = 0
  for (const chunk of chunks) offset += chunk.copy(out.buffer, offset)
  out.end(offset)
  return { bytesIn: input.length, bytesOut: offset }
}
