// The OpenAPI 3.1 document, generated from the route schemas (never written by hand), served at
// /openapi.json, with a browsable UI at /docs. scripts/generate-openapi.ts writes the same
// document to openapi/openapi.json.
import fs from 'node:fs'
import path from 'node:path'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

const DESCRIPTION = 'REST control plane of memfd-pool: memfd buffers shared with a pool of worker processes, ' +
  'and jobs that read and write them in place. Buffers are named by opaque ids, never by descriptor numbers. ' +
  'Every refusal is `{"error":{"code","message"}}` (see the Error schema for all codes). When the server has a ' +
  'token, every /v1 route needs `Authorization: Bearer <token>`. The event stream (WebSocket /v1/events) is ' +
  'described in asyncapi.yaml.'

/**
 * operationIds, one table for every documented route (generated clients name their methods
 * after these). A route missing here fails test/server/openapi.test.ts.
 */
export const OPERATION_IDS: Record<string, string> = {
  'POST /v1/buffers': 'createBuffer',
  'GET /v1/buffers': 'listBuffers',
  'GET /v1/buffers/:id': 'getBuffer',
  'POST /v1/buffers/:id/seal': 'sealBuffer',
  'DELETE /v1/buffers/:id': 'deleteBuffer',
  'PUT /v1/buffers/:id/content': 'writeBufferContent',
  'GET /v1/buffers/:id/content': 'readBufferContent',
  'POST /v1/jobs': 'submitJob',
  'GET /v1/jobs': 'listJobs',
  'GET /v1/jobs/:id': 'getJob',
  'POST /v1/jobs/:id/cancel': 'cancelJob',
  'POST /v1/pipelines': 'submitPipeline',
  'GET /v1/pipelines': 'listPipelines',
  'GET /v1/pipelines/:id': 'getPipeline',
  'POST /v1/pipelines/:id/cancel': 'cancelPipeline',
  'GET /v1/kinds': 'listKinds',
  'GET /v1/workers': 'listWorkers',
  'GET /v1/pool': 'getPool',
  'GET /v1/cluster': 'getCluster',
  'GET /v1/cluster/buffers/:id/digest': 'getBufferDigest',
  'GET /v1/events': 'streamEvents',
  'GET /healthz': 'getHealth',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics'
}

/** The package's own version: the API document describes this release. */
function packageVersion (): string {
  // Compiled code runs from dist/server/plugins/, three levels below the package root.
  const file = path.join(__dirname, '..', '..', '..', 'package.json')
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version
}

export default fp(async function swaggerPlugin (app) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'memfd-pool', version: packageVersion(), description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
      servers: [{ url: 'http://127.0.0.1:8080', description: 'The default address (--host, --port)' }],
      tags: [
        { name: 'buffers', description: 'Shared-memory buffers and their bytes' },
        { name: 'jobs', description: 'Work run by the worker processes on sealed buffers' },
        { name: 'pipelines', description: 'Graphs of jobs whose intermediate buffers stay in shared memory' },
        { name: 'pool', description: 'Workers, job kinds and counters' },
        { name: 'cluster', description: 'Nodes joined through Redis (--cluster; docs/CLUSTER.md)' },
        { name: 'health', description: 'Probes and metrics' }
      ],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'The server\'s --token / MEMFD_POOL_TOKEN; required only when the server has one' } }
      },
      security: [{ bearerAuth: [] }]
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? route.method[0] : route.method
      const operationId = OPERATION_IDS[`${method} ${url}`]
      return { schema: operationId === undefined ? schema : { ...schema, operationId } as typeof schema, url }
    },
    // Shared schemas keep their own names (Buffer, Job, ...) under components.schemas.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'memfd-pool/swagger' })
