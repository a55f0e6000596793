// A schema-aware fuzzer over the REST API: every operation in the served OpenAPI document, each
// parameter and body property replaced by values of the wrong type, out of range, huge, negative,
// unknown ids, odd encodings; bodies malformed or of the wrong media type; oversize bodies. The
// server answers every case below 500 in the one error shape, stays alive, and keeps its
// descriptors and buffers. Seeded: a failure prints the seed and the request to replay it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { countFds, memfdDescriptors } from '../helpers/proc'
import { MiB, portOf, startApp } from '../helpers/server-app'
import { seededRandom } from '../helpers/random'

const CASES = process.env.MEMFD_POOL_LONG === '1' ? 50_000 : 2500
const SEED = Number(process.env.MEMFD_POOL_FUZZ_SEED ?? 20261129)

interface Schema { type?: string | string[], properties?: Record<string, Schema>, items?: Schema, enum?: unknown[], anyOf?: Schema[], required?: string[] }
interface Operation { method: string, path: string, parameters: Array<{ name: string, in: string, schema?: Schema }>, body: { json?: Schema, octet?: boolean } }

const HOSTILE_VALUES: unknown[] = [
  -1, -(2 ** 63), 0, 1.5, 2 ** 53 + 2, 1e308, Number.MAX_SAFE_INTEGER, '1', '', ' ', 'x'.repeat(5000), 'NaN', 'Infinity',
  true, null, [], [1, 2], {}, { $gt: '' }, '\u0000', '../../etc/passwd', '%00', 'ü\u202e', 'buf_unknown', 'job_unknown'
]
const HOSTILE_STRINGS = ['-1', '1e309', 'abc', '', '0x10', '9'.repeat(400), '1.5', '%zz', 'true', '[]', 'null', '%00', 'ü', '..%2f..']

/** A value for `schema`: usually valid-looking, often hostile. */
function valueFor (schema: Schema | undefined, rnd: () => number, ids: string[], depth = 0): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
  if (rnd() < 0.35 || schema === undefined || depth > 3) return pick(HOSTILE_VALUES)
  if (schema.enum) return rnd() < 0.7 ? pick(schema.enum) : 'not-in-enum'
  if (schema.anyOf) return valueFor(pick(schema.anyOf), rnd, ids, depth + 1)
  const type = Array.isArray(schema.type) ? pick(schema.type) : schema.type
  switch (type) {
    case 'integer': case 'number': return pick([0, 1, 7, 4096, 1 << 20, -5, 2 ** 40, 0.5])
    case 'boolean': return rnd() < 0.5
    case 'string': return rnd() < 0.5 && ids.length > 0 ? pick(ids) : pick(['noop', 'checksum', 'sleep', 'gzip', 'fill', 'name', 'x'])
    case 'array': return Array.from({ length: Math.floor(rnd() * 4) }, () => valueFor(schema.items, rnd, ids, depth + 1))
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const [key, prop] of Object.entries(schema.properties ?? {})) if (rnd() < 0.8) out[key] = valueFor(prop, rnd, ids, depth + 1)
      if (rnd() < 0.2) out[pick(['extra', '__proto__', 'constructor'])] = pick(HOSTILE_VALUES)
      return out
    }
    default: return pick(HOSTILE_VALUES)
  }
}

function operations (spec: { paths: Record<string, Record<string, { parameters?: Operation['parameters'], requestBody?: { content: Record<string, { schema?: Schema }> } }>> }): Operation[] {
  const out: Operation[] = []
  for (const [path, methods] of Object.entries(spec.paths)) {
    if (path === '/v1/events') continue // the WebSocket route has a fuzz of its own
    for (const [method, op] of Object.entries(methods)) {
      const content = op.requestBody?.content ?? {}
      out.push({ method: method.toUpperCase(), path, parameters: op.parameters ?? [], body: { json: content['application/json']?.schema, octet: 'application/octet-stream' in content } })
    }
  }
  return out
}

interface Case { method: string, path: string, headers: Record<string, string>, body: Buffer | null }

function makeCase (ops: Operation[], rnd: () => number, ids: string[]): Case {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]
  const op = pick(ops)
  let path = op.path
  const query: string[] = []
  for (const p of op.parameters) {
    const v = rnd() < 0.5 ? valueFor(p.schema, rnd, ids) : pick(HOSTILE_STRINGS)
    const s = typeof v === 'string' ? v : JSON.stringify(v)
    if (p.in === 'path') path = path.replace(`{${p.name}}`, rnd() < 0.9 ? encodeURIComponent(s ?? 'null') : s ?? '')
    else if (p.in === 'query' && rnd() < 0.8) query.push(`${p.name}=${rnd() < 0.8 ? encodeURIComponent(s ?? '') : s}`)
  }
  if (rnd() < 0.1) query.push(`${pick(['x', 'offset', 'wait', '__proto__'])}=${pick(HOSTILE_STRINGS)}`)
  const headers: Record<string, string> = {}
  let body: Buffer | null = null
  const roll = rnd()
  if (op.body.json !== undefined && roll < 0.6) {
    headers['content-type'] = 'application/json'
    body = Buffer.from(JSON.stringify(valueFor(op.body.json, rnd, ids)) ?? 'null')
  } else if (roll < 0.7) {
    headers['content-type'] = 'application/json'
    body = Buffer.from(pick(['{"size":', '{]', '\u0000', '{"a":'.repeat(2000), '"' + 'x'.repeat(1000), '1e999999']))
  } else if (roll < 0.85 || op.body.octet) {
    headers['content-type'] = pick(['application/octet-stream', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'image/png', 'application/json; charset=utf-16'])
    body = Buffer.alloc(pick([0, 1, 100, 70_000, 2 * MiB]), 0x41)
  }
  if (body !== null && rnd() < 0.05) headers['content-length'] = String(pick([0, 1, body.length + 10, 2 ** 40]))
  // Raw '%zz' and '..' stay; bytes an HTTP client cannot put on the request line are escaped.
  const target = (path + (query.length > 0 ? `?${query.join('&')}` : '')).replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch))
  return { method: op.method, path: target, headers, body }
}

function send (port: number, agent: http.Agent, c: Case): Promise<{ status: number, body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers: c.headers, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { if (body.length < 4096) body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    // A lying Content-Length or an early refusal may cut the connection: that is an answer too.
    req.on('error', () => resolve({ status: -1, body: '' }))
    req.setTimeout(20_000, () => req.destroy())
    if (c.body !== null && c.headers['content-length'] === undefined) req.end(c.body)
    else if (c.body !== null) { req.write(c.body.subarray(0, Math.min(c.body.length, Number(c.headers['content-length'])))); req.end() } else req.end()
  })
}

test(`REST fuzz: ${CASES} schema-aware cases, no 5xx, nothing leaked`, async (t) => {
  const app = await startApp({ poolOptions: { workers: 1, maxMemoryBytes: 256 * MiB, maxBufferBytes: 8 * MiB, maxQueue: 50 } })
  t.after(() => app.close())
  const port = portOf(app)
  const spec = JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body)
  const ops = operations(spec)
  assert.ok(ops.length >= 15, `the spec lists the operations (${ops.length})`)

  // A few real ids so some cases reach deep into the handlers.
  const keep = app.pool.store.create({ size: 64, name: 'fuzz-writable' })
  const sealed = app.pool.store.create({ size: 64, name: 'fuzz-sealed' })
  app.pool.store.seal(sealed.id)
  const job = await app.pool.submit({ kind: 'noop', inputs: [sealed.id] })
  const ids = [keep.id, sealed.id, job.id]
  const baseline = { fds: countFds(), memfds: memfdDescriptors().length }

  const rnd = seededRandom(SEED)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  const statuses = new Map<number, number>()
  const bad: Array<{ c: Case, status: number, body: string }> = []
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < CASES) {
      next++
      const c = makeCase(ops, rnd, ids)
      const res = await send(port, agent, c)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      if (res.status >= 500) bad.push({ c: { ...c, body: null }, ...res })
      else if (res.status >= 400 && !/^\{"error":\{"code":"[A-Z_]+","message":/.test(res.body)) bad.push({ c: { ...c, body: null }, ...res })
      // Keep the pool within its limits so later cases meet a working server.
      if (res.status === 201 || res.status === 202 || res.status === 200) {
        for (const b of app.pool.store.list()) if (!ids.includes(b.id)) app.pool.store.delete(b.id)
        for (const j of app.pool.list({ state: 'queued' })) app.pool.cancel(j.id)
        for (const j of app.pool.list({ state: 'running' })) if (j.id !== job.id) app.pool.cancel(j.id)
      }
    }
  }))
  agent.destroy()
  // Our client sockets are gone; wait (bounded) until the server has seen every one close.
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && await new Promise<number>((resolve) => app.server.getConnections((_, n) => resolve(n))) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.diagnostic(`seed ${SEED}; cases ${CASES}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)
  assert.deepEqual(bad.slice(0, 5), [], `responses >= 500 or outside the error shape (seed ${SEED})`)
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive')

  // Let running jobs end, then everything the fuzz made is gone again.
  for (const j of app.pool.list({ state: 'running' })) { try { app.pool.cancel(j.id) } catch { /* finished */ } ; await app.pool.wait(j.id, 10_000) }
  for (const b of app.pool.store.list()) if (!ids.includes(b.id)) app.pool.store.delete(b.id)
  // The fuzz may have deleted the two real buffers (a valid request): count what is left.
  const alive = [keep.id, sealed.id].filter((id) => app.pool.store.has(id)).length
  assert.equal(app.pool.store.count, alive)
  assert.equal(memfdDescriptors().length, baseline.memfds - (2 - alive))
  assert.equal(countFds(), baseline.fds - (2 - alive))
})
