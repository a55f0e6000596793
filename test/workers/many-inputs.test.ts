// Jobs with more inputs than one worker message carries (32 descriptors): 'inputs' messages
// ahead of the 'run', up to 64 in all. Bytes in order over REST, the 65th refused, descriptors
// back to baseline in the server and the worker, a worker killed holding 64 leaks nothing, and a
// worker sent broken sequences closes what it held and keeps working.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import request from 'supertest'
import * as native from '../../native'
import { MAX_JOB_INPUTS } from '../../server/schemas/limits'
import { MAX_RUN_INPUTS, WORKER_CHANNEL, type ServerMessage, type WorkerMessage } from '../../workers/protocol'
import { countFds } from '../helpers/proc'
import { jobProgressed, sealedBuffer, startPool, workerStarted } from '../helpers/pool'
import { startApp } from '../helpers/server-app'
import { until } from '../helpers/event-stream'
import { WorkerDriver, workerConfig } from './worker-driver'

const HOLD_MANY = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'many', 'hold-many.js')

test('concat of 64 sealed inputs over REST: the bytes in order; 65 refused naming inputs; no descriptor kept', async (t) => {
  assert.equal(MAX_JOB_INPUTS, MAX_RUN_INPUTS)
  assert.ok(MAX_JOB_INPUTS > WORKER_CHANNEL.maxFds, 'past one message: the test covers the continuation')
  const app = await startApp()
  t.after(() => app.close())
  const kinds = await request(app.server).get('/v1/kinds')
  assert.deepEqual(kinds.body.kinds.find((k: { name: string }) => k.name === 'concat').inputs, { min: 1, max: 64 })
  const parts = Array.from({ length: 64 }, (_, i) => Buffer.from(`<${i}:${'x'.repeat(i)}>`))
  const ids = parts.map((bytes) => sealedBuffer(app.pool, bytes))
  const warm = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'concat', inputs: [ids[0]] })
  assert.equal(warm.body.state, 'succeeded')
  await request(app.server).delete(`/v1/buffers/${warm.body.outputs[0] as string}`).expect(204)
  const workerPid = app.pool.workers()[0].pid!
  const serverBaseline = countFds()
  const workerBaseline = countFds(workerPid)

  for (const n of [33, 64]) {
    const res = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'concat', inputs: ids.slice(0, n) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.state, 'succeeded', JSON.stringify(res.body.error))
    const expected = Buffer.concat(parts.slice(0, n))
    assert.deepEqual(res.body.result, { inputs: n, bytes: expected.length })
    const out = res.body.outputs[0] as string
    const bytes = await request(app.server).get(`/v1/buffers/${out}/content`).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = []
      r.on('data', (c: Buffer) => chunks.push(c))
      r.on('end', () => cb(null, Buffer.concat(chunks)))
    })
    assert.equal(bytes.status, 200)
    assert.deepEqual(bytes.body, expected, `${n} inputs: their bytes in order`)
    await request(app.server).delete(`/v1/buffers/${out}`).expect(204)
  }

  const over = await request(app.server).post('/v1/jobs').send({ kind: 'concat', inputs: [...ids, ids[0]] })
  assert.equal(over.status, 400)
  assert.match(over.body.error.message, /inputs/)
  const step = await request(app.server).post('/v1/pipelines').send({ steps: [{ id: 'all', kind: 'concat', inputs: [...ids, ids[0]] }] })
  assert.equal(step.status, 400)
  assert.match(step.body.error.message, /inputs/)

  // A pipeline step takes 64 too.
  const pipeline = await request(app.server).post('/v1/pipelines?wait=10000').send({ steps: [{ id: 'all', kind: 'concat', inputs: ids }] })
  assert.equal(pipeline.status, 200, JSON.stringify(pipeline.body))
  assert.equal(pipeline.body.state, 'succeeded', JSON.stringify(pipeline.body.error))
  const pipelineOut = pipeline.body.outputs.all[0] as string
  assert.equal(app.pool.store.get(pipelineOut).size, Buffer.concat(parts).length)
  await request(app.server).delete(`/v1/buffers/${pipelineOut}`).expect(204)

  // The worker closes its inputs before its 'done' leaves; the server its dups right after send.
  await until(() => countFds() === serverBaseline && countFds(workerPid) === workerBaseline, 'descriptors back to baseline', 5000)
  assert.equal(app.pool.workers()[0].pid, workerPid, 'the same worker did all of it')
})

test('SIGKILL a worker holding a 64-input job: WORKER_CRASHED, or retried on the replacement; nothing leaks', async (t) => {
  const pool = await startPool({ workers: 1, kinds: [HOLD_MANY] })
  t.after(() => pool.close({ graceMs: 0 }))
  const ids = Array.from({ length: 64 }, (_, i) => sealedBuffer(pool, Buffer.from([i])))
  const baseline = countFds()

  const first = pool.enqueue({ kind: 'hold-many', inputs: ids })
  await jobProgressed(pool, first.id)
  const pid = pool.get(first.id).workerPid!
  let replacement = workerStarted(pool)
  process.kill(pid, 'SIGKILL')
  const crashed = await pool.wait(first.id, 10_000)
  assert.equal(crashed.state, 'failed')
  assert.equal(crashed.error!.code, 'WORKER_CRASHED')
  const second = await replacement
  await until(() => countFds() === baseline, 'the server keeps no descriptor of the dead worker', 5000)

  const retried = pool.enqueue({ kind: 'hold-many', inputs: ids, maxAttempts: 2 })
  await jobProgressed(pool, retried.id)
  replacement = workerStarted(pool)
  process.kill(second, 'SIGKILL')
  const third = await replacement
  await until(() => pool.get(retried.id).attempts === 2 && pool.get(retried.id).progress > 0, 'the retry reached the replacement', 10_000)
  assert.equal(pool.get(retried.id).workerPid, third)
  const thirdBaseline = countFds(third)
  pool.cancel(retried.id)
  const cancelled = await pool.wait(retried.id, 10_000)
  assert.equal(cancelled.error!.code, 'CANCELLED')
  assert.ok(countFds(third) <= thirdBaseline - 64, 'the worker closed the 64 inputs of the cancelled job')
  const done = await pool.submit({ kind: 'concat', inputs: ids })
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  pool.store.delete(done.outputs[0])
  await until(() => countFds() === baseline, 'server descriptors back to baseline', 5000)
  for (const id of ids) pool.store.delete(id)
})

test('a real worker sent broken input sequences closes what it held and keeps working', async (t) => {
  const worker = new WorkerDriver()
  t.after(async () => { await worker.stop() })
  const child = worker.child
  assert.equal((await worker.handshake(workerConfig())).t, 'ready')
  type Done = Extract<WorkerMessage, { t: 'done' }>
  /** The job's answer; its outputs' descriptors (this process's copies) are closed at once. */
  const done = async (job: string): Promise<Done> => {
    const { message, fds } = await worker.next<Done>((m) => m.t === 'done' && m.job === job)
    for (const fd of fds) native.close(fd)
    return message
  }
  const memfd = native.memfdCreate('input')
  native.ftruncate(memfd, 16)
  native.addSeals(memfd, ['shrink', 'grow', 'write'])
  const copies = (n: number): number[] => new Array(n).fill(memfd)
  const run = (job: string, fdCount: number, inputs: number): ServerMessage => ({ t: 'run', job, kind: 'concat', params: {}, inputs: Array.from({ length: inputs }, () => ({ id: 'b', generation: 1, size: 16 })), fdCount, maxOutputBytes: 1 << 20 })
  const inputs = (job: string, fdCount: number): ServerMessage => ({ t: 'inputs', job, fdCount })

  worker.send(run('warm-up', 1, 1), [memfd])
  assert.equal((await done('warm-up')).ok, true)
  const fdList = (): string => fs.readdirSync(`/proc/${child.pid!}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${child.pid!}/fd/${fd}`) } catch { return '?' } }).sort().join(' ')
  // The worker closes an output right after its 'done' has left, which may be after we read it.
  await until(() => !fdList().includes('memfd-pool-out'), 'the warm-up output closed in the worker', 5000)
  const baseline = countFds(child.pid!)
  const baselineList = fdList()

  // The sequence as the server sends it: 32 ahead, 32 with the run.
  worker.send(inputs('whole', 32), copies(32))
  worker.send(run('whole', 32, 64), copies(32))
  const whole = await done('whole')
  assert.equal(whole.ok, true, JSON.stringify(whole))
  assert.deepEqual(whole.ok && whole.result, { inputs: 64, bytes: 64 * 16 })

  // Another job's run after held inputs: they are dropped, that run goes on, and the orphaned
  // run, arriving later with only its own part, is refused.
  worker.send(inputs('orphan', 32), copies(32))
  worker.send(run('other', 1, 1), [memfd])
  worker.send(run('orphan', 32, 64), copies(32))
  assert.equal((await done('other')).ok, true)
  const orphan = await done('orphan')
  assert.equal(orphan.ok, false)
  assert.equal(!orphan.ok && orphan.error.code, 'PROTOCOL_ERROR')

  // A ping between the parts drops them too; a lying count breaks the run that follows.
  worker.send(inputs('pinged', 32), copies(32))
  worker.send({ t: 'ping', seq: 7 })
  await worker.next((m) => m.t === 'pong' && m.seq === 7)
  worker.send(inputs('lying', 31), copies(32))
  worker.send(run('lying', 32, 64), copies(32))
  const lying = await done('lying')
  assert.equal(!lying.ok && lying.error.code, 'PROTOCOL_ERROR')
  // More than 64 in all.
  worker.send(inputs('too-many', 32), copies(32))
  worker.send(inputs('too-many', 32), copies(32))
  worker.send(run('too-many', 1, 65), [memfd])
  const tooMany = await done('too-many')
  assert.equal(!tooMany.ok && tooMany.error.code, 'PROTOCOL_ERROR')
  // Held inputs for a run that never comes: the next message lets them go.
  worker.send(inputs('never', 32), copies(32))
  worker.send(run('last', 1, 1), [memfd])
  assert.equal((await done('last')).ok, true)

  await until(() => countFds(child.pid!) === baseline, 'the worker closed everything it was sent', 5000).catch((err) => { throw new Error(`${(err as Error).message}: ${baselineList} -> ${fdList()}`) })
  assert.match(worker.stderr, /dropped 32 input descriptors held for job orphan/)
  assert.equal(child.exitCode, null, 'still running')
  native.close(memfd)
  worker.send({ t: 'shutdown' })
  const [code] = await worker.exited
  assert.equal(code, 0)
})
