// The worker processes.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/error'
import { WorkerList } from '../schemas/worker'

const workerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/workers', {
    schema: {
      tags: ['pool'],
      summary: 'Worker processes',
      response: { 200: WorkerList, ...errorResponses('UNAUTHORIZED') }
    }
  }, async () => ({ workers: app.pool.workers() }))
}

export default workerRoutes
