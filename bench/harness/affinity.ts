/**
 * Pinning a run to a CPU set (`--pin`, or `taskset -c 0 npm run bench …`): small-job figures on
 * this VM swing 2–4× unpinned (waking a halted vCPU costs 70–100 µs when the machine is idle, ~20
 * µs when it is busy), while on one CPU the cost each job adds is stable. An affinity mask is
 * inherited across fork, exec and thread creation (sched_setaffinity(2)), so pinning the harness
 * pins every pool worker, piscina thread and fixture server it starts; `verifyInheritedAffinity`
 * checks that instead of assuming it.
 */
import * as os from 'node:os'
import { allowedCpus, descendants, threadsOf } from './proc-tree'

/** The CPU list this process may run on ("0"), and whether that is fewer CPUs than the machine has. */
export function harnessAffinity (): { cpus: string, pinned: boolean } {
  const cpus = allowedCpus('self') ?? 'unknown'
  const all = os.cpus().length
  return { cpus, pinned: cpus !== 'unknown' && cpus !== (all === 1 ? '0' : `0-${all - 1}`) }
}

/** Every check made in this run, for the results file. */
export const affinityChecks: { processes: number, threads: number, outliers: string[] }[] = []

/**
 * Checks every thread of every process below this one against this process's CPU list; returns a
 * line for the report ("7 processes, 41 threads, all on CPUs 0", or which ones are not).
 */
export function verifyInheritedAffinity (): string {
  const own = allowedCpus('self')
  const outliers: string[] = []
  let processes = 0
  let threads = 0
  for (const pid of [process.pid, ...descendants(process.pid)]) {
    processes++
    for (const tid of threadsOf(pid)) {
      const cpus = allowedCpus(pid, tid)
      if (cpus === null) continue // exited meanwhile
      threads++
      if (cpus !== own) outliers.push(`pid ${pid} thread ${tid} on CPUs ${cpus}`)
    }
  }
  affinityChecks.push({ processes, threads, outliers })
  if (outliers.length === 0) return `affinity: ${processes} processes, ${threads} threads, all on CPUs ${own}`
  return `affinity: NOT inherited by ${outliers.length} of ${threads} threads (${outliers.slice(0, 3).join('; ')}${outliers.length > 3 ? '; …' : ''})`
}
