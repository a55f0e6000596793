// memfd-pool as a library: the pool engine without HTTP, and the app factory with it.
export { createPool, Pool, resolvePoolOptions, type PoolOptions, type ResolvedPoolOptions } from './pool/pool'
export { BufferStore, type BufferLease } from './pool/buffer-store'
export { PoolError } from './pool/pool-error'
export { createPipelines, Pipelines, type PipelineInfo, type PipelineSpec, type PipelineState, type StepInfo, type StepSpec } from './pipelines'
export type * from './pool/types'
export { KindError, type JobKind, type KindContext, type KindOutput } from '../workers/kind-api'
export { buildApp, type AppOptions } from './app'
export { ERRORS, JOB_ERROR_CODES, type ErrorCode } from './errors'
