/**
 * Section "dispatch": the round trip of a buffer to a worker that reads its first and last byte
 * and replies, per size, for the pool and for what people use instead. Also draws the chart.
 */
import * as os from 'node:os'
import * as path from 'node:path'
import { writeDispatchChart } from '../chart'
import { alternate, nowMs } from '../harness/alternate'
import { describeTargets, gc, pickBaseline, progress, withTargets } from '../harness/lifecycle'
import { byMode, type BenchOptions } from '../harness/options'
import { errorColumn, errorText, finiteOrNull, fmtSpan, log, logSetupErrors, orDash, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { POOL_TARGET_NAME, dispatchTargets } from '../registry'
import { SIZE, fmtBytes, fmtMs, fmtRatio, median, ratio, summarize } from '../stats'
import { expectedProbe, type ByteProbe, type DispatchTarget } from '../targets'

const DEFAULT_SIZES = [4 * SIZE.KiB, SIZE.MiB, 16 * SIZE.MiB, 256 * SIZE.MiB]

interface DispatchRow {
  size: number
  target: string
  n: number
  median_ms: number | null
  min_ms: number | null
  max_ms: number | null
  p99_ms: number | null
  /** median / baseline median at the same size (how many times slower than the baseline). */
  ratio_to_baseline: number | null
  samples_ms: number[]
  error?: string
}

export interface DispatchResult {
  baseline: string | null
  sizes: number[]
  skipped: string[]
  targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  rows: DispatchRow[]
  chart: string | null
}

function repsFor (options: BenchOptions, size: number): number {
  const q = byMode(options)
  if (size <= 64 * SIZE.KiB) return q(30, 300)
  if (size <= 4 * SIZE.MiB) return q(20, 100)
  if (size <= 64 * SIZE.MiB) return q(8, 40)
  if (size <= 512 * SIZE.MiB) return q(5, 15)
  return q(3, 5)
}

function warmupFor (options: BenchOptions, size: number): number {
  const q = byMode(options)
  if (size <= 4 * SIZE.MiB) return q(10, 50)
  if (size <= 64 * SIZE.MiB) return q(2, 5)
  return 1
}

/** The sizes to measure, and why any default one is left out. */
function chooseSizes (options: BenchOptions, targetCount: number): { sizes: number[], skipped: string[] } {
  if (options.sizes) return { sizes: options.sizes, skipped: [] }
  if (options.quick) return { sizes: DEFAULT_SIZES, skipped: ['1 GiB: skipped in --quick'] }
  // Each target holds its prepared 1 GiB buffer, and a copying round trip holds one or two more
  // copies while it runs.
  const need = (targetCount * 2 + 2) * SIZE.GiB
  const free = os.freemem()
  if (free >= need) return { sizes: [...DEFAULT_SIZES, SIZE.GiB], skipped: [] }
  return { sizes: DEFAULT_SIZES, skipped: [`1 GiB: needs ~${fmtBytes(need)} free, ${(free / SIZE.GiB).toFixed(1)} GiB available`] }
}

/** Measures one size: prepares a buffer per target, warms up, then the timed repetitions. */
async function measureSize (options: BenchOptions, live: DispatchTarget[], size: number, result: DispatchResult): Promise<void> {
  const reps = repsFor(options, size)
  const expect = expectedProbe(size)
  const check = (probe: ByteProbe): void => {
    if (probe.first !== expect.first || probe.last !== expect.last) {
      throw new Error(`wrong bytes from the worker: first=${probe.first} last=${probe.last}, expected ${expect.first}/${expect.last}`)
    }
  }
  const handles = new Map<DispatchTarget, unknown>()
  const samples = new Map<DispatchTarget, number[]>(live.map((t) => [t, []]))
  const failed = new Map<DispatchTarget, string>()
  try {
    for (const t of live) {
      progress(`dispatch ${fmtBytes(size)}: preparing ${t.name}`)
      try {
        handles.set(t, await t.prepare(size))
      } catch (err) {
        failed.set(t, `prepare: ${errorText(err)}`)
      }
    }
    await alternate(live, warmupFor(options, size), failed, (t) => `dispatch ${fmtBytes(size)}: warming up ${t.name}`, async (t) => {
      check(await t.roundTrip(handles.get(t)))
    })
    const collectEach = size >= 16 * SIZE.MiB
    await alternate(live, reps, failed, (t, rep) => `dispatch ${fmtBytes(size)}: ${t.name} ${rep + 1}/${reps}`, async (t) => {
      if (collectEach && gc) gc()
      const handle = handles.get(t)
      const t0 = nowMs()
      const probe = await t.roundTrip(handle)
      const t1 = nowMs()
      check(probe)
      samples.get(t)?.push(t1 - t0)
    })
  } finally {
    for (const [t, h] of handles) {
      try {
        if (t.release) await t.release(h)
      } catch (err) {
        console.error(`bench: dispatch/${t.name}: release failed: ${errorText(err)}`)
      }
    }
    handles.clear()
    if (gc) gc()
  }
  const base = live.find((t) => t.name === result.baseline)
  const baseMedian = base && !failed.has(base) ? median(samples.get(base) ?? []) : NaN
  for (const t of live) {
    const s = samples.get(t) ?? []
    const sum = summarize(s)
    const row: DispatchRow = {
      size,
      target: t.name,
      n: s.length,
      median_ms: finiteOrNull(sum.median),
      min_ms: finiteOrNull(sum.min),
      max_ms: finiteOrNull(sum.max),
      p99_ms: finiteOrNull(sum.p99),
      ratio_to_baseline: finiteOrNull(ratio(sum.median, baseMedian)),
      samples_ms: s.map((v) => Math.round(v * 1e4) / 1e4),
    }
    const err = failed.get(t)
    if (err) {
      row.error = err
      console.error(`bench: dispatch/${t.name} at ${fmtBytes(size)}: ${err}`)
    }
    result.rows.push(row)
  }
  log(`  dispatch ${fmtBytes(size)}: done (${reps} repetitions)`)
}

function printDispatch (r: DispatchResult): void {
  printTable<DispatchRow>(
    'Dispatch round trip (ms): send a buffer to a worker, it reads the first and last byte, replies\n' +
      `median (min–max) over the repetitions; ratio = median / median of ${r.baseline ?? '-'} at the same size`,
    [
      { header: 'size', cell: (row) => fmtBytes(row.size) },
      { header: 'target', align: 'left', cell: (row) => row.target },
      { header: 'n', cell: (row) => String(row.n) },
      { header: 'median', cell: (row) => orDash(row.median_ms, fmtMs) },
      { header: 'min–max', cell: (row) => fmtSpan(row.min_ms, row.max_ms, fmtMs) },
      { header: `÷ ${r.baseline ?? 'baseline'}`, cell: (row) => orDash(row.ratio_to_baseline, fmtRatio) },
      errorColumn(),
    ],
    r.rows
  )
  // The same medians as a matrix (targets × sizes), the shape docs/BENCHMARKS.md uses.
  const names = r.targets.map((t) => t.name).filter((n) => r.rows.some((row) => row.target === n))
  if (names.length > 0) {
    printTable<string>(
      'Median round trip (ms) by size:',
      [
        { header: 'target', cell: (n) => n },
        ...r.sizes.map((s) => ({
          header: fmtBytes(s),
          cell: (n: string) => {
            const row = r.rows.find((x) => x.target === n && x.size === s)
            return row && row.median_ms !== null ? fmtMs(row.median_ms) : '-'
          },
        })),
      ],
      names
    )
  }
  for (const s of r.skipped) log(`(${s})`)
  logSetupErrors(r.setup_errors)
}

/** The chart of the medians with min–max whiskers; returns where it went, or null when nothing was measured. */
function writeChart (d: DispatchResult, options: BenchOptions): string | null {
  const names = d.targets.map((t) => t.name).filter((n) => d.rows.some((r) => r.target === n && r.median_ms !== null))
  if (names.length === 0) return null
  writeDispatchChart(options.chartFile, {
    title: 'Dispatch round trip vs buffer size (lower is better)',
    subtitle: `median with min–max whisker; ${options.mode} run, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} vCPU, Node ${process.version}`,
    sizes: d.sizes,
    targets: names,
    cell (size, target) {
      const row = d.rows.find((r) => r.size === size && r.target === target)
      if (!row || row.median_ms === null || row.min_ms === null || row.max_ms === null) return undefined
      return { median: row.median_ms, min: row.min_ms, max: row.max_ms }
    },
  })
  const shown = path.relative(process.cwd(), options.chartFile) || options.chartFile
  log(`chart written to ${shown}${options.chartFile.endsWith(path.join('docs', 'benchmarks.svg')) ? '' : ' (--chart=docs/benchmarks.svg to update the one the docs show)'}`)
  return shown
}

export const dispatchSection: Section<DispatchResult> = {
  name: 'dispatch',
  summary: 'round trip of a buffer to a worker that reads its first and last byte, per size',
  settings (options) {
    const sizes = options.sizes ?? [...DEFAULT_SIZES, SIZE.GiB]
    return { reps: Object.fromEntries(sizes.map((s) => [fmtBytes(s), repsFor(options, s)])) }
  },
  async run (options) {
    const targets = dispatchTargets()
    const { sizes, skipped } = chooseSizes(options, targets.length)
    const result: DispatchResult = {
      baseline: null,
      sizes,
      skipped,
      targets: describeTargets(targets),
      setup_errors: {},
      rows: [],
      chart: null,
    }
    await withTargets('dispatch', targets, (t) => t.setup(), async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.baseline = pickBaseline(live.map((t) => t.name), POOL_TARGET_NAME)
      for (const size of sizes) await measureSize(options, live, size, result)
    })
    printDispatch(result)
    try {
      result.chart = writeChart(result, options)
    } catch (err) {
      console.error(`bench: chart: ${errorText(err)}`)
    }
    return result
  },
}
