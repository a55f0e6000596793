// The pool's counters: queue depth, running jobs, bytes in use against the quota.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/error'
import { PoolSchema } from '../schemas/pool'
import { ref } from '../schemas/ref'

const poolRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/pool', {
    schema: {
      tags: ['pool'],
      summary: 'Counts, queue depth, bytes in use, quota',
      response: { 200: ref(PoolSchema, { description: 'The pool\'s counters' }), ...errorResponses('UNAUTHORIZED') }
    }
  }, async () => app.pool.stats())
}

export default poolRoutes
