/**
 * Keeping a run safe on a shared machine: a watchdog that stops a run that makes no progress,
 * teardown of every target on SIGINT/SIGTERM and on stalls, and `withTargets`, which sets a
 * section's targets up and always tears them down.
 */
import { verifyInheritedAffinity } from './affinity'
import { killAllChildrenSync } from '../procs'
import { errorText, log } from './report'

/** `global.gc` with --expose-gc (npm run bench passes it): garbage is collected outside the clock. */
export const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc

/** Largest time a single step may go without progress before the run is aborted. */
const STALL_MS = 180_000

let lastProgress = Date.now()
let aborting = false
let progressLabel = 'starting'
/** Set when the run is confined to fewer CPUs than the machine has: children are checked after setup. */
let checkAffinity = false

export class AbortedError extends Error {}

export function isAborting (): boolean {
  return aborting
}

/** Marks progress (outside the timed parts); throws once the run is being aborted, so loops stop. */
export function progress (label?: string): void {
  if (aborting) throw new AbortedError('aborted')
  lastProgress = Date.now()
  if (label !== undefined) progressLabel = label
}

/** Teardowns of targets currently set up, run on SIGINT/SIGTERM and on stalls. */
const activeTeardowns = new Set<() => Promise<void>>()

export async function runActiveTeardowns (): Promise<void> {
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
  runActiveTeardowns().finally(() => {
    killAllChildrenSync()
    process.exit(code)
  })
}

/**
 * Installs the exit/signal handlers and the stall watchdog; returns the function that stops the
 * watchdog. `pinned`: check after every section's setup that each child process and thread kept
 * the harness's CPU affinity.
 */
export function startGuards (options: { pinned: boolean }): () => void {
  checkAffinity = options.pinned
  process.on('exit', killAllChildrenSync)
  process.on('SIGINT', () => abort('interrupted', 130))
  process.on('SIGTERM', () => abort('terminated', 143))
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > STALL_MS) abort(`no progress for ${STALL_MS / 1000} s at "${progressLabel}"`, 1)
  }, 1000)
  watchdog.unref()
  return () => clearInterval(watchdog)
}

/** What every target has: a name and description for the report, and a teardown that is always safe. */
export interface Named {
  name: string
  description: string
  teardown (): Promise<void>
}

/**
 * Runs `setup` for each target (a failing target is reported and left out, the rest go on), then
 * `body` with the ones that are up, and always tears down every target — including those whose
 * setup failed halfway.
 */
export async function withTargets<T extends Named, S> (
  section: string,
  targets: T[],
  setup: (t: T) => Promise<S>,
  body: (up: { target: T, state: S }[], setupErrors: Record<string, string>) => Promise<void>
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
    const up: { target: T, state: S }[] = []
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
    if (checkAffinity) log(`  ${section}: ${verifyInheritedAffinity()}`)
    await body(up, setupErrors)
  } finally {
    activeTeardowns.delete(teardown)
    progressLabel = `${section}: tearing down`
    lastProgress = Date.now()
    await teardown()
  }
}

/** The names and descriptions of a section's targets, as the results file keeps them. */
export function describeTargets (targets: readonly Named[]): { name: string, description: string }[] {
  return targets.map((t) => ({ name: t.name, description: t.description }))
}

/** `preferred` when it is among `names` (and set up), otherwise the first of them. */
export function pickBaseline (names: readonly string[], preferred: string | null): string | null {
  if (preferred && names.includes(preferred)) return preferred
  return names[0] ?? null
}
