/**
 * The request-rate half of section "http": autocannon against each HTTP target (bare Fastify
 * hello-world is the reference), and the CPU time each request cost the server process — and,
 * for the pool, its worker processes — read from /proc around every round: on a loaded machine
 * the CPU per request is steadier than the rate.
 */
import autocannon from 'autocannon'
import { alternate } from '../harness/alternate'
import { describeTargets, pickBaseline, withTargets } from '../harness/lifecycle'
import { cpuTimeUs, descendants } from '../harness/proc-tree'
import { errorColumn, finiteOrNull, fmtSpan, logSetupErrors, orDash, printTable } from '../harness/report'
import { httpTargets } from '../registry'
import { fmtInt, fmtRatio, fmtUs, median, ratio, summarize } from '../stats'
import type { HttpRequestSpec, HttpTarget } from '../targets'
import type { HttpSettings } from './http-settings'

export interface HttpRow {
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
  /** CPU time of the server process per request (µs), median over the rounds. */
  server_cpu_us_per_req: number | null
  /** CPU time of the server's child processes (the pool's workers) per request, median over the rounds. */
  workers_cpu_us_per_req: number | null
  /** server CPU per request / the reference server's. */
  server_cpu_ratio: number | null
  error?: string
}

export interface RequestRateResult {
  reference: string | null
  targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  requests: HttpRow[]
}

interface Round {
  result: autocannon.Result
  serverCpuUs: number | null
  workersCpuUs: number | null
}

function cannon (spec: HttpRequestSpec, connections: number, durationSec: number): Promise<autocannon.Result> {
  return autocannon({
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers,
    body: spec.body,
    connections,
    duration: durationSec,
  })
}

/** CPU µs used so far by the server process and by its descendants (null without a pid). */
function serverCpu (pid: number | undefined): { server: number | null, workers: number | null } {
  if (pid === undefined) return { server: null, workers: null }
  const children = descendants(pid)
  const workers = children.reduce<number | null>((sum, child) => {
    const us = cpuTimeUs(child)
    return us === null || sum === null ? sum : sum + us
  }, children.length > 0 ? 0 : null)
  return { server: cpuTimeUs(pid), workers }
}

/** One autocannon round with the server's CPU time around it. */
async function timedRound (spec: HttpRequestSpec, H: HttpSettings): Promise<Round> {
  const before = serverCpu(spec.serverPid)
  const result = await cannon(spec, H.connections, H.durationSec)
  const after = serverCpu(spec.serverPid)
  const delta = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a)
  return { result, serverCpuUs: delta(before.server, after.server), workersCpuUs: delta(before.workers, after.workers) }
}

export async function runRequestRate (H: HttpSettings): Promise<RequestRateResult> {
  const targets = httpTargets()
  const result: RequestRateResult = { reference: null, targets: describeTargets(targets), setup_errors: {}, requests: [] }
  await withTargets<HttpTarget, HttpRequestSpec>('http', targets, (t) => t.setup(), async (up, setupErrors) => {
    result.setup_errors = setupErrors
    result.reference = pickBaseline(up.map((u) => u.target.name), null)
    const failed = new Map<(typeof up)[number], string>()
    await alternate(up, 1, failed, (u) => `http: warming up ${u.target.name}`, async (u) => {
      await cannon(u.state, H.connections, H.warmupSec)
    })
    const rounds = new Map<string, Round[]>(up.map((u) => [u.target.name, []]))
    await alternate(up, H.rounds, failed, (u, round) => `http: autocannon ${u.target.name} round ${round + 1}/${H.rounds}`, async (u) => {
      rounds.get(u.target.name)?.push(await timedRound(u.state, H))
    })
    const rateOf = (r: autocannon.Result): number => r.requests.total / (r.duration > 0 ? r.duration : H.durationSec)
    const perRequest = (runs: Round[], pick: (r: Round) => number | null): number => {
      const values = runs.flatMap((r) => {
        const us = pick(r)
        return us === null || r.result.requests.total === 0 ? [] : [us / r.result.requests.total]
      })
      return median(values)
    }
    const refRuns = result.reference ? (rounds.get(result.reference) ?? []) : []
    const refRate = median(refRuns.map((r) => rateOf(r.result)))
    const refServerCpu = perRequest(refRuns, (r) => r.serverCpuUs)
    for (const u of up) {
      const runs = rounds.get(u.target.name) ?? []
      const rates = runs.map((r) => rateOf(r.result))
      const s = summarize(rates)
      // Latency figures from the round whose rate is the median (or nearest to it).
      let mid: autocannon.Result | undefined
      let best = Infinity
      for (const r of runs) {
        const d = Math.abs(rateOf(r.result) - s.median)
        if (d < best) {
          best = d
          mid = r.result
        }
      }
      const serverCpuPerReq = perRequest(runs, (r) => r.serverCpuUs)
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
        non2xx: runs.reduce((a, r) => a + r.result.non2xx, 0),
        errors: runs.reduce((a, r) => a + r.result.errors, 0),
        timeouts: runs.reduce((a, r) => a + r.result.timeouts, 0),
        ratio: finiteOrNull(ratio(s.median, refRate)),
        server_cpu_us_per_req: finiteOrNull(serverCpuPerReq),
        workers_cpu_us_per_req: finiteOrNull(perRequest(runs, (r) => r.workersCpuUs)),
        server_cpu_ratio: finiteOrNull(ratio(serverCpuPerReq, refServerCpu)),
      }
      const err = failed.get(u)
      if (err) row.error = err
      else if (row.non2xx > 0 || row.errors > 0) row.error = `${row.non2xx} non-2xx, ${row.errors} errors`
      result.requests.push(row)
    }
  })
  return result
}

export function printRequestRate (r: RequestRateResult, H: HttpSettings): void {
  const ref = r.reference ?? 'reference'
  printTable<HttpRow>(
    `HTTP request rate (autocannon, ${H.connections} connections, ${H.durationSec} s, median (min–max) of ${H.rounds} round(s); latency of the median round)\n` +
      'CPU µs/req: CPU time (user + system, /proc) of the server process, and of its worker processes, per request, median of the rounds',
    [
      { header: 'target', cell: (row) => row.target },
      { header: 'req/s', cell: (row) => orDash(row.median_req_per_s, fmtInt) },
      { header: 'min–max', cell: (row) => fmtSpan(row.min_req_per_s, row.max_req_per_s, fmtInt) },
      { header: 'p50 ms', cell: (row) => orDash(row.latency_p50_ms, String) },
      { header: 'p99 ms', cell: (row) => orDash(row.latency_p99_ms, String) },
      { header: 'non-2xx', cell: (row) => fmtInt(row.non2xx) },
      { header: 'errors', cell: (row) => fmtInt(row.errors) },
      { header: `÷ ${ref}`, cell: (row) => orDash(row.ratio, fmtRatio) },
      { header: 'server CPU µs/req', cell: (row) => orDash(row.server_cpu_us_per_req, fmtUs) },
      { header: `CPU ÷ ${ref}`, cell: (row) => orDash(row.server_cpu_ratio, fmtRatio) },
      { header: 'workers CPU µs/req', cell: (row) => orDash(row.workers_cpu_us_per_req, fmtUs) },
      errorColumn(),
    ],
    r.requests
  )
  logSetupErrors(r.setup_errors)
}
