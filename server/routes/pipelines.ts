// Pipelines: submit (optionally long-polling until it ends), get (same), list, cancel. Clustered
// (docs/CLUSTER.md), a submit is placed by its input bytes and may run on another node, whose
// answer is passed back; a pipeline this node does not hold is read and cancelled on its node.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { Relayed } from '../cluster/cluster-pipelines'
import { ApiError } from '../errors'
import type { PipelineInfo, PipelineSpec } from '../pipelines'
import { PoolError } from '../pool/pool-error'
import { errorResponses } from '../schemas/error'
import { WaitQuery } from '../schemas/job'
import { ListPipelinesQuery, PipelineIdParams, PipelineList, PipelineSchema, SubmitPipelineBody } from '../schemas/pipeline'
import { ref } from '../schemas/ref'
import { longPoll } from './long-poll'

const TAGS = ['pipelines']

/**
 * The answer of the node running the pipeline, as it came: a Pipeline, or an error body (typed as
 * a Pipeline for the handler; Fastify serializes it by the schema of its status).
 */
function relay (reply: FastifyReply, relayed: Relayed): PipelineInfo {
  if (relayed.body === null) throw new ApiError('NODE_UNREACHABLE', `The node running the pipeline answered ${relayed.status} without a body`)
  const pipeline = relayed.body as { id?: unknown }
  if (relayed.status < 300 && typeof pipeline.id === 'string') void reply.header('location', `/v1/pipelines/${pipeline.id}`)
  void reply.code(relayed.status)
  return relayed.body as PipelineInfo
}

const pipelineRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const pipelines = app.pool.pipelines

  const { settle, closing } = longPoll<PipelineInfo>(app, {
    ended: (pipeline) => pipeline.state !== 'running',
    wait: async (id, ms) => await pipelines.wait(id, ms),
    get: (id) => pipelines.get(id)
  })

  /** This node's pipeline, or null when clustered and it may be another node's. */
  function localOrNull (id: string, fromPeer: boolean): PipelineInfo | null {
    try {
      return pipelines.get(id)
    } catch (err) {
      // A peer asks this node only: nothing here is a 404, not a lookup that could bounce back.
      if (app.cluster === null || fromPeer || !(err instanceof PoolError) || err.code !== 'NOT_FOUND') throw err
      return null
    }
  }

  app.post('/pipelines', {
    schema: {
      tags: TAGS,
      summary: 'Start a pipeline of jobs',
      description: 'Each step runs as an ordinary job as soon as all its inputs exist; independent steps run in ' +
        'parallel. Inputs are sealed buffer ids or `{step, output?}`. The whole spec is checked first: a refusal ' +
        'names the step at fault and creates nothing. Intermediates (outputs that are not results) are deleted ' +
        'once every step reading them has finished. With `?wait=ms`: 200 when it ended within the wait, 201 otherwise. ' +
        'Clustered: placed as a unit on the node holding most of its input bytes among those serving every kind of its ' +
        'steps; that node pulls the inputs it lacks first (PULL_FAILED, INPUT_LOST when it cannot).',
      querystring: WaitQuery,
      body: SubmitPipelineBody,
      response: {
        200: ref(PipelineSchema, { description: 'The pipeline ended within `wait`' }),
        201: ref(PipelineSchema, { description: 'The pipeline is running; poll GET /v1/pipelines/{id}' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'INVALID_PIPELINE', 'UNKNOWN_KIND', 'INVALID_PARAMS', 'INVALID_INPUTS',
          'UNAUTHORIZED', 'NOT_FOUND', 'BUFFER_NOT_SEALED', 'UNSUPPORTED_MEDIA_TYPE', 'POOL_CLOSED', 'NOT_READY',
          'QUEUE_FULL', 'QUOTA_EXCEEDED', 'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE', 'PULL_FAILED', 'INPUT_LOST', 'BUFFER_LOST')
      }
    }
  }, async (request, reply) => {
    const spec = request.body as PipelineSpec
    const wait = request.query.wait ?? 0
    const cluster = app.cluster
    let pipeline: PipelineInfo
    if (cluster === null) {
      pipeline = await settle(pipelines.create(spec), wait)
    } else {
      // From a peer: placed there already, so it runs here.
      const placed = request.fromPeer ? { here: await cluster.pipelines.runHere(spec) } : await cluster.pipelines.submit(spec, wait, closing)
      if ('relayed' in placed) return relay(reply, placed.relayed)
      pipeline = cluster.pipelines.decorate(await settle(placed.here, wait))
    }
    void reply.code(pipeline.state === 'running' ? 201 : 200).header('location', `/v1/pipelines/${pipeline.id}`)
    return pipeline
  })

  app.get('/pipelines/:id', {
    schema: {
      tags: TAGS,
      summary: 'One pipeline',
      description: 'With `?wait=ms`, the reply is held until the pipeline ends or the wait runs out. Clustered: any node ' +
        'answers, from the node running it.',
      params: PipelineIdParams,
      querystring: WaitQuery,
      response: {
        200: ref(PipelineSchema, { description: 'The pipeline (finished, or as it stood when the wait ran out)' }),
        ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE')
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const wait = request.query.wait ?? 0
    const cluster = app.cluster
    const local = localOrNull(id, request.fromPeer)
    if (local !== null) return cluster === null ? await settle(local, wait) : cluster.pipelines.decorate(await settle(local, wait))
    const relayed = await (cluster?.pipelines.get(id, wait, closing) ?? null)
    if (relayed === null) throw new PoolError('NOT_FOUND', `No pipeline ${JSON.stringify(id)} in this cluster`)
    return relay(reply, relayed)
  })

  app.get('/pipelines', {
    schema: {
      tags: TAGS,
      summary: 'Recent pipelines, newest first',
      description: 'Clustered: this node\'s pipelines only.',
      querystring: ListPipelinesQuery,
      response: { 200: PipelineList, ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED') }
    }
  }, async (request) => {
    const list = pipelines.list({ state: request.query.state, limit: request.query.limit })
    const cluster = app.cluster
    return { pipelines: cluster === null ? list : list.map((p) => cluster.pipelines.decorate(p)) }
  })

  app.post('/pipelines/:id/cancel', {
    schema: {
      tags: TAGS,
      summary: 'Cancel every step not yet finished',
      description: 'Pending steps end at once; queued and running jobs are cancelled. The pipeline is `cancelled` once all have stopped. ' +
        'Clustered: any node passes it on to the node running the pipeline.',
      params: PipelineIdParams,
      response: {
        200: ref(PipelineSchema, { description: 'The pipeline: cancelled, or still stopping its running steps' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'UNAUTHORIZED', 'NOT_FOUND', 'PIPELINE_FINISHED', 'UNSUPPORTED_MEDIA_TYPE',
          'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE')
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const cluster = app.cluster
    const local = localOrNull(id, request.fromPeer)
    if (local !== null) return cluster === null ? pipelines.cancel(id) : cluster.pipelines.decorate(pipelines.cancel(id))
    const relayed = await (cluster?.pipelines.cancel(id) ?? null)
    if (relayed === null) throw new PoolError('NOT_FOUND', `No pipeline ${JSON.stringify(id)} in this cluster`)
    return relay(reply, relayed)
  })
}

export default pipelineRoutes
