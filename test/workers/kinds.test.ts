// The built-in job kinds, run against heap buffers and checked against independent computations
// (node:crypto, node:zlib, Buffer's read*/write* methods, a reference PRNG written here).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import { gunzipSync, gzipSync } from 'node:zlib'
import { Value } from '@sinclair/typebox/value'
import { KindError, type JobKind, type KindContext } from '../../workers/kind-api'
import {
  builtinKinds, checksumKind, fillKind, gunzipKind, gzipKind, noopKind, sleepKind, sortKind, statsKind
} from '../../workers/kinds'
import { setSortThreads } from '../../workers/kinds/sort-parallel'
import { settledCount } from '../helpers/proc'

const MiB = 1024 * 1024

interface Harness<P> {
  ctx: KindContext<P>
  controller: AbortController
  progress: number[]
  /** Each output: its buffer and the length passed to end() (undefined when never called). */
  outputs: Array<{ buffer: Buffer, ended: number | undefined }>
  /** The bytes of output `i` as the worker would seal them. */
  outputBytes: (i?: number) => Buffer
}

interface HarnessOptions {
  /** ctx.output throws OUTPUT_TOO_LARGE above this, as the pool does at its quota. */
  outputLimit?: number
  /** Hands out outputs that start one byte into their allocation, to exercise the unaligned paths. */
  misalignOutputs?: boolean
  onProgress?: (fraction: number, controller: AbortController) => void
}

function harness<P> (params: P, inputs: Buffer[] = [], options: HarnessOptions = {}): Harness<P> {
  const controller = new AbortController()
  const progress: number[] = []
  const outputs: Harness<P>['outputs'] = []
  const ctx: KindContext<P> = {
    inputs,
    params,
    signal: controller.signal,
    progress (fraction) {
      assert.ok(fraction >= 0 && fraction <= 1, `progress ${fraction} out of [0, 1]`)
      progress.push(fraction)
      options.onProgress?.(fraction, controller)
    },
    output (capacity) {
      if (capacity > (options.outputLimit ?? Infinity)) throw new KindError('OUTPUT_TOO_LARGE', 'over the test limit')
      const shift = options.misalignOutputs === true ? 1 : 0
      const buffer = Buffer.alloc(capacity + shift).subarray(shift)
      const record = { buffer, ended: undefined as number | undefined }
      outputs.push(record)
      return {
        buffer,
        capacity,
        end (length) {
          assert.equal(record.ended, undefined, 'end() called twice')
          assert.ok(Number.isInteger(length) && length >= 0 && length <= capacity, `bad end(${length})`)
          record.ended = length
        }
      }
    }
  }
  const outputBytes = (i = 0): Buffer => {
    const out = outputs[i]
    assert.ok(out !== undefined, `no output ${i}`)
    return out.buffer.subarray(0, out.ended ?? out.buffer.length)
  }
  return { ctx, controller, progress, outputs, outputBytes }
}

async function run<P> (kind: JobKind<P>, h: Harness<P>): Promise<Record<string, unknown>> {
  return (await kind.run(h.ctx)) ?? {}
}

async function rejectsWithCode (promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KindError, `expected a KindError, got ${String(err)}`)
    assert.equal(err.code, code)
    if (message !== undefined) assert.match(err.message, message)
    return true
  })
}

/** A misaligned copy: byteOffset 1, so typed-array views over it are impossible. */
function misaligned (bytes: Buffer): Buffer {
  const backing = Buffer.alloc(bytes.length + 1)
  bytes.copy(backing, 1)
  return backing.subarray(1)
}

test('builtinKinds lists every kind once, each with a description, input bounds and a closed params schema', () => {
  const names = builtinKinds.map((k) => k.name)
  assert.deepEqual([...names].sort(), ['checksum', 'concat', 'fill', 'gunzip', 'gzip', 'noop', 'sleep', 'sort', 'stats'])
  for (const kind of builtinKinds) {
    assert.match(kind.name, /^[a-z0-9_-]+$/)
    assert.ok((kind.description ?? '').length > 10, `${kind.name} description`)
    assert.ok(kind.inputs !== undefined && kind.inputs.min <= kind.inputs.max, `${kind.name} inputs`)
    assert.ok(kind.outputs !== undefined && kind.outputs.min <= kind.outputs.max, `${kind.name} outputs`)
    assert.equal(kind.params?.additionalProperties, false, `${kind.name} params must be closed`)
    assert.equal(Value.Check(kind.params!, { unexpected: 1 }), false, `${kind.name} accepts unknown params`)
  }
})

test('params schemas enforce the documented bounds', () => {
  const ok = (kind: JobKind, params: unknown): boolean => Value.Check(kind.params!, params)
  assert.ok(ok(sleepKind, { ms: 3_600_000 }))
  assert.ok(!ok(sleepKind, { ms: -1 }))
  assert.ok(!ok(sleepKind, { ms: 3_600_001 }))
  assert.ok(!ok(sleepKind, { ms: 1.5 }))
  assert.ok(ok(checksumKind, {}))
  assert.ok(ok(checksumKind, { algorithm: 'crc32', offset: 0, length: 0 }))
  assert.ok(!ok(checksumKind, { algorithm: 'sha512' }))
  assert.ok(!ok(checksumKind, { offset: -1 }))
  assert.ok(!ok(gzipKind, { level: 10 }))
  assert.ok(!ok(gunzipKind, { maxOutputBytes: -1 }))
  assert.ok(!ok(sortKind, {}))
  assert.ok(!ok(sortKind, { dtype: 'i128' }))
  for (const dtype of ['u8', 'u16', 'u32', 'u64', 'i8', 'i16', 'i32', 'i64', 'f32', 'f64']) assert.ok(ok(sortKind, { dtype }) && ok(statsKind, { dtype }), dtype)
  assert.ok(!ok(sortKind, { dtype: 'u8', order: 'up' }))
  assert.ok(ok(statsKind, { dtype: 'f32' }))
  assert.ok(ok(fillKind, { size: 2 ** 40, pattern: 'random', seed: 0xffff_ffff }))
  assert.ok(!ok(fillKind, { size: 2 ** 40 + 1 }))
  assert.ok(!ok(fillKind, { size: 1, pattern: 'byte', byte: 256 }))
  assert.ok(!ok(fillKind, { size: 1, pattern: 'random', seed: 2 ** 32 }))
  assert.ok(!ok(noopKind, { x: 1 }))
})

test('noop returns {} with no inputs or many', async () => {
  assert.deepEqual(await run(noopKind, harness({})), {})
  assert.deepEqual(await run(noopKind, harness({}, [Buffer.from('a'), Buffer.alloc(0), Buffer.from('b')])), {})
})

test('sleep resolves with sleptMs and finishes its progress at 1', async () => {
  for (const ms of [0, 3]) {
    const h = harness({ ms })
    assert.deepEqual(await run(sleepKind, h), { sleptMs: ms })
    assert.equal(h.progress.at(-1), 1)
  }
})

// The timeouts make a sleep that ignores its signal fail fast instead of hanging the run for a minute.
test('sleep rejects promptly with CANCELLED when aborted', { timeout: 5000 }, async () => {
  const h = harness({ ms: 10_000 })
  const started = performance.now()
  const pending = run(sleepKind, h)
  h.controller.abort()
  await rejectsWithCode(pending, 'CANCELLED')
  assert.ok(performance.now() - started < 1000, 'abort did not end the sleep promptly')
})

test('sleep keeps the pool\'s own KindError as the abort reason, and refuses to start when already aborted', { timeout: 5000 }, async () => {
  const h = harness({ ms: 10_000 })
  const pending = run(sleepKind, h)
  h.controller.abort(new KindError('TIMEOUT', 'job timed out'))
  await rejectsWithCode(pending, 'TIMEOUT')

  const pre = harness({ ms: 0 })
  pre.controller.abort()
  await rejectsWithCode(run(sleepKind, pre), 'CANCELLED')
})

/** CRC-32 (reflected, polynomial 0xEDB88320) bit by bit: independent of zlib. */
function referenceCrc32 (bytes: Uint8Array): string {
  let crc = 0xffff_ffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb8_8320 & -(crc & 1))
  }
  return ((crc ^ 0xffff_ffff) >>> 0).toString(16).padStart(8, '0')
}

function referenceDigest (algorithm: string, bytes: Buffer): string {
  return algorithm === 'crc32' ? referenceCrc32(bytes) : createHash(algorithm).update(bytes).digest('hex')
}

test('checksum matches node:crypto and a reference CRC-32 for every algorithm', async () => {
  const input = randomBytes(4099)
  for (const algorithm of ['sha256', 'sha1', 'md5', 'crc32'] as const) {
    const result = await run(checksumKind, harness({ algorithm }, [input]))
    assert.deepEqual(result, { algorithm, digest: referenceDigest(algorithm, input), bytes: input.length })
  }
  const byDefault = await run(checksumKind, harness({}, [input]))
  assert.deepEqual(byDefault, { algorithm: 'sha256', digest: referenceDigest('sha256', input), bytes: input.length })
  assert.equal((await run(checksumKind, harness({ algorithm: 'crc32' }, [Buffer.from('123456789')]))).digest, 'cbf43926')
})

test('checksum pads a small crc32 to 8 hex digits', async () => {
  // Find an input whose CRC has a leading zero nibble (1 in 16 do).
  let input = Buffer.alloc(0)
  for (let i = 0; ; i++) {
    input = Buffer.from(`input-${i}`)
    if (referenceCrc32(input).startsWith('0')) break
  }
  const { digest } = await run(checksumKind, harness({ algorithm: 'crc32' }, [input]))
  assert.equal(digest, referenceCrc32(input))
  assert.match(String(digest), /^0[0-9a-f]{7}$/)
})

test('checksum hashes exactly the requested range', async () => {
  const input = randomBytes(1000)
  const cases = [
    { params: { offset: 10, length: 100 }, bytes: input.subarray(10, 110) },
    { params: { offset: 990 }, bytes: input.subarray(990) },
    { params: { length: 1000 }, bytes: input },
    { params: { offset: 1000 }, bytes: Buffer.alloc(0) }, // empty range at the very end is allowed
    { params: { offset: 5, length: 0 }, bytes: Buffer.alloc(0) }
  ]
  for (const { params, bytes } of cases) {
    const result = await run(checksumKind, harness({ algorithm: 'md5' as const, ...params }, [input]))
    assert.deepEqual(result, { algorithm: 'md5', digest: referenceDigest('md5', bytes), bytes: bytes.length }, JSON.stringify(params))
  }
  const emptyInput = await run(checksumKind, harness({}, [Buffer.alloc(0)]))
  assert.equal(emptyInput.digest, referenceDigest('sha256', Buffer.alloc(0)))
})

test('checksum refuses ranges past the end with INVALID_RANGE', async () => {
  const input = Buffer.alloc(100)
  await rejectsWithCode(run(checksumKind, harness({ offset: 101 }, [input])), 'INVALID_RANGE', /offset 101.*100-byte/)
  await rejectsWithCode(run(checksumKind, harness({ offset: 50, length: 51 }, [input])), 'INVALID_RANGE', /101/)
  await rejectsWithCode(run(checksumKind, harness({ offset: 0, length: 101 }, [input])), 'INVALID_RANGE')
})

test('checksum of a multi-chunk input matches, reports progress, and stops when cancelled midway', async () => {
  const input = randomBytes(20 * MiB + 7)
  for (const algorithm of ['sha1', 'crc32'] as const) {
    const h = harness({ algorithm, offset: 3 }, [input])
    const result = await run(checksumKind, h)
    assert.equal(result.digest, referenceDigest(algorithm, input.subarray(3)))
    assert.ok(h.progress.length >= 2, 'no progress between chunks')
    assert.deepEqual(h.progress, [...h.progress].sort((a, b) => a - b), 'progress went backwards')
  }
  const cancelled = harness({}, [input], { onProgress: (_, controller) => controller.abort() })
  await rejectsWithCode(run(checksumKind, cancelled), 'CANCELLED')
  assert.equal(cancelled.progress.length, 1, 'kept hashing after the abort')
})

test('gzip output decompresses to the input, at every level, and ends at its length', async () => {
  const input = Buffer.concat([randomBytes(3000), Buffer.alloc(200_000, 'abc')])
  const sizes: number[] = []
  for (const level of [0, 1, 9]) {
    const h = harness({ level }, [input])
    const result = await run(gzipKind, h)
    const out = h.outputBytes()
    assert.equal(h.outputs.length, 1)
    assert.equal(h.outputs[0].ended, out.length)
    assert.deepEqual(result, { bytesIn: input.length, bytesOut: out.length })
    assert.ok(gunzipSync(out).equals(input), `level ${level} round trip`)
    sizes.push(out.length)
  }
  assert.ok(sizes[0] > input.length, 'level 0 should store, not compress')
  assert.ok(sizes[2] < input.length / 10, 'level 9 should compress repetitive data')

  const empty = harness({}, [Buffer.alloc(0)])
  await run(gzipKind, empty)
  assert.equal(gunzipSync(empty.outputBytes()).length, 0)
})

test('gzip of a multi-chunk input round-trips', async () => {
  const input = Buffer.concat([randomBytes(9 * MiB), Buffer.alloc(9 * MiB, 7)])
  const h = harness({ level: 1 }, [input])
  await run(gzipKind, h)
  assert.ok(gunzipSync(h.outputBytes()).equals(input))
  assert.equal(h.progress.at(-1), 1)
})

test('gzip and gunzip stop with CANCELLED when aborted midway, creating no output', async () => {
  const input = randomBytes(20 * MiB)
  const abortOnFirstProgress: HarnessOptions = { onProgress: (_, controller) => controller.abort() }
  const gz = harness({ level: 1 }, [input], abortOnFirstProgress)
  await rejectsWithCode(run(gzipKind, gz), 'CANCELLED')
  assert.equal(gz.outputs.length, 0)

  const gunz = harness({}, [gzipSync(input, { level: 0 })], abortOnFirstProgress)
  await rejectsWithCode(run(gunzipKind, gunz), 'CANCELLED')
  assert.equal(gunz.outputs.length, 0)
})

test('gunzip restores what zlib compressed, including concatenated members', async () => {
  const input = randomBytes(300_000)
  const h = harness({}, [gzipSync(input)])
  const result = await run(gunzipKind, h)
  assert.ok(h.outputBytes().equals(input))
  assert.deepEqual(result, { bytesIn: gzipSync(input).length, bytesOut: input.length })

  const a = Buffer.from('first member, ')
  const b = Buffer.from('second member')
  const both = harness({}, [Buffer.concat([gzipSync(a), gzipSync(b)])])
  await run(gunzipKind, both)
  assert.equal(both.outputBytes().toString(), 'first member, second member')

  const empty = harness({}, [gzipSync(Buffer.alloc(0))])
  assert.deepEqual(await run(gunzipKind, empty), { bytesIn: 20, bytesOut: 0 })
})

test('gunzip enforces maxOutputBytes exactly', async () => {
  const input = Buffer.alloc(1 * MiB, 'x') // a small bomb: ~1 KiB compressed
  const compressed = gzipSync(input)
  const atLimit = harness({ maxOutputBytes: input.length }, [compressed])
  await run(gunzipKind, atLimit)
  assert.ok(atLimit.outputBytes().equals(input))

  const over = harness({ maxOutputBytes: input.length - 1 }, [compressed])
  await rejectsWithCode(run(gunzipKind, over), 'OUTPUT_TOO_LARGE', /1048575/)
  assert.equal(over.outputs.length, 0, 'created an output despite the limit')
})

test('gunzip lets the pool\'s own OUTPUT_TOO_LARGE from ctx.output propagate', async () => {
  const h = harness({}, [gzipSync(Buffer.alloc(5000))], { outputLimit: 4999 })
  await rejectsWithCode(run(gunzipKind, h), 'OUTPUT_TOO_LARGE', /test limit/)
})

test('gunzip reports corrupt, truncated, foreign and empty input as INVALID_INPUT', async () => {
  const good = gzipSync(randomBytes(5000))
  const flipped = Buffer.from(good)
  flipped[good.length - 6] ^= 0xff // inside the CRC trailer
  const cases = {
    flipped,
    truncated: good.subarray(0, good.length - 10),
    foreign: Buffer.from('this is plain text, not gzip'),
    empty: Buffer.alloc(0)
  }
  for (const [name, input] of Object.entries(cases)) {
    const h = harness({}, [input])
    await rejectsWithCode(run(gunzipKind, h), 'INVALID_INPUT', /gzip/)
    assert.equal(h.outputs.length, 0, name)
  }
})

type Dtype = 'u8' | 'u16' | 'u32' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64'
const elementSize: Record<Dtype, number> = { u8: 1, u16: 2, u32: 4, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 }

/** Decodes little-endian elements with Buffer's own readers (independent of typed arrays). */
function decode (dtype: Dtype, bytes: Buffer): number[] {
  const values: number[] = []
  for (let at = 0; at < bytes.length; at += elementSize[dtype]) {
    switch (dtype) {
      case 'u8': values.push(bytes.readUInt8(at)); break
      case 'u16': values.push(bytes.readUInt16LE(at)); break
      case 'u32': values.push(bytes.readUInt32LE(at)); break
      case 'i8': values.push(bytes.readInt8(at)); break
      case 'i16': values.push(bytes.readInt16LE(at)); break
      case 'i32': values.push(bytes.readInt32LE(at)); break
      case 'f32': values.push(bytes.readFloatLE(at)); break
      case 'f64': values.push(bytes.readDoubleLE(at)); break
    }
  }
  return values
}

function encode (dtype: Dtype, values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * elementSize[dtype])
  values.forEach((value, i) => {
    const at = i * elementSize[dtype]
    switch (dtype) {
      case 'u8': bytes.writeUInt8(value, at); break
      case 'u16': bytes.writeUInt16LE(value, at); break
      case 'u32': bytes.writeUInt32LE(value, at); break
      case 'i8': bytes.writeInt8(value, at); break
      case 'i16': bytes.writeInt16LE(value, at); break
      case 'i32': bytes.writeInt32LE(value, at); break
      case 'f32': bytes.writeFloatLE(value, at); break
      case 'f64': bytes.writeDoubleLE(value, at); break
    }
  })
  return bytes
}

/** Random values spanning each type's range, negatives included for signed and float types. */
function sampleValues (dtype: Dtype, count: number): number[] {
  const bytes = randomBytes(count * elementSize[dtype])
  if (dtype === 'f32' || dtype === 'f64') {
    const floats = Array.from({ length: count }, (_, i) => bytes.readInt32LE(i * 4) / 1000)
    return decode(dtype, encode(dtype, floats)) // rounded to what the dtype can hold
  }
  return decode(dtype, bytes)
}

test('sort orders every dtype ascending and descending, leaving the input untouched', async () => {
  for (const dtype of Object.keys(elementSize) as Dtype[]) {
    const values = sampleValues(dtype, 1001)
    const input = encode(dtype, values)
    const before = Buffer.from(input)
    for (const order of ['asc', 'desc'] as const) {
      const h = harness({ dtype, order }, [input])
      assert.deepEqual(await run(sortKind, h), { count: values.length, threads: 1 })
      const expected = [...values].sort((a, b) => order === 'asc' ? a - b : b - a)
      assert.deepEqual(decode(dtype, h.outputBytes()), expected, `${dtype} ${order}`)
      assert.equal(h.outputBytes().length, input.length)
    }
    assert.ok(input.equals(before), `${dtype}: input was modified`)
  }
})

test('sort handles negative f64 values, defaults to ascending, and works on unaligned buffers', async () => {
  const values = [3.5, -1e300, 0, -2.25, 1e-300, -0.5, 42, -Infinity, Infinity, -7]
  const input = encode('f64', values)
  const ascending = [...values].sort((a, b) => a - b)
  assert.deepEqual(ascending.slice(0, 3), [-Infinity, -1e300, -7])

  const plain = harness({ dtype: 'f64' as const }, [input])
  await run(sortKind, plain)
  assert.deepEqual(decode('f64', plain.outputBytes()), ascending)

  const unaligned = harness({ dtype: 'f64' as const, order: 'desc' as const }, [misaligned(input)], { misalignOutputs: true })
  await run(sortKind, unaligned)
  assert.equal(unaligned.outputs[0].buffer.byteOffset % 8, 1, 'test harness did not misalign the output')
  assert.deepEqual(decode('f64', unaligned.outputBytes()), [...ascending].reverse())

  const i32 = encode('i32', [5, -3, 2 ** 31 - 1, -(2 ** 31), 0])
  const i32Sorted = [-(2 ** 31), -3, 0, 5, 2 ** 31 - 1]
  const unalignedInput = harness({ dtype: 'i32' as const }, [misaligned(i32)])
  await run(sortKind, unalignedInput)
  assert.deepEqual(decode('i32', unalignedInput.outputBytes()), i32Sorted)

  // Aligned input, unaligned output: the sort must still happen on a copy, never on the input.
  const before = Buffer.from(i32)
  const unalignedOutput = harness({ dtype: 'i32' as const }, [i32], { misalignOutputs: true })
  await run(sortKind, unalignedOutput)
  assert.deepEqual(decode('i32', unalignedOutput.outputBytes()), i32Sorted)
  assert.ok(i32.equals(before), 'sorted the input in place')
})

/** Runs `fn` with the thread's sort-threads setting at `threads` (a worker sets it from its config), then restores the default. */
let sortThreadsNow: number | null = null
async function withSortThreads<T> (threads: number, fn: () => Promise<T>): Promise<T> {
  const saved = sortThreadsNow
  sortThreadsNow = threads
  setSortThreads(threads)
  try { return await fn() } finally {
    sortThreadsNow = saved
    setSortThreads(saved)
  }
}

/**
 * The first element at which two outputs differ, or -1. Floats compare with Object.is: NaN
 * equals NaN whatever its payload bits (which no sort orders), -0 does not equal +0.
 */
function firstDifference (dtype: Dtype | 'i64', a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length)
  if (dtype !== 'f32' && dtype !== 'f64') {
    const at = a.findIndex((byte, i) => byte !== b[i])
    return at === -1 ? -1 : Math.floor(at / widthOf(dtype))
  }
  const read = (bytes: Buffer, i: number): number => dtype === 'f32' ? bytes.readFloatLE(i * 4) : bytes.readDoubleLE(i * 8)
  for (let i = 0; i < a.length / elementSize[dtype]; i++) if (!Object.is(read(a, i), read(b, i))) return i
  return -1
}

const widthOf = (dtype: Dtype | 'i64' | 'u64'): number => dtype === 'i64' || dtype === 'u64' ? 8 : elementSize[dtype]

const threadCount = (): number => fs.readdirSync('/proc/self/task').length

test('a large sort runs in slices on helper threads and gives exactly the bytes of a serial sort', async () => {
  // 16 MiB + 24 bytes: the slices are uneven, and 3 threads make a 3-way merge. Floats carry the
  // values whose order only TypedArray#sort defines: NaN (last), -0 before +0, ±Infinity.
  const size = 16 * MiB + 24
  const threadsBefore = threadCount()
  await withSortThreads(3, async () => {
    for (const dtype of ['u8', 'u16', 'u32', 'i16', 'i32', 'i64', 'f32', 'f64'] as const) {
      const input = randomBytes(size)
      if (dtype === 'f32' || dtype === 'f64') {
        const view = dtype === 'f32' ? new Float32Array(input.buffer, input.byteOffset, size / 4) : new Float64Array(input.buffer, input.byteOffset, size / 8)
        for (let i = 0; i < view.length; i += 97) view[i] = [NaN, -0, 0, Infinity, -Infinity][i % 5]
        // Random bits are mostly huge or NaN-like for floats: most slots get ordinary values instead.
        for (let i = 1; i < view.length; i += 2) view[i] = (i % 1000) - 500.25
      }
      const before = Buffer.from(input)
      for (const order of dtype === 'f64' ? ['asc', 'desc'] as const : ['asc'] as const) {
        const h = harness({ dtype, order }, [input])
        assert.deepEqual(await run(sortKind, h), { count: size / widthOf(dtype), threads: 3 })
        // The reference: one TypedArray#sort of a copy on this thread.
        const serial = harness({ dtype, order }, [input])
        await withSortThreads(1, async () => await run(sortKind, serial))
        assert.equal(firstDifference(dtype, h.outputBytes(), serial.outputBytes()), -1, `${dtype} ${order}: parallel and serial sorts differ`)
      }
      assert.ok(input.equals(before), `${dtype}: input was modified`)
    }
  })
  // Every helper thread has exited by the time a job returns (its OS thread is joined just
  // after the exit event, which is all terminate() waits for).
  assert.equal(await settledCount(threadCount, threadsBefore), threadsBefore)
})

test('a cancelled parallel sort fails CANCELLED and stops its helper threads', async () => {
  const threadsBefore = threadCount()
  await withSortThreads(2, async () => {
    // Cancelled at its first progress report, right after the helper thread has started on its
    // slice: the helper's end is then awaited as a cancellation, and the helper is stopped.
    const h = harness({ dtype: 'u32' as const }, [randomBytes(32 * MiB)], {
      onProgress: (_fraction, controller) => controller.abort()
    })
    await rejectsWithCode(run(sortKind, h), 'CANCELLED')
    assert.deepEqual(h.progress, [0.05], 'cancelled as the slices started, before any merge')
  })
  assert.equal(await settledCount(threadCount, threadsBefore), threadsBefore)
  // The same when the cancel comes during the merge.
  await withSortThreads(2, async () => {
    const h = harness({ dtype: 'u32' as const }, [randomBytes(32 * MiB)], {
      onProgress: (fraction, controller) => { if (fraction > 0.7) controller.abort() }
    })
    await rejectsWithCode(run(sortKind, h), 'CANCELLED')
    assert.ok(h.progress.some((f) => f > 0.7 && f < 1), h.progress.join())
  })
  assert.equal(await settledCount(threadCount, threadsBefore), threadsBefore)
})

test('sort and stats refuse an input that is not a whole number of elements', async () => {
  await rejectsWithCode(run(sortKind, harness({ dtype: 'u32' as const }, [Buffer.alloc(10)])), 'INVALID_INPUT', /10 bytes.*4-byte/)
  await rejectsWithCode(run(sortKind, harness({ dtype: 'f64' as const }, [Buffer.alloc(12)])), 'INVALID_INPUT')
  await rejectsWithCode(run(statsKind, harness({ dtype: 'u16' as const }, [Buffer.alloc(3)])), 'INVALID_INPUT')
  const h = harness({ dtype: 'u32' as const }, [Buffer.alloc(10)])
  await assert.rejects(run(sortKind, h))
  assert.equal(h.outputs.length, 0, 'sort created an output before validating')
})

function referenceStats (values: number[]): Record<string, unknown> {
  const sum = values.reduce((a, b) => a + b, 0)
  return { count: values.length, min: Math.min(...values), max: Math.max(...values), sum, mean: sum / values.length }
}

test('stats summarises every dtype, aligned or not', async () => {
  for (const dtype of Object.keys(elementSize) as Dtype[]) {
    // Whole numbers keep every partial sum exact, so summation order cannot matter.
    const values = sampleValues(dtype, 777).map((v) => dtype.startsWith('f') ? Math.round(v) : v)
    const input = encode(dtype, values)
    assert.deepEqual(await run(statsKind, harness({ dtype }, [input])), referenceStats(values), dtype)
    assert.deepEqual(await run(statsKind, harness({ dtype }, [misaligned(input)])), referenceStats(values), `${dtype} unaligned`)
  }
})

test('stats: empty input, negative floats, NaN, exact large integer sums, multi-chunk input', async () => {
  assert.deepEqual(await run(statsKind, harness({ dtype: 'f64' as const }, [Buffer.alloc(0)])),
    { count: 0, min: null, max: null, sum: 0, mean: null })

  const negatives = [-1.5, -1e10, 2.5, -0.25]
  assert.deepEqual(await run(statsKind, harness({ dtype: 'f64' as const }, [encode('f64', negatives)])), referenceStats(negatives))

  const withNaN = await run(statsKind, harness({ dtype: 'f32' as const }, [encode('f32', [1, NaN, 3])]))
  assert.ok(Number.isNaN(withNaN.min) && Number.isNaN(withNaN.max) && Number.isNaN(withNaN.sum))

  // 3 MiB of 0xffffffff u32s: 786432 * 4294967295 = 3377699719839744, below 2**53, so exact.
  const big = Buffer.alloc(3 * MiB, 0xff)
  const count = big.length / 4
  const result = await run(statsKind, harness({ dtype: 'u32' as const }, [big]))
  assert.deepEqual(result, { count, min: 0xffff_ffff, max: 0xffff_ffff, sum: count * 0xffff_ffff, mean: 0xffff_ffff })

  // Spans several 8 MiB chunks: bytes 0..250 repeating, plus one 255 at the end.
  const long = Buffer.alloc(17 * MiB + 1)
  for (let i = 0; i < long.length - 1; i++) long[i] = i % 251
  long[long.length - 1] = 255
  let expectedSum = 255
  for (let i = 0; i < long.length - 1; i++) expectedSum += i % 251
  const h = harness({ dtype: 'u8' as const }, [long])
  assert.deepEqual(await run(statsKind, h),
    { count: long.length, min: 0, max: 255, sum: expectedSum, mean: expectedSum / long.length })
  assert.ok(h.progress.length >= 2)
})

/** 64-bit elements as BigInts, read with Buffer's own readers. */
function decode64 (dtype: 'u64' | 'i64', bytes: Buffer): bigint[] {
  const values: bigint[] = []
  for (let at = 0; at < bytes.length; at += 8) values.push(dtype === 'u64' ? bytes.readBigUInt64LE(at) : bytes.readBigInt64LE(at))
  return values
}

function encode64 (dtype: 'u64' | 'i64', values: bigint[]): Buffer {
  const bytes = Buffer.alloc(values.length * 8)
  values.forEach((value, i) => { if (dtype === 'u64') bytes.writeBigUInt64LE(value, i * 8); else bytes.writeBigInt64LE(value, i * 8) })
  return bytes
}

const EXTREMES64 = {
  u64: [0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 2n],
  i64: [-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n]
}

test('sort orders u64 and i64 exactly (values beyond 2**53 included), aligned or not', async () => {
  for (const dtype of ['u64', 'i64'] as const) {
    const values = [...decode64(dtype, randomBytes(8 * 501)), ...EXTREMES64[dtype]]
    const input = encode64(dtype, values)
    const ascending = [...values].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
    for (const order of ['asc', 'desc'] as const) {
      const expected = order === 'asc' ? ascending : [...ascending].reverse()
      const h = harness({ dtype, order }, [input])
      assert.deepEqual(await run(sortKind, h), { count: values.length, threads: 1 })
      assert.deepEqual(decode64(dtype, h.outputBytes()), expected, `${dtype} ${order}`)
      const unaligned = harness({ dtype, order }, [misaligned(input)], { misalignOutputs: true })
      await run(sortKind, unaligned)
      assert.deepEqual(decode64(dtype, unaligned.outputBytes()), expected, `${dtype} ${order} unaligned`)
    }
  }
})

test('stats of u64 and i64: exact min, max and sum as decimal strings, mean a number', async () => {
  for (const dtype of ['u64', 'i64'] as const) {
    const values = [...decode64(dtype, randomBytes(8 * 333)), ...EXTREMES64[dtype]]
    const sum = values.reduce((a, b) => a + b, 0n)
    const min = values.reduce((a, b) => b < a ? b : a)
    const max = values.reduce((a, b) => b > a ? b : a)
    for (const bytes of [encode64(dtype, values), misaligned(encode64(dtype, values))]) {
      const result = await run(statsKind, harness({ dtype }, [bytes]))
      assert.deepEqual({ ...result, mean: undefined }, { count: values.length, min: String(min), max: String(max), sum: String(sum), mean: undefined }, dtype)
      // The mean of BigInts, to double precision: within one part in 2**50 of the exact quotient.
      const exact = Number(sum * 1000n / BigInt(values.length)) / 1000
      const mean = result.mean as number
      assert.ok(Math.abs(mean - exact) <= Math.abs(exact) * 2 ** -50 + 1e-3, `${dtype} mean ${mean} vs ${exact}`)
    }
  }
  // 2**53 + 1 cannot be a JSON number; as a string it survives.
  const beyond = await run(statsKind, harness({ dtype: 'u64' as const }, [encode64('u64', [2n ** 53n + 1n, 2n ** 53n + 1n])]))
  assert.deepEqual(beyond, { count: 2, min: '9007199254740993', max: '9007199254740993', sum: '18014398509481986', mean: 2 ** 53 })
  assert.deepEqual(await run(statsKind, harness({ dtype: 'i64' as const }, [Buffer.alloc(0)])), { count: 0, min: null, max: null, sum: '0', mean: null })
  await rejectsWithCode(run(statsKind, harness({ dtype: 'u64' as const }, [Buffer.alloc(12)])), 'INVALID_INPUT', /12 bytes.*8-byte u64/)
})

test('an unknown dtype is refused with the allowed values listed', async () => {
  for (const kind of [sortKind, statsKind]) {
    await rejectsWithCode(run(kind, harness({ dtype: 'i128' as never }, [Buffer.alloc(16)])), 'INVALID_PARAMS',
      /dtype "i128" is not one of u8, u16, u32, u64, i8, i16, i32, i64, f32, f64/)
  }
})

/** The documented random stream, written independently: xorshift128 seeded through fmix32. */
function referenceRandom (seed: number, size: number): Buffer {
  const fmix = (h: number): number => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }
  const state = [1, 2, 3, 4].map((k) => fmix((seed + k * 0x9e3779b9) % 2 ** 32))
  const out = Buffer.alloc(Math.ceil(size / 4) * 4)
  for (let at = 0; at < out.length; at += 4) {
    const [x, y, z, w] = state
    const t = (x ^ (x << 11)) >>> 0
    const next = (w ^ (w >>> 19) ^ t ^ (t >>> 8)) >>> 0
    state.splice(0, 4, y, z, w, next)
    out.writeUInt32LE(next, at)
  }
  return out.subarray(0, size)
}

test('fill: zero and byte patterns produce exactly size bytes', async () => {
  const zero = harness({ size: 4097 })
  assert.deepEqual(await run(fillKind, zero), { size: 4097, pattern: 'zero' })
  assert.ok(zero.outputBytes().equals(Buffer.alloc(4097)))

  const byte = harness({ size: 9 * MiB + 3, pattern: 'byte' as const, byte: 0xa5 })
  assert.deepEqual(await run(fillKind, byte), { size: 9 * MiB + 3, pattern: 'byte' })
  assert.ok(byte.outputBytes().equals(Buffer.alloc(9 * MiB + 3, 0xa5)))

  const empty = harness({ size: 0, pattern: 'byte' as const, byte: 1 })
  await run(fillKind, empty)
  assert.equal(empty.outputBytes().length, 0)
})

test('fill random follows the documented xorshift128 stream and is deterministic per seed', async () => {
  const bytesFor = async (params: { size: number, seed?: number }, options?: HarnessOptions): Promise<Buffer> => {
    const h = harness({ pattern: 'random' as const, ...params }, [], options)
    assert.deepEqual(await run(fillKind, h), { size: params.size, pattern: 'random' })
    return Buffer.from(h.outputBytes())
  }
  const seed7 = await bytesFor({ size: 65_539, seed: 7 })
  assert.ok(seed7.equals(referenceRandom(7, 65_539)))
  assert.ok(seed7.equals(await bytesFor({ size: 65_539, seed: 7 })), 'same seed, different bytes')
  assert.ok(!seed7.equals(await bytesFor({ size: 65_539, seed: 8 })), 'different seeds, same bytes')
  assert.ok((await bytesFor({ size: 1000 })).equals(await bytesFor({ size: 1000, seed: 0 })), 'seed does not default to 0')
  assert.ok((await bytesFor({ size: 99, seed: 0xffff_ffff })).equals(referenceRandom(0xffff_ffff, 99)))
  assert.ok((await bytesFor({ size: 4099, seed: 7 }, { misalignOutputs: true })).equals(seed7.subarray(0, 4099)))

  // Across chunk boundaries the stream continues rather than restarting.
  const long = await bytesFor({ size: 17 * MiB + 1, seed: 3 })
  assert.ok(long.equals(referenceRandom(3, 17 * MiB + 1)))
  // Not degenerate: byte values average close to 127.5.
  const mean = long.reduce((a, b) => a + b, 0) / long.length
  assert.ok(Math.abs(mean - 127.5) < 1, `mean byte ${mean}`)
})

test('fill refuses contradictory params instead of ignoring them', async () => {
  await rejectsWithCode(run(fillKind, harness({ size: 8, pattern: 'byte' as const })), 'INVALID_PARAMS', /byte/)
  await rejectsWithCode(run(fillKind, harness({ size: 8, byte: 3 })), 'INVALID_PARAMS', /byte/)
  await rejectsWithCode(run(fillKind, harness({ size: 8, pattern: 'zero' as const, seed: 3 })), 'INVALID_PARAMS', /seed/)
})

test('fill reports progress on large sizes and stops when cancelled', async () => {
  const h = harness({ size: 20 * MiB, pattern: 'random' as const }, [], { onProgress: (_, controller) => controller.abort() })
  await rejectsWithCode(run(fillKind, h), 'CANCELLED')
  assert.equal(h.progress.length, 1)
})
