/**
 * Section "compute": sha256 and crc32 over 1 GiB (256 MiB with --quick), in-process (the
 * reference) and as a pool job on a shared buffer. Digests must agree across targets.
 */
import { alternate, nowMs } from '../harness/alternate'
import { describeTargets, gc, pickBaseline, progress, withTargets } from '../harness/lifecycle'
import { byMode, type BenchOptions } from '../harness/options'
import { errorColumn, errorText, finiteOrNull, fmtRowRangeMs, logSetupErrors, orDash, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { computeTargets } from '../registry'
import { SIZE, fmtBytes, fmtMBps, fmtRatio, mbPerSec, median, ratio, summarize } from '../stats'
import type { ComputeAlgorithm, ComputeTarget } from '../targets'

const ALGORITHMS: ComputeAlgorithm[] = ['sha256', 'crc32']

function settingsFor (options: BenchOptions): { size: number, reps: number } {
  const q = byMode(options)
  return { size: q(256 * SIZE.MiB, SIZE.GiB), reps: q(3, 5) }
}

interface ComputeRow {
  algorithm: ComputeAlgorithm
  target: string
  size: number
  n: number
  median_ms: number | null
  min_ms: number | null
  max_ms: number | null
  /** size / median time. */
  mb_per_s: number | null
  /** throughput / reference throughput (≥ 1 means as fast as the reference). */
  ratio: number | null
  digest: string | null
  samples_ms: number[]
  error?: string
}

export interface ComputeResult {
  reference: string | null
  size: number
  targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  rows: ComputeRow[]
}

/** One algorithm over every prepared target: an untimed run for the digest, then the timed ones. */
async function measureAlgorithm (
  algorithm: ComputeAlgorithm,
  reps: number,
  live: ComputeTarget[],
  handles: Map<ComputeTarget, unknown>,
  failed: Map<ComputeTarget, string>,
  result: ComputeResult
): Promise<void> {
  const size = result.size
  const samples = new Map<ComputeTarget, number[]>(live.map((t) => [t, []]))
  const digests = new Map<ComputeTarget, string>()
  // One untimed run each: warms up and gives the digest to compare.
  await alternate(live, 1, failed, (t) => `compute: ${algorithm} warm-up ${t.name}`, async (t) => {
    digests.set(t, await t.run(handles.get(t), algorithm))
  })
  const refT = live.find((t) => t.name === result.reference)
  const refDigest = refT ? digests.get(refT) : undefined
  for (const t of live) {
    if (failed.has(t)) continue
    const d = digests.get(t)
    if (refDigest !== undefined && d !== refDigest) {
      failed.set(t, `${algorithm} digest ${d} differs from ${result.reference}'s ${refDigest}`)
    }
  }
  await alternate(live, reps, failed, (t, rep) => `compute: ${algorithm} ${t.name} ${rep + 1}/${reps}`, async (t) => {
    if (gc) gc()
    const t0 = nowMs()
    const d = await t.run(handles.get(t), algorithm)
    const t1 = nowMs()
    if (d !== digests.get(t)) throw new Error(`${algorithm} digest changed between runs`)
    samples.get(t)?.push(t1 - t0)
  })
  const refRate = refT ? mbPerSec(size, median(samples.get(refT) ?? [])) : NaN
  for (const t of live) {
    const s = samples.get(t) ?? []
    const sum = summarize(s)
    const rate = mbPerSec(size, sum.median)
    const row: ComputeRow = {
      algorithm,
      target: t.name,
      size,
      n: s.length,
      median_ms: finiteOrNull(sum.median),
      min_ms: finiteOrNull(sum.min),
      max_ms: finiteOrNull(sum.max),
      mb_per_s: finiteOrNull(rate),
      ratio: finiteOrNull(ratio(rate, refRate)),
      digest: digests.get(t) ?? null,
      samples_ms: s.map((v) => Math.round(v * 1000) / 1000),
    }
    const err = failed.get(t)
    if (err) row.error = err
    result.rows.push(row)
  }
}

function printCompute (r: ComputeResult, reps: number): void {
  printTable<ComputeRow>(
    `Compute over ${fmtBytes(r.size)} (ms, median (min–max) of ${reps}; MB/s = 10^6 bytes/s)`,
    [
      { header: 'algorithm', cell: (row) => row.algorithm },
      { header: 'target', align: 'left', cell: (row) => row.target },
      { header: 'median (min–max) ms', cell: fmtRowRangeMs },
      { header: 'MB/s', cell: (row) => orDash(row.mb_per_s, fmtMBps) },
      { header: `÷ ${r.reference ?? 'reference'}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      errorColumn(),
    ],
    r.rows
  )
  logSetupErrors(r.setup_errors)
}

export const computeSection: Section<ComputeResult> = {
  name: 'compute',
  summary: 'sha256 and crc32 over 1 GiB (256 MiB with --quick), in-process and as a pool job',
  settings: settingsFor,
  async run (options) {
    const { size, reps } = settingsFor(options)
    const targets = computeTargets()
    const result: ComputeResult = { reference: null, size, targets: describeTargets(targets), setup_errors: {}, rows: [] }
    await withTargets('compute', targets, (t) => t.setup(), async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.reference = pickBaseline(live.map((t) => t.name), null)
      const handles = new Map<ComputeTarget, unknown>()
      const failed = new Map<ComputeTarget, string>()
      try {
        for (const t of live) {
          progress(`compute: preparing ${fmtBytes(size)} for ${t.name}`)
          try {
            handles.set(t, await t.prepare(size))
          } catch (err) {
            failed.set(t, `prepare: ${errorText(err)}`)
          }
        }
        for (const algorithm of ALGORITHMS) await measureAlgorithm(algorithm, reps, live, handles, failed, result)
      } finally {
        for (const [t, h] of handles) {
          try {
            if (t.release) await t.release(h)
          } catch (err) {
            console.error(`bench: compute/${t.name}: release failed: ${errorText(err)}`)
          }
        }
        handles.clear()
        if (gc) gc()
      }
    })
    printCompute(result, reps)
    return result
  },
}
