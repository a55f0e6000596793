// Buffers: create (empty from JSON, or sealed from an octet-stream body), list, get, seal, delete.
// Their bytes are read and written by buffer-content.ts.
import type { IncomingMessage } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { REPLICA_HEADER } from '../cluster/peer-client'
import { ApiError } from '../errors'
import { checkUploadHeaders, declaredLength, streamIntoBuffer } from '../content/upload'
import type { BufferStore } from '../pool/buffer-store'
import type { BufferInfo } from '../pool/types'
import type { UploadLimits } from '../plugins/uploads'
import { BinaryBody, BufferIdParams, BufferList, BufferSchema, CreateBufferBody, CreateBufferQuery } from '../schemas/buffer'
import { errorResponses } from '../schemas/error'
import { ref } from '../schemas/ref'

const TAGS = ['buffers']

function isOctetStream (contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === 'application/octet-stream'
}

/**
 * A sealed buffer holding exactly the request body. It is sized from Content-Length before the
 * first byte is read (a memfd is reserved whole, so the quota is checked up front), and deleted
 * again if anything goes wrong, so a failed upload leaves nothing behind.
 */
async function createFromBody (store: BufferStore, uploads: UploadLimits, request: IncomingMessage, name: string | undefined, ttlMs: number | undefined): Promise<ReturnType<BufferStore['get']>> {
  const size = declaredLength(request)
  if (size === null) throw new ApiError('LENGTH_REQUIRED')
  checkUploadHeaders(request, size)
  const created = store.create({ size, name, ttlMs })
  try {
    await streamIntoBuffer(request, { store, id: created.id, offset: 0, limit: size, idleTimeoutMs: uploads.bodyTimeoutMs, signal: uploads.signal })
    return store.seal(created.id)
  } catch (err) {
    try { store.delete(created.id) } catch { /* already deleted by a concurrent DELETE */ }
    throw err
  }
}

const bufferRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.pool.store
  // Clustered, every buffer object names the node holding its memfd (docs/CLUSTER.md).
  const withNode = (info: BufferInfo): BufferInfo => app.cluster === null ? info : { ...info, node: app.cluster.name }

  app.post('/buffers', {
    schema: {
      tags: TAGS,
      summary: 'Create a buffer',
      description: 'With a JSON body {size, name?}: an empty (zero-filled) writable buffer. With an ' +
        'application/octet-stream body: a buffer holding exactly the body (Content-Length required), sealed.',
      querystring: CreateBufferQuery,
      body: {
        content: {
          'application/json': { schema: CreateBufferBody },
          'application/octet-stream': { schema: BinaryBody }
        }
      },
      response: {
        201: ref(BufferSchema, { description: 'The new buffer' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'INVALID_SIZE', 'INVALID_PARAMS', 'UNAUTHORIZED', 'LENGTH_REQUIRED',
          'PAYLOAD_TOO_LARGE', 'REQUEST_TIMEOUT', 'UNSUPPORTED_MEDIA_TYPE', 'QUOTA_EXCEEDED', 'TOO_MANY_BUFFERS', 'RESOURCE_EXHAUSTED', 'POOL_CLOSED')
      }
    }
  }, async (request, reply) => {
    let created
    if (isOctetStream(request.headers['content-type'])) {
      created = await createFromBody(store, app.uploads, request.raw, request.query.name, request.query.ttlMs)
    } else {
      const body = request.body as CreateBufferBody | undefined
      if (body === undefined || body === null || typeof body !== 'object') {
        throw new ApiError('VALIDATION_ERROR', 'body is required: JSON {size, name?} or application/octet-stream bytes')
      }
      created = store.create({ size: body.size, name: body.name ?? request.query.name, ttlMs: body.ttlMs ?? request.query.ttlMs })
    }
    void reply.code(201).header('location', `/v1/buffers/${created.id}`)
    return withNode(created)
  })

  app.get('/buffers', {
    schema: {
      tags: TAGS,
      summary: 'List live buffers',
      response: { 200: BufferList, ...errorResponses('UNAUTHORIZED') }
    }
  }, async () => ({ buffers: store.list().map(withNode) }))

  app.get('/buffers/:id', {
    schema: {
      tags: TAGS,
      summary: 'One buffer, with the processes holding it',
      description: 'Clustered (docs/CLUSTER.md): a buffer another node holds is answered from that node, with its `node`. ' +
        'One whose node was lost is 410 BUFFER_LOST, unless a node that is up holds a replica of it (then the replica answers).',
      params: BufferIdParams,
      response: { 200: ref(BufferSchema, { description: 'The buffer' }), ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'BUFFER_LOST', 'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE') }
    }
  }, async (request, reply) => {
    const cluster = app.cluster
    const { id } = request.params
    if (cluster === null) return store.get(id)
    if (store.has(id)) return { ...store.get(id), node: cluster.name }
    if (request.fromPeer) {
      // A peer looking for the buffer: this node's replica of it counts (a lost owner's jobs can
      // run from it), marked so that the original wins while it exists.
      const replica = cluster.puller.replicas.info(id)
      if (replica === null) throw new ApiError('NOT_FOUND', `No buffer ${id} on node ${cluster.name}`)
      void reply.header(REPLICA_HEADER, '1')
      return { ...replica, node: cluster.name }
    }
    const found = await cluster.locator.locate(id, await cluster.nodes())
    if (found === null) throw new ApiError('NOT_FOUND', `No node of the cluster that is up has a buffer ${id}`)
    return { ...found.info, node: found.node }
  })

  app.post('/buffers/:id/seal', {
    schema: {
      tags: TAGS,
      summary: 'Seal a buffer',
      description: 'Adds the shrink, grow and write seals: nobody can resize it or change its bytes again, ' +
        'and jobs may read it. Idempotent.',
      params: BufferIdParams,
      response: {
        200: ref(BufferSchema, { description: 'The sealed buffer' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'SEAL_REFUSED', 'BUFFER_MAPPED_WRITABLE', 'UNSUPPORTED_MEDIA_TYPE', 'RESOURCE_EXHAUSTED')
      }
    }
  }, async (request) => withNode(store.seal(request.params.id)))

  app.delete('/buffers/:id', {
    schema: {
      tags: TAGS,
      summary: 'Delete a buffer',
      description: 'Hides it at once; its memory is freed when no job, download or attached process uses it any more. ' +
        'Clustered: a buffer is deleted on the node that owns it (which frees the other nodes\' replicas); on another node ' +
        'the id deletes that node\'s replica, if it has one.',
      params: BufferIdParams,
      response: {
        204: { type: 'null', description: 'Deleted' },
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE')
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    // Clustered: this node's replica of another node's buffer goes by the original's id too
    // (the original itself is deleted on its owner; docs/CLUSTER.md).
    if (app.cluster !== null && !store.has(id) && app.cluster.started && app.cluster.puller.replicas.lookup(id) !== null) {
      app.cluster.puller.replicas.forget(id)
      return reply.code(204).send()
    }
    store.delete(id)
    return reply.code(204).send()
  })
}

export default bufferRoutes
