// Bearer-token auth for the API. With a token configured, every /v1 route (and /metrics when
// `metricsAuth` is set) needs `Authorization: Bearer <token>`; health, readiness, the dashboard's
// files and the API docs stay open so that probes and a first visit work. A route may also
// accept the token as `?token=` (config.acceptQueryToken): browsers cannot set headers on a
// WebSocket handshake.
import crypto from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError } from '../errors'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Also accept the token as a `?token=` query parameter (WebSocket handshakes from browsers). */
    acceptQueryToken?: boolean
  }
}

export interface AuthOptions {
  /** The shared secret; no auth at all when absent or empty. */
  token?: string
  /** Require the token on /metrics too. */
  metricsAuth?: boolean
  /**
   * The cluster's token (docs/CLUSTER.md): accepted wherever `token` is. Nodes pull each other's
   * bytes through /v1, so a cluster token alone protects /v1 too: transfers are never open.
   */
  clusterToken?: string
}

const digest = (value: string): Buffer => crypto.createHash('sha256').update(value).digest()

/** Constant-time comparison: equal-length digests, so neither content nor length leaks through timing. */
export function tokenMatches (candidate: string, expectedDigest: Buffer): boolean {
  return crypto.timingSafeEqual(digest(candidate), expectedDigest)
}

function bearerToken (request: FastifyRequest): string | null {
  const header = request.headers.authorization
  if (typeof header !== 'string') return null
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match === null ? null : match[1]
}

function queryToken (request: FastifyRequest): string | null {
  const query = request.query as Record<string, unknown> | undefined
  return typeof query?.token === 'string' ? query.token : null
}

function isProtectedPath (path: string, metricsAuth: boolean): boolean {
  return path === '/v1' || path.startsWith('/v1/') || (metricsAuth && path === '/metrics')
}

export default fp<AuthOptions>(async function authPlugin (app, options) {
  const tokens = [options.token, options.clusterToken].filter((t): t is string => t !== undefined && t !== '')
  if (tokens.length === 0) return
  const expected = tokens.map(digest)
  const metricsAuth = options.metricsAuth === true

  app.addHook('onRequest', async (request, reply) => {
    // Both the matched route and the raw path count, so an unknown /v1 path is a 401, not a 404
    // that would tell a stranger which routes exist.
    const path = request.url.split('?')[0]
    const route = request.routeOptions.url
    if (!isProtectedPath(path, metricsAuth) && !(route !== undefined && isProtectedPath(route, metricsAuth))) return
    const presented = bearerToken(request) ?? (request.routeOptions.config.acceptQueryToken === true ? queryToken(request) : null)
    // Every candidate is compared (no early exit), so timing says nothing about which one matched.
    if (presented !== null && expected.map((e) => tokenMatches(presented, e)).includes(true)) return
    void reply.header('www-authenticate', 'Bearer realm="memfd-pool"')
    throw new ApiError('UNAUTHORIZED')
  })
}, { name: 'memfd-pool/auth' })
