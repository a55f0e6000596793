// Writes docs/dashboard.png, the README's picture of the dashboard, from the real page: a real
// server with two worker processes, real jobs submitted over REST, Debian's Chromium at 1280×800.
//
//   npx tsc -p tsconfig.json && node dist/scripts/dashboard-screenshot.js [out.png]
//
// It runs about a minute: the charts need some history, and a long job must be running (so the
// descriptor map shows a worker's own number for its input) when the picture is taken.
import fs from 'node:fs'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { chromium } from 'playwright-core'
import { buildApp } from '../server/app'

const OUT = process.argv[2] ?? path.join(__dirname, '..', '..', 'docs', 'dashboard.png')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const WARM_UP_MS = Number(process.env.WARM_UP_MS ?? 45_000)
const MiB = 1024 * 1024

async function main (): Promise<void> {
  const app = await buildApp({ pool: { workers: 2, maxMemoryBytes: 1024 * MiB } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.pool.whenReady()
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  const started: string[] = []
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(`${base}/`)
    await page.waitForSelector('#connection[data-state="live"]')

    const api = async (method: string, url: string, body?: unknown, type = 'application/json'): Promise<any> => {
      const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body)
      const res = await fetch(`${base}${url}`, { method, headers: payload === undefined ? {} : { 'content-type': type }, body: payload })
      if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`)
      return res.status === 204 ? null : await res.json()
    }
    const job = async (spec: unknown, wait = 60_000): Promise<{ id: string }> => await api('POST', `/v1/jobs?wait=${wait}`, spec)

    // A varying load, so the queue-depth and throughput charts have a shape: bursts of short
    // sleeps (they queue behind two workers) between quieter stretches. Queued on the pool
    // directly: hundreds of HTTP connections would push the descriptor numbers in the picture
    // into the hundreds.
    const end = Date.now() + WARM_UP_MS
    for (let wave = 0; Date.now() < end; wave++) {
      const burst = 40 + 35 * Math.round(2 + 2 * Math.sin(wave / 1.5))
      const ids = Array.from({ length: burst }, () => app.pool.enqueue({ kind: 'sleep', params: { ms: 20 } }).id)
      await app.pool.wait(ids[ids.length - 1], Infinity)
      await new Promise((resolve) => setTimeout(resolve, 1500))
    }

    // Buffers with names a reader recognises, and the jobs that read them.
    const log = Buffer.from(Array.from({ length: 3000 }, (_, i) => `127.0.0.1 - - GET /v1/jobs/${i} 200 ${(i * 37) % 900}\n`).join(''))
    const logBuffer = await api('POST', '/v1/buffers?name=access.log', log, 'application/octet-stream')
    const samples = new Float64Array(1024 * 1024).map((_, i) => Math.sin(i / 100) * 1000 + (i % 17))
    const frames = await api('POST', '/v1/buffers?name=sensor-frames.f64', Buffer.from(samples.buffer), 'application/octet-stream')
    const config = await api('POST', '/v1/buffers', { size: 4096, name: 'config.json' })
    await api('PUT', `/v1/buffers/${config.id}/content`, Buffer.from('{"retries":3}'), 'application/octet-stream')
    await job({ kind: 'checksum', inputs: [logBuffer.id], params: { algorithm: 'sha256' } })
    await job({ kind: 'gzip', inputs: [logBuffer.id], params: { level: 9 } })
    await job({ kind: 'gunzip', inputs: [logBuffer.id] }) // fails: a log is not gzip data
    await job({ kind: 'stats', inputs: [frames.id], params: { dtype: 'f64' } })
    await job({ kind: 'sort', inputs: [frames.id], params: { dtype: 'f64' } })
    const noise = await job({ kind: 'fill', params: { size: 384 * MiB, pattern: 'random', seed: 7 } }) as { id: string, outputs: string[] }

    // Both workers busy (one compressing 384 MiB, one sleeping) and one job waiting.
    const compress = await job({ kind: 'gzip', inputs: [noise.outputs[0]], params: { level: 9 } }, 0)
    const sleep = await job({ kind: 'sleep', params: { ms: 30_000 } }, 0)
    const waiting = await job({ kind: 'checksum', inputs: [frames.id], params: { algorithm: 'crc32' } }, 0)
    started.push(compress.id, sleep.id, waiting.id)

    // The picture shows the worker's own descriptor number for the input it is compressing.
    await page.waitForSelector(`#buffers tbody tr[data-buffer-id="${noise.outputs[0]}"] li[data-role="worker"]`, { timeout: 60_000 })
    await page.waitForSelector(`#jobs tbody tr[data-job-id="${sleep.id}"][data-state="running"]`)
    await page.waitForSelector(`#jobs tbody tr[data-job-id="${waiting.id}"][data-state="queued"]`)
    await page.waitForFunction('Number(document.getElementById("queue-depth").dataset.value) >= 1')
    await page.waitForFunction(`document.querySelector('#jobs tbody tr[data-job-id="${sleep.id}"] progress').value >= 0.25`, undefined, { timeout: 20_000 })
    fs.mkdirSync(path.dirname(OUT), { recursive: true })
    await page.screenshot({ path: OUT, fullPage: true })
    process.stdout.write(`wrote ${path.relative(process.cwd(), OUT)}\n`)
  } finally {
    for (const id of started) await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' }).catch(() => {})
    await browser.close()
    await app.close()
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
