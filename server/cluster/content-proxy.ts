// GET /v1/buffers/:id/content for a buffer another node holds: the request goes on to the owner
// with its Range and validators, and the owner's answer (status, length, range, ETag, bytes)
// streams back as it arrives. A proxy rather than a redirect: clients need to reach only the node
// they talk to, with the token they already have; the bytes cross this node once, never whole
// in its heap. A client that goes away aborts the upstream request.
import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors'
import type { ClusterNode } from './cluster-node'

const FORWARDED_REQUEST = ['range', 'if-range', 'if-none-match'] as const
const FORWARDED_REPLY = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'etag']

export async function proxyContent (cluster: ClusterNode, id: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const found = await cluster.locator.locate(id, await cluster.nodes())
  if (found === null) throw new ApiError('NOT_FOUND', `No node of the cluster that is up has a buffer ${id}`)
  const headers: Record<string, string> = {}
  for (const name of FORWARDED_REQUEST) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const abort = new AbortController()
  reply.raw.once('close', () => { abort.abort() })
  let upstream: Response
  try {
    upstream = await fetch(`${found.url}/v1/buffers/${encodeURIComponent(id)}/content`, { headers: cluster.peerHeaders(headers), signal: abort.signal })
  } catch (err) {
    throw new ApiError('NODE_UNREACHABLE', `Node ${found.node} (${found.url}) did not answer: ${(err as Error).message}`)
  }
  void reply.code(upstream.status).header('x-memfd-pool-node', found.node)
  for (const name of FORWARDED_REPLY) {
    const value = upstream.headers.get(name)
    if (value !== null) void reply.header(name, value)
  }
  if (upstream.body === null) return reply.send()
  if ((upstream.headers.get('content-type') ?? '').startsWith('application/json')) {
    // An error from the owner, already in our shape.
    return reply.send(await upstream.text())
  }
  return reply.send(Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>))
}
