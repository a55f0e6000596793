// The query of the WebSocket event stream. The messages themselves are described in
// openapi/asyncapi.yaml (OpenAPI has no way to describe what flows after an upgrade).
import { Type, type Static } from '@sinclair/typebox'
import { TOPICS } from '../events/topics'

export const EventsQuery = Type.Object({
  topics: Type.Optional(Type.String({
    maxLength: 100,
    description: `Comma-separated topics to receive, from: ${TOPICS.join(', ')} (default: all). ` +
      'jobs: job.queued, job.started, job.progress, job.succeeded, job.failed, job.cancelled; ' +
      'buffers: buffer.created, buffer.sealed, buffer.holders, buffer.deleted; ' +
      'workers: worker.started, worker.updated, worker.exited; pool: pool.stats; ' +
      'cluster (with --cluster): cluster.node; with --cluster, jobs also carries job.placed. ' +
      '`snapshot` and `lagged` are always sent.',
    examples: ['jobs,pool']
  })),
  job: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'Only this job\'s job.* events (the snapshot then lists only this job)'
  })),
  pipeline: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'Only this pipeline\'s pipeline.* events, and the job.* events of its steps'
  })),
  token: Type.Optional(Type.String({
    description: 'The server\'s token, for clients that cannot send an Authorization header on the handshake (browsers)'
  }))
})
export type EventsQuery = Static<typeof EventsQuery>
