/**
 * Per-job cost of the pool, for profiling and for before/after figures of an optimisation:
 *
 *   node dist/bench/pool/per-job.js [--workers=1] [--threads=1] [--prefetch=N (default: the pool's auto)] [--rounds=5] [--one=2000] [--many=20000]
 *                                   [--kind=noop] [--kinds-dir=DIR]
 *
 * `--kind=bench-probe --kinds-dir=dist/bench/kinds` measures a custom kind, which runs on a job
 * thread (only built-in O(1) kinds run on the worker's main thread); the kind gets the one input.
 *
 * Alternates, round by round, the pool (noop job with one 4 KiB sealed input) and piscina
 * (no-op task) on the same number of threads, so load on the machine hits both alike; prints
 * the medians over the rounds of the one-at-a-time p50/p99 (µs) and of the rate with 64 jobs
 * in flight (jobs/s), with the load average before and after. For the pool it also prints the
 * CPU time per job of the server (this process) and of the worker processes (all their threads),
 * from /proc: on a loaded machine that is steadier than wall-clock time.
 */
import * as os from 'node:os'
import { Piscina } from 'piscina'
import { createPool } from '../../server/pool/pool'
import { cpuTimeUs } from '../harness/proc-tree'
import { fixturePath } from '../procs'
import { median, percentile } from '../stats'
import { sealedDispatchBuffer } from './pool-buffers'

function textArg (name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
}

function arg (name: string, fallback: number): number {
  const found = textArg(name)
  return found ? Number(found) : fallback
}

async function oneAtATime (run: () => Promise<unknown>, n: number): Promise<number[]> {
  const us: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await run()
    us.push(Number(process.hrtime.bigint() - t0) / 1e3)
  }
  return us
}

async function inFlight (run: () => Promise<unknown>, n: number, depth: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  let started = 0
  const lane = async (): Promise<void> => {
    while (started < n) {
      started++
      await run()
    }
  }
  await Promise.all(Array.from({ length: depth }, lane))
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

async function main (): Promise<void> {
  const workers = arg('workers', 1)
  const threads = arg('threads', 1)
  const prefetch = process.argv.some((a) => a.startsWith('--prefetch=')) ? arg('prefetch', 0) : 'auto' as const
  const rounds = arg('rounds', 5)
  const one = arg('one', 2000)
  const many = arg('many', 20000)
  const loadBefore = os.loadavg()[0]

  const kind = textArg('kind') ?? 'noop'
  const kindsDir = textArg('kinds-dir')
  const pool = await createPool({ workers, threadsPerWorker: threads, prefetch, ...(kindsDir !== undefined ? { kindsDir } : {}) })
  await pool.whenReady()
  const input = sealedDispatchBuffer(pool, 4096)
  const poolRun = async (): Promise<void> => {
    const job = await pool.submit({ kind, inputs: [input] })
    if (job.state !== 'succeeded') throw new Error(`${kind} ${job.state}: ${JSON.stringify(job.error)}`)
  }
  const total = workers * threads
  const piscina = new Piscina({ filename: fixturePath('piscina-worker'), minThreads: total, maxThreads: total })
  const piscinaRun = (): Promise<unknown> => piscina.run(null, { name: 'noop' })

  const targets = [
    { name: `memfd-pool ${workers}×${threads} prefetch ${prefetch}${kind !== 'noop' ? ` ${kind}` : ''}`, run: poolRun, p50: [] as number[], p99: [] as number[], rate: [] as number[] },
    { name: `piscina ${total} threads`, run: piscinaRun, p50: [] as number[], p99: [] as number[], rate: [] as number[] },
  ]
  const pids = [process.pid, ...pool.workerPids()]
  const cpuNow = (): number[] => pids.map((pid) => cpuTimeUs(pid) ?? NaN)
  const poolCpu = { jobs: 0, used: pids.map(() => 0) }
  for (const t of targets) await inFlight(t.run, 2000, 64) // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const before = cpuNow()
      const us = await oneAtATime(t.run, one)
      t.p50.push(percentile(us, 50))
      t.p99.push(percentile(us, 99))
      t.rate.push(await inFlight(t.run, many, 64))
      if (t.run === poolRun) {
        const after = cpuNow()
        poolCpu.jobs += one + many
        poolCpu.used = poolCpu.used.map((v, i) => v + after[i] - before[i])
      }
    }
  }
  const loadAfter = os.loadavg()[0]
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)}; ${rounds} rounds, medians`)
  for (const t of targets) {
    console.log(
      `${t.name.padEnd(18)} p50 ${median(t.p50).toFixed(0).padStart(5)} µs  p99 ${median(t.p99).toFixed(0).padStart(6)} µs  ` +
        `64 in flight ${median(t.rate).toFixed(0).padStart(7)} jobs/s  (rates ${t.rate.map((v) => v.toFixed(0)).join(' ')})`
    )
  }
  const perJob = poolCpu.used.map((v) => (v / poolCpu.jobs).toFixed(0))
  console.log(`memfd-pool CPU per job: server ${perJob[0]} µs, worker process(es) ${perJob.slice(1).join(' + ')} µs (both phases)`)
  await piscina.destroy()
  await pool.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
