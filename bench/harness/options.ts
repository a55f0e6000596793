/**
 * The command line of `npm run bench -- …` (node --expose-gc dist/bench/run.js …).
 */
import * as path from 'node:path'
import { parseSize } from '../stats'

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results')

export interface BenchOptions {
  /** --quick: fewer repetitions and smaller sizes, about a minute in all. */
  quick: boolean
  mode: 'quick' | 'full'
  /** Section names to run, in the registry's order. */
  sections: string[]
  /** Explicit --sizes for the dispatch section; otherwise its defaults. */
  sizes: number[] | null
  /** Where the dispatch chart goes: bench/results/ (not tracked) unless --chart says otherwise. */
  chartFile: string
  /** --pin[=CPUS]: the CPU list to run the whole benchmark on (children included), or null. */
  pin: string | null
  /** --also-pinned[=CPUS]: run the sections unpinned, then again pinned to these CPUs, then compare. */
  alsoPinned: string | null
}

export class UsageError extends Error {
  constructor (message: string, readonly help = false) {
    super(message)
  }
}

export function usage (sectionNames: readonly string[]): string {
  return `usage: node --expose-gc dist/bench/run.js [--quick] [--only=${sectionNames.join(',')}] [--sizes=4k,1m,...]
                                     [--pin[=CPUS] | --also-pinned[=CPUS]] [--chart=FILE]
  --quick        short run (about a minute): fewer repetitions, no 1 GiB dispatch, 256 MiB compute/upload
  --only=LIST    run only these sections (comma separated)
  --sizes=LIST   dispatch sizes to measure instead of the defaults (binary units: 4k, 1m, 1g)
  --pin[=CPUS]   run everything (pool workers, threads, servers) on these CPUs, default 0, with
                 taskset(1). A pinned run writes bench/results/latest-pinned.json. The same as
                 \`taskset -c CPUS npm run bench …\`, which the header and every section also report
  --also-pinned[=CPUS]
                 run the sections unpinned, then again pinned (as --pin), then print both runs'
                 figures and issue 14's goals side by side (node dist/bench/compare.js does that too)
  --chart=FILE   write the dispatch chart there (e.g. docs/benchmarks.svg) instead of
                 bench/results/benchmarks.svg`
}

function list (arg: string, prefix: string): string[] {
  return arg.slice(prefix.length).split(',').map((s) => s.trim()).filter(Boolean)
}

/** `defaultSections`: what a run without --only measures (every section but the optional ones). */
export function parseOptions (argv: readonly string[], sectionNames: readonly string[], defaultSections: readonly string[] = sectionNames): BenchOptions {
  let quick = false
  let only: string[] | null = null
  let sizes: number[] | null = null
  let chartFile = path.join(RESULTS_DIR, 'benchmarks.svg')
  let pin: string | null = null
  let alsoPinned: string | null = null
  const cpuList = (flag: string, value: string): string => {
    // What taskset -c takes: "0", "0,1", "0-3".
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(value)) throw new UsageError(`${flag} takes a CPU list such as 0 or 0-1, not "${value}"`)
    return value
  }
  for (const arg of argv) {
    if (arg === '--quick') quick = true
    else if (arg.startsWith('--only=')) {
      only = list(arg, '--only=')
      for (const s of only) {
        if (!sectionNames.includes(s)) throw new UsageError(`unknown section "${s}" (sections: ${sectionNames.join(', ')})`)
      }
      if (only.length === 0) throw new UsageError('--only needs at least one section')
    } else if (arg.startsWith('--sizes=')) {
      sizes = list(arg, '--sizes=').map((s) => {
        try {
          return parseSize(s)
        } catch (err) {
          throw new UsageError((err as Error).message)
        }
      })
      if (sizes.length === 0) throw new UsageError('--sizes needs at least one size')
    } else if (arg === '--pin') pin = '0'
    else if (arg.startsWith('--pin=')) pin = cpuList('--pin', arg.slice('--pin='.length))
    else if (arg === '--also-pinned') alsoPinned = '0'
    else if (arg.startsWith('--also-pinned=')) alsoPinned = cpuList('--also-pinned', arg.slice('--also-pinned='.length))
    else if (arg.startsWith('--chart=')) {
      const file = arg.slice('--chart='.length)
      if (file === '') throw new UsageError('--chart needs a file name')
      chartFile = path.resolve(file)
    } else if (arg === '--help' || arg === '-h') {
      throw new UsageError('', true)
    } else {
      throw new UsageError(`unknown argument "${arg}"`)
    }
  }
  if (pin !== null && alsoPinned !== null) throw new UsageError('--pin and --also-pinned exclude each other')
  return {
    quick,
    mode: quick ? 'quick' : 'full',
    sections: only ?? [...defaultSections],
    sizes,
    chartFile,
    pin,
    alsoPinned,
  }
}

/** `quick` or `full` by the mode: each section's settings are written with it. */
export function byMode (options: Pick<BenchOptions, 'quick'>): <T>(quickValue: T, fullValue: T) => T {
  return (quickValue, fullValue) => (options.quick ? quickValue : fullValue)
}
