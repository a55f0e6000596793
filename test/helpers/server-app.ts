// Builds the real app (real pool, real worker processes, small quotas) for the server tests, and
// small helpers to read raw bytes back with supertest.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Response } from 'supertest'
import { buildApp, type AppOptions } from '../../server/app'
import type { PoolOptions } from '../../server/pool/pool'

export const MiB = 1024 * 1024

/**
 * An app over a fresh pool (one worker, 64 MiB quota, no shutdown grace unless overridden), listening on a free
 * loopback port, with its workers up. supertest(app.server) uses that port.
 */
export async function startApp (options: AppOptions & { poolOptions?: PoolOptions } = {}): Promise<FastifyInstance> {
  const { poolOptions, ...rest } = options
  const app = await buildApp({
    pool: { workers: 1, maxMemoryBytes: 64 * MiB, ...poolOptions },
    // Tests do not wait for jobs they leave running.
    graceMs: 0,
    ...rest
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.pool.whenReady()
  return app
}

export function portOf (app: FastifyInstance): number {
  return (app.server.address() as AddressInfo).port
}

/** A request to the app's port, left open for the caller to write, flush or destroy. */
export function openRequest (app: FastifyInstance, options: http.RequestOptions): http.ClientRequest {
  return http.request({ host: '127.0.0.1', port: portOf(app), agent: false, ...options })
}

/** The whole body of a response, as UTF-8. */
export async function text (res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8')
  let body = ''
  for await (const chunk of res) body += chunk as string
  return body
}

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/**
 * One request with full control over headers and body framing (supertest always sets
 * Content-Length). `body` chunks are written in order; the response may arrive before they
 * are all written (a refusal), and then the rest is not sent.
 */
export async function rawRequest (app: FastifyInstance, options: http.RequestOptions, body: Array<Buffer | string> = []): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    let answered = false
    const req = openRequest(app, options)
    req.on('response', (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    // A server that refuses early may close while we still write: the answer is what counts.
    req.on('error', (err) => { if (!answered) reject(err) })
    for (const chunk of body) req.write(chunk)
    req.end()
  })
}

export function jsonOf (res: RawResponse): any {
  return JSON.parse(res.body.toString('utf8'))
}

/** supertest parser that keeps an octet-stream body as one Buffer. */

export function binaryParser (res: any, callback: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = []
  res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  res.on('end', () => { callback(null, Buffer.concat(chunks)) })
}

/** Asserts the one error shape and returns the code. */
export function errorCode (res: Response): string {
  const body = res.body as { error?: { code?: unknown, message?: unknown } }
  if (typeof body?.error?.code !== 'string' || typeof body.error.message !== 'string' || Object.keys(body).length !== 1) {
    throw new Error(`not an error body (status ${res.status}): ${JSON.stringify(res.body) ?? res.text}`)
  }
  return body.error.code
}
