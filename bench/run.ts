/**
 * Benchmark harness: `npm run bench` (full) or `npm run bench -- --quick`; `--help` lists the
 * options. The sections live in bench/sections/ (one file each, listed in sections/index.ts), the
 * targets they compare in bench/registry.ts; this file only reads the command line, runs the
 * chosen sections one after the other and writes every figure to bench/results/latest.json.
 *
 * Within a section every repetition runs every target once, in a rotating order, so drift on this
 * noisy machine hits all targets alike (harness/alternate.ts).
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { compareRuns } from './compare'
import { affinityChecks, harnessAffinity } from './harness/affinity'
import { issue14Goals, type SectionResults } from './harness/goals'
import { printGoals } from './harness/goals-report'
import { gc, isAborting, progress, runActiveTeardowns, startGuards } from './harness/lifecycle'
import { machineInfo } from './harness/machine'
import { RESULTS_DIR, UsageError, parseOptions, usage, type BenchOptions } from './harness/options'
import { errorText, log } from './harness/report'
import { killAllChildrenSync } from './procs'
import { SECTIONS } from './sections'
import { SIZE, fmtBytes } from './stats'

const SECTION_NAMES = SECTIONS.map((s) => s.name)
/** Without --only: every section but the optional ones (external-worker needs python3). */
const DEFAULT_SECTIONS = SECTIONS.filter((s) => s.optional !== true).map((s) => s.name)

/** Set in the environment of the re-executed, pinned harness: which CPU list it was started on. */
const PINNED_ENV = 'MEMFD_POOL_BENCH_PINNED'

/**
 * --pin: runs this same command again under `taskset -c CPUS` and exits with its status. The
 * affinity mask then holds from the first instruction, for everything the harness starts.
 */
function runPinned (cpus: string): Promise<number> {
  const ours = (a: string): boolean => ['--pin', '--also-pinned'].some((flag) => a === flag || a.startsWith(`${flag}=`))
  const args = process.argv.slice(2).filter((a) => !ours(a))
  const child = spawn('taskset', ['-c', cpus, process.execPath, ...process.execArgv, __filename, ...args], {
    stdio: 'inherit',
    env: { ...process.env, [PINNED_ENV]: cpus },
  })
  // Ctrl-C reaches the whole process group anyway; a SIGTERM sent to this process alone is passed on.
  process.on('SIGTERM', () => child.kill('SIGTERM'))
  process.on('SIGINT', () => {})
  return new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`bench: --pin needs taskset(1) (util-linux): ${err.message}`)
      resolve(2)
    })
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)))
  })
}

async function runSections (options: BenchOptions): Promise<number> {
  const affinity = harnessAffinity()
  const stopGuards = startGuards({ pinned: affinity.pinned })
  const started = Date.now()
  log(`memfd-pool benchmarks — ${options.mode} run, sections: ${options.sections.join(', ')}`)
  const machine = machineInfo()
  log(
    `machine: ${machine.cpu_model} × ${machine.cpu_count}, ${fmtBytes(os.totalmem() - (os.totalmem() % SIZE.MiB))} RAM, ` +
      `Linux ${os.release()}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`
  )
  log(affinity.pinned
    ? `pinned: CPUs ${affinity.cpus}${process.env[PINNED_ENV] ? ' (--pin, taskset)' : ' (affinity given by the caller)'}; every section checks its child processes and threads`
    : `not pinned (CPUs ${affinity.cpus}); small-job figures swing with load: compare with --pin`)
  if (!gc) log('note: run with --expose-gc (npm run bench does) so garbage is collected outside the timed parts')

  const sections: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const section of SECTIONS.filter((s) => options.sections.includes(s.name))) {
    progress(`${section.name}: starting`)
    const t0 = Date.now()
    log()
    log(`== ${section.name} ==`)
    try {
      sections[section.name] = await section.run(options)
    } catch (err) {
      if (isAborting()) break
      errors[section.name] = errorText(err)
      console.error(`bench: section ${section.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    }
    log(`(${section.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  }

  const resultsFile = path.join(RESULTS_DIR, affinity.pinned ? 'latest-pinned.json' : 'latest.json')
  const out = {
    schema: 2,
    date: new Date().toISOString(),
    mode: options.mode,
    command: `node --expose-gc dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    gc_exposed: Boolean(gc),
    duration_s: (Date.now() - started) / 1000,
    machine,
    load_average_at_end: os.loadavg(),
    affinity: { cpus: affinity.cpus, pinned: affinity.pinned, checks: affinityChecks },
    config: {
      sections: options.sections,
      ...Object.fromEntries(SECTIONS.filter((s) => options.sections.includes(s.name)).map((s) => [s.name, s.settings(options)])),
    },
    aborted: isAborting(),
    sections,
    errors,
  }
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true })
  fs.writeFileSync(resultsFile, JSON.stringify(out, null, 2) + '\n')
  const goals = issue14Goals(sections as SectionResults)
  if (goals.length > 0) printGoals(`Goals of issue 14 (${affinity.pinned ? 'pinned' : 'unpinned: judge them on a pinned run, --pin'})`, { [affinity.pinned ? 'this run, pinned' : 'this run']: goals })
  log()
  log(`results written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`)
  log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`)
  stopGuards()
  return Object.keys(errors).length > 0 ? 1 : 0
}

async function main (): Promise<number> {
  let options: BenchOptions
  try {
    options = parseOptions(process.argv.slice(2), SECTION_NAMES, DEFAULT_SECTIONS)
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) console.error(`bench: ${err.message}`)
      console.error(usage(SECTION_NAMES))
      return err.help ? 0 : 2
    }
    throw err
  }
  if (options.pin !== null && process.env[PINNED_ENV] !== options.pin) return await runPinned(options.pin)
  if (options.alsoPinned === null) return await runSections(options)
  const unpinned = await runSections(options)
  log()
  log(`== the same, pinned to CPUs ${options.alsoPinned} ==`)
  const pinned = await runPinned(options.alsoPinned)
  log()
  log('== unpinned and pinned, side by side ==')
  compareRuns([path.join(RESULTS_DIR, 'latest.json'), path.join(RESULTS_DIR, 'latest-pinned.json')])
  return Math.max(unpinned, pinned)
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
    runActiveTeardowns().finally(() => {
      killAllChildrenSync()
      process.exit(1)
    })
  }
)
