import { setTimeout as delay } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'
import { cancellationError, throwIfCancelled } from './cancellation'

const SleepParams = Type.Object({
  ms: Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'How long to wait, in milliseconds (at most one hour).' })
}, { additionalProperties: false })

/** Sleeps shorter than this report progress once, at the end: intermediate updates would be noise. */
const STEPPED_SLEEP_MS = 100
const PROGRESS_STEPS = 4

export const sleepKind: JobKind<Static<typeof SleepParams>> = {
  name: 'sleep',
  description: 'Waits `ms` milliseconds without using CPU, reporting progress; stops at once when ' +
    'cancelled. For testing timeouts, cancellation and queueing. Result: {sleptMs}.',
  inputs: { min: 0, max: 0 },
  outputs: { min: 0, max: 0 },
  params: SleepParams,
  async run (ctx) {
    const { ms } = ctx.params
    throwIfCancelled(ctx.signal)
    const steps = ms >= STEPPED_SLEEP_MS ? PROGRESS_STEPS : 1
    const start = performance.now()
    for (let step = 1; step <= steps; step++) {
      // Deadlines from the start, not per-step waits, so timer lateness does not accumulate.
      const remaining = start + ms * step / steps - performance.now()
      try {
        await delay(Math.max(0, remaining), undefined, { signal: ctx.signal })
      } catch (err) {
        if (ctx.signal.aborted) throw cancellationError(ctx.signal)
        throw err
      }
      ctx.progress(step / steps)
    }
    return { sleptMs: ms }
  }
}
