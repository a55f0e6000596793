// The cluster's shapes over HTTP (docs/CLUSTER.md): the nodes as the registry in Redis sees them,
// and the digest a node reports for a sealed buffer another node is pulling.
import { Type, type Static } from '@sinclair/typebox'
import { stringEnum } from './string-enum'
import { MAX_ID_LENGTH } from './limits'

export const ClusterNodeSchema = Type.Object({
  name: Type.String(),
  url: Type.String({ description: 'The base URL the other nodes use for it (--advertise)' }),
  state: stringEnum(['up', 'lost']),
  workers: Type.Integer({ minimum: 0 }),
  kinds: Type.Array(Type.String(), { description: 'The kinds its workers serve' }),
  memoryInUse: Type.Integer({ minimum: 0, description: 'Bytes of buffers it holds (replicas included)' }),
  maxMemory: Type.Integer({ minimum: 0, description: 'Its memory quota (--max-memory)' }),
  buffers: Type.Optional(Type.Integer({ minimum: 0, description: 'Buffers it owns (replicas of other nodes\' not counted); a lost node\'s last figure: those buffers died with it' })),
  queued: Type.Integer({ minimum: 0, description: 'Jobs waiting for it: in its BullMQ queue and its pool\'s queue' }),
  running: Type.Integer({ minimum: 0 }),
  maxQueue: Type.Integer({ minimum: 0 }),
  pulledBytes: Type.Integer({ minimum: 0, description: 'Input bytes it pulled from its peers since it started' }),
  servedBytes: Type.Integer({ minimum: 0, description: 'Buffer bytes it sent to its peers (their pulls and proxied reads) since it started' }),
  lastSeen: Type.String({ format: 'date-time', description: 'Its last heartbeat; lost after --node-lost-after without one' })
}, { additionalProperties: false })
export type ClusterNodeSchema = Static<typeof ClusterNodeSchema>

export const ClusterSchema = Type.Object({
  self: Type.Union([Type.String(), Type.Null()], { description: 'This node\'s name; null when the server runs without --cluster' }),
  nodes: Type.Array(ClusterNodeSchema),
  pulledBytes: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Bytes this node pulled from each peer since it started' }),
  servedBytes: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Buffer bytes this node sent to each peer since it started' })
}, { additionalProperties: false, description: 'The cluster as the registry in Redis sees it' })

export const BufferDigestSchema = Type.Object({
  id: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' })
}, { additionalProperties: false, description: 'The sha256 of a sealed buffer\'s bytes' })

export const DigestParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: 'Buffer id' }) })
export type DigestParams = Static<typeof DigestParams>
