// Pipelines over REST (supertest against the real app, real worker processes): the issue's
// example end to end, failure propagation, cancel, list, and that nothing is left behind.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import zlib from 'node:zlib'
import request from 'supertest'
import type { FastifyInstance } from 'fastify'
import type { PoolEvent } from '../../../server/pool/types'
import { nextEvent } from '../../helpers/pool'
import { binaryParser, errorCode, startApp } from '../../helpers/server-app'

interface Step { id: string, state: string, jobId: string | null, outputs: string[], result: Record<string, unknown> | null, error: { code: string, message: string } | null }

function stepsOf (body: { steps: Step[] }): Record<string, Step> {
  return Object.fromEntries(body.steps.map((s) => [s.id, s]))
}

async function upload (app: FastifyInstance, bytes: Buffer): Promise<string> {
  const res = await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes)
  assert.equal(res.status, 201)
  return res.body.id as string
}

async function download (app: FastifyInstance, id: string): Promise<Buffer> {
  const res = await request(app.server).get(`/v1/buffers/${id}/content`).buffer(true).parse(binaryParser)
  assert.equal(res.status, 200)
  return res.body as Buffer
}

test('the issue\'s example over REST ends succeeded; results are right and intermediates gone', async (t) => {
  const app = await startApp({ poolOptions: { workers: 2 } })
  t.after(() => app.close())
  const tail = crypto.randomBytes(3000)
  const existing = await upload(app, tail)
  const created: PoolEvent[] = []
  const ended = nextEvent(app.pool, (e) => e.type === 'pipeline.succeeded' || e.type === 'pipeline.failed')
  app.pool.on('event', (e) => { if (e.type === 'pipeline.created') created.push(e) })

  const res = await request(app.server).post('/v1/pipelines?wait=30000').send({
    name: 'thumbs',
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 1048576, pattern: 'random', seed: 7 } },
      { id: 'small', kind: 'gzip', inputs: [{ step: 'raw' }], params: { level: 1 } },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'small', output: 0 }] },
      { id: 'both', kind: 'concat', inputs: [{ step: 'raw' }, existing] }
    ],
    keep: ['small'],
    outputTtlMs: 600000
  })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(res.headers.location, `/v1/pipelines/${res.body.id}`)
  assert.equal(res.body.state, 'succeeded')
  assert.equal(res.body.name, 'thumbs')
  assert.equal((await ended).type, 'pipeline.succeeded')
  assert.equal(created.length, 1)
  const steps = stepsOf(res.body)
  assert.deepEqual(Object.values(steps).map((s) => s.state), ['succeeded', 'succeeded', 'succeeded', 'succeeded'])
  assert.deepEqual(res.body.outputs, { small: steps.small.outputs, sum: [], both: steps.both.outputs })

  const smallBytes = await download(app, res.body.outputs.small[0])
  assert.equal(steps.sum.result?.digest, crypto.createHash('sha256').update(smallBytes).digest('hex'))
  const bothBytes = await download(app, res.body.outputs.both[0])
  const raw = zlib.gunzipSync(smallBytes)
  assert.equal(raw.length, 1048576)
  assert.deepEqual(bothBytes, Buffer.concat([raw, tail]))
  // raw is gone, small kept (with its lineage and expiry).
  assert.equal((await request(app.server).get(`/v1/buffers/${steps.raw.outputs[0]}`)).status, 404)
  const small = await request(app.server).get(`/v1/buffers/${res.body.outputs.small[0]}`)
  assert.equal(small.status, 200)
  assert.deepEqual(small.body.producedBy, { job: steps.small.jobId, pipeline: res.body.id, step: 'small' })
  assert.equal(typeof small.body.expiresAt, 'string')
  const uploaded = await request(app.server).get(`/v1/buffers/${existing}`)
  assert.equal(uploaded.body.producedBy, null)
  assert.equal(uploaded.body.expiresAt, null)
  const listed = await request(app.server).get('/v1/buffers')
  assert.deepEqual(listed.body.buffers.map((b: { id: string }) => b.id).sort(), [existing, ...res.body.outputs.small, ...res.body.outputs.both].sort())

  // Each step is an ordinary job carrying its pipeline and step.
  const job = await request(app.server).get(`/v1/jobs/${steps.sum.jobId}`)
  assert.equal(job.body.pipeline, res.body.id)
  assert.equal(job.body.step, 'sum')
  const plain = await request(app.server).post('/v1/jobs?wait=10000').send({ kind: 'noop' })
  assert.equal(plain.body.pipeline, null)
  assert.equal(plain.body.step, null)

  const again = await request(app.server).get(`/v1/pipelines/${res.body.id}`)
  assert.deepEqual(again.body, res.body)
  const list = await request(app.server).get('/v1/pipelines')
  assert.deepEqual(list.body.pipelines.map((p: { id: string }) => p.id), [res.body.id])
})

test('a gunzip step fed non-gzip bytes: the pipeline fails, its dependents end UPSTREAM_FAILED, the other branch goes on, nothing leaks', async (t) => {
  const app = await startApp({ poolOptions: { workers: 2 } })
  t.after(() => app.close())
  const notGzip = await upload(app, Buffer.from('this is not gzip data at all'))
  const baseline = app.pool.store.count

  const res = await request(app.server).post('/v1/pipelines?wait=30000').send({
    steps: [
      { id: 'copy', kind: 'concat', inputs: [notGzip] },
      { id: 'unzip', kind: 'gunzip', inputs: [{ step: 'copy' }] },
      { id: 'rezip', kind: 'gzip', inputs: [{ step: 'unzip' }] },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'rezip' }] },
      { id: 'side', kind: 'checksum', inputs: [{ step: 'copy' }] }
    ]
  })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(res.body.state, 'failed')
  const steps = stepsOf(res.body)
  assert.equal(steps.copy.state, 'succeeded')
  assert.equal(steps.side.state, 'succeeded', 'the other branch went on')
  assert.equal(steps.unzip.state, 'failed')
  assert.equal(res.body.error.step, 'unzip')
  assert.equal(res.body.error.code, steps.unzip.error?.code)
  for (const id of ['rezip', 'sum']) {
    assert.equal(steps[id].state, 'cancelled')
    assert.equal(steps[id].error?.code, 'UPSTREAM_FAILED')
    assert.match(steps[id].error?.message ?? '', /"unzip"/)
    assert.equal(steps[id].jobId, null, 'never became a job')
  }
  // copy's output was an intermediate (read by unzip and side): deleted although unzip failed.
  assert.equal(app.pool.store.has(steps.copy.outputs[0]), false)
  assert.equal(app.pool.store.count, baseline)
  assert.equal(app.pool.stats().running + app.pool.stats().queueDepth, 0)
})

test('cancel stops every unfinished step; the pipeline ends cancelled and frees its intermediates', async (t) => {
  const app = await startApp({ poolOptions: { workers: 2 } })
  t.after(() => app.close())
  const baseline = app.pool.store.count
  const res = await request(app.server).post('/v1/pipelines').send({
    steps: [
      { id: 'data', kind: 'fill', params: { size: 4096, pattern: 'byte', byte: 1 } },
      { id: 'nap', kind: 'sleep', params: { ms: 60000 } },
      { id: 'pack', kind: 'gzip', inputs: [{ step: 'data' }] }
    ],
    keep: []
  })
  assert.equal(res.status, 201)
  const id = res.body.id as string
  // Wait (on events) until data has succeeded and nap runs, so the cancel meets all three cases.
  const napJob = stepsOf(res.body).nap.jobId
  if (app.pool.get(napJob!).state !== 'running') {
    await nextEvent(app.pool, (e) => e.type === 'job.started' && (e.data as { id: string }).id === napJob)
  }
  const now = await request(app.server).get(`/v1/pipelines/${id}`)
  assert.equal(now.body.state, 'running', 'nap keeps it running')
  const ended = nextEvent(app.pool, (e) => e.type === 'pipeline.cancelled' && (e.data as { id: string }).id === id)
  const cancel = await request(app.server).post(`/v1/pipelines/${id}/cancel`)
  assert.equal(cancel.status, 200)
  const final = (await ended).data as { state: string, steps: Step[] }
  assert.equal(final.state, 'cancelled')
  const steps = stepsOf(final)
  assert.equal(steps.nap.state, 'cancelled')
  assert.equal(app.pool.get(steps.nap.jobId!).state, 'cancelled')
  assert.equal(app.pool.store.count, baseline + (steps.pack.state === 'succeeded' ? 1 : 0))
  const again = await request(app.server).post(`/v1/pipelines/${id}/cancel`)
  assert.equal(again.status, 409)
  assert.equal(errorCode(again), 'PIPELINE_FINISHED')
  assert.equal(errorCode(await request(app.server).get('/v1/pipelines/pl_nope')), 'NOT_FOUND')
})

test('GET ?wait holds until the end; the list is newest first, filtered by state and limited', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const ok = await request(app.server).post('/v1/pipelines').send({ steps: [{ id: 'raw', kind: 'fill', params: { size: 10 } }] })
  assert.equal(ok.status, 201)
  const waited = await request(app.server).get(`/v1/pipelines/${ok.body.id}?wait=20000`)
  assert.equal(waited.body.state, 'succeeded')
  assert.equal(typeof waited.body.finishedAt, 'string')
  const bad = await request(app.server).post('/v1/pipelines?wait=20000').send({ steps: [{ id: 'unzip', kind: 'gunzip', inputs: [waited.body.outputs.raw[0]] }] })
  assert.equal(bad.body.state, 'failed')
  const all = await request(app.server).get('/v1/pipelines')
  assert.deepEqual(all.body.pipelines.map((p: { id: string }) => p.id), [bad.body.id, ok.body.id])
  const failed = await request(app.server).get('/v1/pipelines?state=failed')
  assert.deepEqual(failed.body.pipelines.map((p: { id: string }) => p.id), [bad.body.id])
  const one = await request(app.server).get('/v1/pipelines?limit=1')
  assert.equal(one.body.pipelines.length, 1)
  assert.equal(errorCode(await request(app.server).get('/v1/pipelines?state=done')), 'VALIDATION_ERROR')
})
