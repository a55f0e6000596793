// Buffer expiry: ttlMs on POST /v1/buffers (JSON field or query parameter), outputTtlMs on jobs and
// the pool's default for outputs. An expired buffer goes as DELETE would, with buffer.deleted
// saying why; the tests wait on that event, never on a timer of their own.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import request from 'supertest'
import * as native from '../../native'
import type { Pool } from '../../server/pool/pool'
import type { PoolEvent } from '../../server/pool/types'
import { RawClient, startAttachApp } from '../helpers/attach'
import { errorCode, startApp } from '../helpers/server-app'

/**
 * Records every pool event from now on; `eventually` finds a recorded one or waits for it. A
 * short ttl may run out before a reply is even read, so listening must start before the request.
 */
function eventLog (pool: Pool): (predicate: (e: PoolEvent) => boolean) => Promise<PoolEvent> {
  const seen: PoolEvent[] = []
  const waiting: Array<() => void> = []
  pool.on('event', (e) => { seen.push(e); for (const wake of waiting.splice(0)) wake() })
  return async (predicate) => {
    for (;;) {
      const found = seen.find(predicate)
      if (found !== undefined) return found
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
  }
}

function deletedEvent (id: string) {
  return (e: PoolEvent): boolean => e.type === 'buffer.deleted' && (e.data as { id: string }).id === id
}

test('a buffer whose ttl elapses is deleted, with buffer.deleted reason "expired"', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const eventually = eventLog(app.pool)
  const bytes = app.pool.store.bytesInUse
  const before = Date.now()
  const json = await request(app.server).post('/v1/buffers').send({ size: 4096, ttlMs: 150 })
  assert.equal(json.status, 201)
  const expiresAt = Date.parse(json.body.expiresAt)
  assert.ok(expiresAt >= before + 150 && expiresAt <= Date.now() + 150, json.body.expiresAt)
  const gone = eventually(deletedEvent(json.body.id))

  const raw = await request(app.server).post('/v1/buffers?ttlMs=200').set('content-type', 'application/octet-stream').send(Buffer.from('short-lived'))
  assert.equal(raw.status, 201)
  assert.equal(raw.body.sealed, true)
  assert.equal(typeof raw.body.expiresAt, 'string')
  const rawGone = eventually(deletedEvent(raw.body.id))

  const kept = await request(app.server).post('/v1/buffers').send({ size: 1 })
  assert.equal(kept.body.expiresAt, null)

  assert.deepEqual((await gone).data, { id: json.body.id, name: json.body.name, reason: 'expired' })
  assert.equal((await rawGone as { data: { reason: string } }).data.reason, 'expired')
  assert.equal((await request(app.server).get(`/v1/buffers/${json.body.id}`)).status, 404)
  assert.equal(app.pool.store.bytesInUse, bytes + 1, 'their memory was freed (the 1-byte buffer stays)')
  assert.equal((await request(app.server).get(`/v1/buffers/${kept.body.id}`)).status, 200)

  // A DELETE says so too, and clears the timer.
  const manual = await request(app.server).post('/v1/buffers').send({ size: 1, ttlMs: 100_000 })
  const manualGone = eventually(deletedEvent(manual.body.id))
  assert.equal((await request(app.server).delete(`/v1/buffers/${manual.body.id}`)).status, 204)
  assert.equal(((await manualGone).data as { reason: string }).reason, 'deleted')

  for (const bad of [0, -5, 2 ** 31, 1.5]) {
    const res = await request(app.server).post('/v1/buffers').send({ size: 1, ttlMs: bad })
    assert.equal(res.status, 400, `ttlMs ${bad}`)
    assert.equal(errorCode(res), 'VALIDATION_ERROR')
  }
})

test('job outputs expire after outputTtlMs, or the pool\'s default; lineage names the job', async (t) => {
  const app = await startApp({ poolOptions: { outputTtlMs: 250 } })
  t.after(() => app.close())
  const eventually = eventLog(app.pool)

  const own = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'fill', params: { size: 100 }, outputTtlMs: 100 })
  assert.equal(own.body.state, 'succeeded')
  const [out] = own.body.outputs as string[]
  const info = (await eventually((e) => e.type === 'buffer.created' && (e.data as { id: string }).id === out)).data as { producedBy: unknown, expiresAt: string, createdAt: string }
  assert.deepEqual(info.producedBy, { job: own.body.id })
  assert.equal(Date.parse(info.expiresAt) - Date.parse(info.createdAt), 100)

  const byDefault = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'fill', params: { size: 100 } })
  const [second] = byDefault.body.outputs as string[]
  const secondInfo = (await eventually((e) => e.type === 'buffer.created' && (e.data as { id: string }).id === second)).data as { expiresAt: string, createdAt: string }
  assert.equal(Date.parse(secondInfo.expiresAt) - Date.parse(secondInfo.createdAt), 250, 'the pool\'s default')
  assert.equal(((await eventually(deletedEvent(out))).data as { reason: string }).reason, 'expired')
  assert.equal(((await eventually(deletedEvent(second))).data as { reason: string }).reason, 'expired')
  assert.equal((await request(app.server).get(`/v1/buffers/${out}`)).status, 404)
  assert.equal(app.pool.store.count, 0)
})

test('a pipeline\'s results expire after its outputTtlMs; its intermediates go when read', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const eventually = eventLog(app.pool)
  const res = await request(app.server).post('/v1/pipelines?wait=10000').send({
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 1000, pattern: 'byte', byte: 9 } },
      { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }] }
    ],
    outputTtlMs: 200
  })
  assert.equal(res.body.state, 'succeeded')
  const [zip] = res.body.outputs.zip as string[]
  const raw = res.body.steps[0].outputs[0] as string
  assert.equal(app.pool.store.has(raw), false)
  assert.equal(((await eventually(deletedEvent(zip))).data as { reason: string }).reason, 'expired')
})

test('a memfd registered over the attach socket with ttlMs expires the same way', async (t) => {
  const { app, socketPath } = await startAttachApp()
  t.after(() => app.close())
  const eventually = eventLog(app.pool)
  const client = await RawClient.connect(socketPath)
  t.after(() => client.close())
  const memfd = (): number => {
    const fd = native.memfdCreate('registered')
    native.ftruncate(fd, 10)
    native.addSeals(fd, ['shrink', 'grow', 'write'])
    return fd
  }
  const fd = memfd()
  const { reply } = await client.request({ op: 'register', name: 'brief', ttlMs: 120 }, [fd])
  native.close(fd)
  assert.equal(reply.ok, true, JSON.stringify(reply))
  assert.equal(typeof reply.buffer.expiresAt, 'string')
  assert.equal(reply.buffer.producedBy, null)
  assert.equal(((await eventually(deletedEvent(reply.buffer.id))).data as { reason: string }).reason, 'expired')
  const bad = memfd()
  assert.equal(await client.code({ op: 'register', ttlMs: 0 }, [bad]), 'BAD_REQUEST')
  native.close(bad)
  assert.equal(app.pool.store.count, 0)
})

test('under a pool default ttl, a pipeline\'s intermediates never expire (they go when read); its results and plain jobs\' outputs do', async (t) => {
  const app = await startApp({ poolOptions: { outputTtlMs: 3_600_000 } })
  t.after(() => app.close())
  const pool = app.pool
  const created: PoolEvent[] = []
  pool.on('event', (e) => { if (e.type === 'buffer.created') created.push(e) })
  const run = pool.pipeline({ steps: [{ id: 'raw', kind: 'fill', params: { size: 64 } }, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }] }] })
  const done = await pool.pipelines.wait(run.id, Infinity)
  assert.equal(done.state, 'succeeded', JSON.stringify(done))
  const byStep = new Map(created.map((e) => {
    const info = e.data as { producedBy: { step?: string } | null, expiresAt: string | null }
    return [info.producedBy?.step, info]
  }))
  assert.equal(byStep.get('raw')?.expiresAt, null, 'the intermediate has no ttl')
  assert.notEqual(byStep.get('zip')?.expiresAt, null, 'the result has the pool default')
  const result = pool.store.get(done.outputs.zip[0])
  assert.deepEqual(result.producedBy, { job: done.steps[1].jobId, pipeline: run.id, step: 'zip' })
  // A job's own spec is the REST body: no pipeline members; its job shows pipeline/step null.
  const plain = await pool.submit({ kind: 'fill', params: { size: 8 } })
  assert.deepEqual([plain.pipeline, plain.step], [null, null])
  assert.notEqual(pool.store.get(plain.outputs[0]).expiresAt, null)
  assert.deepEqual([pool.get(done.steps[1].jobId!).pipeline, pool.get(done.steps[1].jobId!).step], [run.id, 'zip'])
})
