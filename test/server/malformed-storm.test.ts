// A storm of malformed requests (random methods, paths, query strings, headers and bodies, plus
// bytes that are not HTTP at all) gets no 5xx, only the one error shape, and leaves the server's
// descriptors and buffers as they were.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import { countFds } from '../helpers/proc'
import { MiB, portOf, startApp } from '../helpers/server-app'
import { seededRandom } from '../helpers/random'

const REQUESTS = 3000
const RAW_CONNECTIONS = 200
const CONCURRENCY = 32

let app: FastifyInstance
let writable: string
let sealed: string

before(async () => {
  app = await startApp({ poolOptions: { maxMemoryBytes: 16 * MiB, maxBufferBytes: 1 * MiB, maxQueue: 5 } })
  writable = (await request(app.server).post('/v1/buffers').send({ size: 64 }).expect(201)).body.id
  sealed = (await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(Buffer.from('sealed')).expect(201)).body.id
})
after(async () => { await app.close() })

interface StormRequest { method: string, path: string, headers: Record<string, string>, body: Buffer | null }

function generator (seed: number): () => StormRequest {
  const rnd = seededRandom(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
  const junk = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(rnd() * 94))).join('')
  const junkSegment = (): string => pick([
    'buf_nope', 'job_nope', junk(8), encodeURIComponent(junk(5)), '%00', '..', '%2e%2e', 'x'.repeat(150), '', '%', 'ü', '%ff%fe'
  ])
  // Neither buffer's own path is in the mix (a DELETE there is valid); the writable one is never
  // sealed, and its content route gets the malformed writes.
  const segment = (): string => rnd() < 0.15 ? sealed : junkSegment()
  const contentSegment = (): string => rnd() < 0.3 ? writable : segment()
  const paths = (): string => pick([
    '/v1/buffers', `/v1/buffers/${junkSegment()}`, `/v1/buffers/${contentSegment()}/content`, `/v1/buffers/${segment()}/seal`,
    '/v1/jobs', `/v1/jobs/${segment()}`, `/v1/jobs/${segment()}/cancel`, '/v1/kinds', '/v1/workers', '/v1/pool',
    '/healthz', '/readyz', '/metrics', '/openapi.json', '/', `/${segment()}`, `/v1/${segment()}/${segment()}`, '//v1//buffers',
    `/v1/buffers/${segment()}/content/${segment()}`, '/docs/static/../../package.json', '/index.html/..', '/v1'
  ])
  const query = (): string => pick([
    '', '?', `?offset=${pick(['-1', 'x', '1e3', '99999999999999999999', '', '0x10', '%zz', '1&offset=2'])}`,
    `?wait=${pick(['-5', 'never', '60001', '1.5', '%00'])}`, `?limit=${pick(['0', '-1', 'all', '100000'])}`,
    `?state=${pick(['bogus', '', 'RUNNING', 'queued&state=running'])}`, `?${junk(12)}`, `?name=${'n'.repeat(300)}`, '?token=x'
  ])
  const bodies = (): [string | null, Buffer | null] => pick<[string | null, Buffer | null]>([
    [null, null],
    ['application/json', Buffer.from(junk(30))],
    ['application/json', Buffer.from('{"size": "big"}')],
    ['application/json', Buffer.from('{"size": -1}')],
    ['application/json', Buffer.from('{"size": 1e300}')],
    ['application/json', Buffer.from('{"size": 99999999999}')],
    ['application/json', Buffer.from('{"kind": 5, "inputs": "x"}')],
    ['application/json', Buffer.from('{"kind": "nope"}')],
    ['application/json', Buffer.from('{"kind": "checksum", "inputs": ["buf_nope"]}')],
    ['application/json', Buffer.from(`{"kind": "checksum", "inputs": ["${writable}"]}`)],
    ['application/json', Buffer.from('{"kind": "sort", "params": {"dtype": "u128"}}')],
    ['application/json', Buffer.from('{"__proto__": {"polluted": true}, "size": "x"}')],
    ['application/json', Buffer.from('[]')],
    ['application/json', Buffer.from('null')],
    ['application/json', Buffer.from('')],
    ['application/json; charset=latin1', Buffer.from('{}')],
    ['text/plain', Buffer.from(junk(20))],
    ['application/xml', Buffer.from('<size>1</size>')],
    ['multipart/form-data; boundary=x', Buffer.from('--x\r\n\r\n--x--')],
    [junk(10), Buffer.from(junk(10))],
    ['application/octet-stream', Buffer.from(junk(100))],
    ['application/octet-stream', Buffer.alloc(2 * MiB)]
  ])
  return () => {
    const method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'POST', 'PUT'])
    const [contentType, body] = bodies()
    const headers: Record<string, string> = {}
    if (contentType !== null) headers['content-type'] = contentType
    // Octet-stream bodies go chunked: with a Content-Length, a small one would be a valid create.
    if (contentType === 'application/octet-stream') headers['transfer-encoding'] = 'chunked'
    if (rnd() < 0.1) headers.range = pick(['bytes=5-1', 'bytes=-0', 'bytes=999-', 'lines=1-2', 'bytes=0-0,1-1', 'bytes=x-y'])
    if (rnd() < 0.1) headers.authorization = pick(['Bearer', 'Bearer x y', 'Basic Og==', junk(40)])
    if (rnd() < 0.05) headers['content-encoding'] = pick(['gzip', 'br', 'identity', junk(5)])
    if (rnd() < 0.05) headers.accept = pick(['application/xml', '*/*', junk(8)])
    return { method, path: paths() + query(), headers, body }
  }
}

/**
 * What a request in the storm must not do: succeed at changing state. A few forms are legal and
 * harmless (reads, sealing an already sealed buffer, writing a writable one); anything else that
 * answers 2xx means the generator produced a valid request, and the test's premise is broken.
 */
function harmless (req: StormRequest, status: number): boolean {
  if (status >= 300) return true
  if (req.method === 'GET' || req.method === 'HEAD') return true
  const path = req.path.split('?')[0]
  return (req.method === 'POST' && path === `/v1/buffers/${sealed}/seal`) ||
    (req.method === 'PUT' && path === `/v1/buffers/${writable}/content`)
}

async function send (agent: http.Agent, req: StormRequest): Promise<{ status: number, body: Buffer, contentType: string | undefined }> {
  return await new Promise((resolve, reject) => {
    const client = http.request({ host: '127.0.0.1', port: portOf(app), agent, method: req.method, path: req.path, headers: req.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: res.headers['content-type'] }) })
      res.on('error', reject)
    })
    let answered = false
    client.on('response', () => { answered = true })
    // A refused upload may be cut off while we still write it; the answer already arrived.
    client.on('error', (err) => { if (!answered) reject(err) })
    if (req.body !== null) client.end(req.body)
    else client.end()
  })
}

async function rawGarbage (rnd: () => number): Promise<string> {
  const forms = [
    () => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))),
    () => Buffer.from('GET / HTTP/9.9\r\n\r\n'),
    () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'),
    () => Buffer.from('POST /v1/buffers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\nzz\r\n'),
    () => Buffer.from('PUT /v1/buffers/x/content HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'),
    () => Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
    () => Buffer.from('\r\n\r\n\r\n')
  ]
  const socket = net.connect(portOf(app), '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.end(forms[Math.floor(rnd() * forms.length)]())
  let reply = ''
  socket.setEncoding('latin1')
  for await (const chunk of socket) reply += chunk as string
  return reply
}

async function openConnections (): Promise<number> {
  return await new Promise((resolve, reject) => { app.server.getConnections((err, count) => { if (err) reject(err); else resolve(count) }) })
}

/** Waits until the server holds no client connection (they close asynchronously on its side). */
async function quiet (): Promise<void> {
  while (await openConnections() > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setImmediate(resolve))
}

test(`${REQUESTS} malformed requests and ${RAW_CONNECTIONS} garbage connections: no 5xx, nothing leaked`, async (t) => {
  // Warm up every path that opens something lazily (static files, the docs), then take the baseline.
  for (const path of ['/', '/docs/', '/openapi.json', '/metrics', '/v1/kinds']) await request(app.server).get(path)
  await quiet()
  const baseline = { fds: countFds(), buffers: app.pool.store.count, bytes: app.pool.store.bytesInUse }

  const next = generator(20261129)
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const statuses = new Map<number, number>()
  const failures: string[] = []
  let sent = 0
  const worker = async (): Promise<void> => {
    while (sent < REQUESTS) {
      sent++
      const req = next()
      let res
      try {
        res = await send(agent, req)
      } catch (err) {
        failures.push(`${req.method} ${req.path}: ${(err as Error).message}`)
        continue
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      const where = `${req.method} ${req.path.slice(0, 80)} ${JSON.stringify(req.headers).slice(0, 80)} ${req.body?.subarray(0, 60).toString() ?? ''} -> ${res.status}`
      if (res.status >= 500) failures.push(`${where}: ${res.body.toString().slice(0, 200)}`)
      if (!harmless(req, res.status)) failures.push(`${where}: a malformed request changed state`)
      if (res.status >= 400 && req.method !== 'HEAD') {
        let body: any = null
        try { body = JSON.parse(res.body.toString('utf8')) } catch { /* reported below */ }
        const shaped = body !== null && typeof body.error?.code === 'string' && typeof body.error?.message === 'string' && Object.keys(body).length === 1
        if (!shaped || !(res.contentType ?? '').startsWith('application/json')) failures.push(`${where}: not the error shape: ${res.body.toString().slice(0, 120)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  agent.destroy()

  const rnd = seededRandom(7)
  for (let i = 0; i < RAW_CONNECTIONS; i++) {
    const reply = await rawGarbage(rnd)
    if (reply === '') continue // closed without a word: fine for bytes that are not HTTP
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1])
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (!(status >= 400 && status < 500) && !(status >= 200 && status < 300)) failures.push(`raw garbage -> ${reply.slice(0, 100)}`)
    const body = reply.slice(reply.indexOf('\r\n\r\n') + 4)
    if (status >= 400 && !/^\{"error":\{"code":"[A-Z_]+","message":/.test(body)) failures.push(`raw garbage: not the error shape: ${reply.slice(0, 200)}`)
  }

  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)
  assert.deepEqual(failures.slice(0, 20), [])
  assert.ok(!statuses.has(500))

  await quiet()
  assert.equal(countFds(), baseline.fds, 'descriptors back to the baseline')
  assert.equal(app.pool.store.count, baseline.buffers, 'no buffer created or lost')
  assert.equal(app.pool.store.bytesInUse, baseline.bytes)
  // And the server still works.
  await request(app.server).get(`/v1/buffers/${sealed}`).expect(200)
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})
