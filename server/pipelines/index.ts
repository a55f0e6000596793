// Pipelines: graphs of jobs whose intermediate buffers stay in shared memory (see the README).
export { createPipelines, Pipelines } from './pipeline-table'
export { MAX_STEPS } from './pipeline-plan'
export { STEP_TERMINAL } from './pipeline-run'
export type { PipelineError, PipelineInfo, PipelineSpec, PipelineState, StepInfo, StepInput, StepSpec, StepState } from './types'
