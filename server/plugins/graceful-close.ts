// Shutdown without waiting on idle keep-alive connections. Fastify's close stops the listener
// and closes connections idle at that moment, then waits for the rest; a connection that finishes
// its request later (a long poll answered at preClose, a download ending) would stay open for the
// whole keep-alive timeout and hold the shutdown. From preClose on, every response says
// `Connection: close`, so each connection ends with its last response.
import fp from 'fastify-plugin'

export default fp(async function gracefulClose (app) {
  let closing = false
  app.addHook('preClose', (done) => { closing = true; done() })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing && !reply.raw.headersSent) void reply.header('connection', 'close')
    return payload
  })
  app.addHook('onResponse', async (request) => {
    // A response whose headers went out before preClose (a download) ends its connection here.
    if (closing && !request.raw.socket.destroyed) request.raw.socket.end()
  })
}, { name: 'memfd-pool/graceful-close' })
