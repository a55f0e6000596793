// The OpenAPI 3.1 document, generated from the route schemas (never written by hand), served at
// /openapi.json, with a browsable UI at /docs. scripts/generate-openapi.ts writes the same
// document to openapi/openapi.json.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

const DESCRIPTION = 'REST control plane of memfd-pool: memfd buffers shared with a pool of worker processes, ' +
  'and jobs that read and write them in place. Buffers are named by opaque ids, never by descriptor numbers. ' +
  'Every refusal is `{"error":{"code","message"}}` (see the Error schema for all codes). When the server has a ' +
  'token, every /v1 route needs `Authorization: Bearer <token>`. The event stream (WebSocket /v1/events) is ' +
  'described in asyncapi.yaml.'

export default fp(async function swaggerPlugin (app) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'memfd-pool', version: '1.0.0', description: DESCRIPTION, license: { name: 'MIT' } },
      tags: [
        { name: 'buffers', description: 'Shared-memory buffers and their bytes' },
        { name: 'jobs', description: 'Work run by the worker processes on sealed buffers' },
        { name: 'pool', description: 'Workers, job kinds and counters' },
        { name: 'health', description: 'Probes and metrics' }
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'The server\'s --token / MEMFD_POOL_TOKEN' } }
      },
      security: [{ bearerAuth: [] }]
    },
    // Shared schemas keep their own names (Buffer, Job, ...) under components.schemas.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'memfd-pool/swagger' })
