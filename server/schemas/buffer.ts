// Buffers over HTTP: the Buffer object (server/pool/types.ts BufferInfo) and the requests that
// create, address and write them.
import { Type, type Static } from '@sinclair/typebox'
import { ref } from './ref'
import { stringEnum } from './string-enum'
import { MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TTL_MS } from './limits'
import { nullable } from './nullable'

export const DescriptorHolder = Type.Object({
  pid: Type.Integer({ description: 'The holding process' }),
  fd: nullable(Type.Integer(), {
    description: 'The holder\'s own descriptor number: meaningful only inside that process. null when only the holder knows it.'
  }),
  role: stringEnum(['server', 'worker', 'attached'])
}, { additionalProperties: false })

export const BufferSchema = Type.Object({
  id: Type.String({ description: 'Opaque id; the only name a buffer has across processes' }),
  name: Type.String(),
  size: Type.Integer({ minimum: 0, description: 'Bytes' }),
  sealed: Type.Boolean(),
  state: stringEnum(['writable', 'sealed']),
  createdAt: Type.String({ format: 'date-time' }),
  attachToken: Type.String({ description: 'Capability for the attach socket: whoever has it may map this buffer' }),
  descriptors: Type.Array(DescriptorHolder, {
    description: 'Which process holds the buffer under which process-local descriptor number'
  }),
  producedBy: nullable(Type.Object({
    job: Type.String(),
    pipeline: Type.Optional(Type.String()),
    step: Type.Optional(Type.String())
  }, { additionalProperties: false }), { description: 'The job (and pipeline step) whose output this is; null for uploads and registrations' }),
  expiresAt: nullable(Type.String({ format: 'date-time' }), {
    description: 'When the buffer is deleted on its own (buffer.deleted with reason "expired"); null: never'
  }),
  node: Type.Optional(Type.String({ description: 'Clustered servers only (docs/CLUSTER.md): the node holding the buffer\'s memfd' }))
}, { $id: 'Buffer', additionalProperties: false })
export type BufferSchema = Static<typeof BufferSchema>

export const BufferList = Type.Object({ buffers: Type.Array(ref(BufferSchema)) }, { additionalProperties: false, description: 'Live buffers' })

const TtlMs = Type.Integer({ minimum: 1, maximum: MAX_TTL_MS, description: 'Delete the buffer on its own this long after creation' })

export const CreateBufferBody = Type.Object({
  size: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Bytes; the buffer starts zero-filled' }),
  name: Type.Optional(Type.String({ maxLength: MAX_NAME_LENGTH, description: 'A label for people; defaults to the id' })),
  ttlMs: Type.Optional(TtlMs)
}, { additionalProperties: false })
export type CreateBufferBody = Static<typeof CreateBufferBody>

/**
 * An `application/octet-stream` body. Annotation only: the route reads the raw stream itself
 * (never buffered whole), so validation must accept whatever object stands for the stream.
 */
export const BinaryBody = Type.Unsafe<unknown>({
  contentMediaType: 'application/octet-stream',
  description: 'Raw bytes, streamed'
})

export const BufferIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: 'Buffer id' })
})
export type BufferIdParams = Static<typeof BufferIdParams>

export const CreateBufferQuery = Type.Object({
  name: Type.Optional(Type.String({ maxLength: MAX_NAME_LENGTH, description: 'For an octet-stream body: the buffer\'s name' })),
  ttlMs: Type.Optional(Type.Integer({ ...TtlMs, description: 'For an octet-stream body: delete the buffer on its own this long after creation' }))
})
export type CreateBufferQuery = Static<typeof CreateBufferQuery>

export const WriteContentQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'First byte to write' }))
})
export type WriteContentQuery = Static<typeof WriteContentQuery>

export const WriteResult = Type.Object({
  written: Type.Integer({ minimum: 0, description: 'Bytes written' })
}, { additionalProperties: false, description: 'The whole body was written' })
