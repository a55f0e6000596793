// The pool's counters (server/pool/types.ts PoolStats).
import { Type } from '@sinclair/typebox'
import { nullable } from './nullable'

export const PoolSchema = Type.Object({
  workers: Type.Integer({ minimum: 0 }),
  workersReady: Type.Integer({ minimum: 0 }),
  queueDepth: Type.Integer({ minimum: 0 }),
  maxQueue: Type.Integer({ minimum: 0 }),
  running: Type.Integer({ minimum: 0 }),
  jobsDone: Type.Integer({ minimum: 0 }),
  throughput: Type.Number({ minimum: 0, description: 'Jobs finished per second over the last second' }),
  buffers: Type.Integer({ minimum: 0 }),
  bytesInUse: Type.Integer({ minimum: 0 }),
  quotaBytes: Type.Integer({ minimum: 0 }),
  maxBufferBytes: Type.Integer({ minimum: 0 }),
  attachSocket: nullable(Type.String()),
  workerSocket: nullable(Type.String(), { description: 'Where external workers connect (docs/worker-protocol.md); null when not served' })
}, { $id: 'Pool', additionalProperties: false })
