// The event hub (server/events/) as the `eventHub` decorator, and WebSocket support for the app
// (@fastify/websocket). Shutdown: at preClose, before the listener stops, every subscriber is
// closed with 1001 "going away" (the plugin's own default would close without a code).
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { EventHub, type EventHubOptions } from '../events/event-hub'

declare module 'fastify' {
  interface FastifyInstance {
    eventHub: EventHub
  }
}

/** Clients of /v1/events send nothing; a small cap keeps one from making the server buffer a large frame. */
const MAX_INCOMING_MESSAGE_BYTES = 4096

export default fp<EventHubOptions>(async function eventHubPlugin (app, options) {
  const hub = new EventHub(app.pool, options)
  app.decorate('eventHub', hub)
  await app.register(websocket, {
    options: { maxPayload: MAX_INCOMING_MESSAGE_BYTES },
    preClose: async function closeSubscribers () {
      await hub.close()
      app.websocketServer.close()
    }
  })

  // A handshake refused before @fastify/websocket's own onRequest hook ran (auth runs earlier and
  // throws) is not marked as a WebSocket request, so the plugin leaves its socket open after the
  // 401: the client may keep it, and server.close() would wait on it forever. Node has already
  // detached an upgrade's socket from HTTP, so nothing else would ever close it.
  app.addHook('onResponse', async (request) => {
    const raw = request.raw
    if (raw.headers.upgrade !== undefined && /\bupgrade\b/i.test(raw.headers.connection ?? '')) raw.socket.destroy()
  })
}, { name: 'memfd-pool/event-hub', dependencies: ['memfd-pool/pool'] })
