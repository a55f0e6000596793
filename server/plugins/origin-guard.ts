// What a web page may do to a server on loopback (docs/SECURITY.md, "Web pages"). A browser lets
// any page send simple requests (no CORS preflight) and open WebSockets to any address, and a
// page whose name is re-pointed to 127.0.0.1 (DNS rebinding) even reads the answers. So, as
// Jupyter and Vite do:
// - Host must name this server: an IP literal (a rebinding page's origin is always a name),
//   `localhost` or a `*.localhost` name, or one of `allowedHosts` (exact, `.example.com` for
//   the domain and its subdomains, `*` for any). Otherwise 403 FORBIDDEN_HOST, on every route.
// - Origin, when a browser sends it on a state-changing request (not GET/HEAD/OPTIONS) or on the
//   WebSocket upgrade of /v1/events, must be this server's own origin (its host and port equal
//   the Host header), or an origin whose host is in `allowedHosts`. Otherwise 403
//   FORBIDDEN_ORIGIN. Requests without Origin (curl, programs) are not browsers' and pass.
// - A state-changing request with a "CORS-safelisted" body type (text/plain, a form) is what a
//   page can send without a preflight; no route takes those, so they are refused with 415
//   before any handler runs, whatever the body.
import net from 'node:net'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ApiError } from '../errors'

export interface OriginGuardOptions {
  /** Host names accepted besides IP literals and localhost names. */
  allowedHosts?: string[]
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const SIMPLE_BODY_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'])

/** The host name of a Host header or URL authority, lower-cased, without port or IPv6 brackets. */
export function hostnameOf (authority: string): string {
  const value = authority.trim().toLowerCase()
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']') >= 0 ? value.indexOf(']') : undefined)
  const colon = value.lastIndexOf(':')
  return colon >= 0 && value.indexOf(':') === colon ? value.slice(0, colon) : value
}

export function hostAllowed (hostname: string, allowedHosts: readonly string[]): boolean {
  if (hostname === '') return false
  if (net.isIP(hostname) !== 0) return true
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true
  return listedHost(hostname, allowedHosts)
}

/** Only what the operator listed: exact names, `.domain` suffixes, `*`. */
export function listedHost (hostname: string, allowedHosts: readonly string[]): boolean {
  for (const entry of allowedHosts) {
    const allowed = entry.trim().toLowerCase()
    if (allowed === '*' || allowed === hostname) return true
    if (allowed.startsWith('.') && (hostname === allowed.slice(1) || hostname.endsWith(allowed))) return true
  }
  return false
}

function isWebSocketUpgrade (request: FastifyRequest): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket'
}

export default fp<OriginGuardOptions>(async function originGuard (app, options) {
  const allowedHosts = options.allowedHosts ?? []

  // Runs on every request: a plain function and a callback hook, no promise per request.
  function refusal (request: FastifyRequest): ApiError | null {
    const host = request.headers.host ?? ''
    if (!hostAllowed(hostnameOf(host), allowedHosts)) {
      return new ApiError('FORBIDDEN_HOST', `Host ${JSON.stringify(host.slice(0, 100))} is not this server; ` +
        'use its IP address or localhost, or start it with --allowed-hosts')
    }
    const changesState = !SAFE_METHODS.has(request.method)
    if (!changesState && !isWebSocketUpgrade(request)) return null
    const origin = request.headers.origin
    if (origin !== undefined) {
      let originHost: string | null = null
      try { originHost = new URL(origin).host } catch { /* "null" or garbage: not an allowed origin */ }
      const sameOrigin = originHost !== null && originHost === host.toLowerCase()
      // `*` lets any Host in (a proxy in front decides), but never trusts every web page.
      const trusted = originHost !== null && listedHost(hostnameOf(originHost), allowedHosts.filter((h) => h.trim() !== '*'))
      if (!sameOrigin && !trusted) {
        return new ApiError('FORBIDDEN_ORIGIN', `Requests from the web origin ${JSON.stringify(origin.slice(0, 100))} are not allowed ` +
          '(only this server\'s own pages, or hosts given with --allowed-hosts)')
      }
    }
    if (changesState) {
      const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
      if (SIMPLE_BODY_TYPES.has(type)) {
        return new ApiError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type} is not accepted by ${request.method} ${request.url.split('?')[0]}; ` +
          'send application/json (or application/octet-stream for bytes)')
      }
    }
    return null
  }

  app.addHook('onRequest', (request, _reply, done) => { done(refusal(request) ?? undefined) })
}, { name: 'memfd-pool/origin-guard' })
