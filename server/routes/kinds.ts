// The job kinds this pool runs, with the JSON schema of each one's params.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../schemas/error'
import { KindList } from '../schemas/kind'

const kindRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/kinds', {
    schema: {
      tags: ['pool'],
      summary: 'Job kinds and their params schemas',
      response: { 200: KindList, ...errorResponses('UNAUTHORIZED') }
    }
  }, async () => ({ kinds: app.pool.kinds() }))
}

export default kindRoutes
