// /metrics: Prometheus text with job counts by kind and state, durations, queue depth, workers,
// buffers and process descriptors, from a registry of the app's own.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { MiB, startApp } from '../helpers/server-app'

let app: FastifyInstance

before(async () => { app = await startApp({ poolOptions: { workers: 1, maxMemoryBytes: 16 * MiB } }) })
after(async () => { await app.close() })

function value (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

test('job, queue, worker, buffer and descriptor metrics', async () => {
  const input = (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.from('abc')).expect(201)).body.id
  await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'checksum', inputs: [input] }).expect(200)
  await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'checksum', inputs: [input] }).expect(200)
  await request(app.server).post('/v1/jobs?wait=30000').send({ kind: 'gunzip', inputs: [input] }).expect(200) // fails: not gzip

  const res = await request(app.server).get('/metrics').expect(200)
  assert.match(res.headers['content-type'], /^text\/plain/)
  const text = res.text
  assert.equal(value(text, 'memfd_pool_jobs_total{kind="checksum",state="succeeded"}'), 2)
  assert.equal(value(text, 'memfd_pool_jobs_total{kind="gunzip",state="failed"}'), 1)
  assert.equal(value(text, 'memfd_pool_jobs_queued_total{kind="checksum"}'), 2)
  assert.equal(value(text, 'memfd_pool_job_duration_seconds_count{kind="checksum",state="succeeded"}'), 2)
  assert.equal(value(text, 'memfd_pool_queue_depth'), 0)
  assert.equal(value(text, 'memfd_pool_jobs_running'), 0)
  assert.equal(value(text, 'memfd_pool_workers{state="ready"}'), 1)
  assert.equal(value(text, 'memfd_pool_buffers'), 1)
  assert.equal(value(text, 'memfd_pool_buffer_bytes'), 3)
  assert.equal(value(text, 'memfd_pool_quota_bytes'), 16 * MiB)
  const fds = value(text, 'process_open_fds')
  assert.ok(fds !== undefined && fds > 3, 'process descriptors are reported')
})

test('each app has its own registry: a second app in the same process works', async (t) => {
  const other = await startApp()
  t.after(async () => { await other.close() })
  const res = await request(other.server).get('/metrics').expect(200)
  assert.equal(value(res.text, 'memfd_pool_buffers'), 0)
  assert.equal(res.text.includes('memfd_pool_jobs_total{kind="checksum"'), false)
})
