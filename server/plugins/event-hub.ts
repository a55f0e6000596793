// The event hub (server/events/) as the `eventHub` decorator, and WebSocket support for the app
// (@fastify/websocket). On a clustered server the hub also carries the cluster's events and view
// (app.cluster.events); the pool knows nothing of it. Shutdown: at preClose, before the listener stops, every subscriber is
// closed with 1001 "going away" (the plugin's own default would close without a code).
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { EventHub, type EventHubOptions } from '../events/event-hub'

declare module 'fastify' {
  interface FastifyInstance {
    eventHub: EventHub
  }
}

/** Clients of /v1/events send nothing; a small cap keeps one from making the server buffer a large frame. */
const MAX_INCOMING_MESSAGE_BYTES = 4096

/** Errors a peer causes on its own connection: its fault, not the server's. */
const PEER_NETWORK_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

/**
 * An error on an established subscriber's socket. `ws` reports a frame it refuses (over the size
 * cap, a bad opcode, invalid UTF-8: codes WS_ERR_*) after it has begun the closing handshake
 * with the matching code (1009, 1002, 1007): that is the client's fault, worth one warning line
 * and no stack, and the close proceeds. A reset connection is routine. Anything else is ours.
 */
function onSocketError (this: unknown, error: Error & { code?: string }, socket: WebSocket, request: FastifyRequest): void {
  const code = error.code ?? ''
  if (code.startsWith('WS_ERR_')) {
    request.log.warn({ code, reason: error.message, remote: request.ip }, `event stream: closed a client's connection: ${error.message}`)
    return
  }
  if (PEER_NETWORK_ERRORS.has(code)) {
    request.log.info({ code, remote: request.ip }, 'event stream: client connection lost')
  } else {
    request.log.error({ err: error }, 'event stream: socket error')
  }
  socket.terminate()
}

export default fp<EventHubOptions>(async function eventHubPlugin (app, options) {
  const hub = new EventHub(app.pool, options, app.cluster?.events ?? null)
  app.decorate('eventHub', hub)
  await app.register(websocket, {
    options: { maxPayload: MAX_INCOMING_MESSAGE_BYTES },
    errorHandler: onSocketError,
    preClose: async function closeSubscribers () {
      await hub.close()
      app.websocketServer.close()
    }
  })

  // A handshake refused before @fastify/websocket's own onRequest hook ran (auth runs earlier and
  // throws) is not marked as a WebSocket request, so the plugin leaves its socket open after the
  // 401: the client may keep it, and server.close() would wait on it forever. Node has already
  // detached an upgrade's socket from HTTP, so nothing else would ever close it.
  app.addHook('onResponse', (request, _reply, done) => {
    const raw = request.raw
    if (raw.headers.upgrade !== undefined && /\bupgrade\b/i.test(raw.headers.connection ?? '')) raw.socket.destroy()
    done()
  })
}, { name: 'memfd-pool/event-hub', dependencies: ['memfd-pool/pool', 'memfd-pool/cluster'] })
