// Registers the shared schemas (Buffer, Job, Worker, Kind, Pool, Error) once, before any route
// references them; @fastify/swagger lists them under components.schemas.
import fp from 'fastify-plugin'
import { sharedSchemas } from '../schemas'

export default fp(async function schemasPlugin (app) {
  for (const schema of sharedSchemas) app.addSchema(schema)
}, { name: 'memfd-pool/schemas' })
