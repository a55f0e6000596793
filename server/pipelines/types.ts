// The shapes of pipelines as the library returns them; server/schemas/pipeline.ts describes the
// same objects for HTTP clients.
import type { JobError } from '../pool/types'

/** A step's input: an existing sealed buffer's id, or an output of another step (default output 0). */
export type StepInput = string | { step: string, output?: number }

export interface StepSpec {
  /** Unique within the pipeline; other steps name it in their inputs. */
  id: string
  kind: string
  inputs?: StepInput[]
  params?: Record<string, unknown>
  timeoutMs?: number
  maxAttempts?: number
}

export interface PipelineSpec {
  name?: string
  steps: StepSpec[]
  /** Steps whose outputs are kept among the results although other steps consume them. */
  keep?: string[]
  /** The results expire (are deleted) this long after they are made. */
  outputTtlMs?: number
}

export type PipelineState = 'running' | 'succeeded' | 'failed' | 'cancelled'

/** `pending`: waiting for its inputs; then its job's state. */
export type StepState = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface StepInfo {
  id: string
  kind: string
  /**
   * What it reads, as the spec named it (`output` filled in): buffer ids, and outputs of other
   * steps. These are the pipeline's edges; a dashboard draws the graph from them before any job runs.
   */
  inputs: Array<string | { step: string, output: number }>
  state: StepState
  /** The job running the step, once it was queued. */
  jobId: string | null
  /** The buffers it made (an intermediate is deleted once its consumers have finished). */
  outputs: string[]
  /** Its job's result. */
  result: Record<string, unknown> | null
  error: JobError | null
}

export interface PipelineError extends JobError {
  /** The step that failed first. */
  step: string
}

export interface PipelineInfo {
  id: string
  name: string
  state: PipelineState
  steps: StepInfo[]
  /** The results: outputs of steps no other step consumes, and of the steps in `keep`. */
  outputs: Record<string, string[]>
  createdAt: string
  finishedAt: string | null
  error: PipelineError | null
  /** Clustered servers only (docs/CLUSTER.md): the node running the pipeline. */
  node?: string
  /** Clustered servers only: input bytes copied from other nodes before the pipeline started. */
  bytesPulled?: number
}
