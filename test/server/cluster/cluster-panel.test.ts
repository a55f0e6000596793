// The dashboard's cluster panel in a real headless Chromium, against a real redis-server and
// nodes as separate processes: node A's page lists A and B up, shows the bytes A pulled and B
// served after a concat whose inputs live on both (and the placement), and B turning lost when
// it is SIGKILLed, all live from the event stream (the page asks /v1 nothing but /v1/events).
// Without --cluster the panel stays hidden. Screenshot: test-artifacts/dashboard-cluster.png.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { TEST_TIMEOUT_MS, defer, openPage, screenshot, skip as noBrowser, useBrowser } from '../../helpers/browser'
import { startNode, type NodeProcess } from '../../helpers/cluster-node'
import { haveRedis, RedisServer } from '../../helpers/redis'
import { portOf, startApp } from '../../helpers/server-app'

const chromium = useBrowser('cluster-panel.test')
const skip = noBrowser !== false ? noBrowser : haveRedis() ? false : 'redis-server is not installed (.ci/run installs it)'

async function upload (node: NodeProcess, bytes: Buffer): Promise<string> {
  const response = await fetch(`${node.url}/v1/buffers`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream', connection: 'close' } })
  assert.equal(response.status, 201)
  return ((await response.json()) as { id: string }).id
}

test('the panel lists both nodes, the bytes a cross-node job moved, its placement, and a killed node turning lost', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const redis = new RedisServer()
  await redis.start()
  defer(t, 'redis close', async () => { await redis.close() })
  const [a, b] = await Promise.all(['a', 'b'].map(async (name) => await startNode(name, redis.url, ['--node-lost-after', '1500'])))
  defer(t, 'node a stop', async () => { await a.stop() })
  defer(t, 'node b stop', async () => { await b.stop('SIGKILL') })

  const { page, errors } = await openPage(t, chromium.browser)
  const asked: string[] = []
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (url.pathname.startsWith('/v1/')) asked.push(url.pathname)
  })
  const sockets: string[] = []
  page.on('websocket', (socket) => { sockets.push(new URL(socket.url()).pathname) })
  await page.goto(`${a.url}/`)
  await page.waitForSelector('#connection[data-state="live"]')
  await page.waitForSelector('#cluster-panel:not([hidden])')
  // B's row may first come before its workers are up; its kinds and workers follow.
  await page.waitForSelector('#cluster-nodes tr[data-node="a"][data-state="up"][data-self="true"][data-workers="1"]')
  await page.waitForSelector('#cluster-nodes tr[data-node="b"][data-state="up"][data-self="false"][data-workers="1"]')
  assert.equal(await page.textContent('#cluster-self'), 'a')
  assert.equal(await page.getAttribute('#cluster-nodes tr[data-node="a"]', 'data-max-memory'), String(64 * 1024 * 1024))
  assert.equal(await page.locator('#cluster-nodes tbody tr').count(), 2)

  const large = crypto.randomBytes(300_000)
  const small = crypto.randomBytes(20_000)
  const onA = await upload(a, large)
  const onB = await upload(b, small)
  // Submitted once B serves concat (its row said its worker is up, so its kinds are in the registry).
  const submitted = await fetch(`${a.url}/v1/jobs?wait=20000`, { method: 'POST', body: JSON.stringify({ kind: 'concat', inputs: [onA, onB] }), headers: { 'content-type': 'application/json', connection: 'close' } })
  const job = (await submitted.json()) as { id: string, state: string, node: string, bytesPulled: number }
  assert.equal(job.state, 'succeeded', JSON.stringify(job))
  assert.equal(job.node, 'a')
  assert.equal(job.bytesPulled, small.length)
  await page.waitForSelector(`#cluster-nodes tr[data-node="a"][data-pulled-bytes="${small.length}"]`)
  await page.waitForSelector(`#cluster-nodes tr[data-node="b"][data-served-bytes="${small.length}"]`)
  await page.waitForSelector(`#cluster-pulled[data-bytes="${small.length}"]`)
  assert.equal(await page.textContent('#cluster-nodes tr[data-node="a"] td:nth-child(7)'), '19.5 KiB')
  await page.waitForSelector(`#cluster-placements li[data-job-id="${job.id}"][data-node="a"]`)
  assert.match(await page.textContent(`#cluster-placements li[data-job-id="${job.id}"]`) ?? '', /concat → a · 293\.0 KiB of 312\.5 KiB already there · placed by a/)
  await screenshot(page, 'dashboard-cluster.png')

  await b.stop('SIGKILL')
  await page.waitForSelector('#cluster-nodes tr[data-node="b"][data-state="lost"]')
  assert.match(await page.textContent('#cluster-nodes tr[data-node="b"] .badge') ?? '', /^lost \(last seen /)
  assert.equal(await page.textContent('#cluster-up'), '1')
  assert.equal(await page.textContent('#cluster-total'), '2')
  assert.deepEqual(asked, [], 'no REST request: the page lives on its event stream')
  assert.deepEqual(sockets, ['/v1/events'])
  assert.deepEqual(errors, [])
})

test('without --cluster the panel stays hidden and empty', { skip: noBrowser, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const app = await startApp()
  defer(t, 'app.close', async () => { await app.close() })
  const { page, errors } = await openPage(t, chromium.browser)
  await page.goto(`http://127.0.0.1:${portOf(app)}/`)
  // The page draws its snapshot before it says live.
  await page.waitForSelector('#connection[data-state="live"]')
  assert.equal(await page.isHidden('#cluster-panel'), true)
  assert.equal(await page.locator('#cluster-nodes tbody tr').count(), 0)
  assert.deepEqual(errors, [])
})
