/**
 * Section "external-worker" (optional: only with --only=external-worker): jobs through the pool
 * (`pool.submit`, the engine in front) to an external Python worker (`memfd_pool`, one thread)
 * on the worker socket, one at a time — a no-op with no input, then dispatch vs the input's size
 * up to 256 MiB. The claim: flat in size (inputs are mapped, never copied), and a noop costs a few
 * times what it costs on the pool's own Node worker (measured alongside, same pool).
 * bench/external-worker.ts measures the bare socket without the engine.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createPool, type Pool } from '../../server/pool/pool'
import { WorkerSocketServer } from '../../server/worker-socket/worker-socket-server'
import { byMode, type BenchOptions } from '../harness/options'
import { log, printTable } from '../harness/report'
import type { Section } from '../harness/section'
import { fmtBytes, fmtUs, summarize } from '../stats'

const ROOT = path.join(__dirname, '..', '..', '..')
const MiB = 1024 * 1024

interface ExternalSettings { jobs: number, warmup: number, sizes: number[] }

function settingsFor (options: BenchOptions): ExternalSettings {
  const q = byMode(options)
  return { jobs: q(200, 1000), warmup: q(20, 100), sizes: q([0, MiB, 64 * MiB], [0, MiB, 16 * MiB, 64 * MiB, 256 * MiB]) }
}

interface ExternalRow { target: string, input_bytes: number | null, n: number, p50_us: number, p99_us: number }

export interface ExternalResult { rows: ExternalRow[], error?: string }

async function timeJobs (pool: Pool, kind: string, inputs: string[], settings: ExternalSettings): Promise<{ p50: number, p99: number }> {
  const times: number[] = []
  for (let i = 0; i < settings.warmup + settings.jobs; i++) {
    const start = process.hrtime.bigint()
    const job = await pool.submit({ kind, inputs })
    if (job.state !== 'succeeded') throw new Error(`${kind} job ${job.state}: ${job.error?.message ?? ''}`)
    if (i >= settings.warmup) times.push(Number(process.hrtime.bigint() - start) / 1000)
  }
  const s = summarize(times)
  return { p50: s.p50, p99: s.p99 }
}

async function run (options: BenchOptions): Promise<ExternalResult> {
  const settings = settingsFor(options)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-bench-external-'))
  const biggest = Math.max(...settings.sizes)
  const pool = await createPool({ workers: 1, maxMemoryBytes: biggest + 64 * MiB })
  const server = new WorkerSocketServer({ path: path.join(dir, 'worker.sock') })
  server.on('connection', (connection) => pool.addExternalWorker(connection))
  server.start()
  let child: ChildProcess | null = null
  const rows: ExternalRow[] = []
  try {
    await pool.whenReady()
    const kinds = path.join(dir, 'bench_kinds.py')
    fs.writeFileSync(kinds, 'from memfd_pool import kind\n\n@kind("py-noop", inputs=(0, 1), outputs=0)\ndef noop(ctx):\n    return None\n')
    child = spawn('python3', ['-m', 'memfd_pool.worker', '--socket', server.path, kinds], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PYTHONPATH: path.join(ROOT, 'clients', 'python', 'src') }
    })
    const started = new Promise<void>((resolve) => {
      const listener = (event: { type: string, data: unknown }): void => {
        if (event.type === 'worker.started' && (event.data as { external?: boolean }).external === true) {
          pool.off('event', listener)
          resolve()
        }
      }
      pool.on('event', listener)
    })
    await started
    const noopNode = await timeJobs(pool, 'noop', [], settings)
    rows.push({ target: 'pool → Node worker (noop)', input_bytes: null, n: settings.jobs, p50_us: noopNode.p50, p99_us: noopNode.p99 })
    const noopPython = await timeJobs(pool, 'py-noop', [], settings)
    rows.push({ target: 'pool → Python worker (noop)', input_bytes: null, n: settings.jobs, p50_us: noopPython.p50, p99_us: noopPython.p99 })
    for (const size of settings.sizes) {
      // Its pages are never touched: what is measured is passing and mapping, not reading.
      const buffer = pool.store.create({ size, name: 'bench-input' })
      pool.store.seal(buffer.id)
      try {
        const t = await timeJobs(pool, 'py-noop', [buffer.id], settings)
        rows.push({ target: 'pool → Python worker, one input', input_bytes: size, n: settings.jobs, p50_us: t.p50, p99_us: t.p99 })
      } finally {
        pool.store.delete(buffer.id)
      }
    }
  } catch (err) {
    log(`external-worker: ${(err as Error).message}`)
    return { rows, error: (err as Error).message }
  } finally {
    child?.kill('SIGKILL')
    if (child !== null && child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    server.close()
    await pool.close({ graceMs: 0 })
    fs.rmSync(dir, { recursive: true, force: true })
  }
  printTable<ExternalRow>('External worker: one job at a time through pool.submit (µs)', [
    { header: 'target', align: 'left', cell: (r) => r.target },
    { header: 'input', cell: (r) => r.input_bytes === null ? '-' : fmtBytes(r.input_bytes) },
    { header: 'n', cell: (r) => String(r.n) },
    { header: 'p50', cell: (r) => fmtUs(r.p50_us) },
    { header: 'p99', cell: (r) => fmtUs(r.p99_us) }
  ], rows)
  return { rows }
}

export const externalWorkerSection: Section<ExternalResult> = {
  name: 'external-worker',
  summary: 'jobs through the pool to an external Python worker: noop vs a Node worker, dispatch vs input size (optional)',
  optional: true,
  settings: settingsFor,
  run
}
