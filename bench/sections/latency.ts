/**
 * Section "latency": a no-op task one at a time (p50/p99 µs) and with 64 in flight (tasks/s), for
 * piscina (the reference), the channel floor and the pool's shapes and variants. Every ratio is to
 * piscina's figure; the floor column says how far each path is from what the pool's own transport
 * costs (two processes ping-ponging over the native Channel with one descriptor attached).
 */
import { alternate, nowMs } from '../harness/alternate'
import { describeTargets, gc, pickBaseline, withTargets } from '../harness/lifecycle'
import { byMode, type BenchOptions } from '../harness/options'
import { errorColumn, finiteOrNull, fmtSpan, logSetupErrors, orDash, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { FLOOR_TARGET_NAME, taskTargets } from '../registry'
import { fmtInt, fmtRatio, fmtUs, median, ratio, summarize } from '../stats'
import type { TaskTarget } from '../targets'

interface LatencySettings {
  warmup: number
  oneAtATime: number
  blocks: number
  inFlight: number
  throughputCount: number
  throughputRounds: number
}

function settingsFor (options: BenchOptions): LatencySettings {
  const q = byMode(options)
  return {
    warmup: q(500, 2000),
    oneAtATime: q(2000, 20000),
    blocks: 10,
    inFlight: 64,
    // The pool runs ~3–10k jobs/s here: larger rounds would take minutes without changing the medians.
    throughputCount: q(5000, 20000),
    throughputRounds: q(3, 5),
  }
}

interface LatencyRow {
  target: string
  workers: number
  n: number
  p50_us: number | null
  p99_us: number | null
  min_us: number | null
  max_us: number | null
  mean_us: number | null
  /** p50 / reference p50. */
  ratio_p50: number | null
  /** p50 / the channel floor's p50: how many times what the transport alone costs. */
  floor_ratio_p50: number | null
  error?: string
}

interface ThroughputRow {
  target: string
  workers: number
  in_flight: number
  tasks_per_round: number
  rounds: number
  median_tasks_per_s: number | null
  min_tasks_per_s: number | null
  max_tasks_per_s: number | null
  samples_tasks_per_s: number[]
  /** median / reference median. */
  ratio: number | null
  /** median / the channel floor's median rate. */
  floor_ratio: number | null
  error?: string
}

export interface LatencyResult {
  reference: string | null
  floor: string | null
  targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  one_at_a_time: LatencyRow[]
  throughput: ThroughputRow[]
}

/** Runs `count` tasks keeping `depth` of them in flight; resolves with the elapsed ms. */
function runInFlight (t: TaskTarget, count: number, depth: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let started = 0
    let done = 0
    let failed = false
    const t0 = nowMs()
    const launch = (): void => {
      while (!failed && started < count && started - done < depth) {
        started++
        t.runOne().then(
          () => {
            done++
            if (done === count) resolve(nowMs() - t0)
            else launch()
          },
          (err: unknown) => {
            failed = true
            reject(err)
          }
        )
      }
    }
    launch()
  })
}

async function measure (L: LatencySettings, live: TaskTarget[], result: LatencyResult): Promise<void> {
  const failed = new Map<TaskTarget, string>()
  const refT = live.find((t) => t.name === result.reference)
  const floorT = live.find((t) => t.name === result.floor)

  // Warm-up, interleaved.
  const warmBlock = Math.max(1, Math.floor(L.warmup / L.blocks))
  await alternate(live, L.blocks, failed, (t) => `latency: warming up ${t.name}`, async (t) => {
    for (let i = 0; i < warmBlock; i++) await t.runOne()
  })

  // One at a time, in blocks alternating between targets.
  const samplesUs = new Map<TaskTarget, number[]>(live.map((t) => [t, []]))
  const perBlock = Math.max(1, Math.floor(L.oneAtATime / L.blocks))
  await alternate(live, L.blocks, failed, (t, b) => `latency: ${t.name} one at a time, block ${b + 1}/${L.blocks}`, async (t) => {
    const s = samplesUs.get(t) as number[]
    for (let i = 0; i < perBlock; i++) {
      const t0 = process.hrtime.bigint()
      await t.runOne()
      const t1 = process.hrtime.bigint()
      s.push(Number(t1 - t0) / 1e3)
    }
  })
  const p50Of = (t: TaskTarget | undefined): number => (t ? summarize(samplesUs.get(t) ?? []).p50 : NaN)
  const refP50 = p50Of(refT)
  const floorP50 = p50Of(floorT)
  for (const t of live) {
    const s = summarize(samplesUs.get(t) ?? [])
    const row: LatencyRow = {
      target: t.name,
      workers: t.workers,
      n: s.n,
      p50_us: finiteOrNull(s.p50),
      p99_us: finiteOrNull(s.p99),
      min_us: finiteOrNull(s.min),
      max_us: finiteOrNull(s.max),
      mean_us: finiteOrNull(s.mean),
      ratio_p50: finiteOrNull(ratio(s.p50, refP50)),
      floor_ratio_p50: finiteOrNull(ratio(s.p50, floorP50)),
    }
    const err = failed.get(t)
    if (err) row.error = err
    result.one_at_a_time.push(row)
  }
  if (gc) gc()

  // Throughput with `inFlight` tasks outstanding, rounds alternating between targets.
  const rates = new Map<TaskTarget, number[]>(live.map((t) => [t, []]))
  await alternate(live, L.throughputRounds, failed, (t, round) => `latency: ${t.name} ${L.inFlight} in flight, round ${round + 1}/${L.throughputRounds}`, async (t) => {
    if (gc) gc()
    const ms = await runInFlight(t, L.throughputCount, L.inFlight)
    rates.get(t)?.push(L.throughputCount / (ms / 1000))
  })
  const refRate = refT ? median(rates.get(refT) ?? []) : NaN
  const floorRate = floorT ? median(rates.get(floorT) ?? []) : NaN
  for (const t of live) {
    const r = rates.get(t) ?? []
    const s = summarize(r)
    const row: ThroughputRow = {
      target: t.name,
      workers: t.workers,
      in_flight: L.inFlight,
      tasks_per_round: L.throughputCount,
      rounds: r.length,
      median_tasks_per_s: finiteOrNull(s.median),
      min_tasks_per_s: finiteOrNull(s.min),
      max_tasks_per_s: finiteOrNull(s.max),
      samples_tasks_per_s: r.map((v) => Math.round(v)),
      ratio: finiteOrNull(ratio(s.median, refRate)),
      floor_ratio: finiteOrNull(ratio(s.median, floorRate)),
    }
    const err = failed.get(t)
    if (err) row.error = err
    result.throughput.push(row)
  }
}

function printLatency (r: LatencyResult, L: LatencySettings): void {
  const ref = r.reference ?? 'reference'
  // The floor column only when the floor ran (and is not the reference itself).
  const floor = r.floor !== null && r.floor !== r.reference ? r.floor : null
  printTable<LatencyRow>(
    `No-op task, one at a time (µs per task, ${fmtInt(L.oneAtATime)} tasks in ${L.blocks} alternating blocks)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'workers', cell: (row) => String(row.workers) },
      { header: 'n', cell: (row) => fmtInt(row.n) },
      { header: 'p50', cell: (row) => orDash(row.p50_us, fmtUs) },
      { header: 'p99', cell: (row) => orDash(row.p99_us, fmtUs) },
      { header: 'min', cell: (row) => orDash(row.min_us, fmtUs) },
      { header: 'max', cell: (row) => orDash(row.max_us, fmtUs) },
      { header: `p50 ÷ ${ref}`, cell: (row) => orDash(row.ratio_p50, fmtRatio) },
      ...(floor ? [{ header: `p50 ÷ ${floor}`, cell: (row: LatencyRow) => orDash(row.floor_ratio_p50, fmtRatio) }] : []),
      errorColumn(),
    ],
    r.one_at_a_time
  )
  printTable<ThroughputRow>(
    `No-op task, ${L.inFlight} in flight (tasks/s over ${fmtInt(L.throughputCount)} tasks, median (min–max) of ${L.throughputRounds} rounds)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'workers', cell: (row) => String(row.workers) },
      { header: 'tasks/s', cell: (row) => orDash(row.median_tasks_per_s, fmtInt) },
      { header: 'min–max', cell: (row) => fmtSpan(row.min_tasks_per_s, row.max_tasks_per_s, fmtInt) },
      { header: `÷ ${ref}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      ...(floor ? [{ header: `÷ ${floor}`, cell: (row: ThroughputRow) => orDash(row.floor_ratio, fmtRatio) }] : []),
      errorColumn(),
    ],
    r.throughput
  )
  logSetupErrors(r.setup_errors)
}

export const latencySection: Section<LatencyResult> = {
  name: 'latency',
  summary: 'no-op task one at a time (p50/p99) and with 64 in flight (tasks/s), with the channel floor',
  settings: settingsFor,
  async run (options) {
    const L = settingsFor(options)
    const targets = taskTargets()
    const result: LatencyResult = {
      reference: null,
      floor: null,
      targets: describeTargets(targets),
      setup_errors: {},
      one_at_a_time: [],
      throughput: [],
    }
    await withTargets('latency', targets, (t) => t.setup(), async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.reference = pickBaseline(live.map((t) => t.name), null)
      result.floor = live.some((t) => t.name === FLOOR_TARGET_NAME) ? FLOOR_TARGET_NAME : null
      await measure(L, live, result)
    })
    printLatency(result, L)
    return result
  },
}
