/**
 * The one loop every section runs: each round runs every target still standing once, in an order
 * that rotates from round to round (A B C, B C A, …), so drift on a noisy machine hits every target
 * alike instead of whichever happens to run last.
 */
import { progress } from './lifecycle'
import { errorText } from './report'

/** The targets in the order to run them in round `round`: rotated, so nobody always goes first. */
export function rotation<T> (items: readonly T[], round: number): T[] {
  if (items.length === 0) return []
  const k = round % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

/**
 * Runs `step(target, round)` for `rounds` rounds over `targets`, rotating. A target whose step
 * throws gets its error recorded in `failed` and is left out of the later rounds; the others go
 * on. Targets already in `failed` (a failed `prepare`) are skipped from the start.
 */
export async function alternate<T> (
  targets: readonly T[],
  rounds: number,
  failed: Map<T, string>,
  label: (target: T, round: number) => string,
  step: (target: T, round: number) => Promise<void>
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const t of rotation(targets.filter((x) => !failed.has(x)), round)) {
      progress(label(t, round))
      try {
        await step(t, round)
      } catch (err) {
        failed.set(t, errorText(err))
      }
    }
  }
}

/** Milliseconds from a monotonic clock. */
export function nowMs (): number {
  return Number(process.hrtime.bigint()) / 1e6
}
