// GET /v1/events: the WebSocket event stream. Everything that can refuse a subscriber (auth,
// the query, an unknown job) runs before the upgrade, so the refusal is an ordinary HTTP answer
// in the one error shape; after the upgrade the event hub serves the socket.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors'
import { TOPICS, parseTopics, type EventFilter } from '../events/topics'
import { errorResponses } from '../schemas/error'
import { EventsQuery } from '../schemas/events'

const DESCRIPTION = 'A WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`). The first message is a ' +
  '`snapshot` of the pool, its workers, the newest buffers and recent jobs (bounded: `truncated` and `counts` ' +
  'say what it left out); then one JSON message per event (`{"type","ts","data"}`: buffer.*, job.*, pipeline.*, worker.*, ' +
  'pool.stats about once a second; buffer.holders and worker.updated keep descriptor maps and worker counters ' +
  'current without polling; with --cluster, cluster.node as this node\'s view of a node changes and job.placed for ' +
  'each placement it makes, and the snapshot\'s `cluster` is that view), and `lagged` when the client read too slowly and lost events. Messages are ' +
  'described in asyncapi.yaml. Past the subscriber limit the socket is closed at once with 1013 and a reason. ' +
  'When the server has a token, pass it as `Authorization: Bearer` or, from a browser, as `?token=`. ' +
  'A request without the upgrade is refused with 400.'

function filterOf (query: EventsQuery): EventFilter {
  const parsed = parseTopics(query.topics)
  if ('unknown' in parsed) {
    throw new ApiError('VALIDATION_ERROR', `query.topics: unknown topic ${JSON.stringify(parsed.unknown)}; topics are ${TOPICS.join(', ')}`)
  }
  return { topics: parsed.topics, job: query.job ?? null, pipeline: query.pipeline ?? null }
}

const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    method: 'GET',
    url: '/events',
    // Browsers cannot set headers on a WebSocket handshake (server/plugins/auth.ts).
    config: { acceptQueryToken: true },
    schema: {
      tags: ['pool'],
      summary: 'The event stream (WebSocket)',
      description: DESCRIPTION,
      querystring: EventsQuery,
      response: {
        101: { description: 'Switching Protocols: the event stream follows', type: 'null' },
        ...errorResponses('VALIDATION_ERROR', 'BAD_REQUEST', 'UNAUTHORIZED', 'NOT_FOUND')
      }
    },
    preHandler: async (request) => {
      const filter = filterOf(request.query)
      if (filter.job !== null) app.pool.get(filter.job) // NOT_FOUND before the upgrade
      if (filter.pipeline != null) app.pool.pipelines.get(filter.pipeline)
    },
    handler: async () => {
      throw new ApiError('BAD_REQUEST', 'GET /v1/events is a WebSocket: send the request with "Connection: Upgrade" and "Upgrade: websocket"')
    },
    wsHandler: (socket, request) => {
      app.eventHub.serve(socket, filterOf(request.query))
    }
  })
}

export default eventRoutes
