// The composition root: builds the Fastify app from plugins and routes, and nothing else. The CLI,
// listening and signals live in main.ts; tests build the same app and talk to app.server.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import type { Pool, PoolOptions } from './pool/pool'
import attachPlugin, { type AttachPluginOptions } from './plugins/attach'
import clusterPlugin from './plugins/cluster'
import type { ClusterOptions } from './cluster/cluster-options'
import clusterRoutes from './routes/cluster'
import authPlugin from './plugins/auth'
import workerSocketPlugin, { type WorkerSocketPluginOptions } from './plugins/worker-socket'
import dashboardPlugin from './plugins/dashboard'
import eventHubPlugin from './plugins/event-hub'
import type { EventHubOptions } from './events/event-hub'
import errorHandlerPlugin, { answerClientError, answerFrameworkError } from './plugins/error-handler'
import gracefulClose from './plugins/graceful-close'
import metricsPlugin from './plugins/metrics'
import octetStreamPassthrough from './plugins/octet-stream'
import originGuard from './plugins/origin-guard'
import routeTablePlugin from './plugins/route-table'
import { strictBodyValidator } from './plugins/strict-body-validator'
import uploadsPlugin from './plugins/uploads'
import poolPlugin from './plugins/pool'
import schemasPlugin from './plugins/schemas'
import swaggerPlugin from './plugins/swagger'
import bufferContentRoutes from './routes/buffer-content'
import bufferRoutes from './routes/buffers'
import eventRoutes from './routes/events'
import healthRoutes from './routes/health'
import jobRoutes from './routes/jobs'
import kindRoutes from './routes/kinds'
import metricsRoutes from './routes/metrics'
import pipelineRoutes from './routes/pipelines'
import poolRoutes from './routes/pool'
import workerRoutes from './routes/workers'

export interface AppOptions {
  /** An existing pool (the caller closes it), or options for one the app creates and closes. */
  pool?: Pool | PoolOptions
  /** When set, every /v1 route needs `Authorization: Bearer <token>`. */
  token?: string
  /** Require the token on /metrics too. */
  metricsAuth?: boolean
  /** How long running jobs may finish when the app closes a pool it created. */
  graceMs?: number
  /** A pino logger, or Fastify logger options; false (the default) logs nothing. */
  logger?: Logger | FastifyServerOptions['logger']
  /** Serve the attach socket at this path (docs/attach-protocol.md); absent or false: no socket. */
  attach?: AttachPluginOptions | false
  /**
   * Serve the worker socket at this path, where external workers (any language) connect and
   * serve kinds (docs/worker-protocol.md); absent or false: none.
   */
  workerSocket?: WorkerSocketPluginOptions | false
  /** The event stream's limits: subscribers, per-client queue, snapshot size (server/events/). */
  events?: EventHubOptions
  /**
   * Host headers accepted besides IP addresses, `localhost` and `*.localhost` (a guard against
   * DNS rebinding); `.example.com` admits the domain and its subdomains, `*` any host. Web pages
   * on these hosts may also make state-changing requests (docs/SECURITY.md).
   */
  allowedHosts?: string[]
  /** An upload body idle this long is aborted (408) and its reservation released. Default 30000. */
  bodyTimeoutMs?: number
  /** Join a cluster coordinated by Redis (docs/CLUSTER.md); absent: one host, no Redis loaded. */
  cluster?: ClusterOptions
}

/** Above every id's maxLength (100), so an overlong id reaches its schema and gets a 400 naming it. */
const MAX_PARAM_LENGTH = 1000

function isPool (value: AppOptions['pool']): value is Pool {
  return value !== undefined && typeof (value as Pool).enqueue === 'function'
}

function isLoggerInstance (value: AppOptions['logger']): value is Logger {
  return typeof value === 'object' && value !== null && typeof (value as Logger).child === 'function'
}

export async function buildApp (options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(isLoggerInstance(options.logger)
      ? { loggerInstance: options.logger as FastifyBaseLogger }
      : { logger: options.logger ?? false }),
    // Requests arriving during a shutdown are served (and refused by the closing pool in our own
    // error shape) instead of Fastify's hard-coded 503 body.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ajv: {
      customOptions: {
        // Unknown properties are refused (400 naming the field) rather than silently dropped.
        removeAdditional: false
      }
    },
    // Query strings and path parameters are coerced from text; JSON bodies never are.
    schemaController: { compilersFactory: { buildValidator: strictBodyValidator() } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // No route takes text/plain: without this default parser such a body is a 415, not a string
  // validated against a JSON schema.
  app.removeContentTypeParser('text/plain')
  await app.register(routeTablePlugin)
  await app.register(errorHandlerPlugin)
  await app.register(originGuard, { allowedHosts: options.allowedHosts })
  await app.register(uploadsPlugin, { bodyTimeoutMs: options.bodyTimeoutMs })
  await app.register(gracefulClose)
  await app.register(schemasPlugin)
  await app.register(authPlugin, { token: options.token, metricsAuth: options.metricsAuth, clusterToken: options.cluster?.token })
  await app.register(poolPlugin, isPool(options.pool)
    ? { pool: options.pool }
    : { poolOptions: options.pool, closeGraceMs: options.graceMs })
  await app.register(clusterPlugin, { cluster: options.cluster, graceMs: options.graceMs })
  await app.register(metricsPlugin)
  await app.register(swaggerPlugin)

  await app.register(async function bufferApi (scope) {
    await scope.register(octetStreamPassthrough)
    await scope.register(bufferRoutes)
    await scope.register(bufferContentRoutes)
  }, { prefix: '/v1' })
  await app.register(jobRoutes, { prefix: '/v1' })
  await app.register(pipelineRoutes, { prefix: '/v1' })
  await app.register(kindRoutes, { prefix: '/v1' })
  await app.register(workerRoutes, { prefix: '/v1' })
  await app.register(poolRoutes, { prefix: '/v1' })
  await app.register(clusterRoutes, { prefix: '/v1' })
  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  if (options.attach) await app.register(attachPlugin, options.attach)
  if (options.workerSocket) await app.register(workerSocketPlugin, options.workerSocket)
  // The WebSocket event stream (/v1/events); the attach socket registers here as a plugin of
  // its own when it lands.
  await app.register(eventHubPlugin, options.events ?? {})
  await app.register(eventRoutes, { prefix: '/v1' })
  await app.register(dashboardPlugin)

  return app
}
