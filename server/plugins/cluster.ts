// The `cluster` decorator: this server's ClusterNode when --cluster is given, null otherwise.
// Without a cluster nothing here loads BullMQ or ioredis (the import is dynamic) and nothing
// connects anywhere. With one, the node joins once the server listens (its URL needs the port)
// and leaves at preClose, before the pool closes: it stops taking jobs from its queue, lets the
// running ones finish, and says in the registry that it is gone.
import fp from 'fastify-plugin'
import type { AddressInfo } from 'node:net'
import { BufferDigests } from '../cluster/buffer-digest'
import type { ClusterOptions } from '../cluster/cluster-options'
import type { ClusterNode } from '../cluster/cluster-node'
import { PEER_HEADER } from '../cluster/peer-client'

declare module 'fastify' {
  interface FastifyInstance {
    cluster: ClusterNode | null
    /** Digests of local buffers when not clustered (GET /v1/cluster/buffers/:id/digest). */
    localDigests: BufferDigests
  }
  interface FastifyRequest {
    /** True when another node of the cluster sent the request: answer from this node only. */
    fromPeer: boolean
  }
}

export interface ClusterPluginOptions {
  cluster?: ClusterOptions
  /** How long this node's running cluster jobs may finish when it leaves. */
  graceMs?: number
}

export default fp<ClusterPluginOptions>(async function clusterPlugin (app, options) {
  // A getter, not an onRequest hook: nothing runs per request unless a route asks (and only
  // clustered routes do).
  app.decorateRequest('fromPeer', {
    getter (this: { headers: Record<string, unknown> }) { return this.headers[PEER_HEADER] !== undefined }
  })
  if (options.cluster === undefined) {
    app.decorate('cluster', null)
    app.decorate('localDigests', new BufferDigests(app.pool.store))
    return
  }
  const { ClusterNode } = await import('../cluster/cluster-node')
  const log = app.log.child({ component: 'cluster' })
  const node = new ClusterNode(app.pool, options.cluster, { warn: (o, m) => { log.warn(o, m) }, info: (o, m) => { log.info(o, m) } })
  app.decorate('cluster', node)
  app.decorate('localDigests', node.digests)
  app.addHook('onResponse', async (request, reply) => {
    if (!request.fromPeer || request.routeOptions.url !== '/v1/buffers/:id/content' || (reply.statusCode !== 200 && reply.statusCode !== 206)) return
    const bytes = Number(reply.getHeader('content-length') ?? 0)
    const peer = String(request.headers[PEER_HEADER])
    if (Number.isSafeInteger(bytes)) node.servedTo.set(peer, (node.servedTo.get(peer) ?? 0) + bytes)
  })
  app.addHook('onListen', async () => {
    if (node.started) return
    const address = app.server.address() as AddressInfo
    node.start({ host: address.address, port: address.port })
  })
  app.addHook('preClose', async () => { await node.close(options.graceMs ?? 10_000) })
}, { name: 'memfd-pool/cluster', dependencies: ['memfd-pool/pool'] })
