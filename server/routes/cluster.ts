// The cluster (docs/CLUSTER.md): its nodes, and the digest of a sealed buffer (what a node pulling
// it checks its copy against). Served without --cluster too: `self` is null, `nodes` empty, and
// the digest of a local buffer still answers.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BufferDigestSchema, ClusterSchema, DigestParams } from '../schemas/cluster'
import { errorResponses } from '../schemas/error'

const TAGS = ['cluster']

const clusterRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/cluster', {
    schema: {
      tags: TAGS,
      summary: 'The nodes of the cluster, their load and memory',
      description: 'Every node the registry in Redis knows, `up` or `lost` (no heartbeat for --node-lost-after).',
      response: { 200: ClusterSchema, ...errorResponses('UNAUTHORIZED', 'CLUSTER_UNAVAILABLE') }
    }
  }, async () => {
    const cluster = app.cluster
    if (cluster === null) return { self: null, nodes: [], pulledBytes: {}, servedBytes: {} }
    const nodes = await cluster.nodes()
    return { self: cluster.name, nodes, pulledBytes: Object.fromEntries(cluster.puller.pulledFrom), servedBytes: Object.fromEntries(cluster.servedTo) }
  })

  app.get('/cluster/buffers/:id/digest', {
    schema: {
      tags: TAGS,
      summary: 'The sha256 of a sealed buffer held here',
      description: 'Asked by a node pulling the buffer, to check its copy. Computed once per buffer. ' +
        'A replica held here answers for its original (a lost node\'s buffer can still be pulled from a copy).',
      params: DigestParams,
      response: { 200: BufferDigestSchema, ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND') }
    }
  }, async (request) => {
    const { id } = request.params
    const cluster = app.cluster
    const replica = cluster !== null && cluster.started && !app.pool.store.has(id) ? cluster.puller.replicas.lookup(id) : null
    if (cluster === null || replica === null) return await (cluster?.digests ?? app.localDigests).sha256(id)
    return { ...await cluster.digests.sha256(replica), id }
  })
}

export default clusterRoutes
