// A buffer's bytes over HTTP, never held whole in the heap: PUT copies the request stream into
// the shared memory chunk by chunk (pwrite); GET streams zero-copy views of the mapping, honouring Range.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BufferReadStream } from '../content/download'
import { parseRange } from '../content/range'
import { checkUploadHeaders, streamIntoBuffer } from '../content/upload'
import { proxyContent } from '../cluster/content-proxy'
import { ApiError } from '../errors'
import { BinaryBody, BufferIdParams, WriteContentQuery, WriteResult } from '../schemas/buffer'
import { errorResponses } from '../schemas/error'

const TAGS = ['buffers']

const ETAG = { ETag: { type: 'string', description: 'A strong validator; sealed buffers only (their bytes never change)' } }

const BYTES = { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }

/**
 * A strong validator for a sealed buffer's bytes. Sealed bytes never change and ids are random
 * and never reused, so the id itself identifies the content. Writable buffers get none: their
 * bytes may change between two requests. No Last-Modified: the store does not record when a
 * buffer was sealed, and its creation time would be wrong for buffers written before sealing.
 */
export function sealedEtag (id: string): string {
  return `"${id}"`
}

function etagListMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((candidate) => {
    const value = candidate.trim()
    return value === '*' || value === etag || value === `W/${etag}`
  })
}

/** If-Range matches only our strong ETag exactly; a date (we send no Last-Modified) never does. */
function rangeApplies (ifRange: string | undefined, etag: string | null): boolean {
  if (ifRange === undefined) return true
  return etag !== null && ifRange.trim() === etag
}

const bufferContentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.pool.store

  app.put('/buffers/:id/content', {
    schema: {
      tags: TAGS,
      summary: 'Write bytes into a writable buffer',
      description: 'Writes the body at `offset`, streamed into the shared memory as it arrives. The body may be ' +
        'at most the space left after `offset` (413 otherwise, refused before reading when Content-Length says so; ' +
        'bytes already written stay written). An `offset` past the end is 416.',
      params: BufferIdParams,
      querystring: WriteContentQuery,
      body: { content: { 'application/octet-stream': { schema: BinaryBody } } },
      response: {
        200: WriteResult,
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'UNAUTHORIZED', 'NOT_FOUND', 'BUFFER_SEALED', 'PAYLOAD_TOO_LARGE',
          'REQUEST_TIMEOUT', 'UNSUPPORTED_MEDIA_TYPE', 'RANGE_NOT_SATISFIABLE', 'POOL_CLOSED')
      }
    }
  }, async (request) => {
    // Any other media type was parsed by its own parser (JSON) and is not a stream of bytes.
    if (request.body !== request.raw) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the bytes as Content-Type: application/octet-stream')
    }
    const { id } = request.params
    const offset = request.query.offset ?? 0
    const info = store.get(id)
    if (info.sealed) throw new ApiError('BUFFER_SEALED', `Buffer ${id} is sealed; its bytes can no longer change`)
    if (offset > info.size) {
      throw new ApiError('RANGE_NOT_SATISFIABLE', `offset ${offset} is past the end of buffer ${id} (${info.size} bytes)`)
    }
    const limit = info.size - offset
    checkUploadHeaders(request.raw, limit)
    const written = await streamIntoBuffer(request.raw, { store, id, offset, limit, idleTimeoutMs: app.uploads.bodyTimeoutMs, signal: app.uploads.signal })
    return { written }
  })

  app.get('/buffers/:id/content', {
    schema: {
      tags: TAGS,
      summary: 'Read a buffer\'s bytes',
      description: 'Streams the bytes from the shared mapping. A single `Range: bytes=…` is honoured (206); ' +
        'several ranges are answered with the whole buffer. A sealed buffer has a strong `ETag` (its bytes never change): ' +
        '`If-None-Match` gives 304, and `If-Range` with another validator (or a date) gives the whole buffer (200). ' +
        'The download keeps the memory alive: a DELETE meanwhile hides the buffer but the download completes.',
      params: BufferIdParams,
      response: {
        200: { description: 'The whole buffer', headers: ETAG, content: BYTES },
        206: {
          description: 'The requested range',
          headers: { ...ETAG, 'Content-Range': { type: 'string', pattern: '^bytes \\d+-\\d+/\\d+$', description: '`bytes first-last/size`' } },
          content: BYTES
        },
        304: { description: 'Not modified: the sealed buffer\'s ETag matched If-None-Match', type: 'null' },
        ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'BUFFER_LOST', 'RANGE_NOT_SATISFIABLE', 'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE')
      }
    }
  }, async (request, reply) => {
    // Clustered: a buffer held by another node streams from it; one this node holds a replica of
    // streams from the replica (a lost owner's buffer lives on in it; docs/CLUSTER.md).
    const { id } = request.params
    let local = id
    if (app.cluster !== null && !store.has(id)) {
      const replica = app.cluster.started ? app.cluster.puller.replicas.lookup(id) : null
      if (replica !== null) local = replica
      else if (!request.fromPeer) return await proxyContent(app.cluster, id, request, reply)
    }
    const lease = store.acquire(local)
    const size = lease.info.size
    // The requested id, not the replica's local one: the same bytes have the same validator everywhere.
    const etag = lease.info.sealed ? sealedEtag(id) : null
    if (etag !== null) void reply.header('etag', etag)
    if (etag !== null && etagListMatches(request.headers['if-none-match'], etag)) {
      lease.release()
      return reply.code(304).send()
    }
    // If-Range (RFC 9110 §13.1.5): the range applies only to the representation the client
    // already has part of; otherwise it gets the whole buffer (200), never a mismatched piece.
    const rangeHeader = rangeApplies(request.headers['if-range'] as string | undefined, etag) ? request.headers.range : undefined
    const range = parseRange(rangeHeader, size)
    if (range.kind === 'unsatisfiable') {
      lease.release()
      void reply.header('content-range', `bytes */${size}`)
      throw new ApiError('RANGE_NOT_SATISFIABLE', `The range ${rangeHeader ?? ''} lies outside the ${size}-byte buffer`)
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size]
    // Released once the response is over: finished (the last view has been handed to the kernel)
    // or aborted (the socket is closed, nothing will read the views again).
    reply.raw.once('close', () => { lease.release() })
    void reply
      .code(range.kind === 'partial' ? 206 : 200)
      .header('accept-ranges', 'bytes')
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(end - start))
    if (range.kind === 'partial') void reply.header('content-range', `bytes ${start}-${end - 1}/${size}`)
    if (end === start) return reply.send('')
    return reply.send(new BufferReadStream(lease, start, end))
  })
}

export default bufferContentRoutes
