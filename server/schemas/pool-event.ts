// An event as /v1/events forwards it: from the pool's 'event' stream (pool.on('event')) or, on a
// clustered server, the cluster's (server/cluster/cluster-events.ts: cluster.node, job.placed).
// The per-type payloads are described in openapi/asyncapi.yaml.
import { Type, type Static } from '@sinclair/typebox'
import { stringEnum } from './string-enum'

export const POOL_EVENT_TYPES = [
  'buffer.created', 'buffer.sealed', 'buffer.deleted', 'buffer.holders',
  'job.queued', 'job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.cancelled', 'job.placed',
  'worker.started', 'worker.exited', 'worker.updated',
  'pool.stats',
  'pipeline.created', 'pipeline.step', 'pipeline.succeeded', 'pipeline.failed', 'pipeline.cancelled',
  'cluster.node'
] as const

export const PoolEventType = stringEnum(POOL_EVENT_TYPES)
export type PoolEventType = Static<typeof PoolEventType>

export const PoolEventSchema = Type.Object({
  type: PoolEventType,
  ts: Type.String({ format: 'date-time' }),
  data: Type.Unknown()
}, { additionalProperties: false })
