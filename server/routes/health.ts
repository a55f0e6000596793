// Liveness (the process answers) and readiness (every worker has come up, and we are not
// shutting down): what a supervisor or load balancer polls. Open even when a token is set.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors'
import { errorResponses } from '../schemas/error'
import { HealthSchema, ReadinessSchema } from '../schemas/health'

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let closing = false
  app.addHook('preClose', (done) => { closing = true; done() })

  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness', security: [], response: { 200: HealthSchema, ...errorResponses() } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: 200 once every worker process is up',
      security: [],
      response: { 200: ReadinessSchema, ...errorResponses('NOT_READY', 'POOL_CLOSED') }
    }
  }, async () => {
    if (closing) throw new ApiError('POOL_CLOSED')
    const { workers, workersReady } = app.pool.stats()
    if (!app.pool.ready) throw new ApiError('NOT_READY', `${workersReady} of ${workers} worker processes are ready`)
    return { status: 'ready' as const, workers, workersReady }
  })
}

export default healthRoutes
