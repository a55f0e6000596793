/**
 * Benchmark harness: `npm run bench` (full) or `npm run bench -- --quick`.
 *
 *   node --expose-gc dist/bench/run.js [--quick] [--only=dispatch,latency,compute,http]
 *                                      [--sizes=4k,1m,16m,256m,1g]
 *
 * Sections (targets come from bench/registry.ts):
 *   dispatch  round trip of a buffer to a worker that reads its first and last byte, per size
 *   latency   no-op task one at a time (p50/p99) and with 64 in flight (tasks/s)
 *   compute   sha256 and crc32 over 1 GiB (256 MiB with --quick)
 *   http      autocannon against a hello-world route, and a 1 GiB upload (256 MiB with --quick)
 *
 * Within a section every repetition runs every target once, in a rotating order,
 * so drift on this noisy machine hits all targets alike. Prints one table per
 * section and writes bench/results/latest.json (+ docs/benchmarks.svg from the
 * dispatch section).
 */
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import autocannon from 'autocannon'
import { writeDispatchChart } from './chart'
import { killAllChildrenSync } from './procs'
import {
  POOL_TARGET_NAME,
  TASK_WORKERS,
  computeTargets,
  dispatchTargets,
  httpTargets,
  taskTargets,
  uploadTargets,
} from './registry'
import {
  SIZE,
  fmtBytes,
  fmtInt,
  fmtMBps,
  fmtMs,
  fmtRangeMs,
  fmtRatio,
  fmtUs,
  mbPerSec,
  median,
  parseSize,
  ratio,
  renderTable,
  summarize,
  type Column,
} from './stats'
import {
  expectedProbe,
  type ComputeAlgorithm,
  type ComputeTarget,
  type DispatchTarget,
  type HttpRequestSpec,
  type HttpTarget,
  type TaskTarget,
  type UploadRequestSpec,
  type UploadTarget,
} from './targets'

const REPO_ROOT = path.resolve(__dirname, '..', '..')
const RESULTS_FILE = path.join(REPO_ROOT, 'bench', 'results', 'latest.json')
const CHART_FILE = path.join(REPO_ROOT, 'docs', 'benchmarks.svg')

const SECTIONS = ['dispatch', 'latency', 'compute', 'http'] as const
type SectionName = (typeof SECTIONS)[number]

// ---------------------------------------------------------------------------
// Configuration

interface Config {
  mode: 'quick' | 'full'
  sections: SectionName[]
  /** Explicit --sizes; otherwise the defaults (1 GiB only in the full run, memory permitting). */
  sizes: number[] | null
  dispatch: {
    repsFor(size: number): number
    warmupFor(size: number): number
  }
  latency: {
    warmup: number
    oneAtATime: number
    blocks: number
    inFlight: number
    throughputCount: number
    throughputRounds: number
  }
  compute: { size: number; reps: number }
  http: {
    connections: number
    durationSec: number
    warmupSec: number
    rounds: number
    uploadSize: number
    uploadReps: number
  }
}

function makeConfig (argv: string[]): Config {
  let quick = false
  let only: SectionName[] | null = null
  let sizes: number[] | null = null
  for (const arg of argv) {
    if (arg === '--quick') quick = true
    else if (arg.startsWith('--only=')) {
      only = arg
        .slice('--only='.length)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          if (!(SECTIONS as readonly string[]).includes(s)) {
            throw new UsageError(`unknown section "${s}" (sections: ${SECTIONS.join(', ')})`)
          }
          return s as SectionName
        })
      if (only.length === 0) throw new UsageError('--only needs at least one section')
    } else if (arg.startsWith('--sizes=')) {
      sizes = arg
        .slice('--sizes='.length)
        .split(',')
        .filter(Boolean)
        .map((s) => {
          try {
            return parseSize(s)
          } catch (err) {
            throw new UsageError((err as Error).message)
          }
        })
      if (sizes.length === 0) throw new UsageError('--sizes needs at least one size')
    } else if (arg === '--help' || arg === '-h') {
      throw new UsageError('', true)
    } else {
      throw new UsageError(`unknown argument "${arg}"`)
    }
  }
  const q = <T>(quickValue: T, fullValue: T): T => (quick ? quickValue : fullValue)
  return {
    mode: quick ? 'quick' : 'full',
    sections: only ?? [...SECTIONS],
    sizes,
    dispatch: {
      repsFor (size) {
        if (size <= 64 * SIZE.KiB) return q(30, 300)
        if (size <= 4 * SIZE.MiB) return q(20, 100)
        if (size <= 64 * SIZE.MiB) return q(8, 40)
        if (size <= 512 * SIZE.MiB) return q(5, 15)
        return q(3, 5)
      },
      warmupFor (size) {
        if (size <= 4 * SIZE.MiB) return q(10, 50)
        if (size <= 64 * SIZE.MiB) return q(2, 5)
        return 1
      },
    },
    latency: {
      warmup: q(500, 2000),
      oneAtATime: q(2000, 20000),
      blocks: 10,
      inFlight: 64,
      // The pool runs ~3–10k jobs/s here: larger rounds would take minutes without changing the medians.
      throughputCount: q(5000, 20000),
      throughputRounds: q(3, 5),
    },
    compute: { size: q(256 * SIZE.MiB, SIZE.GiB), reps: q(3, 5) },
    http: {
      connections: 50,
      durationSec: q(2, 5),
      warmupSec: q(1, 2),
      rounds: q(1, 3),
      uploadSize: q(256 * SIZE.MiB, SIZE.GiB),
      uploadReps: q(2, 5),
    },
  }
}

class UsageError extends Error {
  constructor (
    message: string,
    readonly help = false
  ) {
    super(message)
  }
}

const USAGE = `usage: node --expose-gc dist/bench/run.js [--quick] [--only=${SECTIONS.join(',')}] [--sizes=4k,1m,...]
  --quick        short run (under a minute): fewer repetitions, no 1 GiB dispatch, 256 MiB compute/upload
  --only=LIST    run only these sections (comma separated)
  --sizes=LIST   dispatch sizes to measure instead of the defaults (binary units: 4k, 1m, 1g)`

// ---------------------------------------------------------------------------
// Plumbing: progress watchdog, cleanup on every exit path, gc

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc

/** Largest time a single step may go without progress before the run is aborted. */
const STALL_MS = 180_000
let lastProgress = Date.now()
let aborting = false
let progressLabel = 'starting'

class AbortedError extends Error {}

/** Marks progress (outside the timed parts); throws once the run is being aborted, so loops stop. */
function progress (label?: string): void {
  if (aborting) throw new AbortedError('aborted')
  lastProgress = Date.now()
  if (label !== undefined) progressLabel = label
}

/** Teardowns of targets currently set up, run on SIGINT/SIGTERM and on stalls. */
const activeTeardowns = new Set<() => Promise<void>>()

async function runActiveTeardowns (): Promise<void> {
  const all = [...activeTeardowns]
  activeTeardowns.clear()
  await Promise.allSettled(all.map((fn) => fn()))
}

function abort (reason: string, code: number): void {
  if (aborting) return
  aborting = true
  console.error(`\nbench: ${reason}; stopping every worker, child and server`)
  const timer = setTimeout(() => {
    killAllChildrenSync()
    process.exit(code)
  }, 5000)
  timer.unref()
  void runActiveTeardowns().finally(() => {
    killAllChildrenSync()
    process.exit(code)
  })
}

function log (line = ''): void {
  process.stdout.write(line + '\n')
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

interface Named {
  name: string
  description: string
  teardown(): Promise<void>
}

/**
 * Runs `setup` for each target (a failing target is reported and left out, the
 * rest go on), then `body` with the ones that are up, and always tears down
 * every target — including those whose setup failed halfway.
 */
async function withTargets<T extends Named, S> (
  section: string,
  targets: T[],
  setup: (t: T) => Promise<S>,
  body: (up: { target: T; state: S }[], setupErrors: Record<string, string>) => Promise<void>
): Promise<void> {
  const teardown = async (): Promise<void> => {
    for (const t of targets) {
      try {
        await t.teardown()
      } catch (err) {
        console.error(`bench: ${section}/${t.name}: teardown failed: ${errorText(err)}`)
      }
    }
  }
  activeTeardowns.add(teardown)
  try {
    const up: { target: T; state: S }[] = []
    const setupErrors: Record<string, string> = {}
    for (const t of targets) {
      progress(`${section}: setting up ${t.name}`)
      try {
        up.push({ target: t, state: await setup(t) })
      } catch (err) {
        setupErrors[t.name] = errorText(err)
        console.error(`bench: ${section}/${t.name}: setup failed, left out: ${errorText(err)}`)
      }
    }
    await body(up, setupErrors)
  } finally {
    activeTeardowns.delete(teardown)
    progressLabel = `${section}: tearing down`
    lastProgress = Date.now()
    await teardown()
  }
}

/** The targets in the order to run them for repetition `rep`: rotated, so nobody always goes first. */
function rotation<T> (items: readonly T[], rep: number): T[] {
  if (items.length === 0) return []
  const k = rep % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

function nowMs (): number {
  return Number(process.hrtime.bigint()) / 1e6
}

function describeTargets (targets: readonly Named[]): { name: string; description: string }[] {
  return targets.map((t) => ({ name: t.name, description: t.description }))
}

function pickBaseline (names: readonly string[], preferred: string | null): string | null {
  if (preferred && names.includes(preferred)) return preferred
  return names[0] ?? null
}

// ---------------------------------------------------------------------------
// Report tables, shared by every section

/** A column of a report table: its header (and alignment), and how a row fills its cell. */
interface TableColumn<R> extends Column {
  cell(row: R): string
}

/** Prints a blank line, the title (one or more lines), then `rows` as a table of `columns`. */
function printTable<R> (title: string, columns: readonly TableColumn<R>[], rows: readonly R[]): void {
  log()
  log(title)
  log(renderTable(columns, rows.map((row) => columns.map((c) => c.cell(row)))))
}

/** A measured figure formatted, or '-' where there is none. */
function orDash (value: number | null, fmt: (v: number) => string): string {
  return value === null ? '-' : fmt(value)
}

/** "min–max", or '-' unless both ends were measured. */
function fmtSpan (min: number | null, max: number | null, fmt: (v: number) => string): string {
  return min === null || max === null ? '-' : `${fmt(min)}–${fmt(max)}`
}

/** "median (min–max)" in ms, or '-' unless all three were measured. */
function fmtRowRangeMs (row: { median_ms: number | null; min_ms: number | null; max_ms: number | null }): string {
  return row.median_ms === null || row.min_ms === null || row.max_ms === null
    ? '-'
    : fmtRangeMs({ median: row.median_ms, min: row.min_ms, max: row.max_ms })
}

/** The last column of every table: what went wrong with a target (left out when nothing did). */
function errorColumn<R extends { error?: string }> (): TableColumn<R> {
  return { header: '', align: 'left', cell: (row) => (row.error ? `error: ${row.error}` : '') }
}

function logSetupErrors (setupErrors: Record<string, string>): void {
  for (const [name, err] of Object.entries(setupErrors)) log(`(${name}: setup failed: ${err})`)
}

// ---------------------------------------------------------------------------
// Section 1: dispatch vs size

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

interface DispatchResult {
  baseline: string | null
  sizes: number[]
  skipped: string[]
  targets: { name: string; description: string }[]
  setup_errors: Record<string, string>
  rows: DispatchRow[]
}

function finiteOrNull (v: number): number | null {
  return Number.isFinite(v) ? v : null
}

async function runDispatch (cfg: Config): Promise<DispatchResult> {
  const targets = dispatchTargets()
  const skipped: string[] = []
  let sizes = cfg.sizes ?? [4 * SIZE.KiB, SIZE.MiB, 16 * SIZE.MiB, 256 * SIZE.MiB]
  if (!cfg.sizes) {
    if (cfg.mode === 'quick') {
      skipped.push('1 GiB: skipped in --quick')
    } else {
      // Each target holds its prepared 1 GiB buffer, and a copying round trip
      // holds one or two more copies while it runs.
      const need = (targets.length * 2 + 2) * SIZE.GiB
      const free = os.freemem()
      if (free >= need) sizes = [...sizes, SIZE.GiB]
      else skipped.push(`1 GiB: needs ~${fmtBytes(need)} free, ${(free / SIZE.GiB).toFixed(1)} GiB available`)
    }
  }
  const result: DispatchResult = {
    baseline: null,
    sizes,
    skipped,
    targets: describeTargets(targets),
    setup_errors: {},
    rows: [],
  }

  await withTargets(
    'dispatch',
    targets as DispatchTarget<unknown>[],
    (t) => t.setup(),
    async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.baseline = pickBaseline(
        live.map((t) => t.name),
        POOL_TARGET_NAME
      )
      for (const size of sizes) {
        const reps = cfg.dispatch.repsFor(size)
        const warmup = cfg.dispatch.warmupFor(size)
        const expect = expectedProbe(size)
        const handles = new Map<DispatchTarget<unknown>, unknown>()
        const samples = new Map<DispatchTarget<unknown>, number[]>()
        const failed = new Map<DispatchTarget<unknown>, string>()
        const check = (t: DispatchTarget<unknown>, probe: { first: number; last: number }): void => {
          if (probe.first !== expect.first || probe.last !== expect.last) {
            throw new Error(
              `wrong bytes from the worker: first=${probe.first} last=${probe.last}, expected ${expect.first}/${expect.last}`
            )
          }
        }
        try {
          for (const t of live) {
            progress(`dispatch ${fmtBytes(size)}: preparing ${t.name}`)
            try {
              handles.set(t, await t.prepare(size))
              samples.set(t, [])
            } catch (err) {
              failed.set(t, `prepare: ${errorText(err)}`)
            }
          }
          const active = (): DispatchTarget<unknown>[] => live.filter((t) => handles.has(t) && !failed.has(t))
          for (let w = 0; w < warmup; w++) {
            for (const t of rotation(active(), w)) {
              progress(`dispatch ${fmtBytes(size)}: warming up ${t.name}`)
              try {
                check(t, await t.roundTrip(handles.get(t)))
              } catch (err) {
                failed.set(t, errorText(err))
              }
            }
          }
          const collectEach = size >= 16 * SIZE.MiB
          for (let rep = 0; rep < reps; rep++) {
            for (const t of rotation(active(), rep)) {
              progress(`dispatch ${fmtBytes(size)}: ${t.name} ${rep + 1}/${reps}`)
              if (collectEach && gc) gc()
              const handle = handles.get(t)
              try {
                const t0 = nowMs()
                const probe = await t.roundTrip(handle)
                const t1 = nowMs()
                check(t, probe)
                samples.get(t)?.push(t1 - t0)
              } catch (err) {
                failed.set(t, errorText(err))
              }
            }
          }
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
        const baseSamples = live.find((t) => t.name === result.baseline)
        const baseMedian = baseSamples && !failed.has(baseSamples) ? median(samples.get(baseSamples) ?? []) : NaN
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
    }
  )
  printDispatch(result)
  return result
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

// ---------------------------------------------------------------------------
// Section 2: per-task latency and throughput

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
  error?: string
}

interface LatencyResult {
  reference: string | null
  targets: { name: string; description: string }[]
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

async function runLatency (cfg: Config): Promise<LatencyResult> {
  const targets = taskTargets()
  const L = cfg.latency
  const result: LatencyResult = {
    reference: null,
    targets: describeTargets(targets),
    setup_errors: {},
    one_at_a_time: [],
    throughput: [],
  }
  await withTargets(
    'latency',
    targets,
    (t) => t.setup(),
    async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.reference = pickBaseline(
        live.map((t) => t.name),
        null
      )
      const failed = new Map<TaskTarget, string>()
      const ok = (): TaskTarget[] => live.filter((t) => !failed.has(t))

      // Warm-up, interleaved.
      const warmBlock = Math.max(1, Math.floor(L.warmup / L.blocks))
      for (let b = 0; b < L.blocks; b++) {
        for (const t of rotation(ok(), b)) {
          progress(`latency: warming up ${t.name}`)
          try {
            for (let i = 0; i < warmBlock; i++) await t.runOne()
          } catch (err) {
            failed.set(t, errorText(err))
          }
        }
      }

      // One at a time, in blocks alternating between targets.
      const samplesUs = new Map<TaskTarget, number[]>(live.map((t) => [t, []]))
      const perBlock = Math.max(1, Math.floor(L.oneAtATime / L.blocks))
      for (let b = 0; b < L.blocks; b++) {
        for (const t of rotation(ok(), b)) {
          progress(`latency: ${t.name} one at a time, block ${b + 1}/${L.blocks}`)
          const s = samplesUs.get(t) as number[]
          try {
            for (let i = 0; i < perBlock; i++) {
              const t0 = process.hrtime.bigint()
              await t.runOne()
              const t1 = process.hrtime.bigint()
              s.push(Number(t1 - t0) / 1e3)
            }
          } catch (err) {
            failed.set(t, errorText(err))
          }
        }
      }
      const refT = live.find((t) => t.name === result.reference)
      const refP50 = refT ? summarize(samplesUs.get(refT) ?? []).p50 : NaN
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
        }
        const err = failed.get(t)
        if (err) row.error = err
        result.one_at_a_time.push(row)
      }
      if (gc) gc()

      // Throughput with `inFlight` tasks outstanding, rounds alternating between targets.
      const rates = new Map<TaskTarget, number[]>(live.map((t) => [t, []]))
      for (let round = 0; round < L.throughputRounds; round++) {
        for (const t of rotation(ok(), round)) {
          progress(`latency: ${t.name} ${L.inFlight} in flight, round ${round + 1}/${L.throughputRounds}`)
          if (gc) gc()
          try {
            const ms = await runInFlight(t, L.throughputCount, L.inFlight)
            rates.get(t)?.push(L.throughputCount / (ms / 1000))
          } catch (err) {
            failed.set(t, errorText(err))
          }
        }
      }
      const refRate = refT ? median(rates.get(refT) ?? []) : NaN
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
        }
        const err = failed.get(t)
        if (err) row.error = err
        result.throughput.push(row)
      }
    }
  )
  printLatency(result, cfg)
  return result
}

function printLatency (r: LatencyResult, cfg: Config): void {
  const ref = r.reference ?? 'reference'
  printTable<LatencyRow>(
    `No-op task, one at a time (µs per task, ${fmtInt(cfg.latency.oneAtATime)} tasks in ${cfg.latency.blocks} alternating blocks)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'workers', cell: (row) => String(row.workers) },
      { header: 'n', cell: (row) => fmtInt(row.n) },
      { header: 'p50', cell: (row) => orDash(row.p50_us, fmtUs) },
      { header: 'p99', cell: (row) => orDash(row.p99_us, fmtUs) },
      { header: 'min', cell: (row) => orDash(row.min_us, fmtUs) },
      { header: 'max', cell: (row) => orDash(row.max_us, fmtUs) },
      { header: `p50 ÷ ${ref}`, cell: (row) => orDash(row.ratio_p50, fmtRatio) },
      errorColumn(),
    ],
    r.one_at_a_time
  )
  printTable<ThroughputRow>(
    `No-op task, ${cfg.latency.inFlight} in flight (tasks/s over ${fmtInt(cfg.latency.throughputCount)} tasks, median (min–max) of ${cfg.latency.throughputRounds} rounds)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'workers', cell: (row) => String(row.workers) },
      { header: 'tasks/s', cell: (row) => orDash(row.median_tasks_per_s, fmtInt) },
      { header: 'min–max', cell: (row) => fmtSpan(row.min_tasks_per_s, row.max_tasks_per_s, fmtInt) },
      { header: `÷ ${ref}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      errorColumn(),
    ],
    r.throughput
  )
  logSetupErrors(r.setup_errors)
}

// ---------------------------------------------------------------------------
// Section 3: compute

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

interface ComputeResult {
  reference: string | null
  size: number
  targets: { name: string; description: string }[]
  setup_errors: Record<string, string>
  rows: ComputeRow[]
}

const ALGORITHMS: ComputeAlgorithm[] = ['sha256', 'crc32']

async function runCompute (cfg: Config): Promise<ComputeResult> {
  const targets = computeTargets() as ComputeTarget<unknown>[]
  const size = cfg.compute.size
  const result: ComputeResult = {
    reference: null,
    size,
    targets: describeTargets(targets),
    setup_errors: {},
    rows: [],
  }
  await withTargets(
    'compute',
    targets,
    (t) => t.setup(),
    async (up, setupErrors) => {
      result.setup_errors = setupErrors
      const live = up.map((u) => u.target)
      result.reference = pickBaseline(
        live.map((t) => t.name),
        null
      )
      const handles = new Map<ComputeTarget<unknown>, unknown>()
      const failed = new Map<ComputeTarget<unknown>, string>()
      try {
        for (const t of live) {
          progress(`compute: preparing ${fmtBytes(size)} for ${t.name}`)
          try {
            handles.set(t, await t.prepare(size))
          } catch (err) {
            failed.set(t, `prepare: ${errorText(err)}`)
          }
        }
        const active = (): ComputeTarget<unknown>[] => live.filter((t) => handles.has(t) && !failed.has(t))
        for (const algorithm of ALGORITHMS) {
          const samples = new Map<ComputeTarget<unknown>, number[]>(live.map((t) => [t, []]))
          const digests = new Map<ComputeTarget<unknown>, string>()
          // One untimed run each: warms up and gives the digest to compare.
          for (const t of active()) {
            progress(`compute: ${algorithm} warm-up ${t.name}`)
            try {
              digests.set(t, await t.run(handles.get(t), algorithm))
            } catch (err) {
              failed.set(t, errorText(err))
            }
          }
          const refT = live.find((t) => t.name === result.reference)
          const refDigest = refT ? digests.get(refT) : undefined
          for (const t of active()) {
            const d = digests.get(t)
            if (refDigest !== undefined && d !== refDigest) {
              failed.set(t, `${algorithm} digest ${d} differs from ${result.reference}'s ${refDigest}`)
            }
          }
          for (let rep = 0; rep < cfg.compute.reps; rep++) {
            for (const t of rotation(active(), rep)) {
              progress(`compute: ${algorithm} ${t.name} ${rep + 1}/${cfg.compute.reps}`)
              if (gc) gc()
              try {
                const t0 = nowMs()
                const d = await t.run(handles.get(t), algorithm)
                const t1 = nowMs()
                if (d !== digests.get(t)) throw new Error(`${algorithm} digest changed between runs`)
                samples.get(t)?.push(t1 - t0)
              } catch (err) {
                failed.set(t, errorText(err))
              }
            }
          }
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
    }
  )
  printCompute(result, cfg)
  return result
}

function printCompute (r: ComputeResult, cfg: Config): void {
  printTable<ComputeRow>(
    `Compute over ${fmtBytes(r.size)} (ms, median (min–max) of ${cfg.compute.reps}; MB/s = 10^6 bytes/s)`,
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

// ---------------------------------------------------------------------------
// Section 4: HTTP

interface HttpRow {
  target: string
  url: string
  connections: number
  duration_s: number
  rounds: number
  median_req_per_s: number | null
  min_req_per_s: number | null
  max_req_per_s: number | null
  samples_req_per_s: number[]
  /** latency percentiles (ms) of the round with the median rate. */
  latency_p50_ms: number | null
  latency_p99_ms: number | null
  non2xx: number
  errors: number
  timeouts: number
  /** median / reference median. */
  ratio: number | null
  error?: string
}

interface UploadRow {
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

interface HttpResult {
  reference: string | null
  upload_reference: string | null
  targets: { name: string; description: string }[]
  upload_targets: { name: string; description: string }[]
  setup_errors: Record<string, string>
  requests: HttpRow[]
  uploads: UploadRow[]
}

async function cannon (spec: HttpRequestSpec, connections: number, durationSec: number): Promise<autocannon.Result> {
  return autocannon({
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers,
    body: spec.body,
    connections,
    duration: durationSec,
  })
}

const UPLOAD_CHUNK = SIZE.MiB

/** Streams `size` bytes in one request (one reused 1 MiB chunk, honouring backpressure); resolves with the response body. */
function upload (spec: UploadRequestSpec, size: number, chunk: Buffer): Promise<{ status: number; body: string }> {
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

async function runHttp (cfg: Config): Promise<HttpResult> {
  const H = cfg.http
  const targets = httpTargets()
  const uploads = uploadTargets()
  const result: HttpResult = {
    reference: null,
    upload_reference: null,
    targets: describeTargets(targets),
    upload_targets: describeTargets(uploads),
    setup_errors: {},
    requests: [],
    uploads: [],
  }

  // 4a: request rate.
  await withTargets<HttpTarget, HttpRequestSpec>(
    'http',
    targets,
    (t) => t.setup(),
    async (up, setupErrors) => {
      Object.assign(result.setup_errors, setupErrors)
      result.reference = pickBaseline(
        up.map((u) => u.target.name),
        null
      )
      const failed = new Map<string, string>()
      for (const u of up) {
        progress(`http: warming up ${u.target.name}`)
        try {
          await cannon(u.state, H.connections, H.warmupSec)
        } catch (err) {
          failed.set(u.target.name, errorText(err))
        }
      }
      const rounds = new Map<string, autocannon.Result[]>(up.map((u) => [u.target.name, []]))
      for (let round = 0; round < H.rounds; round++) {
        for (const u of rotation(
          up.filter((x) => !failed.has(x.target.name)),
          round
        )) {
          progress(`http: autocannon ${u.target.name} round ${round + 1}/${H.rounds}`)
          try {
            rounds.get(u.target.name)?.push(await cannon(u.state, H.connections, H.durationSec))
          } catch (err) {
            failed.set(u.target.name, errorText(err))
          }
        }
      }
      const rateOf = (r: autocannon.Result): number => r.requests.total / (r.duration > 0 ? r.duration : H.durationSec)
      const refRuns = result.reference ? (rounds.get(result.reference) ?? []) : []
      const refRate = median(refRuns.map(rateOf))
      for (const u of up) {
        const runs = rounds.get(u.target.name) ?? []
        const rates = runs.map(rateOf)
        const s = summarize(rates)
        // Latency figures from the round whose rate is the median (or nearest to it).
        let mid: autocannon.Result | undefined
        let best = Infinity
        for (const r of runs) {
          const d = Math.abs(rateOf(r) - s.median)
          if (d < best) {
            best = d
            mid = r
          }
        }
        const row: HttpRow = {
          target: u.target.name,
          url: u.state.url,
          connections: H.connections,
          duration_s: H.durationSec,
          rounds: runs.length,
          median_req_per_s: finiteOrNull(s.median),
          min_req_per_s: finiteOrNull(s.min),
          max_req_per_s: finiteOrNull(s.max),
          samples_req_per_s: rates.map((v) => Math.round(v)),
          latency_p50_ms: mid ? mid.latency.p50 : null,
          latency_p99_ms: mid ? mid.latency.p99 : null,
          non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
          errors: runs.reduce((a, r) => a + r.errors, 0),
          timeouts: runs.reduce((a, r) => a + r.timeouts, 0),
          ratio: finiteOrNull(ratio(s.median, refRate)),
        }
        const err = failed.get(u.target.name)
        if (err) row.error = err
        else if (row.non2xx > 0 || row.errors > 0) row.error = `${row.non2xx} non-2xx, ${row.errors} errors`
        result.requests.push(row)
      }
    }
  )

  // 4b: upload.
  await withTargets(
    'upload',
    uploads,
    (t) => t.setup(),
    async (up, setupErrors) => {
      Object.assign(result.setup_errors, setupErrors)
      const live = up.map((u) => u.target)
      result.upload_reference = pickBaseline(
        live.map((t) => t.name),
        null
      )
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
          if (res.status < 200 || res.status >= 300) {
            throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`)
          }
          if (t.verify) t.verify(res.body, size)
          if (timed) samples.get(t)?.push(t1 - t0)
        } finally {
          if (t.finish) await t.finish(spec)
        }
      }
      for (const t of live) {
        progress(`upload: warming up ${t.name}`)
        try {
          await once(t, false)
        } catch (err) {
          failed.set(t, errorText(err))
        }
      }
      for (let rep = 0; rep < H.uploadReps; rep++) {
        for (const t of rotation(
          live.filter((x) => !failed.has(x)),
          rep
        )) {
          progress(`upload: ${t.name} ${rep + 1}/${H.uploadReps}`)
          if (gc) gc()
          try {
            await once(t, true)
          } catch (err) {
            failed.set(t, errorText(err))
          }
        }
      }
      const refT = live.find((t) => t.name === result.upload_reference)
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
    }
  )
  printHttp(result, cfg)
  return result
}

function printHttp (r: HttpResult, cfg: Config): void {
  const H = cfg.http
  printTable<HttpRow>(
    `HTTP request rate (autocannon, ${H.connections} connections, ${H.durationSec} s, median (min–max) of ${H.rounds} round(s); latency of the median round)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'req/s', cell: (row) => orDash(row.median_req_per_s, fmtInt) },
      { header: 'min–max', cell: (row) => fmtSpan(row.min_req_per_s, row.max_req_per_s, fmtInt) },
      { header: 'p50 ms', cell: (row) => orDash(row.latency_p50_ms, String) },
      { header: 'p99 ms', cell: (row) => orDash(row.latency_p99_ms, String) },
      { header: 'non-2xx', cell: (row) => fmtInt(row.non2xx) },
      { header: 'errors', cell: (row) => fmtInt(row.errors) },
      { header: `÷ ${r.reference ?? 'reference'}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      errorColumn(),
    ],
    r.requests
  )
  printTable<UploadRow>(
    `Upload of ${fmtBytes(H.uploadSize)} in one request (median (min–max) of ${H.uploadReps}; MB/s = 10^6 bytes/s)`,
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'median (min–max) ms', cell: fmtRowRangeMs },
      { header: 'MB/s', cell: (row) => orDash(row.median_mb_per_s, fmtMBps) },
      { header: 'MB/s min–max', cell: (row) => fmtSpan(row.min_mb_per_s, row.max_mb_per_s, fmtMBps) },
      { header: `÷ ${r.upload_reference ?? 'reference'}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      errorColumn(),
    ],
    r.uploads
  )
  logSetupErrors(r.setup_errors)
}

// ---------------------------------------------------------------------------
// Machine info, results file, chart

function packageVersion (name: string): string | null {
  try {
    let dir = path.dirname(require.resolve(name))
    for (let i = 0; i < 5; i++) {
      const file = path.join(dir, 'package.json')
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string }
        if (pkg.name === name) return pkg.version ?? null
      }
      dir = path.dirname(dir)
    }
  } catch {
    /* not installed */
  }
  return null
}

function machineInfo (): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    cpu_model: cpus[0]?.model ?? 'unknown',
    cpu_count: cpus.length,
    total_memory_bytes: os.totalmem(),
    free_memory_bytes_at_start: os.freemem(),
    node: process.version,
    v8: process.versions.v8,
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    packages: {
      piscina: packageVersion('piscina'),
      fastify: packageVersion('fastify'),
      autocannon: packageVersion('autocannon'),
    },
  }
}

function writeChart (d: DispatchResult, mode: string): void {
  const names = d.targets.map((t) => t.name).filter((n) => d.rows.some((r) => r.target === n && r.median_ms !== null))
  if (names.length === 0) return
  writeDispatchChart(CHART_FILE, {
    title: 'Dispatch round trip vs buffer size (lower is better)',
    subtitle: `median with min–max whisker; ${mode} run, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} vCPU, Node ${process.version}`,
    sizes: d.sizes,
    targets: names,
    cell (size, target) {
      const row = d.rows.find((r) => r.size === size && r.target === target)
      if (!row || row.median_ms === null || row.min_ms === null || row.max_ms === null) return undefined
      return { median: row.median_ms, min: row.min_ms, max: row.max_ms }
    },
  })
  log(`chart written to ${path.relative(process.cwd(), CHART_FILE) || CHART_FILE}`)
}

// ---------------------------------------------------------------------------

async function main (): Promise<number> {
  let cfg: Config
  try {
    cfg = makeConfig(process.argv.slice(2))
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) console.error(`bench: ${err.message}`)
      console.error(USAGE)
      return err.help ? 0 : 2
    }
    throw err
  }

  process.on('exit', killAllChildrenSync)
  process.on('SIGINT', () => abort('interrupted', 130))
  process.on('SIGTERM', () => abort('terminated', 143))
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > STALL_MS) abort(`no progress for ${STALL_MS / 1000} s at "${progressLabel}"`, 1)
  }, 1000)
  watchdog.unref()

  const started = Date.now()
  log(`memfd-pool benchmarks — ${cfg.mode} run, sections: ${cfg.sections.join(', ')}`)
  const machine = machineInfo()
  log(
    `machine: ${String(machine.cpu_model)} × ${String(machine.cpu_count)}, ${fmtBytes(os.totalmem() - (os.totalmem() % SIZE.MiB))} RAM, Linux ${os.release()}, Node ${process.version}`
  )
  if (!gc) log('note: run with --expose-gc (npm run bench does) so garbage is collected outside the timed parts')

  const sections: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const name of cfg.sections) {
    progress(`${name}: starting`)
    const t0 = Date.now()
    log()
    log(`== ${name} ==`)
    try {
      if (name === 'dispatch') {
        const d = await runDispatch(cfg)
        sections.dispatch = d
        try {
          writeChart(d, cfg.mode)
        } catch (err) {
          console.error(`bench: chart: ${errorText(err)}`)
        }
      } else if (name === 'latency') sections.latency = await runLatency(cfg)
      else if (name === 'compute') sections.compute = await runCompute(cfg)
      else sections.http = await runHttp(cfg)
    } catch (err) {
      if (aborting) break
      errors[name] = errorText(err)
      console.error(`bench: section ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    }
    log(`(${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  }

  const out = {
    schema: 1,
    date: new Date().toISOString(),
    mode: cfg.mode,
    command: `node --expose-gc dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    gc_exposed: Boolean(gc),
    duration_s: (Date.now() - started) / 1000,
    machine,
    config: {
      sections: cfg.sections,
      latency: cfg.latency,
      compute: cfg.compute,
      http: cfg.http,
      dispatch_reps: Object.fromEntries(
        (cfg.sizes ?? [4 * SIZE.KiB, SIZE.MiB, 16 * SIZE.MiB, 256 * SIZE.MiB, SIZE.GiB]).map((s) => [
          fmtBytes(s),
          cfg.dispatch.repsFor(s),
        ])
      ),
    },
    aborted: aborting,
    sections,
    errors,
  }
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true })
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(out, null, 2) + '\n')
  log()
  log(`results written to ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}`)
  log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`)
  clearInterval(watchdog)
  return Object.keys(errors).length > 0 ? 1 : 0
}

main().then(
  (code) => {
    killAllChildrenSync()
    process.exitCode = code
    // piscina and sockets are closed by now; exit explicitly in case a stray handle lingers.
    setTimeout(() => process.exit(code), 200).unref()
  },
  (err: unknown) => {
    console.error(err)
    void runActiveTeardowns().finally(() => {
      killAllChildrenSync()
      process.exit(1)
    })
  }
)
