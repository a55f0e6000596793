// The dashboard's detail views in a real headless Chromium (Debian's, driven by playwright-core):
// a job opened from the list shows its params, result, error, inputs and outputs with their exact
// sizes, and its download links give the exact bytes (with a token too, which the page sends as
// a header); Cancel on the page cancels a running job; a pipeline opened from the list is drawn
// as a graph, one box per step and one edge per input, whose states reach `succeeded` live (no
// reload, no request after it opened); a failing pipeline shows the failed step and its
// UPSTREAM_FAILED dependents. No test logs a browser error. Screenshots of the views are written
// to test-artifacts/dashboard-{job,pipeline,pipeline-failed}.png (not committed).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import type { Page } from 'playwright-core'
import request from 'supertest'
import { TEST_TIMEOUT_MS, defer, markDocument, openPage as openBrowserPage, screenshot, skip, stillSameDocument, useBrowser } from '../helpers/browser'
import { portOf, startApp } from '../helpers/server-app'

const chromium = useBrowser('dashboard-details.test')
const openPage = async (t: TestContext): Promise<{ page: Page, errors: string[] }> => await openBrowserPage(t, chromium.browser, { acceptDownloads: true })

/** Clicks a download link and returns the bytes the browser saved. */
async function download (page: Page, selector: string): Promise<Buffer> {
  const [saved] = await Promise.all([page.waitForEvent('download'), page.click(selector)])
  const file = await saved.path()
  assert.equal(await saved.failure(), null)
  return fs.readFileSync(file)
}

const sha256 = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex')

async function contentOf (app: FastifyInstance, id: string, token?: string): Promise<Buffer> {
  const req = request(app.server).get(`/v1/buffers/${id}/content`).buffer(true).parse((res, done) => {
    const chunks: Buffer[] = []
    res.on('data', (chunk: Buffer) => chunks.push(chunk))
    res.on('end', () => { done(null, Buffer.concat(chunks)) })
  })
  if (token !== undefined) void req.set('authorization', `Bearer ${token}`)
  const res = await req.expect(200)
  return res.body as Buffer
}

async function upload (app: FastifyInstance, name: string, bytes: Buffer, token?: string): Promise<string> {
  const req = request(app.server).post(`/v1/buffers?name=${name}`).set('content-type', 'application/octet-stream')
  if (token !== undefined) void req.set('authorization', `Bearer ${token}`)
  return (await req.send(bytes).expect(201)).body.id as string
}

async function textOf (page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => (el as unknown as { textContent: string }).textContent)
}

async function attribute (page: Page, selector: string, name: string): Promise<string | null> {
  return await page.getAttribute(selector, name)
}

test('a job opened from the list shows params, result, inputs and outputs with their sizes; its download links give the exact bytes', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp()
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')

  const original = crypto.randomBytes(100_000)
  const input = await upload(app, 'detail-input', original)
  const params = { level: 6 }
  const done = (await request(app.server).post('/v1/jobs?wait=20000').send({ kind: 'gzip', inputs: [input], params }).expect(200)).body
  assert.equal(done.state, 'succeeded')
  assert.equal(done.outputs.length, 1)
  const output = done.outputs[0] as string
  const outputInfo = (await request(app.server).get(`/v1/buffers/${output}`).expect(200)).body

  // From the list: the id is a link to the detail view.
  await page.click(`#jobs tbody tr[data-job-id="${done.id}"][data-state="succeeded"] a.job-link`)
  assert.equal(new URL(page.url()).hash, `#/jobs/${done.id}`)
  await page.waitForSelector('#detail-root[data-state="succeeded"]')
  assert.equal(await page.isHidden('#list-view'), true)
  assert.deepEqual(JSON.parse(await textOf(page, '#job-params')), params)
  assert.deepEqual(JSON.parse(await textOf(page, '#job-result')), done.result)
  assert.equal(await textOf(page, '#job-error'), 'none')
  assert.equal(await textOf(page, '[data-field="kind"]'), 'gzip')
  assert.equal(await textOf(page, '[data-field="attempts"]'), `${done.attempts as number} of ${done.maxAttempts as number}`)
  assert.equal(await textOf(page, '[data-field="workerPid"]'), String(done.workerPid))

  // One input and one output card, each with its exact size; the output names the job that made it.
  assert.equal(await page.locator('#job-inputs li.buffer-card').count(), 1)
  assert.equal(await page.locator('#job-outputs li.buffer-card').count(), 1)
  const inputCard = `#job-inputs li[data-buffer-id="${input}"]`
  const outputCard = `#job-outputs li[data-buffer-id="${output}"]`
  await page.waitForSelector(`${inputCard}[data-size="${original.length}"]`)
  await page.waitForSelector(`${outputCard}[data-size="${outputInfo.size as number}"]`)
  assert.equal(await attribute(page, `${outputCard} a.lineage-job`, 'href'), `#/jobs/${done.id}`)
  assert.match(await textOf(page, `${inputCard} dd`), /\(100,000 bytes\)/)
  // The descriptor map: the server holds each under its own number.
  await page.waitForSelector(`${inputCard} .descriptors li[data-role="server"][data-pid="${process.pid}"]`)
  await page.waitForSelector(`${outputCard} .descriptors li[data-role="server"][data-pid="${process.pid}"]`)

  // Downloads: the input's bytes exactly, and the output is the gzip of them.
  const inputBytes = await download(page, `${inputCard} a.download`)
  assert.equal(sha256(inputBytes), sha256(original))
  const outputBytes = await download(page, `${outputCard} a.download`)
  assert.equal(outputBytes.length, outputInfo.size)
  assert.equal(sha256(outputBytes), sha256(await contentOf(app, output)))
  assert.equal(sha256(zlib.gunzipSync(outputBytes)), sha256(original))

  await screenshot(page, 'dashboard-job.png')
  // The view is in the URL: a reload opens it again.
  await page.reload()
  await page.waitForSelector(`#detail-root[data-state="succeeded"] ${outputCard}[data-size="${outputInfo.size as number}"]`)
  // ...and the back link leads to the list.
  await page.click('.back a')
  await page.waitForSelector('#list-view:not([hidden]) #jobs')
  assert.equal(await page.isHidden('#detail-view'), true)
  assert.deepEqual(errors, [])
})

test('with a token, Cancel on the page cancels a running job, and a download sends the token as a header', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const token = 'details-token'
  const auth = `Bearer ${token}`
  const app = await startApp({ token })
  defer(t, 'app.close', async () => { await app.close() })
  const job = (await request(app.server).post('/v1/jobs').set('authorization', auth).send({ kind: 'sleep', params: { ms: 60_000 } }).expect(202)).body.id as string
  // Wait for the job to be running on its worker (no sleep: the server holds the reply).
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/?token=${token}#/jobs/${job}`)
  await page.waitForSelector('#connection[data-state="live"]')
  await page.waitForSelector('#detail-root[data-state="running"] #job-cancel')
  await markDocument(page)
  await page.click('#job-cancel')
  const ended = (await request(app.server).get(`/v1/jobs/${job}?wait=20000`).set('authorization', auth).expect(200)).body
  assert.equal(ended.state, 'cancelled')
  await page.waitForSelector('#detail-root[data-state="cancelled"]')
  assert.equal(await page.locator('#job-cancel').count(), 0, 'no Cancel button on a finished job')
  assert.equal(await textOf(page, '#job-error .error-code'), ended.error.code)
  assert.equal(await textOf(page, '[data-field="kind"]'), 'sleep')
  assert.ok(await stillSameDocument(page), 'the cancellation showed without a reload')

  // A download with a token: the plain link would be refused (no header on a navigation), the page fetches with the header.
  const bytes = crypto.randomBytes(70_000)
  const input = await upload(app, 'token-input', bytes, token)
  const checksum = (await request(app.server).post('/v1/jobs?wait=20000').set('authorization', auth).send({ kind: 'checksum', inputs: [input] }).expect(200)).body
  assert.equal(checksum.result.digest, sha256(bytes))
  await page.evaluate((hash) => { (globalThis as unknown as { location: { hash: string } }).location.hash = hash }, `#/jobs/${checksum.id}`)
  const card = `#job-inputs li[data-buffer-id="${input}"][data-size="${bytes.length}"]`
  await page.waitForSelector(card)
  assert.deepEqual(JSON.parse(await textOf(page, '#job-result')), checksum.result)
  const href = await attribute(page, `${card} a.download`, 'href')
  assert.equal(href, `/v1/buffers/${input}/content`, 'no token in the URL')
  const status = await page.evaluate(async (url) => (await fetch(url)).status, href)
  assert.equal(status, 401, 'without the header the server refuses')
  const saved = await download(page, `${card} a.download`)
  assert.equal(sha256(saved), sha256(bytes))
  // The one error logged is the deliberate header-less request above.
  assert.deepEqual(errors, ['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)'])
})

/** A test kind: copies its input to one output once `params.file` exists, so a test decides when a step ends. */
const GATE_KIND = `'use strict'
const fs = require('node:fs')
module.exports = {
  name: 'gate',
  description: 'Copies its input once params.file exists (tests only)',
  inputs: { min: 1, max: 1 },
  outputs: { min: 1, max: 1 },
  async run (ctx) {
    await new Promise((resolve, reject) => {
      let timer = null
      const check = () => { if (fs.existsSync(ctx.params.file)) resolve(); else timer = setTimeout(check, 10) }
      ctx.signal.addEventListener('abort', () => { clearTimeout(timer); reject(ctx.signal.reason) }, { once: true })
      check()
    })
    const input = ctx.inputs[0]
    const out = ctx.output(input.length)
    input.copy(out.buffer)
    out.end(input.length)
    return { bytes: input.length }
  }
}
`

function gateKinds (t: TestContext): { dir: string, release: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-dashboard-gate-'))
  defer(t, 'remove temp dir', () => { fs.rmSync(dir, { recursive: true, force: true }) })
  fs.mkdirSync(path.join(dir, 'kinds'))
  fs.writeFileSync(path.join(dir, 'kinds', 'gate.js'), GATE_KIND)
  return { dir: path.join(dir, 'kinds'), release: path.join(dir, 'release') }
}

test('a pipeline opened from the job list is a graph, a box per step and an edge per input, whose states and sizes arrive live', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const gate = gateKinds(t)
  const app = await startApp({ poolOptions: { workers: 2, kindsDir: gate.dir } })
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t)
  const requests: string[] = []
  let recording = false
  page.on('request', (r) => { if (recording) requests.push(`${r.method()} ${r.url()}`) })
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  await markDocument(page)

  const tail = crypto.randomBytes(4096)
  const existing = await upload(app, 'tail', tail)
  const size = 1024 * 1024
  const pipeline = (await request(app.server).post('/v1/pipelines').send({
    name: 'thumbs',
    steps: [
      { id: 'raw', kind: 'fill', params: { size, pattern: 'random', seed: 7 } },
      { id: 'held', kind: 'gate', inputs: [{ step: 'raw' }], params: { file: gate.release } },
      { id: 'small', kind: 'gzip', inputs: [{ step: 'held' }], params: { level: 1 } },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'small', output: 0 }] },
      { id: 'both', kind: 'concat', inputs: [{ step: 'raw' }, existing] }
    ],
    keep: ['small']
  }).expect(201)).body
  assert.equal(pipeline.state, 'running')

  // The job list links a step's job to its pipeline.
  await page.click(`#jobs tbody a.pipeline-link[data-pipeline="${pipeline.id as string}"][data-step="raw"]`)
  assert.equal(new URL(page.url()).hash, `#/pipelines/${pipeline.id as string}`)
  await page.waitForSelector('#detail-root[data-state="running"] .step-box[data-step-id="held"][data-state="running"]')
  assert.equal(await page.locator('.step-box').count(), 5)
  assert.equal(await page.locator('.source-box').count(), 1)
  assert.equal(await attribute(page, '.source-box', 'data-buffer-id'), existing)
  const edges = await page.$$eval('#pipeline-graph .edge', (list) => list.map((g) => {
    const d = (g as unknown as { dataset: Record<string, string> }).dataset
    return `${d.from} > ${d.to} #${d.input}`
  }))
  assert.deepEqual(edges.sort(), [
    `buffer:${existing} > step:both #1`,
    'step:held > step:small #0',
    'step:raw > step:both #0',
    'step:raw > step:held #0',
    'step:small > step:sum #0'
  ])
  // Layered by depth: each step is right of what it reads.
  const left = async (step: string): Promise<number> => parseFloat(await page.$eval(`.step-box[data-step-id="${step}"]`, (el) => (el as unknown as { style: { left: string } }).style.left))
  assert.ok(await left('raw') < await left('held') && await left('held') < await left('small') && await left('small') < await left('sum'))
  assert.ok(await left('raw') < await left('both'))
  // Held back by the gate: its consumers wait.
  assert.equal(await attribute(page, '.step-box[data-step-id="small"]', 'data-state'), 'pending')
  assert.equal(await attribute(page, '.step-box[data-step-id="sum"]', 'data-state'), 'pending')
  // Sizes known so far: raw's output on both its edges, the existing buffer; `both` ends on its own.
  await page.waitForSelector(`.edge[data-from="step:raw"][data-to="step:held"][data-size="${size}"]`)
  await page.waitForSelector(`.edge[data-from="buffer:${existing}"][data-size="${tail.length}"]`)
  await page.waitForSelector('.step-box[data-step-id="both"][data-state="succeeded"]')
  await page.waitForSelector(`#pipeline-outputs li[data-step="both"][data-size="${size + tail.length}"]`)

  // From here on the page learns everything from the event stream.
  recording = true
  fs.writeFileSync(gate.release, '')
  await page.waitForSelector('#pipeline-state[data-state="succeeded"]')
  for (const step of ['raw', 'held', 'small', 'sum', 'both']) {
    assert.equal(await attribute(page, `.step-box[data-step-id="${step}"]`, 'data-state'), 'succeeded', step)
  }
  const done = (await request(app.server).get(`/v1/pipelines/${pipeline.id as string}`).expect(200)).body
  assert.equal(done.state, 'succeeded')
  const small = done.outputs.small[0] as string
  const smallSize = (await request(app.server).get(`/v1/buffers/${small}`).expect(200)).body.size as number
  await page.waitForSelector(`.edge[data-from="step:held"][data-to="step:small"][data-size="${size}"]`)
  await page.waitForSelector(`.edge[data-from="step:small"][data-to="step:sum"][data-size="${smallSize}"][data-buffer-id="${small}"]`)
  await page.waitForSelector(`.edge[data-from="step:raw"][data-to="step:both"][data-size="${size}"]`)
  // raw was an intermediate: freed once held and both had read it, its size still on its edges.
  await page.waitForSelector(`.edge[data-from="step:raw"][data-to="step:held"][data-freed="true"][data-size="${size}"]`)
  await page.waitForSelector(`#pipeline-outputs li[data-step="small"][data-buffer-id="${small}"][data-size="${smallSize}"]`)
  // The steps table holds the results: sum's digest is the sha256 of small's bytes.
  const sumResult = JSON.parse(await textOf(page, '#pipeline-steps tr[data-step-id="sum"] .step-result')) as { digest: string }
  assert.equal(sumResult.digest, sha256(await contentOf(app, small)))
  assert.equal(await page.locator('#pipeline-steps tbody tr').count(), 5)
  assert.equal(await page.locator('#pipeline-cancel').count(), 0)
  await screenshot(page, 'dashboard-pipeline.png')
  assert.deepEqual(requests, [], 'no request after the view opened: the states came as events')
  assert.ok(await stillSameDocument(page))
  assert.deepEqual(errors, [])
})

test('a failing pipeline shows the failed step, its UPSTREAM_FAILED dependents, and the branch that went on', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp()
  defer(t, 'app.close', async () => { await app.close() })
  const failed = (await request(app.server).post('/v1/pipelines?wait=20000').send({
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 1024, pattern: 'random', seed: 3 } },
      { id: 'un', kind: 'gunzip', inputs: [{ step: 'raw' }] },
      { id: 'again', kind: 'gzip', inputs: [{ step: 'un' }] },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'again' }] },
      { id: 'ok', kind: 'checksum', inputs: [{ step: 'raw' }] }
    ]
  }).expect(200)).body
  assert.equal(failed.state, 'failed')
  const un = failed.steps.find((s: { id: string }) => s.id === 'un')
  assert.equal(un.state, 'failed')

  // From the failed step's job to its pipeline.
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/#/jobs/${un.jobId as string}`)
  await page.waitForSelector('#detail-root[data-state="failed"]')
  assert.equal(await textOf(page, '#job-error .error-code'), un.error.code)
  await page.click('[data-field="pipeline"] a')
  await page.waitForSelector('#pipeline-state[data-state="failed"]')
  assert.equal(await page.locator('.step-box').count(), 5)
  assert.equal(await page.locator('#pipeline-graph .edge').count(), 4)
  const states = await page.$$eval('.step-box', (boxes) => boxes.map((box) => {
    const d = (box as unknown as { dataset: Record<string, string> }).dataset
    return `${d.stepId}:${d.state}:${d.errorCode ?? ''}`
  }))
  assert.deepEqual(states.sort(), [
    'again:cancelled:UPSTREAM_FAILED',
    'ok:succeeded:',
    'raw:succeeded:',
    'sum:cancelled:UPSTREAM_FAILED',
    `un:failed:${un.error.code as string}`
  ])
  assert.equal(await attribute(page, '#pipeline-error', 'data-step'), 'un')
  assert.match(await textOf(page, '#pipeline-error'), new RegExp(`^${un.error.code as string} in step un`))
  await screenshot(page, 'dashboard-pipeline-failed.png')
  assert.equal(await page.locator('#pipeline-cancel').count(), 0)
  assert.deepEqual(errors, [])
})

test('Cancel on a pipeline view cancels every step not yet finished', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const gate = gateKinds(t)
  const app = await startApp({ poolOptions: { kindsDir: gate.dir } })
  defer(t, 'app.close', async () => { await app.close() })
  const pipeline = (await request(app.server).post('/v1/pipelines').send({
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 4096 } },
      { id: 'held', kind: 'gate', inputs: [{ step: 'raw' }], params: { file: gate.release } },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'held' }] }
    ]
  }).expect(201)).body
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/#/pipelines/${pipeline.id as string}`)
  await page.waitForSelector('.step-box[data-step-id="held"][data-state="running"]')
  await page.click('#pipeline-cancel')
  const ended = (await request(app.server).get(`/v1/pipelines/${pipeline.id as string}?wait=20000`).expect(200)).body
  assert.equal(ended.state, 'cancelled')
  await page.waitForSelector('#pipeline-state[data-state="cancelled"]')
  assert.equal(await attribute(page, '.step-box[data-step-id="held"]', 'data-state'), 'cancelled')
  assert.equal(await attribute(page, '.step-box[data-step-id="sum"]', 'data-state'), 'cancelled')
  assert.equal(await page.locator('#pipeline-cancel').count(), 0)
  assert.deepEqual(errors, [])
})
