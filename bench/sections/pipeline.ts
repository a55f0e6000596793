/**
 * Section "pipeline": three steps on one buffer of 256 MiB (32 MiB with --quick) — fill (random
 * bytes) → concat (one input: a copy into a new buffer, the cheapest transform, so what is
 * measured is moving the data, not computing on it) → checksum (crc32) — driven four ways:
 *
 *  - `pipeline`: one POST /v1/pipelines?wait; intermediates stay in shared memory and are freed
 *    by the server.
 *  - `REST jobs, ids only`: the client submits each job with ?wait, reads its output id, submits
 *    the next, and deletes the intermediates: what a client without pipelines does at best.
 *  - `REST jobs, bytes through client`: as a client that treats the outputs as files: it downloads
 *    each intermediate and uploads it again as the next step's input.
 *  - `in-process Node`: the same three steps in this process (random bytes, a copy, zlib.crc32):
 *    the floor, with no process boundary at all.
 *
 * Reports wall time per run and the bytes that crossed HTTP (request and response bodies).
 */
import crypto from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import zlib from 'node:zlib'
import { buildApp } from '../../server/app'
import { alternate, nowMs } from '../harness/alternate'
import { byMode, type BenchOptions } from '../harness/options'
import { errorColumn, finiteOrNull, log, orDash, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { fmtBytes, fmtMs, summarize } from '../stats'

const MiB = 1024 * 1024

interface PipelineSettings { size: number, reps: number }

function settingsFor (options: BenchOptions): PipelineSettings {
  const q = byMode(options)
  return { size: q(32 * MiB, 256 * MiB), reps: q(2, 5) }
}

interface PipelineRow {
  target: string
  n: number
  median_ms: number | null
  min_ms: number | null
  max_ms: number | null
  /** Request and response bodies of one run. */
  http_bytes: number
  http_requests: number
  samples_ms: number[]
  error?: string
}

export interface PipelineResult { size: number, rows: PipelineRow[], error?: string }

/** A small HTTP client that counts the body bytes both ways. */
class CountingClient {
  bytes = 0
  requests = 0
  readonly #port: number
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

  constructor (port: number) { this.#port = port }

  async request (method: string, path: string, body?: Buffer | object): Promise<{ status: number, body: Buffer }> {
    const data = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body))
    const type = Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json'
    this.requests++
    this.bytes += data?.length ?? 0
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.#port, method, path, agent: this.#agent, headers: data === null ? {} : { 'content-type': type, 'content-length': String(data.length) } })
      req.on('error', reject)
      req.on('response', (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => { this.bytes += c.length; parts.push(c) })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
        res.on('error', reject)
      })
      req.end(data ?? undefined)
    })
  }

  async json (method: string, path: string, body?: Buffer | object): Promise<any> {
    const res = await this.request(method, path, body)
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`)
    return res.body.length === 0 ? null : JSON.parse(res.body.toString('utf8'))
  }

  close (): void { this.#agent.destroy() }
}

const WAIT = '?wait=60000'

/** One job with ?wait; its outputs, or an error when it did not succeed. */
async function job (client: CountingClient, spec: object): Promise<{ outputs: string[], result: Record<string, unknown> }> {
  const info = await client.json('POST', `/v1/jobs${WAIT}`, spec)
  if (info.state !== 'succeeded') throw new Error(`job ${info.id as string} ${info.state as string}: ${JSON.stringify(info.error)}`)
  return info
}

interface Target { name: string, run: (client: CountingClient, size: number) => Promise<void> }

const fill = (size: number, seed: number): object => ({ kind: 'fill', params: { size, pattern: 'random', seed } })

const TARGETS: Target[] = [
  {
    name: 'pipeline (one request)',
    async run (client, size) {
      const p = await client.json('POST', `/v1/pipelines${WAIT}`, {
        steps: [
          { id: 'raw', ...fill(size, 7) },
          { id: 'copy', kind: 'concat', inputs: [{ step: 'raw' }] },
          { id: 'sum', kind: 'checksum', inputs: [{ step: 'copy' }], params: { algorithm: 'crc32' } }
        ]
      })
      if (p.state !== 'succeeded') throw new Error(`pipeline ${p.state as string}: ${JSON.stringify(p.error)}`)
    }
  },
  {
    name: 'REST jobs, ids only',
    async run (client, size) {
      const raw = (await job(client, fill(size, 7))).outputs[0]
      const copy = (await job(client, { kind: 'concat', inputs: [raw] })).outputs[0]
      await job(client, { kind: 'checksum', inputs: [copy], params: { algorithm: 'crc32' } })
      await client.json('DELETE', `/v1/buffers/${raw}`)
      await client.json('DELETE', `/v1/buffers/${copy}`)
    }
  },
  {
    name: 'REST jobs, bytes through client',
    async run (client, size) {
      // Each intermediate is downloaded, then uploaded as the next step's input.
      const through = async (id: string): Promise<string> => {
        const bytes = await client.request('GET', `/v1/buffers/${id}/content`)
        if (bytes.status !== 200 || bytes.body.length !== size) throw new Error(`download of ${id}: HTTP ${bytes.status}, ${bytes.body.length} bytes`)
        await client.json('DELETE', `/v1/buffers/${id}`)
        return (await client.json('POST', '/v1/buffers', bytes.body)).id
      }
      const raw = await through((await job(client, fill(size, 7))).outputs[0])
      const copy = await through((await job(client, { kind: 'concat', inputs: [raw] })).outputs[0])
      await job(client, { kind: 'checksum', inputs: [copy], params: { algorithm: 'crc32' } })
      await client.json('DELETE', `/v1/buffers/${raw}`)
      await client.json('DELETE', `/v1/buffers/${copy}`)
    }
  },
  {
    name: 'in-process Node',
    async run (_client, size) {
      const raw = crypto.randomFillSync(Buffer.allocUnsafe(size))
      const copy = Buffer.allocUnsafe(size)
      raw.copy(copy)
      zlib.crc32(copy)
    }
  }
]

async function run (options: BenchOptions): Promise<PipelineResult> {
  const settings = settingsFor(options)
  const { size, reps } = settings
  // Room for the bytes-through-client target: an intermediate, its upload and the next output.
  const app = await buildApp({ pool: { workers: 2, maxMemoryBytes: 4 * size + 64 * MiB }, graceMs: 0 })
  const rows: PipelineRow[] = []
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    await app.pool.whenReady()
    const client = new CountingClient((app.server.address() as AddressInfo).port)
    const failed = new Map<Target, string>()
    const samples = new Map<Target, number[]>(TARGETS.map((t) => [t, []]))
    const traffic = new Map<Target, { bytes: number, requests: number }>()
    const once = async (t: Target, timed: boolean): Promise<void> => {
      const bytes = client.bytes
      const requests = client.requests
      const t0 = nowMs()
      await t.run(client, size)
      const t1 = nowMs()
      if (timed) samples.get(t)?.push(t1 - t0)
      traffic.set(t, { bytes: client.bytes - bytes, requests: client.requests - requests })
    }
    await alternate(TARGETS, 1, failed, (t) => `pipeline: warming up ${t.name}`, (t) => once(t, false))
    await alternate(TARGETS, reps, failed, (t, rep) => `pipeline: ${t.name} ${rep + 1}/${reps}`, (t) => once(t, true))
    client.close()
    for (const t of TARGETS) {
      const s = samples.get(t) ?? []
      const sum = summarize(s)
      const row: PipelineRow = {
        target: t.name,
        n: s.length,
        median_ms: finiteOrNull(sum.median),
        min_ms: finiteOrNull(sum.min),
        max_ms: finiteOrNull(sum.max),
        http_bytes: traffic.get(t)?.bytes ?? 0,
        http_requests: traffic.get(t)?.requests ?? 0,
        samples_ms: s
      }
      const error = failed.get(t)
      if (error !== undefined) row.error = error
      rows.push(row)
    }
    if (app.pool.store.count !== 0) log(`pipeline: ${app.pool.store.count} buffers left in the store after the runs`)
  } catch (err) {
    log(`pipeline: ${(err as Error).message}`)
    return { size, rows, error: (err as Error).message }
  } finally {
    await app.close()
  }
  printTable<PipelineRow>(`Pipeline: fill → concat → checksum on ${fmtBytes(size)}, wall time per run (ms) and HTTP body bytes`, [
    { header: 'target', align: 'left', cell: (r) => r.target },
    { header: 'n', cell: (r) => String(r.n) },
    { header: 'median', cell: (r) => orDash(r.median_ms, fmtMs) },
    { header: 'min', cell: (r) => orDash(r.min_ms, fmtMs) },
    { header: 'max', cell: (r) => orDash(r.max_ms, fmtMs) },
    { header: 'requests', cell: (r) => String(r.http_requests) },
    { header: 'HTTP bytes', cell: (r) => fmtBytes(r.http_bytes) },
    errorColumn<PipelineRow>()
  ], rows)
  return { size, rows }
}

export const pipelineSection: Section<PipelineResult> = {
  name: 'pipeline',
  summary: 'a 3-step pipeline on 256 MiB vs the same jobs over REST (ids only, bytes through the client) vs in-process Node',
  settings: settingsFor,
  run
}
