// The schemas registered once with addSchema (components.schemas in the OpenAPI document); routes
// reference them with ref().
import { BufferSchema } from './buffer'
import { ErrorResponse } from './error'
import { JobSchema } from './job'
import { KindSchema } from './kind'
import { PipelineSchema } from './pipeline'
import { PoolSchema } from './pool'
import { WorkerSchema } from './worker'

export const sharedSchemas = [ErrorResponse, BufferSchema, JobSchema, WorkerSchema, KindSchema, PoolSchema, PipelineSchema]
