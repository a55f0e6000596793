// Jobs: submit (optionally long-polling until it ends), get (same), list, cancel.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ApiError } from '../errors'
import type { JobInfo } from '../pool/types'
import { errorResponses } from '../schemas/error'
import { JobIdParams, JobList, JobSchema, ListJobsQuery, SubmitJobBody, WaitQuery } from '../schemas/job'
import { ref } from '../schemas/ref'
import { longPoll } from './long-poll'

const TAGS = ['jobs']

function isTerminal (job: JobInfo): boolean {
  return job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled'
}

const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const pool = app.pool

  // A cluster job's wait is in Redis, not in this pool: `closing` cuts it short at preClose as
  // `settle` does the local ones.
  const { settle, closing } = longPoll<JobInfo>(app, {
    ended: isTerminal,
    wait: async (id, ms) => await pool.wait(id, ms),
    get: (id) => pool.get(id)
  })

  // Clustered (docs/CLUSTER.md): a job of this node's own pool is answered from it, with this
  // node's name; any other id is a cluster job, read from Redis.
  async function clusterJob (id: string, ms: number): Promise<JobInfo> {
    const cluster = app.cluster
    if (cluster === null) return await settle(pool.get(id), ms)
    let local: JobInfo | null = null
    try { local = pool.get(id) } catch { /* not a job of this pool */ }
    if (local !== null) return { ...await settle(local, ms), node: cluster.name }
    const job = ms > 0 && !closing.aborted ? await cluster.jobs.wait(id, ms, closing) : await cluster.jobs.get(id)
    if (job === null) throw new ApiError('NOT_FOUND', `No job ${id} in this cluster`)
    return job
  }

  app.post('/jobs', {
    schema: {
      tags: TAGS,
      summary: 'Queue a job',
      description: 'Inputs must be sealed buffers. With `?wait=ms` the reply is held until the job ends or the ' +
        'wait runs out: 200 when it ended, 202 (still queued or running) otherwise.',
      querystring: WaitQuery,
      body: SubmitJobBody,
      response: {
        200: ref(JobSchema, { description: 'The job ended within `wait`' }),
        202: ref(JobSchema, { description: 'The job is queued or running; poll GET /v1/jobs/{id}' }),
        ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'UNKNOWN_KIND', 'INVALID_PARAMS', 'INVALID_INPUTS', 'UNAUTHORIZED',
          'NOT_FOUND', 'BUFFER_LOST', 'BUFFER_NOT_SEALED', 'UNSUPPORTED_MEDIA_TYPE', 'QUEUE_FULL', 'POOL_CLOSED', 'NOT_READY', 'RESOURCE_EXHAUSTED', 'CLUSTER_UNAVAILABLE', 'NODE_UNREACHABLE')
      }
    }
  }, async (request, reply) => {
    const job = app.cluster === null
      ? await settle(pool.enqueue(request.body), request.query.wait ?? 0)
      : await clusterJob((await app.cluster.jobs.submit(request.body)).id, request.query.wait ?? 0)
    void reply.code(isTerminal(job) ? 200 : 202).header('location', `/v1/jobs/${job.id}`)
    return job
  })

  app.get('/jobs/:id', {
    schema: {
      tags: TAGS,
      summary: 'One job',
      description: 'With `?wait=ms`, the reply is held until the job ends or the wait runs out.',
      params: JobIdParams,
      querystring: WaitQuery,
      response: { 200: ref(JobSchema, { description: 'The job (finished, or as it stood when the wait ran out)' }), ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED', 'NOT_FOUND', 'CLUSTER_UNAVAILABLE') }
    }
  }, async (request) => await clusterJob(request.params.id, request.query.wait ?? 0))

  app.get('/jobs', {
    schema: {
      tags: TAGS,
      summary: 'Recent jobs, newest first',
      querystring: ListJobsQuery,
      response: { 200: JobList, ...errorResponses('VALIDATION_ERROR', 'UNAUTHORIZED') }
    }
  }, async (request) => ({ jobs: pool.list({ state: request.query.state, limit: request.query.limit }) }))

  app.post('/jobs/:id/cancel', {
    schema: {
      tags: TAGS,
      summary: 'Cancel a queued or running job',
      params: JobIdParams,
      response: { 200: ref(JobSchema, { description: 'The job: cancelled, or still running until its kind stops' }), ...errorResponses('FORBIDDEN_ORIGIN', 'VALIDATION_ERROR', 'BAD_JSON', 'UNAUTHORIZED', 'NOT_FOUND', 'JOB_FINISHED', 'UNSUPPORTED_MEDIA_TYPE', 'CLUSTER_UNAVAILABLE') }
    }
  }, async (request) => {
    const cluster = app.cluster
    if (cluster === null) return pool.cancel(request.params.id)
    let local = true
    try { pool.get(request.params.id) } catch { local = false }
    if (local) return { ...pool.cancel(request.params.id), node: cluster.name }
    const job = await cluster.cancelJob(request.params.id)
    if (job === null) throw new ApiError('NOT_FOUND', `No job ${request.params.id} in this cluster`)
    return job
  })
}

export default jobRoutes
