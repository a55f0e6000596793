// Passes an application/octet-stream body through as the raw request stream, unread. The routes
// that accept bytes copy them chunk by chunk into a buffer's mapping and enforce their own limit
// (the buffer's remaining space), so Fastify's in-memory body parsing and bodyLimit must not
// apply. app.ts registers it only in the scope of the buffer routes: anywhere else an
// octet-stream body stays a 415.
import fp from 'fastify-plugin'

export default fp(async function octetStreamPassthrough (app) {
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => { done(null, payload) })
})
