// Pipelines over HTTP: the Pipeline object (server/pipelines/types.ts PipelineInfo), the submit
// body and the queries.
import { Type, type Static } from '@sinclair/typebox'
import { MAX_OUTPUTS } from '../pool/kind-registry'
import { anyObject } from './any-object'
import { JobError } from './job'
import {
  MAX_ATTEMPTS, MAX_ID_LENGTH, MAX_KIND_NAME_LENGTH, MAX_LIST_LIMIT, MAX_NAME_LENGTH, MAX_PIPELINE_STEPS as MAX_STEPS,
  MAX_STEP_INPUTS, MAX_TIMEOUT_MS, MAX_TTL_MS
} from './limits'
import { ref } from './ref'
import { stringEnum } from './string-enum'
import { nullable } from './nullable'

export const PipelineState = stringEnum(['running', 'succeeded', 'failed', 'cancelled'])
export type PipelineState = Static<typeof PipelineState>

const Id = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH })
const StepId = Type.String({ minLength: 1, maxLength: 64, description: 'Unique within the pipeline: letters, digits, `_`, `-`, `.`' })

export const StepSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  inputs: Type.Array(Type.Union([
    Type.String({ description: 'An existing buffer' }),
    Type.Object({ step: Type.String(), output: Type.Integer({ minimum: 0 }) }, { additionalProperties: false, description: 'An output of another step' })
  ]), { description: 'What the step reads, as the spec named it (`output` filled in): the edges of the pipeline\'s graph' }),
  state: stringEnum(['pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled'], {
    description: '`pending` until all its inputs exist; then its job\'s state'
  }),
  jobId: nullable(Type.String(), { description: 'The job running the step (in /v1/jobs), once queued' }),
  outputs: Type.Array(Type.String(), { description: 'Buffers it made; an intermediate is deleted once every step reading it has finished' }),
  result: nullable(anyObject(), { description: 'Its job\'s result' }),
  error: nullable(JobError, { description: 'Why it failed; `UPSTREAM_FAILED` when a step it depends on failed' })
}, { additionalProperties: false })

export const PipelineSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: PipelineState,
  steps: Type.Array(StepSchema),
  outputs: Type.Record(Type.String(), Type.Array(Type.String()), {
    description: 'The results, by step: outputs of the steps no other step consumes, and of the steps in `keep`'
  }),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: nullable(Type.String({ format: 'date-time' })),
  error: nullable(
    Type.Object({ code: Type.String(), message: Type.String(), step: Type.String({ description: 'The step that failed first' }) }, { additionalProperties: false })
  ),
  node: Type.Optional(Type.String({ description: 'Clustered servers only (docs/CLUSTER.md): the node running the pipeline, placed by its input bytes' })),
  bytesPulled: Type.Optional(Type.Integer({ minimum: 0, description: 'Clustered servers only: input bytes copied from other nodes before the pipeline started' }))
}, { $id: 'Pipeline', additionalProperties: false })
export type PipelineSchema = Static<typeof PipelineSchema>

export const PipelineList = Type.Object({ pipelines: Type.Array(ref(PipelineSchema)) }, { additionalProperties: false, description: 'Recent pipelines, newest first' })

const StepInput = Type.Union([
  Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: 'An existing sealed buffer' }),
  Type.Object({
    step: StepId,
    output: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OUTPUTS - 1, description: 'Which of that step\'s outputs (default 0)' }))
  }, { additionalProperties: false, description: 'An output of another step' })
])

const StepSpec = Type.Object({
  id: StepId,
  kind: Type.String({ minLength: 1, maxLength: MAX_KIND_NAME_LENGTH, description: 'A name from GET /v1/kinds' }),
  inputs: Type.Optional(Type.Array(StepInput, { maxItems: MAX_STEP_INPUTS, description: 'Also bounded by the kind\'s inputs (GET /v1/kinds)' })),
  params: Type.Optional(anyObject({ description: 'Checked against the kind\'s params schema (GET /v1/kinds)' })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS, description: 'The step\'s job fails with TIMEOUT when it runs longer' })),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ATTEMPTS, description: 'Attempts when a worker dies under the step\'s job' }))
}, { additionalProperties: false })

export const SubmitPipelineBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: MAX_NAME_LENGTH })),
  // minItems/maxItems are left to the pipeline's own check, whose message names the limit in
  // the pipeline's terms.
  steps: Type.Array(StepSpec, { description: `1 to ${MAX_STEPS} steps` }),
  keep: Type.Optional(Type.Array(StepId, { maxItems: MAX_STEPS, description: 'Steps whose outputs are kept although other steps consume them' })),
  outputTtlMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TTL_MS, description: 'The results expire (are deleted) this long after they are made' }))
}, { additionalProperties: false })
export type SubmitPipelineBody = Static<typeof SubmitPipelineBody>

export const PipelineIdParams = Type.Object({ id: Type.String({ ...Id, description: 'Pipeline id' }) })
export type PipelineIdParams = Static<typeof PipelineIdParams>

export const ListPipelinesQuery = Type.Object({
  state: Type.Optional(PipelineState),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIST_LIMIT, default: 100 }))
})
export type ListPipelinesQuery = Static<typeof ListPipelinesQuery>
