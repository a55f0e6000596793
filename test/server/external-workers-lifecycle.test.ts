// External workers in the pool, the rules around their life (real Python worker processes from
// clients/python/src on a real worker socket): a conflicting declaration is refused, the worker
// token is enforced, a worker that ignores a cancel is disconnected after the kill grace, one that
// stops answering its heartbeat is disconnected and its job retried, and a closing app asks its
// external workers to shut down (they exit 0).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { tempSocket, until } from '../helpers/attach'
import { startApp } from '../helpers/server-app'
import type { PoolOptions } from '../../server/pool/pool'
import { captureStderr, exited, spawnPythonWorker } from '../helpers/worker-socket'

const KINDS = `import time
from memfd_pool import kind

@kind("ext-echo", inputs=0, params={"type": "object", "properties": {"v": {"type": "integer"}}})
def echo(ctx):
    return {"v": ctx.params.get("v")}

@kind("ext-stubborn", inputs=0)
def stubborn(ctx):
    """Ignores cancel: sleeps on regardless."""
    time.sleep(30)
`
const OTHER_SCHEMA = `from memfd_pool import kind

@kind("ext-echo", inputs=0, params={"type": "object", "properties": {"v": {"type": "string"}}})
def echo(ctx):
    return {}
`

interface Setup { app: FastifyInstance, socketPath: string, dir: string, file: (name: string, text: string) => string }

async function setUp (t: TestContext, options: { token?: string, pool?: PoolOptions } = {}): Promise<Setup> {
  const { dir } = tempSocket('memfd-pool-external-life-')
  const socketPath = path.join(dir, 'run', 'worker.sock')
  const app = await startApp({ workerSocket: { path: socketPath, token: options.token }, poolOptions: options.pool })
  t.after(async () => {
    await app.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const file = (name: string, text: string): string => {
    const target = path.join(dir, name)
    fs.writeFileSync(target, text)
    return target
  }
  return { app, socketPath, dir, file }
}

function startWorker (t: TestContext, setup: Setup, args: string[], env: Record<string, string> = {}): { child: ReturnType<typeof spawnPythonWorker>, stderr: () => string } {
  const child = spawnPythonWorker(setup.socketPath, args, env)
  const stderr = captureStderr(child)
  t.after(async () => {
    child.kill('SIGKILL')
    await exited(child)
  })
  return { child, stderr }
}

async function externalReady (app: FastifyInstance, pid: number | undefined): Promise<string> {
  await until(() => app.pool.workers().some((w) => w.external && w.pid === pid && w.state === 'ready'), `external worker ${pid} ready`, 30_000)
  return app.pool.workers().find((w) => w.external && w.pid === pid)!.id
}

test('a second worker declaring a served kind with a different params schema is refused KIND_REFUSED naming it', { timeout: 60_000 }, async (t) => {
  const setup = await setUp(t)
  const first = startWorker(t, setup, [setup.file('kinds.py', KINDS)])
  const id = await externalReady(setup.app, first.child.pid)
  const second = startWorker(t, setup, [setup.file('other.py', OTHER_SCHEMA)])
  const { code } = await exited(second.child)
  assert.equal(code, 1)
  assert.match(second.stderr(), /KIND_REFUSED: .*kind ext-echo differs/)
  const res = await request(setup.app.server).get('/v1/kinds').expect(200)
  assert.deepEqual(res.body.kinds.find((k: { name: string }) => k.name === 'ext-echo').servedBy, [id])
  // The first one still serves, with its own schema.
  const job = await request(setup.app.server).post('/v1/jobs?wait=10000').send({ kind: 'ext-echo', params: { v: 7 } }).expect(200)
  assert.deepEqual(job.body.result, { v: 7 })
  const bad = await request(setup.app.server).post('/v1/jobs').send({ kind: 'ext-echo', params: { v: 'x' } }).expect(400)
  assert.equal(bad.body.error.code, 'INVALID_PARAMS')
})

test('with --worker-token a worker without it is refused FORBIDDEN; with it, it serves', { timeout: 60_000 }, async (t) => {
  const setup = await setUp(t, { token: 'sesame' })
  const kinds = setup.file('kinds.py', KINDS)
  const without = startWorker(t, setup, [kinds], { MEMFD_POOL_WORKER_TOKEN: '' })
  assert.equal((await exited(without.child)).code, 1)
  assert.match(without.stderr(), /FORBIDDEN/)
  const withToken = startWorker(t, setup, ['--token', 'sesame', kinds])
  await externalReady(setup.app, withToken.child.pid)
})

test('a worker that ignores a cancel is disconnected after the kill grace; the job ends cancelled', { timeout: 60_000 }, async (t) => {
  const setup = await setUp(t, { pool: { killAfterMs: 300 } })
  const worker = startWorker(t, setup, [setup.file('kinds.py', KINDS)])
  await externalReady(setup.app, worker.child.pid)
  const job = (await request(setup.app.server).post('/v1/jobs').send({ kind: 'ext-stubborn' }).expect(202)).body
  await until(() => setup.app.pool.get(job.id).state === 'running', 'the job running')
  await request(setup.app.server).post(`/v1/jobs/${job.id}/cancel`).send({}).expect(200)
  const ended = await setup.app.pool.wait(job.id, 10_000)
  assert.equal(ended.state, 'cancelled')
  const { code } = await exited(worker.child)
  assert.notEqual(code, 0)
  assert.match(worker.stderr(), /CANCEL_IGNORED|closed the connection/)
  assert.ok(setup.app.pool.workers().every((w) => !w.external), 'the worker is gone from the list')
})

test('a worker that stops answering (SIGSTOP) is disconnected after the heartbeat timeout; its job is retried on a new worker', { timeout: 60_000 }, async (t) => {
  const setup = await setUp(t, { pool: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 600 } })
  const kinds = setup.file('kinds.py', KINDS.replace('time.sleep(30)', 'import os\n    if os.path.exists(ctx.params.get("hold", "") or "/nonexistent"): time.sleep(30)').replace('@kind("ext-stubborn", inputs=0)', '@kind("ext-stubborn", inputs=0, params={"type": "object", "properties": {"hold": {"type": "string"}}})'))
  const hold = setup.file('hold', '')
  const frozen = startWorker(t, setup, [kinds])
  await externalReady(setup.app, frozen.child.pid)
  const job = (await request(setup.app.server).post('/v1/jobs').send({ kind: 'ext-stubborn', params: { hold }, maxAttempts: 2 }).expect(202)).body
  await until(() => setup.app.pool.get(job.id).state === 'running', 'the job running')
  frozen.child.kill('SIGSTOP')
  await until(() => setup.app.pool.get(job.id).state === 'queued', 'the job back in the queue after the heartbeat timeout', 10_000)
  assert.ok(setup.app.pool.workers().every((w) => !w.external), 'the frozen worker was disconnected')
  fs.rmSync(hold)
  const fresh = startWorker(t, setup, [kinds])
  const ended = await setup.app.pool.wait(job.id, 30_000)
  assert.equal(ended.state, 'succeeded', JSON.stringify(ended))
  assert.equal(ended.workerPid, fresh.child.pid)
  assert.equal(ended.attempts, 2)
  frozen.child.kill('SIGKILL')
})

test('closing the app asks external workers to shut down: they exit 0', { timeout: 60_000 }, async (t) => {
  const { dir } = tempSocket('memfd-pool-external-close-')
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const socketPath = path.join(dir, 'run', 'worker.sock')
  const app = await startApp({ workerSocket: { path: socketPath } })
  const kinds = path.join(dir, 'kinds.py')
  fs.writeFileSync(kinds, KINDS)
  const child = spawnPythonWorker(socketPath, [kinds])
  const stderr = captureStderr(child)
  await externalReady(app, child.pid)
  const [{ code }] = await Promise.all([exited(child), app.close()])
  assert.equal(code, 0, stderr())
  assert.match(stderr(), /asked us to stop/)
  assert.equal(fs.existsSync(socketPath), false, 'the socket file is removed')
})
