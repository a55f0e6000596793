/**
 * Two runs side by side — by default the last unpinned and the last pinned one:
 *
 *   node dist/bench/compare.js [bench/results/latest.json] [bench/results/latest-pinned.json]
 *
 * Prints issue 14's goals for both, and the latency and HTTP figures of each target from both
 * runs next to each other (`npm run bench -- --also-pinned` runs both and prints this at the end).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { issue14Goals, type SectionResults } from './harness/goals'
import { printGoals } from './harness/goals-report'
import { RESULTS_DIR } from './harness/options'
import { orDash, printTable } from './harness/report'
import { fmtInt, fmtRatio, fmtUs } from './stats'

interface RunFile {
  date: string
  mode: string
  affinity?: { cpus: string, pinned: boolean }
  machine: { load_average_at_start?: number[] }
  sections: SectionResults
}

function load (file: string): RunFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RunFile
}

function label (run: RunFile): string {
  return run.affinity?.pinned ? `pinned (CPUs ${run.affinity.cpus})` : 'unpinned'
}

/** Rows named by target, with a cell per run for each of `figures`. */
function sideBySide<R extends { target: string }> (
  title: string,
  runs: [string, R[] | undefined][],
  figures: { header: string, cell: (row: R) => string }[]
): void {
  const targets: string[] = []
  for (const [, rows] of runs) for (const r of rows ?? []) if (!targets.includes(r.target)) targets.push(r.target)
  if (targets.length === 0) return
  printTable<string>(title, [
    { header: 'target', cell: (t) => t },
    ...runs.flatMap(([name, rows]) => figures.map((f, i) => ({
      header: i === 0 ? `${name}: ${f.header}` : f.header,
      cell: (t: string) => {
        const row = rows?.find((r) => r.target === t)
        return row ? f.cell(row) : '-'
      },
    }))),
  ], targets)
}

export function compareRuns (files: string[]): void {
  const runs = files.map(load)
  for (const [i, run] of runs.entries()) {
    console.log(`${label(run)}: ${files[i]} (${run.mode} run, ${run.date}, load average ${run.machine.load_average_at_start?.map((l) => l.toFixed(2)).join(' ') ?? '?'})`)
  }
  // Labels name the columns: two runs of the same kind get a number.
  const named = runs.map((r, i) => [runs.filter((x, j) => j < i && label(x) === label(r)).length > 0 ? `${label(r)} #${i + 1}` : label(r), r] as const)
  printGoals('Goals of issue 14 (ratios; judge on the pinned run)', Object.fromEntries(named.map(([n, r]) => [n, issue14Goals(r.sections)])))
  sideBySide('No-op task one at a time: p50 µs, ÷ piscina-noop, ÷ channel-floor',
    named.map(([n, r]) => [n, r.sections.latency?.one_at_a_time]),
    [
      { header: 'p50', cell: (row) => orDash(row.p50_us, fmtUs) },
      { header: '÷ ref', cell: (row) => orDash(row.ratio_p50, fmtRatio) },
      { header: '÷ floor', cell: (row) => orDash(row.floor_ratio_p50, fmtRatio) },
    ])
  sideBySide('No-op task 64 in flight: tasks/s, ÷ piscina-noop, ÷ channel-floor',
    named.map(([n, r]) => [n, r.sections.latency?.throughput]),
    [
      { header: 'tasks/s', cell: (row) => orDash(row.median_tasks_per_s, fmtInt) },
      { header: '÷ ref', cell: (row) => orDash(row.ratio, fmtRatio) },
      { header: '÷ floor', cell: (row) => orDash(row.floor_ratio, fmtRatio) },
    ])
  sideBySide('HTTP: req/s, ÷ fastify-hello, server and workers CPU µs per request',
    named.map(([n, r]) => [n, r.sections.http?.requests]),
    [
      { header: 'req/s', cell: (row) => orDash(row.median_req_per_s, fmtInt) },
      { header: '÷ ref', cell: (row) => orDash(row.ratio, fmtRatio) },
      { header: 'server µs', cell: (row) => orDash(row.server_cpu_us_per_req, fmtUs) },
      { header: 'workers µs', cell: (row) => orDash(row.workers_cpu_us_per_req, fmtUs) },
    ])
}

if (require.main === module) {
  const given = process.argv.slice(2)
  const files = given.length > 0 ? given : [path.join(RESULTS_DIR, 'latest.json'), path.join(RESULTS_DIR, 'latest-pinned.json')]
  try {
    compareRuns(files)
  } catch (err) {
    console.error(`compare: ${(err as Error).message}`)
    process.exit(1)
  }
}
