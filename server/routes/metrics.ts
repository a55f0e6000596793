// Prometheus scrape endpoint (text exposition format). Needs the token only when the server was
// started with --metrics-auth (server/plugins/auth.ts decides).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/error'

const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/metrics', {
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics',
      // Open unless the server runs with --metrics-auth: either requirement may apply.
      security: [{}, { bearerAuth: [] }],
      description: 'Jobs by kind and state, job durations, queue depth, workers, buffer bytes and count, ' +
        'process descriptors (process_open_fds) and Node process metrics. Requires the token when the server ' +
        'runs with --metrics-auth.',
      response: {
        200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...errorResponses('UNAUTHORIZED')
      }
    }
  }, async (_request, reply) => {
    const text = await app.metrics.metrics()
    return reply.type(app.metrics.contentType).send(text)
  })
}

export default metricsRoutes
