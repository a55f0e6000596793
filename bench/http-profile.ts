/**
 * One HTTP job path, measured and optionally profiled: the http section's pool-server fixture (the
 * real app, no logger, default pool) under autocannon, `POST /v1/jobs?wait` of a noop job on one
 * sealed 4 KiB input, with the server's CPU time per request from /proc. With --profile, the
 * server runs under --cpu-prof and the inclusive time per request of the frames docs/BENCHMARKS.md
 * quotes is printed. Run it in two trees, alternating, to compare them (bench/ab.sh).
 *
 *   node dist/bench/http-profile.js [--seconds=5] [--connections=50] [--profile]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { cpuTimeUs } from './harness/proc-tree'
import { fixtureChild, serverBase } from './procs'

function option (name: string, fallback: string): string {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`))
  return given === undefined ? fallback : given.slice(name.length + 3)
}

/** CPU time (user + system) of the server so far, in µs. */
function cpuMicros (pid: number): number {
  const micros = cpuTimeUs(pid)
  if (micros === null) throw new Error(`process ${pid} has no /proc entry`)
  return micros
}

/** The frames quoted per request; each is summed once per sample it is on the stack of. */
const FRAMES: Array<[string, RegExp]> = [
  ['sendmsg to a worker (Channel.send)', /^send .*native.*index\.js$/],
  ['writev of the response', /^writev $/],
  ['HTTP parsing up to the route (parserOnIncoming)', /^parserOnIncoming /],
  ['the worker\'s answer (WorkerLink.handle)', /^handle .*worker-link\.js$/],
  ['pool.enqueue', /^enqueue .*engine\.js$/],
  ['the job record (JobTable.create)', /^create .*job-table\.js$/],
  ['events to the listeners (#emit)', /^#emit .*engine\.js$/],
  ['metrics (onEvent)', /^onEvent .*metrics\.js$/],
  ['response serialization (reply.serialize)', /^serialize .*fastify.*reply\.js$/],
  ['garbage collection', /^\(garbage collector\) $/],
]

interface ProfileNode { id: number, callFrame: { functionName: string, url: string }, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

function framesPerRequest (file: string, requests: number): Array<[string, number]> {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfTime = new Map<number, number>()
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const totals = new Map<string, number>(FRAMES.map(([label]) => [label, 0]))
  for (const [id, micros] of selfTime) {
    const onStack = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame
      const key = `${frame.functionName || '(anonymous)'} ${frame.url}`
      for (const [label, pattern] of FRAMES) if (pattern.test(key)) onStack.add(label)
    }
    for (const label of onStack) totals.set(label, totals.get(label)! + micros)
  }
  return [...totals].map(([label, micros]) => [label, micros / requests])
}

async function main (): Promise<void> {
  const seconds = Number(option('seconds', '5'))
  const connections = Number(option('connections', '50'))
  const profile = process.argv.includes('--profile')
  const dir = profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-prof-')) : null
  const server = fixtureChild('pool-server', { readyTimeoutMs: 30_000, graceMs: 15_000 })
  const { child, ready } = await server.start([], dir === null ? {} : { execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
  const request = {
    url: `${serverBase(ready)}/v1/jobs?wait=10000`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'noop', inputs: [String(ready.input)] }),
    connections
  }
  const warmUp = await autocannon({ ...request, duration: 1 })
  const before = cpuMicros(child.pid!)
  const result = await autocannon({ ...request, duration: seconds })
  const used = cpuMicros(child.pid!) - before
  // Disconnecting lets the fixture close the app and exit on its own, which writes the profile
  // (server.stop() would follow with a SIGTERM at once); the stop is the fallback after 20 s.
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.disconnect()
  const fallback = setTimeout(() => { void server.stop() }, 20_000)
  await exited
  clearTimeout(fallback)
  await server.stop()
  const requests = result.requests.total
  console.log(`${requests} requests in ${seconds} s: ${Math.round(result.requests.average)} req/s, server ${(used / requests).toFixed(1)} µs CPU per request, non-2xx ${result.non2xx}, load average ${os.loadavg()[0].toFixed(2)}`)
  if (dir === null) return
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no profile written into ${dir}`)
  // The profile spans the warm-up too (and the start, whose frames are not among those quoted).
  const profiled = requests + warmUp.requests.total
  for (const [label, micros] of framesPerRequest(path.join(dir, file), profiled)) console.log(`  ${label.padEnd(50)} ${micros.toFixed(1).padStart(6)} µs/request`)
  fs.rmSync(dir, { recursive: true, force: true })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
