/**
 * The upload half of section "http": one body of 1 GiB (256 MiB with --quick) streamed in one
 * request, to a bare node:http server that discards it (the reference) and into a pool buffer.
 */
import * as http from 'node:http'
import { alternate, nowMs } from '../harness/alternate'
import { describeTargets, gc, pickBaseline, withTargets } from '../harness/lifecycle'
import { errorColumn, finiteOrNull, fmtRowRangeMs, fmtSpan, logSetupErrors, orDash, printTable } from '../harness/report'
import { uploadTargets } from '../registry'
import { SIZE, fmtBytes, fmtMBps, fmtRatio, mbPerSec, median, ratio, summarize } from '../stats'
import type { UploadRequestSpec, UploadTarget } from '../targets'
import type { HttpSettings } from './http-settings'

export interface UploadRow {
  target: string
  size: number
  n: number
  median_ms: number | null
  min_ms: number | null
  max_ms: number | null
  median_mb_per_s: number | null
  min_mb_per_s: number | null
  max_mb_per_s: number | null
  samples_ms: number[]
  /** MB/s / reference MB/s. */
  ratio: number | null
  error?: string
}

export interface UploadResult {
  reference: string | null
  targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  uploads: UploadRow[]
}

const UPLOAD_CHUNK = SIZE.MiB

/** Streams `size` bytes in one request (one reused 1 MiB chunk, honouring backpressure); resolves with the response body. */
function upload (spec: UploadRequestSpec, size: number, chunk: Buffer): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(spec.url, {
      method: spec.method,
      agent: false,
      headers: {
        'content-type': 'application/octet-stream',
        ...spec.headers,
        'content-length': String(size),
      },
    })
    req.on('error', reject)
    req.on('response', (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }))
      res.on('error', reject)
    })
    let sent = 0
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent)
        sent += n
        const more = req.write(n === chunk.length ? chunk : chunk.subarray(0, n))
        if (!more) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
}

export async function runUpload (H: HttpSettings): Promise<UploadResult> {
  const targets = uploadTargets()
  const result: UploadResult = { reference: null, targets: describeTargets(targets), setup_errors: {}, uploads: [] }
  await withTargets('upload', targets, (t) => t.setup(), async (up, setupErrors) => {
    result.setup_errors = setupErrors
    const live = up.map((u) => u.target)
    result.reference = pickBaseline(live.map((t) => t.name), null)
    const size = H.uploadSize
    const chunk = Buffer.alloc(UPLOAD_CHUNK, 0x5a)
    const failed = new Map<UploadTarget, string>()
    const samples = new Map<UploadTarget, number[]>(live.map((t) => [t, []]))
    const once = async (t: UploadTarget, timed: boolean): Promise<void> => {
      const spec = await t.prepare(size)
      try {
        const t0 = nowMs()
        const res = await upload(spec, size, chunk)
        const t1 = nowMs()
        if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`)
        if (t.verify) t.verify(res.body, size)
        if (timed) samples.get(t)?.push(t1 - t0)
      } finally {
        if (t.finish) await t.finish(spec)
      }
    }
    await alternate(live, 1, failed, (t) => `upload: warming up ${t.name}`, (t) => once(t, false))
    await alternate(live, H.uploadReps, failed, (t, rep) => `upload: ${t.name} ${rep + 1}/${H.uploadReps}`, async (t) => {
      if (gc) gc()
      await once(t, true)
    })
    const refT = live.find((t) => t.name === result.reference)
    const refRate = refT ? mbPerSec(size, median(samples.get(refT) ?? [])) : NaN
    for (const t of live) {
      const s = samples.get(t) ?? []
      const sum = summarize(s)
      const rate = mbPerSec(size, sum.median)
      const row: UploadRow = {
        target: t.name,
        size,
        n: s.length,
        median_ms: finiteOrNull(sum.median),
        min_ms: finiteOrNull(sum.min),
        max_ms: finiteOrNull(sum.max),
        median_mb_per_s: finiteOrNull(rate),
        // The fastest upload has the highest rate.
        min_mb_per_s: finiteOrNull(mbPerSec(size, sum.max)),
        max_mb_per_s: finiteOrNull(mbPerSec(size, sum.min)),
        samples_ms: s.map((v) => Math.round(v * 1000) / 1000),
        ratio: finiteOrNull(ratio(rate, refRate)),
      }
      const err = failed.get(t)
      if (err) row.error = err
      result.uploads.push(row)
    }
  })
  return result
}

export function printUpload (r: UploadResult, H: HttpSettings): void {
  printTable<UploadRow>(
    `Upload of ${fmtBytes(H.uploadSize)} in one request (median (min–max) of ${H.uploadReps}; MB/s = 10^6 bytes/s)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'median (min–max) ms', cell: fmtRowRangeMs },
      { header: 'MB/s', cell: (row) => orDash(row.median_mb_per_s, fmtMBps) },
      { header: 'MB/s min–max', cell: (row) => fmtSpan(row.min_mb_per_s, row.max_mb_per_s, fmtMBps) },
      { header: `÷ ${r.reference ?? 'reference'}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      errorColumn(),
    ],
    r.uploads
  )
  logSetupErrors(r.setup_errors)
}
