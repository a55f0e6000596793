/**
 * memfd-pool, HTTP section: the real app in its own process (bench/fixtures/pool-server), default
 * pool (2 workers × 1 thread on this machine). Request rate: `POST /v1/jobs?wait=10000` with a
 * no-op job on one sealed 4 KiB input — each request validates, queues, passes one descriptor to a
 * worker process and waits for the answer. Upload: `PUT /v1/buffers/:id/content` of a buffer made
 * (untimed) by `POST /v1/buffers` and deleted (untimed) after; the body is streamed into the
 * shared mapping as it arrives.
 */
import type { PoolOptions } from '../../server/pool/pool'
import { fixtureChild, serverBase, type FixtureChild } from '../procs'
import type { HttpTarget, UploadRequestSpec, UploadTarget } from '../targets'

/** bench/fixtures/pool-server, given longer than the bare servers to get ready and to stop. */
function poolServer (): FixtureChild {
  return fixtureChild('pool-server', { readyTimeoutMs: 30_000, graceMs: 15_000 })
}

/** Starts the app with `pool` options (default: its defaults); its base URL and its 4 KiB input's id. */
async function startPoolServer (server: FixtureChild, pool?: PoolOptions): Promise<{ base: string; input: string }> {
  const { ready } = await server.start(pool ? [JSON.stringify(pool)] : [])
  return { base: serverBase(ready), input: String(ready.input) }
}

/** `prefetch`: the same app with that pool option (default 'auto'), shown next to the default. */
export function createPoolHttp (prefetch?: number): HttpTarget {
  const server = poolServer()
  return {
    name: prefetch !== undefined ? `memfd-pool prefetch ${prefetch}` : 'memfd-pool',
    description:
      'memfd-pool app, own process, default pool (2 workers × 1 thread here): POST /v1/jobs?wait=10000 {kind: noop, one 4 KiB input}' +
      (prefetch !== undefined ? `, pool option prefetch ${prefetch} (default 'auto')` : ''),
    async setup () {
      const { base, input } = await startPoolServer(server, prefetch !== undefined ? { prefetch } : undefined)
      return {
        url: `${base}/v1/jobs?wait=10000`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'noop', inputs: [input] }),
        serverPid: server.child?.pid,
      }
    },
    async teardown () {
      await server.stop()
    },
  }
}

export function createPoolUpload (): UploadTarget {
  const server = poolServer()
  let base = ''
  return {
    name: 'memfd-pool',
    description: 'memfd-pool app, own process: PUT /v1/buffers/:id/content into a fresh buffer (written into the memfd with pwrite as it arrives)',
    async setup () {
      base = (await startPoolServer(server)).base
    },
    async prepare (size): Promise<UploadRequestSpec> {
      const res = await fetch(`${base}/v1/buffers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ size, name: 'bench-upload' }),
      })
      const body = (await res.json()) as { id?: string }
      if (res.status !== 201 || typeof body.id !== 'string') throw new Error(`POST /v1/buffers: HTTP ${res.status}`)
      return { url: `${base}/v1/buffers/${body.id}/content`, method: 'PUT' }
    },
    verify (body, size) {
      const written = (JSON.parse(body) as { written?: unknown }).written
      if (written !== size) throw new Error(`memfd-pool wrote ${String(written)} bytes, expected ${size}`)
    },
    async finish (req) {
      const res = await fetch(req.url.replace(/\/content$/, ''), { method: 'DELETE' })
      await res.arrayBuffer()
      if (res.status >= 300) throw new Error(`DELETE buffer: HTTP ${res.status}`)
    },
    async teardown () {
      await server.stop()
    },
  }
}
