// Requests to other nodes: their base URL, the cluster token, a deadline, and a header saying
// the request comes from a peer (a peer's lookup answers from its own store only, so a buffer
// nobody holds cannot bounce between nodes).
import { PEER_TIMEOUT_MS } from './cluster-options'

export const PEER_HEADER = 'x-memfd-pool-peer'
/** On a peer's answer for a buffer: what it has is a replica (placement prefers the original). */
export const REPLICA_HEADER = 'x-memfd-pool-replica'

export class PeerClient {
  readonly #token: string | undefined
  readonly #self: string

  constructor (self: string, token: string | undefined) {
    this.#self = self
    this.#token = token
  }

  headers (extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...extra,
      // No connection kept between nodes: fetch's pool would hold idle sockets for the server's
      // keep-alive time (72 s), so a node's descriptors would say nothing about what it holds.
      // A handshake per request (per 4 MiB chunk of a pull) is the price; docs/CLUSTER.md.
      connection: 'close',
      [PEER_HEADER]: this.#self,
      ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` })
    }
  }

  async get (baseUrl: string, path: string, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(PEER_TIMEOUT_MS)
    return await fetch(`${baseUrl}${path}`, {
      headers: this.headers(extra),
      signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal])
    })
  }

  async post (baseUrl: string, path: string): Promise<{ status: number, body: unknown }> {
    const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: this.headers(), signal: AbortSignal.timeout(PEER_TIMEOUT_MS) })
    const text = await response.text()
    let body: unknown = null
    try { body = JSON.parse(text) } catch { /* the status says enough */ }
    return { status: response.status, body }
  }

  /**
   * A request whose answer is passed back to a client as it came (a pipeline run on its node):
   * JSON body out, status and parsed body back. `timeoutMs` covers the peer's own wait.
   */
  async relay (method: 'GET' | 'POST', baseUrl: string, path: string, options: { body?: unknown, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<{ status: number, body: unknown }> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? PEER_TIMEOUT_MS)
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: this.headers(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
    })
    const text = await response.text()
    let body: unknown = null
    try { body = JSON.parse(text) } catch { /* the status says enough */ }
    return { status: response.status, body }
  }

  async json<T> (baseUrl: string, path: string): Promise<{ status: number, body: T | null, headers: Headers }> {
    const response = await this.get(baseUrl, path)
    const text = await response.text()
    let body: T | null = null
    try { body = JSON.parse(text) as T } catch { /* not JSON: the status says enough */ }
    return { status: response.status, body, headers: response.headers }
  }
}
