// Every refusal of a pipeline spec: the status and code, a message naming the step at fault, and
// nothing created — no job, no buffer, no pipeline.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import request from 'supertest'
import { createPool } from '../../../server/pool/pool'
import { PoolError } from '../../../server/pool/pool-error'
import { errorCode, startApp } from '../../helpers/server-app'

test('pipeline refusals name the step and create nothing', async (t) => {
  const app = await startApp()
  t.after(() => app.close())
  const pool = app.pool
  const sealed = await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.from('abc'))
  const writable = await request(app.server).post('/v1/buffers').send({ size: 3 })
  const jobsBefore = pool.list({ limit: 1000 }).length
  const buffersBefore = pool.store.count

  const fill = { id: 'raw', kind: 'fill', params: { size: 16 } }
  const cases: Array<{ why: string, body: unknown, status: number, code: string, names?: RegExp }> = [
    { why: 'unknown step reference', body: { steps: [fill, { id: 'zip', kind: 'gzip', inputs: [{ step: 'rwa' }] }] }, status: 400, code: 'INVALID_PIPELINE', names: /"zip".*"rwa"/ },
    { why: 'a cycle', body: { steps: [{ id: 'a', kind: 'gzip', inputs: [{ step: 'c' }] }, { id: 'b', kind: 'gzip', inputs: [{ step: 'a' }] }, { id: 'c', kind: 'gzip', inputs: [{ step: 'b' }] }] }, status: 400, code: 'INVALID_PIPELINE', names: /cycle: a → b → c → a/ },
    { why: 'a step reading itself', body: { steps: [{ id: 'self', kind: 'gzip', inputs: [{ step: 'self' }] }] }, status: 400, code: 'INVALID_PIPELINE', names: /"self".*cycle/ },
    { why: 'a duplicate step id', body: { steps: [fill, { ...fill }] }, status: 400, code: 'INVALID_PIPELINE', names: /"raw": duplicate/ },
    { why: 'an unknown kind', body: { steps: [fill, { id: 'shrink', kind: 'resize', inputs: [{ step: 'raw' }] }] }, status: 400, code: 'UNKNOWN_KIND', names: /"shrink".*"resize"/ },
    { why: 'params the kind refuses', body: { steps: [fill, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }], params: { level: 42 } }] }, status: 400, code: 'INVALID_PARAMS', names: /"zip".*params\.level/ },
    { why: 'an unknown param', body: { steps: [{ id: 'raw', kind: 'fill', params: { size: 1, colour: 'red' } }] }, status: 400, code: 'INVALID_PARAMS', names: /"raw".*colour/ },
    // The pool's own params check (kind-registry.ts, params-bounds.ts), not a copy of it.
    { why: 'params nested past the bound every kind obeys', body: { steps: [{ id: 'deep', kind: 'noop', params: { a: JSON.parse('['.repeat(40) + ']'.repeat(40)) } }] }, status: 400, code: 'INVALID_PARAMS', names: /"deep".*deeper than 32/ },
    { why: 'a missing required param', body: { steps: [{ id: 'raw', kind: 'fill' }] }, status: 400, code: 'INVALID_PARAMS', names: /"raw".*size/ },
    { why: 'too many inputs for the kind', body: { steps: [fill, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw' }, { step: 'raw' }] }] }, status: 400, code: 'INVALID_INPUTS', names: /"zip".*takes 1 input/ },
    { why: 'too few inputs for the kind', body: { steps: [{ id: 'join', kind: 'concat', inputs: [] }] }, status: 400, code: 'INVALID_INPUTS', names: /"join".*1 to 64/ },
    { why: 'an output index the kind cannot produce', body: { steps: [fill, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw', output: 1 }] }] }, status: 400, code: 'INVALID_INPUTS', names: /"zip".*output 1 of step "raw".*fill makes 1/ },
    { why: 'reading an output of a kind that makes none', body: { steps: [{ id: 'sum', kind: 'checksum', inputs: [sealed.body.id] }, { id: 'zip', kind: 'gzip', inputs: [{ step: 'sum' }] }] }, status: 400, code: 'INVALID_INPUTS', names: /"zip".*checksum makes 0/ },
    { why: 'more than 256 steps', body: { steps: Array.from({ length: 257 }, (_, i) => ({ id: `s${i}`, kind: 'noop' })) }, status: 400, code: 'INVALID_PIPELINE', names: /at most 256 steps; 257/ },
    { why: 'no steps', body: { steps: [] }, status: 400, code: 'INVALID_PIPELINE', names: /non-empty/ },
    { why: 'keep naming no step', body: { steps: [fill], keep: ['nothing'] }, status: 400, code: 'INVALID_PIPELINE', names: /"nothing"/ },
    { why: 'an unsealed existing input', body: { steps: [{ id: 'zip', kind: 'gzip', inputs: [writable.body.id] }] }, status: 409, code: 'BUFFER_NOT_SEALED', names: /"zip".*not sealed/ },
    { why: 'an unknown existing input', body: { steps: [{ id: 'zip', kind: 'gzip', inputs: ['buf_nope'] }] }, status: 404, code: 'NOT_FOUND', names: /"zip".*buf_nope/ },
    { why: 'a field the schema does not know', body: { steps: [{ ...fill, colour: 'red' }] }, status: 400, code: 'VALIDATION_ERROR' }
  ]
  for (const c of cases) {
    const res = await request(app.server).post('/v1/pipelines').send(c.body as object)
    assert.equal(res.status, c.status, `${c.why}: ${JSON.stringify(res.body)}`)
    assert.equal(errorCode(res), c.code, c.why)
    if (c.names !== undefined) assert.match(res.body.error.message, c.names, c.why)
  }
  // Many steps are fine up to the limit: the last of 256 steps is checked like the first.
  const wide = await request(app.server).post('/v1/pipelines').send({ steps: Array.from({ length: 256 }, (_, i) => ({ id: `s${i}`, kind: i === 255 ? 'nope' : 'noop' })) })
  assert.equal(errorCode(wide), 'UNKNOWN_KIND')
  assert.match(wide.body.error.message, /"s255"/)

  assert.equal(pool.list({ limit: 1000 }).length, jobsBefore, 'no job was created')
  assert.equal(pool.store.count, buffersBefore, 'no buffer was created')
  assert.deepEqual((await request(app.server).get('/v1/pipelines')).body.pipelines, [])

  // The library refuses the same way, with PoolErrors carrying the codes.
  assert.throws(() => pool.pipeline({ steps: [fill, { id: 'zip', kind: 'gzip', inputs: [{ step: 'raw', output: 2 }] }] }),
    (err: unknown) => err instanceof PoolError && err.code === 'INVALID_INPUTS' && /"zip"/.test(err.message))
  assert.throws(() => pool.pipeline({ steps: 'none' } as never), (err: unknown) => err instanceof PoolError && err.code === 'INVALID_PIPELINE')
  assert.throws(() => pool.pipeline({ steps: [fill], outputTtlMs: -1 }), (err: unknown) => err instanceof PoolError && err.code === 'INVALID_PARAMS')
  assert.equal(pool.pipelines.list().length, 0)
})

test('before any worker has reported its kinds, a pipeline is refused NOT_READY (as a job is), not UNKNOWN_KIND', async (t) => {
  const pool = await createPool({ workers: 1 })
  t.after(() => pool.close({ graceMs: 0 }))
  // Synchronously after createPool: no worker can have sent its 'ready' yet.
  assert.throws(() => pool.pipeline({ steps: [{ id: 'a', kind: 'noop' }] }), (err: unknown) => err instanceof PoolError && err.code === 'NOT_READY')
  assert.equal(pool.pipelines.list().length, 0)
  await pool.whenReady()
  const ok = await pool.pipelines.wait(pool.pipeline({ steps: [{ id: 'a', kind: 'noop' }] }).id, Infinity)
  assert.equal(ok.state, 'succeeded', JSON.stringify(ok))
})
