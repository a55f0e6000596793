// External workers: one job at a time through the worker socket, input size 0 B … 256 MiB, to a
// Python worker (memfd_pool) and to the C example. The claim measured: dispatch cost is flat in
// the input's size (the bytes are mapped, never copied), and Python adds a bounded constant.
// The bare socket and a test-style dispatcher, not the engine: once the lead wires external
// workers into the pool, pool.submit adds the engine's own per-job cost on top (the same as for
// Node workers).
//
//   npm run build && node dist/bench/external-worker.js [--jobs N]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../native'
import type { ExternalWorkerConnection } from '../server/worker-socket/external-worker-connection'
import { WorkerSocketServer } from '../server/worker-socket/worker-socket-server'

const ROOT = path.join(__dirname, '..', '..')
const SIZES = [0, 1 << 20, 16 << 20, 64 << 20, 256 << 20]
const jobsArg = process.argv.indexOf('--jobs')
const JOBS = jobsArg > 0 ? Number(process.argv[jobsArg + 1]) : 300

function sealed (size: number): { readOnly: number, close: () => void } {
  const fd = native.memfdCreate('bench-input')
  native.ftruncate(fd, size)
  if (size > 0) native.allocate(fd, 0, size) // real pages, as an uploaded buffer has
  native.addSeals(fd, ['shrink', 'grow', 'write'])
  const readOnly = native.reopenReadOnly(fd)
  return { readOnly, close: () => { native.close(readOnly); native.close(fd) } }
}

async function measure (connection: ExternalWorkerConnection, kind: string, size: number): Promise<number[]> {
  const input = sealed(size)
  const times: number[] = []
  let resolveDone: () => void = () => {}
  connection.on('message', (message, fds) => { if (message.t === 'done') { fds.closeAll(); resolveDone() } })
  try {
    for (let i = 0; i < JOBS + 20; i++) {
      const done = new Promise<void>((resolve) => { resolveDone = resolve })
      const start = process.hrtime.bigint()
      connection.send({ t: 'run', job: `b${i}`, kind, params: {}, inputs: size === -1 ? [] : [{ id: 'b', generation: 1, size }], fdCount: 1, maxOutputBytes: 0 }, [input.readOnly])
      await done
      if (i >= 20) times.push(Number(process.hrtime.bigint() - start) / 1000) // µs; the first 20 warm up
    }
  } finally {
    connection.removeAllListeners('message')
    input.close()
  }
  return times
}

const p = (values: number[], q: number): number => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]

async function serve (label: string, command: string, args: string[], env: Record<string, string>, kind: string, server: WorkerSocketServer, sizes: number[]): Promise<void> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } })
  const [connection] = await once(server, 'connection') as [ExternalWorkerConnection]
  await once(connection, 'ready')
  connection.accept()
  for (const size of sizes) {
    const times = await measure(connection, kind, size)
    console.log(`${label.padEnd(8)} ${String(size >> 20).padStart(4)} MiB  p50 ${p(times, 0.5).toFixed(0).padStart(5)} µs  p99 ${p(times, 0.99).toFixed(0).padStart(6)} µs  (${JOBS} jobs, one at a time)`)
  }
  child.kill('SIGKILL')
  await once(child, 'exit')
}

async function main (): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-bench-'))
  const server = new WorkerSocketServer({ path: path.join(dir, 'worker.sock') })
  server.start()
  try {
    const kinds = path.join(dir, 'noop_kinds.py')
    fs.writeFileSync(kinds, 'from memfd_pool import kind\n\n@kind("noop", inputs=(0, 32), outputs=0)\ndef noop(ctx):\n    return None\n')
    await serve('python', 'python3', ['-m', 'memfd_pool.worker', '--socket', server.path, kinds], { PYTHONPATH: path.join(ROOT, 'clients', 'python', 'src') }, 'noop', server, SIZES)
    const binary = path.join(dir, 'c-worker')
    if (spawnSync('cc', ['-O2', '-o', binary, path.join(ROOT, 'examples', 'c', 'worker.c')]).status === 0) {
      // The C worker hashes its input (it touches every page), so only its empty-input line is
      // comparable: the protocol's floor, a single-threaded C process answering.
      await serve('c', binary, ['--kind', 'noop', server.path], {}, 'noop', server, [0])
    }
  } finally {
    server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
