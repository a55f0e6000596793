// Jobs over HTTP: the Job object (server/pool/types.ts JobInfo), the submit body and the queries.
import { Type, type Static } from '@sinclair/typebox'
import { ref } from './ref'
import { stringEnum } from './string-enum'
import { JOB_ERROR_CODES } from '../errors'
import { anyObject } from './any-object'
import { nullable } from './nullable'
import { MAX_ATTEMPTS, MAX_ID_LENGTH, MAX_JOB_INPUTS, MAX_KIND_NAME_LENGTH, MAX_LIST_LIMIT, MAX_TIMEOUT_MS, MAX_TTL_MS, MAX_WAIT_MS } from './limits'

export { MAX_WAIT_MS }

export const JobState = stringEnum(['queued', 'running', 'succeeded', 'failed', 'cancelled'])
export type JobState = Static<typeof JobState>

export const JobError = Type.Object({
  code: Type.String({
    description: 'Why the job failed. Built-in codes: ' +
      Object.entries(JOB_ERROR_CODES).map(([code, why]) => `${code} (${why})`).join('; ') +
      '. Custom kinds may add their own.'
  }),
  message: Type.String()
}, { additionalProperties: false })
export type JobError = Static<typeof JobError>

export const JobSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  state: JobState,
  inputs: Type.Array(Type.String(), { description: 'Ids of the (sealed) input buffers' }),
  outputs: Type.Array(Type.String(), { description: 'Ids of new sealed buffers the job produced' }),
  params: anyObject(),
  result: nullable(anyObject()),
  error: nullable(JobError),
  attempts: Type.Integer({ minimum: 0 }),
  maxAttempts: Type.Integer({ minimum: 1 }),
  timeoutMs: nullable(Type.Integer()),
  workerPid: nullable(Type.Integer()),
  progress: Type.Number({ minimum: 0, maximum: 1 }),
  queuedAt: Type.String({ format: 'date-time' }),
  startedAt: nullable(Type.String({ format: 'date-time' })),
  finishedAt: nullable(Type.String({ format: 'date-time' })),
  pipeline: nullable(Type.String(), { description: 'The pipeline the job runs a step of; null outside pipelines' }),
  step: nullable(Type.String(), { description: 'That step\'s id' }),
  node: Type.Optional(Type.String({ description: 'Clustered servers only (docs/CLUSTER.md): the node the job was placed on' })),
  bytesPulled: Type.Optional(Type.Integer({ minimum: 0, description: 'Clustered servers only: input bytes copied from other nodes to run the job' }))
}, { $id: 'Job', additionalProperties: false })
export type JobSchema = Static<typeof JobSchema>

export const JobList = Type.Object({ jobs: Type.Array(ref(JobSchema)) }, { additionalProperties: false, description: 'Recent jobs, newest first' })

/** A job to run: the REST body of POST /v1/jobs and the library's pool.enqueue() argument (JobSpec). */
export const SubmitJobBody = Type.Object({
  kind: Type.String({ minLength: 1, maxLength: MAX_KIND_NAME_LENGTH, description: 'A name from GET /v1/kinds' }),
  inputs: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH }), { maxItems: MAX_JOB_INPUTS, description: 'Sealed buffer ids' })),
  params: Type.Optional(anyObject({ description: 'Checked against the kind\'s params schema (GET /v1/kinds)' })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS, description: 'Fail with TIMEOUT when the job runs longer (at most 24 h)' })),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ATTEMPTS, description: 'Attempts when a worker dies under the job (default 1: no retry)' })),
  outputTtlMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TTL_MS, description: 'The outputs expire (are deleted) this long after they are made (default: the server\'s --output-ttl-ms, or never)' }))
}, { additionalProperties: false })
export type SubmitJobBody = Static<typeof SubmitJobBody>

export const JobIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: 'Job id' }) })
export type JobIdParams = Static<typeof JobIdParams>

export const WaitQuery = Type.Object({
  wait: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: MAX_WAIT_MS,
    default: 0,
    description: 'Hold the reply up to this many milliseconds for the job to end'
  }))
})
export type WaitQuery = Static<typeof WaitQuery>

export const ListJobsQuery = Type.Object({
  state: Type.Optional(JobState),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIST_LIMIT, default: 100 }))
})
export type ListJobsQuery = Static<typeof ListJobsQuery>
