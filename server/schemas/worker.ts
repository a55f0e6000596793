// A worker process as the pool reports it (server/pool/types.ts WorkerInfo).
import { Type } from '@sinclair/typebox'
import { ref } from './ref'
import { stringEnum } from './string-enum'
import { nullable } from './nullable'

export const WorkerSchema = Type.Object({
  id: Type.String(),
  pid: nullable(Type.Integer()),
  external: Type.Boolean({ description: 'An external worker on the worker socket (docs/worker-protocol.md); its pid is from SO_PEERCRED' }),
  name: nullable(Type.String(), { description: 'The name an external worker gave in its hello; null for the pool\'s own workers' }),
  state: stringEnum(['starting', 'ready', 'unresponsive', 'stopping', 'exited']),
  threads: Type.Integer({ minimum: 0 }),
  running: Type.Integer({ minimum: 0 }),
  jobsDone: Type.Integer({ minimum: 0 }),
  startedAt: nullable(Type.String({ format: 'date-time' })),
  restarts: Type.Integer({ minimum: 0 })
}, { $id: 'Worker', additionalProperties: false })

export const WorkerList = Type.Object({ workers: Type.Array(ref(WorkerSchema)) }, { additionalProperties: false, description: 'The worker processes: the pool\'s own, then external workers' })
