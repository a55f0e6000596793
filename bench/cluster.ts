/**
 * The cluster's two costs (issue 16), on this machine, against their single-host alternatives:
 *
 *   node dist/bench/cluster.js [--jobs=2000] [--clients=32] [--rounds=3] [--size=256m]
 *
 * - jobs/s: no-op jobs through `POST /v1/jobs?wait` from `clients` concurrent clients, sent to
 *   node A of a two-node cluster (one worker each; placement spreads them through BullMQ) against
 *   one plain node with two workers (the same workers in total, no Redis).
 * - pull throughput: a `concat` submitted with one input on each node, the larger on B, runs on B
 *   and pulls the other (`size` bytes) from A in ranged chunks, sha256-checked. The pull's cost is
 *   that job's time less the same job's once the replica is there; against it, a plain download
 *   of the same bytes from A (`GET /v1/buffers/:id/content`).
 *
 * Needs Debian's redis-server (started here on a free loopback port, in a temporary folder).
 * Rounds alternate the two sides of each comparison; medians are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
// The cluster tests' real redis-server and line waiter: the same processes, started the same way.
import { RedisServer, waitForLine } from '../test/helpers/redis'
import { median, parseSize, SIZE } from './stats'

const MAIN = path.join(__dirname, '..', 'server', 'main.js')

function arg (name: string, fallback: string): string {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
}

const children: ChildProcess[] = []
const folders: string[] = []
let closeRedis = async (): Promise<void> => {}

async function startNode (name: string, workers: number, cluster: string | null): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `memfd-pool-bench-${name}-`))
  folders.push(dir)
  const child = spawn(process.execPath, [
    MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', String(workers), '--max-memory', '3GiB', '--max-buffer', '1GiB',
    '--attach-socket', path.join(dir, 'attach.sock'), '--log-level', 'warn',
    ...(cluster === null ? [] : ['--cluster', cluster, '--node-name', name])
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  // Both lines, in one wait: the second follows the first, possibly in the same chunk.
  const url = (await waitForLine(child, /listening on (http:\/\/\S+)[^]*memfd-pool ready:/, 30_000))[1]
  // Drained from now on, so a node never blocks on a full pipe.
  child.stdout?.resume()
  child.stderr?.resume()
  return url
}

async function json (method: string, url: string, body?: unknown): Promise<any> {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`)
  return text === '' ? null : JSON.parse(text)
}

async function upload (base: string, bytes: Buffer): Promise<string> {
  const res = await fetch(`${base}/v1/buffers`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes })
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`)
  return (await res.json() as { id: string }).id
}

/** `jobs` no-op jobs from `clients` concurrent clients: jobs/s. */
async function jobRate (base: string, jobs: number, clients: number): Promise<number> {
  let sent = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: clients }, async () => {
    while (sent < jobs) {
      sent++
      const job = await json('POST', `${base}/v1/jobs?wait=60000`, { kind: 'noop' })
      if (job.state !== 'succeeded') throw new Error(`noop ${job.state as string}: ${JSON.stringify(job.error)}`)
    }
  }))
  return jobs / ((performance.now() - t0) / 1000)
}

async function timedJob (base: string, spec: object): Promise<{ ms: number, job: any }> {
  const t0 = performance.now()
  let job = await json('POST', `${base}/v1/jobs?wait=60000`, spec)
  while (job.state === 'queued' || job.state === 'running') job = await json('GET', `${base}/v1/jobs/${job.id as string}?wait=60000`)
  if (job.state !== 'succeeded') throw new Error(`job ${job.state as string}: ${JSON.stringify(job.error)}`)
  return { ms: performance.now() - t0, job }
}

async function main (): Promise<void> {
  const jobs = Number(arg('jobs', '2000'))
  const clients = Number(arg('clients', '32'))
  const rounds = Number(arg('rounds', '3'))
  const size = parseSize(arg('size', '256m'))

  const redis = new RedisServer()
  closeRedis = async () => { await redis.close() }
  await redis.start()
  const redisUrl = redis.url
  const [a, b, single] = await Promise.all([startNode('a', 1, redisUrl), startNode('b', 1, redisUrl), startNode('single', 2, null)])
  for (let up = 0; up < 200; up++) {
    const cluster = await json('GET', `${a}/v1/cluster`)
    if ((cluster.nodes as Array<{ state: string }>).filter((n) => n.state === 'up').length === 2) break
    await new Promise((resolve) => setTimeout(resolve, 100)) // polling the registry's own view
  }

  console.log(`load average (1 min) ${os.loadavg()[0].toFixed(2)}; ${rounds} rounds, medians`)
  await jobRate(a, 200, clients) // warm-up
  await jobRate(single, 200, clients)
  const clusterRates: number[] = []
  const singleRates: number[] = []
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['cluster', 'single'] : ['single', 'cluster']
    for (const side of order) {
      if (side === 'cluster') clusterRates.push(await jobRate(a, jobs, clients))
      else singleRates.push(await jobRate(single, jobs, clients))
    }
  }
  console.log(`noop jobs/s, ${clients} clients: 2-node cluster (1 worker each, via node a) ${median(clusterRates).toFixed(0)} ` +
    `(${clusterRates.map((v) => v.toFixed(0)).join(' ')}); one node, 2 workers ${median(singleRates).toFixed(0)} ` +
    `(${singleRates.map((v) => v.toFixed(0)).join(' ')}); ratio ${(median(clusterRates) / median(singleRates)).toFixed(2)}×`)

  // Pull: X (size bytes) on a, Y (size + 1 MiB) on b; concat(X, Y) runs on b and pulls X.
  const pulls: number[] = []
  const downloads: number[] = []
  const y = await upload(b, Buffer.alloc(size + SIZE.MiB, 0x59))
  for (let r = 0; r < rounds; r++) {
    const x = await upload(a, Buffer.alloc(size, r + 1))
    const t0 = performance.now()
    const res = await fetch(`${a}/v1/buffers/${x}/content`)
    let got = 0
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) got += chunk.length
    downloads.push(performance.now() - t0)
    if (got !== size) throw new Error(`download: ${got} bytes, expected ${size}`)
    const first = await timedJob(a, { kind: 'concat', inputs: [x, y] })
    if (first.job.node !== 'b' || first.job.bytesPulled !== size) throw new Error(`concat ran on ${String(first.job.node)} and pulled ${String(first.job.bytesPulled)} bytes`)
    await json('DELETE', `${b}/v1/buffers/${first.job.outputs[0] as string}`)
    const again = await timedJob(a, { kind: 'concat', inputs: [x, y] })
    if (again.job.bytesPulled !== 0) throw new Error(`the second concat pulled ${String(again.job.bytesPulled)} bytes`)
    await json('DELETE', `${b}/v1/buffers/${again.job.outputs[0] as string}`)
    await json('DELETE', `${a}/v1/buffers/${x}`)
    pulls.push(first.ms - again.ms)
  }
  const mbps = (ms: number): string => (size / 1e6 / (ms / 1000)).toFixed(0)
  console.log(`${(size / SIZE.MiB).toFixed(0)} MiB: pull within a job ${median(pulls).toFixed(0)} ms (${mbps(median(pulls))} MB/s; ` +
    `${pulls.map((v) => v.toFixed(0)).join(' ')}); plain HTTP download ${median(downloads).toFixed(0)} ms (${mbps(median(downloads))} MB/s; ` +
    `${downloads.map((v) => v.toFixed(0)).join(' ')}); pull ÷ download throughput ${(median(downloads) / median(pulls)).toFixed(2)}×`)
}

async function cleanup (): Promise<void> {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  await closeRedis()
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true })
}

main().then(cleanup, async (err) => {
  console.error(err)
  await cleanup()
  process.exit(1)
})
