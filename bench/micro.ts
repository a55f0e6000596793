/**
 * Microbenchmarks behind single lines of docs/BENCHMARKS.md ("What was cut"): each compares the
 * way the pool does something now with the way it did before, alternating, in one process.
 *
 *   node dist/bench/micro.js ids              # job ids: pooled random bytes vs randomBytes() per id
 *   node dist/bench/micro.js write [--size=1g] # filling a memfd: pwrite vs a writable shared mapping
 *   node dist/bench/micro.js sort [--size=256m] [--dtype=u32] # the sort kind: 1 thread vs N
 *   node dist/bench/micro.js serialize        # a Job response: nullable fields as anyOf vs as type lists
 *
 * Prints the median (min–max) of the rounds for each way, and their ratio.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import * as native from '../native'
import fastJsonStringify from 'fast-json-stringify'
import { newId } from '../server/pool/ids'
import { JobSchema } from '../server/schemas/job'
import type { KindContext } from '../workers/kind-api'
import { sortKind } from '../workers/kinds'
import { fmtRatio, parseSize, summarize } from './stats'

function option (name: string, fallback: string): string {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`))
  return given === undefined ? fallback : given.slice(name.length + 3)
}

const ROUNDS = Number(option('rounds', '3'))

/** Runs every way once per round, alternating, and prints each way's median, range and ratio to the first. */
async function compare (title: string, unit: string, ways: Record<string, () => Promise<number> | number>): Promise<void> {
  const samples = new Map<string, number[]>(Object.keys(ways).map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, way] of Object.entries(ways)) samples.get(name)!.push(await way())
  }
  console.log(`${title} (${ROUNDS} rounds, load average ${os.loadavg()[0].toFixed(2)})`)
  const first = summarize(samples.values().next().value as number[]).median
  for (const [name, values] of samples) {
    const s = summarize(values)
    console.log(`  ${name.padEnd(28)} ${s.median.toFixed(2).padStart(9)} ${unit} (${s.min.toFixed(2)}–${s.max.toFixed(2)})  ${fmtRatio(s.median / first)}`)
  }
}

function elapsedMs (start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

async function ids (): Promise<void> {
  const N = 200_000
  const perId = (make: () => string) => (): number => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < N; i++) make()
    return (elapsedMs(start) * 1000) / N
  }
  await compare(`one job id, ${N} per round`, 'µs', {
    'randomBytes(12) per id': perId(() => `job_${crypto.randomBytes(12).toString('base64url')}`),
    'newId (pooled)': perId(() => newId('job')),
  })
}

/** The schema as it was: every `type: [T, 'null']` of the top level back as TypeBox's anyOf. */
function withAnyOf (schema: { properties: Record<string, Record<string, unknown>> }): object {
  const properties: Record<string, unknown> = {}
  for (const [name, property] of Object.entries(schema.properties)) {
    const type = property.type
    if (!Array.isArray(type) || !type.includes('null')) {
      properties[name] = property
      continue
    }
    const { description, ...rest } = property
    const values = rest.enum as unknown[] | undefined
    const inner = { ...rest, type: type.find((t) => t !== 'null'), ...(values === undefined ? {} : { enum: values.filter((v) => v !== null) }) }
    properties[name] = { anyOf: [inner, { type: 'null' }], ...(description === undefined ? {} : { description }) }
  }
  return { ...schema, properties }
}

async function serialize (): Promise<void> {
  const N = 100_000
  const now = new Date().toISOString()
  const job = JSON.parse(`{"id":"${newId('job')}","kind":"noop","state":"succeeded","inputs":["${newId('buf')}"],"outputs":[],"params":{},` +
    '"result":{"ok":true},"error":null,"attempts":1,"maxAttempts":1,"timeoutMs":null,"workerPid":1234,"progress":1,' +
    `"queuedAt":"${now}","startedAt":"${now}","finishedAt":"${now}","pipeline":null,"step":null}`) as unknown
  const perJob = (stringify: (value: unknown) => string) => (): number => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < N; i++) stringify(job)
    return (elapsedMs(start) * 1000) / N
  }
  const before = fastJsonStringify(withAnyOf(JobSchema as unknown as { properties: Record<string, Record<string, unknown>> }))
  const after = fastJsonStringify(JobSchema)
  if (before(job) !== after(job) || after(job) !== JSON.stringify(job)) throw new Error('the serializers disagree')
  await compare(`one Job response serialized, ${N} per round`, 'µs', {
    'nullable fields as anyOf': perJob(before),
    'as type lists (now)': perJob(after),
    'JSON.stringify': perJob(JSON.stringify),
  })
}

async function write (): Promise<void> {
  const size = parseSize(option('size', '1g'))
  const chunk = Buffer.alloc(64 * 1024, 0x5a)
  /** A fresh memfd of `size` bytes, reserved as the store reserves one, filled by `fill`. */
  const fillFresh = (fill: (fd: number) => void) => (): number => {
    const fd = native.memfdCreate('bench-micro-write')
    try {
      native.ftruncate(fd, size)
      native.allocate(fd, 0, size)
      const start = process.hrtime.bigint()
      fill(fd)
      return elapsedMs(start)
    } finally {
      native.close(fd)
    }
  }
  await compare(`fill ${size} bytes of a fresh memfd in 64 KiB chunks`, 'ms', {
    'writable shared mapping': fillFresh((fd) => {
      const map = native.mapShared(fd, { length: size, writable: true })
      for (let at = 0; at < size; at += chunk.length) map.set(chunk.subarray(0, Math.min(chunk.length, size - at)), at)
      native.release(map)
    }),
    'pwrite (the store now)': fillFresh((fd) => {
      for (let at = 0; at < size; at += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at)
    }),
  })
}

async function sort (): Promise<void> {
  const size = parseSize(option('size', '256m'))
  const dtype = option('dtype', 'u32') as 'u32'
  const input = crypto.randomBytes(size)
  const output = Buffer.alloc(size)
  const threads = Math.min(os.availableParallelism(), 8)
  const sortWith = (n: number) => async (): Promise<number> => {
    process.env.MEMFD_POOL_SORT_THREADS = String(n)
    const ctx: KindContext<{ dtype: 'u32' }> = {
      inputs: [input],
      params: { dtype },
      signal: new AbortController().signal,
      progress () {},
      output: () => ({ buffer: output, capacity: size, end () {} }),
    }
    const start = process.hrtime.bigint()
    await sortKind.run(ctx)
    return elapsedMs(start)
  }
  await compare(`sort ${size} bytes of random ${dtype}`, 'ms', {
    '1 thread': sortWith(1),
    [`${threads} threads`]: sortWith(threads),
  })
}

const which = process.argv[2]
const runs: Record<string, () => Promise<void>> = { ids, write, sort, serialize }
if (runs[which] === undefined) {
  console.error(`usage: node dist/bench/micro.js ${Object.keys(runs).join('|')} [--rounds=N] [--size=…]`)
  process.exit(2)
}
runs[which]().catch((err) => {
  console.error(err)
  process.exit(1)
})
