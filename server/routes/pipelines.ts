// Pipelines: submit (optionally long-polling until it ends), get (same), list, cancel.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { PipelineInfo, PipelineSpec } from '../pipelines'
import { errorResponses } from '../schemas/error'
import { WaitQuery } from '../schemas/job'
import { ListPipelinesQuery, PipelineIdParams, PipelineList, PipelineSchema, SubmitPipelineBody } from '../schemas/pipeline'
import { ref } from '../schemas/ref'
import { longPoll } from './long-poll'

const TAGS = ['pipelines']

const pipelineRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const pipelines = app.pool.pipelines

  const { settle } = longPoll<PipelineInfo>(app, {
    ended: (pipeline) => pipeline.state !== 'running',
    wait: async (id, ms) => await pipelines.wait(id, ms),
    get: (id) => pipelines.get(id)
  })

  app.post('/pipelines', {
    schema: {
      tags: TAGS,
      summary: 'Start a pipeline of jobs',
      description: 'Each step runs as an ordinary job as soon as all its inputs exist; independent steps run in ' +
        'parallel. Inputs are sealed buffer ids or `{step, output?}`. The whole spec is checked first: a refusal ' +
        'names the step at fault and creates nothing. Intermediates (outputs that are not results) are deleted ' +
        'once every step reading them has finished. With `?wait=ms`: 200 when it ended within the wait, 201 otherwise.',
      querystring: WaitQuery,
      body: SubmitPipelineBody,
      response: {
        200: ref(PipelineSchema, { description: 'The pipeline ended within `wait`' }),
        201: ref(PipelineSchema, { description: 'The pipeline is running; poll GET /v1/pipelines/{id}' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'INVALID_PIPELINE', 'UNKNOWN_KIND', 'INVALID_PARAMS', 'INVALID_INPUTS',
          'UNAUTHORIZED', 'NOT_FOUND', 'BUFFER_NOT_SEALED', 'UNSUPPORTED_MEDIA_TYPE', 'POOL_CLOSED', 'NOT_READY')
      }
    }
  }, async (request, reply) => {
    const pipeline = await settle(pipelines.create(request.body as PipelineSpec), request.query.wait ?? 0)
    void reply.code(pipeline.state === 'running' ? 201 : 200).header('location', `/v1/pipelines/${pipeline.id}`)
    return pipeline
  })

  app.get('/pipelines/:id', {
    schema: {
      tags: TAGS,
      summary: 'One pipeline',
      description: 'With `?wait=ms`, the reply is held until the pipeline ends or the wait runs out.',
      params: PipelineIdParams,
      querystring: WaitQuery,
      response: { 200: ref(PipelineSchema, { description: 'The pipeline (finished, or as it stood when the wait ran out)' }), ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND') }
    }
  }, async (request) => await settle(pipelines.get(request.params.id), request.query.wait ?? 0))

  app.get('/pipelines', {
    schema: {
      tags: TAGS,
      summary: 'Recent pipelines, newest first',
      querystring: ListPipelinesQuery,
      response: { 200: PipelineList, ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED') }
    }
  }, async (request) => ({ pipelines: pipelines.list({ state: request.query.state, limit: request.query.limit }) }))

  app.post('/pipelines/:id/cancel', {
    schema: {
      tags: TAGS,
      summary: 'Cancel every step not yet finished',
      description: 'Pending steps end at once; queued and running jobs are cancelled. The pipeline is `cancelled` once all have stopped.',
      params: PipelineIdParams,
      response: { 200: ref(PipelineSchema, { description: 'The pipeline: cancelled, or still stopping its running steps' }), ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'UNAUTHORIZED', 'NOT_FOUND', 'PIPELINE_FINISHED', 'UNSUPPORTED_MEDIA_TYPE') }
    }
  }, async (request) => pipelines.cancel(request.params.id))
}

export default pipelineRoutes
