/**
 * What a benchmark section is to the harness: a name for --only, the settings it runs with (kept
 * in the results file), and `run`, which measures its targets and prints its tables.
 */
import type { BenchOptions } from './options'

export interface Section<R = unknown> {
  name: string
  /** One line: what the section measures. */
  summary: string
  /** Left out of a run that names no sections: measured only with --only (it needs python3). */
  optional?: boolean
  /** Repetitions, sizes, durations… for this mode, as the results file records them. */
  settings (options: BenchOptions): object
  /** Sets up the targets, measures them alternating, prints the tables; resolves with every figure. */
  run (options: BenchOptions): Promise<R>
}
