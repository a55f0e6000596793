/**
 * Section "pipeline": three steps over one large buffer — gzip (level 1), gunzip, sha256 — done
 * four ways, alternating round by round, each starting from the same sealed input already in the
 * server (uploaded untimed) and ending with the same digest:
 *
 * - `memfd-pool pipeline`: one `POST /v1/pipelines?wait` with the three steps. The intermediates
 *   stay sealed memfds handed from step to step by descriptor and are freed by the server.
 * - `REST, ids only`: a client drives the three jobs itself (`POST /v1/jobs?wait`, read the
 *   output id, submit the next step, then delete the two intermediates): three round trips, no
 *   bytes moved, the client does the server's bookkeeping.
 * - `REST, bytes through the client`: as a broker-based queue moves results (BullMQ, Celery): each
 *   intermediate is downloaded by the client and uploaded again as the next step's input.
 * - `in-process Node`: the same three steps with node:zlib and node:crypto on a Buffer in this
 *   process, no server at all (what the work itself costs on one core).
 *
 * Reported: wall time (median and range) and the bytes that crossed HTTP in each direction.
 */
import * as crypto from 'node:crypto'
import * as zlib from 'node:zlib'
import { nowMs, rotation } from '../harness/alternate'
import { progress } from '../harness/lifecycle'
import { byMode, type BenchOptions } from '../harness/options'
import { errorColumn, errorText, finiteOrNull, fmtRowRangeMs, log, orDash, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { fixtureChild, serverBase } from '../procs'
import { SIZE, fmtBytes, fmtRatio, median, ratio, summarize } from '../stats'

interface PipelineSettings {
  size: number
  reps: number
}

function settingsFor (options: BenchOptions): PipelineSettings {
  const q = byMode(options)
  return { size: q(64 * SIZE.MiB, 256 * SIZE.MiB), reps: q(2, 3) }
}

interface PipelineRow {
  target: string
  n: number
  median_ms: number | null
  min_ms: number | null
  max_ms: number | null
  /** median / the pipeline's median. */
  ratio: number | null
  /** Request and response bodies over HTTP in one run (the client's view). */
  http_bytes_up: number
  http_bytes_down: number
  http_requests: number
  digest: string | null
  samples_ms: number[]
  error?: string
}

export interface PipelineResult {
  size: number
  reference: string
  targets: { name: string, description: string }[]
  rows: PipelineRow[]
}

/** Counts what crosses HTTP, for the bytes-moved columns. */
class Http {
  up = 0
  down = 0
  requests = 0
  constructor (readonly base: string) {}

  async json (method: string, route: string, body?: unknown): Promise<any> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    this.requests++
    this.up += payload === undefined ? 0 : Buffer.byteLength(payload)
    const res = await fetch(`${this.base}${route}`, { method, headers: payload === undefined ? {} : { 'content-type': 'application/json' }, body: payload })
    const text = await res.text()
    this.down += Buffer.byteLength(text)
    if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`)
    return text === '' ? null : JSON.parse(text)
  }

  async upload (bytes: Buffer): Promise<string> {
    this.requests++
    this.up += bytes.length
    const res = await fetch(`${this.base}/v1/buffers`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes })
    const text = await res.text()
    this.down += Buffer.byteLength(text)
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${text.slice(0, 300)}`)
    return JSON.parse(text).id as string
  }

  async download (id: string): Promise<Buffer> {
    this.requests++
    const res = await fetch(`${this.base}/v1/buffers/${id}/content`)
    if (res.status !== 200) throw new Error(`download ${id}: ${res.status} ${(await res.text()).slice(0, 300)}`)
    const bytes = Buffer.from(await res.arrayBuffer())
    this.down += bytes.length
    return bytes
  }
}

/** Bytes that compress about 2:1, like much real data (random digits of 4 bits each). */
function compressibleBytes (size: number): Buffer {
  const bytes = crypto.randomBytes(size)
  for (let i = 0; i < size; i++) bytes[i] &= 0x0f
  return bytes
}

interface Target {
  name: string
  description: string
  /** One run from the sealed input `input` (its bytes are `data`): the sha256 it ends with. */
  run: (http: Http, input: string, data: Buffer) => Promise<string>
}

/** The longest `?wait` the server holds a reply (server/schemas/job.ts): longer runs poll again. */
const WAIT = 'wait=60000'

async function job (http: Http, kind: string, inputs: string[], params: object = {}): Promise<any> {
  let done = await http.json('POST', `/v1/jobs?${WAIT}`, { kind, inputs, params })
  while (done.state === 'queued' || done.state === 'running') done = await http.json('GET', `/v1/jobs/${done.id as string}?${WAIT}`)
  if (done.state !== 'succeeded') throw new Error(`${kind}: ${done.state} ${JSON.stringify(done.error)}`)
  return done
}

const TARGETS: Target[] = [
  {
    name: 'memfd-pool pipeline',
    description: 'one POST /v1/pipelines?wait: gzip → gunzip → checksum, intermediates stay in shared memory and are freed by the server',
    async run (http, input) {
      let pipeline = await http.json('POST', `/v1/pipelines?${WAIT}`, {
        name: 'bench',
        steps: [
          { id: 'packed', kind: 'gzip', inputs: [input], params: { level: 1 } },
          { id: 'unpacked', kind: 'gunzip', inputs: [{ step: 'packed' }] },
          { id: 'sum', kind: 'checksum', inputs: [{ step: 'unpacked' }] }
        ]
      })
      while (pipeline.state === 'running') pipeline = await http.json('GET', `/v1/pipelines/${pipeline.id as string}?${WAIT}`)
      if (pipeline.state !== 'succeeded') throw new Error(`pipeline ${pipeline.state}: ${JSON.stringify(pipeline.error)}`)
      // The checksum step's result is its job's; one more small request reads it.
      const sum = pipeline.steps.find((s: { id: string }) => s.id === 'sum')
      return (await http.json('GET', `/v1/jobs/${sum.jobId as string}`)).result.digest as string
    }
  },
  {
    name: 'REST, ids only',
    description: 'the client runs the three jobs (POST /v1/jobs?wait each, output id into the next) and deletes the intermediates',
    async run (http, input) {
      const packed = (await job(http, 'gzip', [input], { level: 1 })).outputs[0] as string
      const unpacked = (await job(http, 'gunzip', [packed])).outputs[0] as string
      const digest = (await job(http, 'checksum', [unpacked])).result.digest as string
      await http.json('DELETE', `/v1/buffers/${packed}`)
      await http.json('DELETE', `/v1/buffers/${unpacked}`)
      return digest
    }
  },
  {
    name: 'REST, bytes through the client',
    description: 'as a broker moves results: each intermediate downloaded by the client and uploaded as the next input',
    async run (http, input) {
      const packedOut = (await job(http, 'gzip', [input], { level: 1 })).outputs[0] as string
      const packed = await http.upload(await http.download(packedOut))
      const unpackedOut = (await job(http, 'gunzip', [packed])).outputs[0] as string
      const unpacked = await http.upload(await http.download(unpackedOut))
      const digest = (await job(http, 'checksum', [unpacked])).result.digest as string
      for (const id of [packedOut, packed, unpackedOut, unpacked]) await http.json('DELETE', `/v1/buffers/${id}`)
      return digest
    }
  },
  {
    name: 'in-process Node',
    description: 'node:zlib gzipSync (level 1), gunzipSync, node:crypto sha256 on a Buffer in this process',
    async run (_http, _input, data) {
      const unpacked = zlib.gunzipSync(zlib.gzipSync(data, { level: 1 }))
      return crypto.createHash('sha256').update(unpacked).digest('hex')
    }
  }
]

async function measure (options: BenchOptions): Promise<PipelineResult> {
  const { size, reps } = settingsFor(options)
  const result: PipelineResult = {
    size,
    reference: TARGETS[0].name,
    targets: TARGETS.map((t) => ({ name: t.name, description: t.description })),
    rows: []
  }
  const server = fixtureChild('pool-server', { readyTimeoutMs: 30_000, graceMs: 15_000 })
  const { ready } = await server.start([])
  try {
    const base = serverBase(ready)
    const data = compressibleBytes(size)
    const expected = crypto.createHash('sha256').update(data).digest('hex')
    const input = await new Http(base).upload(data)
    const samples = new Map<Target, number[]>(TARGETS.map((t) => [t, []]))
    const traffic = new Map<Target, Http>()
    const failed = new Map<Target, string>()
    for (let rep = 0; rep <= reps; rep++) {
      // Round 0 warms up (and checks the digest) untimed.
      for (const target of rotation(TARGETS, rep)) {
        if (failed.has(target)) continue
        const label = `pipeline: ${target.name} ${rep === 0 ? 'warm-up' : `${rep}/${reps}`}`
        progress(label) // the harness's stall watchdog goes by these
        log(`  ${label}`)
        const http = new Http(base)
        try {
          const t0 = nowMs()
          const digest = await target.run(http, input, data)
          const ms = nowMs() - t0
          if (digest !== expected) throw new Error(`digest ${digest}, expected ${expected}`)
          if (rep > 0) samples.get(target)!.push(ms)
          traffic.set(target, http)
        } catch (err) {
          failed.set(target, errorText(err))
        }
      }
    }
    const reference = median(samples.get(TARGETS[0]) ?? [])
    for (const target of TARGETS) {
      const s = samples.get(target) ?? []
      const sum = summarize(s)
      const http = traffic.get(target)
      const row: PipelineRow = {
        target: target.name,
        n: s.length,
        median_ms: finiteOrNull(sum.median),
        min_ms: finiteOrNull(sum.min),
        max_ms: finiteOrNull(sum.max),
        ratio: finiteOrNull(ratio(sum.median, reference)),
        http_bytes_up: http?.up ?? 0,
        http_bytes_down: http?.down ?? 0,
        http_requests: http?.requests ?? 0,
        digest: failed.has(target) ? null : expected,
        samples_ms: s.map((v) => Math.round(v * 1000) / 1000)
      }
      const err = failed.get(target)
      if (err !== undefined) row.error = err
      result.rows.push(row)
    }
  } finally {
    await server.stop()
  }
  return result
}

function printPipeline (r: PipelineResult, reps: number): void {
  printTable<PipelineRow>(
    `gzip → gunzip → sha256 over ${fmtBytes(r.size)} (ms, median (min–max) of ${reps}; HTTP bytes per run, the client's view)`,
    [
      { header: 'target', align: 'left', cell: (row) => row.target },
      { header: 'median (min–max) ms', cell: fmtRowRangeMs },
      { header: `÷ ${r.reference}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      { header: 'requests', cell: (row) => String(row.http_requests) },
      { header: 'HTTP up', cell: (row) => fmtBytes(row.http_bytes_up) },
      { header: 'HTTP down', cell: (row) => fmtBytes(row.http_bytes_down) },
      errorColumn()
    ],
    r.rows
  )
}

export const pipelineSection: Section<PipelineResult> = {
  name: 'pipeline',
  summary: 'a 3-step pipeline (gzip, gunzip, sha256) on 256 MiB (64 MiB with --quick): one pipeline request vs a client driving the jobs over REST (ids only, and moving the bytes) vs in-process Node',
  settings: settingsFor,
  async run (options) {
    const result = await measure(options)
    printPipeline(result, settingsFor(options).reps)
    return result
  }
}
