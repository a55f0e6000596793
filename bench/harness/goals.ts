/**
 * The per-job goals of issue 14 read off one run's figures: each is a ratio the tables already
 * show, with the bound it has to meet. Printed after every run and by bench/compare.ts, so a
 * pinned and an unpinned run can be judged side by side. A goal whose figures were not measured
 * (its section did not run, a target failed) is left out.
 */
import type { ComputeResult } from '../sections/compute'
import type { DispatchResult } from '../sections/dispatch'
import type { HttpResult } from '../sections/http'
import type { LatencyResult } from '../sections/latency'
import { SIZE } from '../stats'

export interface Goal {
  goal: string
  /** The measured ratio. */
  value: number
  /** The bound, and which side of it is good. */
  bound: number
  atLeast: boolean
  met: boolean
}

/** What a run keeps per section (the `sections` object of the results file). */
export interface SectionResults {
  dispatch?: DispatchResult
  latency?: LatencyResult
  compute?: ComputeResult
  http?: HttpResult
}

function goal (name: string, value: number | null | undefined, bound: number, atLeast: boolean): Goal[] {
  if (value === null || value === undefined || !Number.isFinite(value)) return []
  return [{ goal: name, value, bound, atLeast, met: atLeast ? value >= bound : value <= bound }]
}

export function issue14Goals (s: SectionResults): Goal[] {
  const out: Goal[] = []
  const oneAt = (name: string) => s.latency?.one_at_a_time.find((r) => r.target === name && !r.error)
  const inFlight = (name: string) => s.latency?.throughput.find((r) => r.target === name && !r.error)
  for (const shape of ['1×2', '2×1']) {
    out.push(...goal(`noop one at a time, memfd-pool ${shape}: p50 ÷ piscina`, oneAt(`memfd-pool ${shape}`)?.ratio_p50, 1, false))
    out.push(...goal(`noop 64 in flight, memfd-pool ${shape}: rate ÷ piscina`, inFlight(`memfd-pool ${shape}`)?.ratio, 1, true))
  }
  const http = s.http?.requests.find((r) => r.target === 'memfd-pool' && !r.error)
  out.push(...goal('POST /v1/jobs?wait noop: req/s ÷ fastify-hello', http?.ratio, 0.5, true))
  // The 4 KiB dispatch (a custom kind on a thread) within 2× of a noop job one at a time.
  const dispatch4k = s.dispatch?.rows.find((r) => r.target === 'memfd-pool' && r.size === 4 * SIZE.KiB && !r.error)
  const noopP50 = oneAt('memfd-pool 1×2')?.p50_us
  if (dispatch4k?.median_ms != null && noopP50 != null) {
    out.push(...goal('4 KiB dispatch ÷ noop p50 (memfd-pool 1×2)', (dispatch4k.median_ms * 1000) / noopP50, 2, false))
  }
  for (const row of s.compute?.rows ?? []) {
    if (row.target === 'memfd-pool' && !row.error) out.push(...goal(`compute ${row.algorithm}: ÷ in-process`, row.ratio, 0.9, true))
  }
  const uploadRow = s.http?.uploads.find((r) => r.target === 'memfd-pool' && !r.error)
  out.push(...goal('upload: MB/s ÷ http-discard', uploadRow?.ratio, 0.44, true))
  return out
}
