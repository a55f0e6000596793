// Shutdown without waiting on idle keep-alive connections. Fastify's close stops the listener
// and closes connections idle at that moment, then waits for the rest; a connection that finishes
// its request later (a long poll answered at preClose, a download ending) would stay open for the
// whole keep-alive timeout and hold the shutdown. From preClose on, every response says
// `Connection: close`, so each connection ends with its last response.
import fp from 'fastify-plugin'

export default fp(async function gracefulClose (app) {
  let closing = false
  app.addHook('preClose', (done) => { closing = true; done() })
  // Callback hooks: they run on every response, and an async one costs a promise each time.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing && !reply.raw.headersSent) void reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onResponse', (request, _reply, done) => {
    // A response whose headers went out before preClose (a download) ends its connection here.
    if (closing && !request.raw.socket.destroyed) request.raw.socket.end()
    done()
  })
}, { name: 'memfd-pool/graceful-close' })
