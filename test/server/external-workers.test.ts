// External workers wired into the pool, end to end with real processes: `pip install
// ./clients/python` into a temporary target, a 15-line Python worker serving a kind on the app's
// worker socket, jobs submitted and outputs downloaded over REST (64 MiB inputs), a kill mid-job
// (no job left running, no descriptor left in the server, the worker serves again when
// restarted), GET /v1/workers and /v1/kinds, refusals, the kind wait (NO_WORKER), and the C
// worker from examples/c compiled with cc.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { REPO_ROOT, run, tempSocket, until } from '../helpers/attach'
import { countFds } from '../helpers/proc'
import { binaryParser, startApp } from '../helpers/server-app'
import { C_WORKER_SOURCE, captureStderr, exited } from '../helpers/worker-socket'

const MiB = 1024 * 1024
const pip = spawnSync('python3', ['-m', 'pip', '--version']).status === 0
const skip = pip ? false : 'pip is not available for python3'

let app: FastifyInstance
let dir: string
let workerSocket: string
let site: string
let workerFile: string

// What a user writes: 15 lines, the package's Worker API, standard library only.
const WORKER_PY = `import os, sys
from memfd_pool import Worker

INVERT = bytes(255 - i for i in range(256))
w = Worker.connect(sys.argv[1], name="invert-worker")

@w.kind("py-invert", inputs=1, outputs=1, params={"type": "object", "properties": {"hold": {"type": "string"}}})
def invert(ctx):
    """255 - b for every byte; waits while the file named by params.hold exists."""
    while "hold" in ctx.params and os.path.exists(ctx.params["hold"]) and not ctx.wait_cancelled(0.01):
        pass
    out = ctx.output(len(ctx.inputs[0]))
    out[:] = ctx.inputs[0].tobytes().translate(INVERT)
    return {"bytes": len(ctx.inputs[0]), "pid": os.getpid()}

w.run(concurrency=2)
`

function startPythonWorker (socketPath = workerSocket): { child: ChildProcess, stderr: () => string } {
  const child = spawn('python3', [workerFile, socketPath], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    // Only the install target: the source tree is not seen.
    env: { ...process.env, PYTHONPATH: site, PYTHONUNBUFFERED: '1' }
  })
  return { child, stderr: captureStderr(child) }
}

async function upload (target: FastifyInstance, bytes: Buffer): Promise<string> {
  const res = await request(target.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)
  return res.body.id
}

async function content (target: FastifyInstance, id: string): Promise<Buffer> {
  const res = await request(target.server).get(`/v1/buffers/${id}/content`).buffer(true).parse(binaryParser).expect(200)
  return res.body as Buffer
}

async function served (target: FastifyInstance, kind: string): Promise<string[]> {
  const res = await request(target.server).get('/v1/kinds').expect(200)
  return res.body.kinds.find((k: { name: string }) => k.name === kind)?.servedBy ?? []
}

async function waitServed (target: FastifyInstance, kind: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if ((await served(target, kind)).length > 0) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`kind ${kind} never became served`)
}

async function jobState (target: FastifyInstance, id: string): Promise<{ state: string, error: { code: string } | null, attempts: number }> {
  return (await request(target.server).get(`/v1/jobs/${id}`).expect(200)).body
}

const invert = (bytes: Buffer): Buffer => Buffer.from(bytes.map((b) => 255 - b))

before(async () => {
  ({ dir } = tempSocket('memfd-pool-external-'))
  workerSocket = path.join(dir, 'run', 'worker.sock')
  app = await startApp({
    workerSocket: { path: workerSocket },
    poolOptions: { maxMemoryBytes: 512 * MiB, kindWaitMs: 60_000, heartbeatIntervalMs: 200 }
  })
  if (pip) {
    site = path.join(dir, 'site')
    const installed = await run('python3', ['-m', 'pip', 'install', '--quiet', '--no-deps', '--target', site, path.join(REPO_ROOT, 'clients', 'python')], { timeoutMs: 240_000 })
    assert.equal(installed.code, 0, installed.stderr)
  }
  workerFile = path.join(dir, 'invert_worker.py')
  fs.writeFileSync(workerFile, WORKER_PY)
})
after(async () => {
  await app.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('GET /v1/pool reports the worker socket', async () => {
  const res = await request(app.server).get('/v1/pool').expect(200)
  assert.equal(res.body.workerSocket, workerSocket)
})

test('a pip-installed Python worker runs REST-submitted jobs on 64 MiB inputs; it shows in /v1/workers and /v1/kinds', { skip, timeout: 120_000 }, async () => {
  const baseline = countFds()
  const { child, stderr } = startPythonWorker()
  try {
    await waitServed(app, 'py-invert')
    const workers = (await request(app.server).get('/v1/workers').expect(200)).body.workers
    const external = workers.filter((w: { external: boolean }) => w.external)
    assert.equal(external.length, 1, JSON.stringify(workers))
    assert.equal(external[0].pid, child.pid, 'pid from SO_PEERCRED')
    assert.equal(external[0].name, 'invert-worker')
    assert.equal(external[0].threads, 2)
    assert.equal(external[0].state, 'ready')
    assert.equal(external[0].restarts, 0)
    assert.ok(workers.some((w: { external: boolean, name: null }) => !w.external && w.name === null), 'the pool\'s own worker is listed too')
    assert.deepEqual(await served(app, 'py-invert'), [external[0].id])

    const bytes = crypto.randomBytes(64 * MiB)
    const input = await upload(app, bytes)
    const job = await request(app.server).post('/v1/jobs?wait=60000').send({ kind: 'py-invert', inputs: [input] }).expect(200)
    assert.equal(job.body.state, 'succeeded', `${JSON.stringify(job.body)}\n${stderr()}`)
    assert.deepEqual(job.body.result, { bytes: 64 * MiB, pid: child.pid })
    assert.equal(job.body.workerPid, child.pid)
    assert.equal(job.body.outputs.length, 1)
    const output = await content(app, job.body.outputs[0])
    assert.ok(output.equals(invert(bytes)), 'the output holds the inverted bytes')
    const done = (await request(app.server).get('/v1/workers').expect(200)).body.workers.find((w: { external: boolean }) => w.external)
    assert.equal(done.jobsDone, 1)
    for (const id of [input, job.body.outputs[0]]) await request(app.server).delete(`/v1/buffers/${id}`).expect(204)
  } finally {
    child.kill('SIGKILL')
    await exited(child)
  }
  // At most the baseline: an HTTP connection of an earlier test may have closed meanwhile.
  await until(() => countFds() <= baseline, `descriptors back to ${baseline} (now ${countFds()})`, 10_000)
  await until(() => app.pool.workers().every((w) => !w.external), 'the external worker gone from the list')
})

test('killing the worker mid-job: no job runs forever, no descriptor stays, a restarted worker serves again', { skip, timeout: 120_000 }, async () => {
  const hold = path.join(dir, 'hold')
  fs.writeFileSync(hold, '')
  const bytes = crypto.randomBytes(MiB + 7)
  const input = await upload(app, bytes)
  // The input buffer's own descriptors count in the baseline: what must go is the worker's.
  const baseline = countFds()
  const first = startPythonWorker()
  let second: ReturnType<typeof startPythonWorker> | null = null
  try {
    await waitServed(app, 'py-invert')
    const once = (await request(app.server).post('/v1/jobs').send({ kind: 'py-invert', inputs: [input], params: { hold } }).expect(202)).body
    const retried = (await request(app.server).post('/v1/jobs').send({ kind: 'py-invert', inputs: [input], params: { hold }, maxAttempts: 2 }).expect(202)).body
    await until(() => app.pool.get(once.id).state === 'running' && app.pool.get(retried.id).state === 'running', 'both jobs running on the worker', 30_000)

    first.child.kill('SIGKILL')
    await exited(first.child)
    await until(() => app.pool.get(once.id).state === 'failed', 'the single-attempt job failed', 10_000)
    const failed = await jobState(app, once.id)
    assert.equal(failed.error?.code, 'WORKER_CRASHED')
    assert.match(JSON.stringify(failed.error), /External worker x\d+ \(pid \d+\) disconnected/)
    await until(() => app.pool.get(retried.id).state === 'queued', 'the two-attempt job back in the queue')
    // Nobody serves the kind now: a new job of it is refused as unknown; the queued one waits.
    const refused = await request(app.server).post('/v1/jobs').send({ kind: 'py-invert', inputs: [input] }).expect(400)
    assert.equal(refused.body.error.code, 'UNKNOWN_KIND')
    await until(() => countFds() <= baseline, `the dead worker's descriptors all closed (${countFds()} open, ${baseline} before)`)

    fs.rmSync(hold)
    second = startPythonWorker()
    const again = await app.pool.wait(retried.id, 30_000)
    assert.equal(again.state, 'succeeded', `${JSON.stringify(again)}\n${second.stderr()}`)
    assert.equal(again.attempts, 2)
    assert.equal(again.workerPid, second.child.pid)
    assert.ok((await content(app, again.outputs[0])).equals(invert(bytes)))
    await request(app.server).delete(`/v1/buffers/${again.outputs[0]}`).expect(204)
  } finally {
    if (fs.existsSync(hold)) fs.rmSync(hold)
    first.child.kill('SIGKILL')
    await exited(first.child)
    if (second !== null) {
      second.child.kill('SIGKILL')
      await exited(second.child)
    }
  }
  // At most the baseline: an HTTP connection of an earlier test may have closed meanwhile.
  await until(() => countFds() <= baseline, `descriptors back to ${baseline} (now ${countFds()})`, 10_000)
  assert.equal(app.pool.stats().running, 0)
  await request(app.server).delete(`/v1/buffers/${input}`).expect(204)
})

test('an external worker may not take over a built-in kind: refused KIND_REFUSED naming it', { skip, timeout: 60_000 }, async () => {
  const kinds = path.join(dir, 'steal.py')
  fs.writeFileSync(kinds, 'from memfd_pool import kind\n\n@kind("checksum", inputs=1)\ndef checksum(ctx):\n    return {}\n')
  const child = spawn('python3', ['-m', 'memfd_pool.worker', '--socket', workerSocket, kinds], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PYTHONPATH: site } })
  const stderr = captureStderr(child)
  const { code } = await exited(child)
  assert.notEqual(code, 0)
  assert.match(stderr(), /KIND_REFUSED/)
  assert.match(stderr(), /checksum/)
  const checksum = (await request(app.server).get('/v1/kinds').expect(200)).body.kinds.find((k: { name: string }) => k.name === 'checksum')
  assert.ok(checksum.servedBy.every((id: string) => id.startsWith('w')), JSON.stringify(checksum.servedBy))
})

test('a kind nobody serves any more: its queued jobs fail NO_WORKER after the kind wait', { skip, timeout: 60_000 }, async () => {
  const { dir: otherDir } = tempSocket('memfd-pool-external-wait-')
  const socketPath = path.join(otherDir, 'run', 'worker.sock')
  const other = await startApp({ workerSocket: { path: socketPath }, poolOptions: { kindWaitMs: 300 } })
  const hold = path.join(otherDir, 'hold')
  fs.writeFileSync(hold, '')
  const worker = startPythonWorker(socketPath)
  try {
    await waitServed(other, 'py-invert')
    const input = await upload(other, Buffer.from('abc'))
    const jobs: string[] = []
    // Two run (its concurrency), the third waits in the queue.
    for (let i = 0; i < 3; i++) jobs.push((await request(other.server).post('/v1/jobs').send({ kind: 'py-invert', inputs: [input], params: { hold } }).expect(202)).body.id)
    await until(() => other.pool.get(jobs[0]).state === 'running' && other.pool.get(jobs[1]).state === 'running', 'two jobs running')
    assert.equal(other.pool.get(jobs[2]).state, 'queued')
    worker.child.kill('SIGKILL')
    await exited(worker.child)
    const waited = await other.pool.wait(jobs[2], 10_000)
    assert.equal(waited.state, 'failed')
    assert.equal(waited.error?.code, 'NO_WORKER', JSON.stringify(waited.error))
    for (const id of jobs.slice(0, 2)) assert.equal(other.pool.get(id).error?.code, 'WORKER_CRASHED')
    // Jobs of the pool's own kinds were never held up.
    const own = await request(other.server).post('/v1/jobs?wait=10000').send({ kind: 'noop' }).expect(200)
    assert.equal(own.body.state, 'succeeded')
  } finally {
    worker.child.kill('SIGKILL')
    await exited(worker.child)
    await other.close()
    fs.rmSync(otherDir, { recursive: true, force: true })
  }
})

test('the C worker (cc examples/c/worker.c) runs a job submitted over REST', { timeout: 60_000 }, async () => {
  const binary = path.join(dir, 'c-worker')
  const cc = await run('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, C_WORKER_SOURCE])
  assert.equal(cc.code, 0, cc.stderr)
  const child = spawn(binary, ['--kind', 'c-fnv1a64', workerSocket], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr = captureStderr(child)
  let stdout = ''
  child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  try {
    await waitServed(app, 'c-fnv1a64')
    const entry = app.pool.workers().find((w) => w.external)
    assert.equal(entry?.pid, child.pid)
    const bytes = crypto.randomBytes(3 * MiB + 1)
    const input = await upload(app, bytes)
    const job = await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'c-fnv1a64', inputs: [input], params: { output: true } }).expect(200)
    assert.equal(job.body.state, 'succeeded', `${JSON.stringify(job.body)}\n${stderr()}`)
    let h = 0xcbf29ce484222325n
    for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n)
    assert.equal(job.body.result.fnv1a64, h.toString(16).padStart(16, '0'))
    assert.equal(job.body.result.bytes, bytes.length)
    assert.ok((await content(app, job.body.outputs[0])).equals(invert(bytes)))
    await until(() => stdout.includes(`job ${job.body.id}: input fd`), 'the worker printed the job')
  } finally {
    child.kill('SIGKILL')
    await exited(child)
  }
})
