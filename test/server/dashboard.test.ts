// The dashboard in a real headless Chromium (Debian's, driven by playwright-core): it shows the
// live worker pids, a job submitted over REST appears and reaches `succeeded` without a reload,
// the page logs no errors, and it works with a token passed as ?token=. It lives on its
// WebSocket alone: open on a busy pool it makes no request at all once live, and its descriptor
// map still shows a worker's descriptor during a 300 ms job (issue 11). A screenshot is written
// to test-artifacts/dashboard.png (not committed).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Page } from 'playwright-core'
import request from 'supertest'
import { run } from '../helpers/attach'
import { TEST_TIMEOUT_MS, defer, markDocument, openPage as openBrowserPage, screenshot, skip, stillSameDocument, useBrowser } from '../helpers/browser'
import { openEvents } from '../helpers/event-stream'
import { portOf, startApp } from '../helpers/server-app'
import { C_WORKER_SOURCE, exited } from '../helpers/worker-socket'

/** Holds a `nap` kind: a job that keeps its input buffer for params.ms. */
const NAP_KINDS = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dashboard-kinds')

const chromium = useBrowser('dashboard.test')
const openPage = async (t: TestContext): Promise<{ page: Page, errors: string[] }> => await openBrowserPage(t, chromium.browser)

async function showsWorkerPids (page: Page, app: FastifyInstance): Promise<void> {
  const pids = app.pool.workers().map((w) => w.pid)
  assert.ok(pids.length > 0 && pids.every((pid) => typeof pid === 'number'))
  for (const pid of pids) {
    const row = await page.waitForSelector(`#workers tbody tr[data-pid="${pid}"]`)
    assert.match(await row.innerText(), new RegExp(`\\b${pid}\\b`))
  }
}

test('the dashboard shows live workers, and a job submitted over REST reaches succeeded without a reload', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp({ poolOptions: { workers: 2 } })
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  await markDocument(page)
  await showsWorkerPids(page, app)

  // A buffer, then a job reading it: both appear while the page stays as it is.
  const input = (await request(app.server).post('/v1/buffers?name=greeting').set('content-type', 'application/octet-stream')
    .send(Buffer.from('hello from the dashboard test')).expect(201)).body.id as string
  const bufferRow = await page.waitForSelector(`#buffers tbody tr[data-buffer-id="${input}"][data-sealed="true"]`)
  assert.match(await bufferRow.innerText(), /greeting/)
  // The descriptor map names the server's own pid and its process-local number.
  await page.waitForSelector(`#buffers tbody tr[data-buffer-id="${input}"] li[data-role="server"][data-pid="${process.pid}"]`)

  const job = (await request(app.server).post('/v1/jobs').send({ kind: 'sleep', params: { ms: 400 } }).expect(202)).body.id as string
  await page.waitForSelector(`#jobs tbody tr[data-job-id="${job}"]`)
  const checksum = (await request(app.server).post('/v1/jobs').send({ kind: 'checksum', inputs: [input] }).expect(202)).body.id as string
  const done = await page.waitForSelector(`#jobs tbody tr[data-job-id="${job}"][data-state="succeeded"]`)
  assert.match(await done.innerText(), /sleep[\s\S]*succeeded[\s\S]*100%/)
  await page.waitForSelector(`#jobs tbody tr[data-job-id="${checksum}"][data-state="succeeded"]`)
  // The workers' jobs-done counters follow the jobs (worker.updated events).
  // (A string: the test compiles without the DOM's types.)
  await page.waitForFunction(`[...document.querySelectorAll('#workers tbody tr td:nth-child(6)')]
    .reduce((sum, cell) => sum + Number(cell.textContent), 0) >= 2`)

  assert.ok(await stillSameDocument(page), 'the page was not reloaded')
  await screenshot(page, 'dashboard.png', false)
  assert.deepEqual(errors, [])
})

test('with a token, /?token= connects the page and shows jobs live', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const token = 'dashboard-token'
  const app = await startApp({ token })
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/?token=${token}`)
  await page.waitForSelector('#connection[data-state="live"]')
  await markDocument(page)
  await showsWorkerPids(page, app)
  const job = (await request(app.server).post('/v1/jobs').set('authorization', `Bearer ${token}`).send({ kind: 'noop' }).expect(202)).body.id as string
  await page.waitForSelector(`#jobs tbody tr[data-job-id="${job}"][data-state="succeeded"]`)
  assert.ok(await stillSameDocument(page))
  assert.deepEqual(errors, [])
})

test('open 10 s on a busy pool, the page makes no request once live, and shows each 300 ms job\'s worker descriptor while it runs', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp({ poolOptions: { workers: 2, kindsDir: NAP_KINDS } })
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t)
  const requests: string[] = []
  let live = false
  page.on('request', (r) => { if (live) requests.push(`${r.method()} ${r.url()}`) })
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  live = true
  await markDocument(page)

  const input = (await request(app.server).post('/v1/buffers?name=napping').set('content-type', 'application/octet-stream')
    .send(Buffer.from('held by a worker for 300 ms')).expect(201)).body.id as string
  const row = `#buffers tbody tr[data-buffer-id="${input}"]`
  await page.waitForSelector(`${row} li[data-role="server"]`)

  const workerPids = app.pool.workerPids()
  const end = Date.now() + 10_000
  let jobs = 0
  while (Date.now() < end) {
    const job = (await request(app.server).post('/v1/jobs').send({ kind: 'nap', inputs: [input], params: { ms: 300 } }).expect(202)).body.id as string
    jobs++
    // The worker's descriptor appears while the job runs (buffer.holders), naming a worker and
    // its own number for the buffer, which in that process is the buffer's memfd.
    const item = await page.waitForSelector(`${row} li[data-role="worker"]`)
    assert.equal(app.pool.get(job).state, 'running', 'seen while the job runs')
    const pid = Number(await item.getAttribute('data-pid'))
    const fd = Number(await item.getAttribute('data-fd'))
    assert.ok(workerPids.includes(pid), `pid ${pid} is a worker`)
    assert.equal(pid, app.pool.get(job).workerPid)
    assert.match(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), new RegExp(`^/memfd:memfd-pool:${input}`))
    // ...and goes once the job is done.
    await page.waitForSelector(`#jobs tbody tr[data-job-id="${job}"][data-state="succeeded"]`)
    await page.waitForSelector(`${row} li[data-role="worker"]`, { state: 'detached' })
  }
  // The counters came as worker.updated: the page's jobs-done add up to every job run.
  await page.waitForFunction(`[...document.querySelectorAll('#workers tbody tr td:nth-child(6)')]
    .reduce((sum, cell) => sum + Number(cell.textContent), 0) === ${jobs}`)
  t.diagnostic(`${jobs} jobs of 300 ms in 10 s; requests after the first load: ${requests.length}`)
  assert.ok(jobs >= 5, 'a busy pool: jobs back to back all along (about 20 on an idle machine)')
  assert.deepEqual(requests, [], 'no request once the WebSocket is live')
  assert.ok(await stillSameDocument(page))
  assert.deepEqual(errors, [])
})

test('the charts open with the server\'s recent counters, not an empty window', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp()
  defer(t, 'app.close', async () => { await app.close() })
  const watcher = await openEvents(app, '?topics=pool')
  defer(t, 'event watcher close', () => watcher.close())
  await watcher.nextOf('snapshot')
  for (let i = 0; i < 3; i++) await watcher.nextOf('pool.stats')
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  // At most one more sample can have arrived live since: the others came with the snapshot.
  for (const chart of ['#queue-depth-chart', '#throughput-chart']) {
    const samples = Number(await page.$eval(chart, (el) => (el as unknown as { dataset: { samples?: string } }).dataset.samples))
    assert.ok(samples >= 3, `${chart}: ${samples} samples at first sight`)
  }
  assert.deepEqual(errors, [])
})

test('past the subscriber limit the page says it was refused, and why', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp({ events: { maxSubscribers: 0 } })
  defer(t, 'app.close', async () => { await app.close() })
  const { page } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForFunction('/refused by the server: too many subscribers/.test(document.getElementById("connection-detail").textContent)')
  assert.equal(await page.getAttribute('#connection', 'data-state'), 'connecting')
})

test('an external worker (the C example on the worker socket) appears live, marked external with its name, and leaves', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-dashboard-external-'))
  defer(t, 'remove temp dir', () => { fs.rmSync(dir, { recursive: true, force: true }) })
  const socketPath = path.join(dir, 'run', 'worker.sock')
  const app = await startApp({ workerSocket: { path: socketPath } })
  defer(t, 'app.close', async () => { await app.close() })
  const binary = path.join(dir, 'c-worker')
  const cc = await run('cc', ['-O2', '-o', binary, C_WORKER_SOURCE])
  assert.equal(cc.code, 0, cc.stderr)
  const { page, errors } = await openPage(t)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  await showsWorkerPids(page, app)

  const child = spawn(binary, [socketPath], { stdio: 'ignore' })
  defer(t, 'C worker exit', async () => { child.kill('SIGKILL'); await exited(child) })
  const row = await page.waitForSelector(`#workers tbody tr[data-pid="${child.pid}"][data-external="true"][data-state="ready"]`)
  assert.match(await row.innerText(), /x\d+\s*external · c-worker/)
  // The pool's own worker is not marked.
  const own = app.pool.workers().find((w) => !w.external)!
  await page.waitForSelector(`#workers tbody tr[data-pid="${own.pid}"][data-external="false"]`)
  child.kill('SIGKILL')
  await page.waitForSelector(`#workers tbody tr[data-pid="${child.pid}"][data-state="exited"]`)
  assert.deepEqual(errors, [])
})
