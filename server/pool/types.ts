// The pool's public shapes: what the library API returns and accepts and what events carry. They
// are the REST schemas themselves (server/schemas/), as TypeScript types: one source, so the
// library and the HTTP API cannot describe an object differently. The numeric limits both
// enforce are in server/schemas/limits.ts.
import type { Static } from '@sinclair/typebox'
import type { BufferSchema, DescriptorHolder as DescriptorHolderSchema } from '../schemas/buffer'
import type { JobError as JobErrorSchema, JobSchema, JobState as JobStateSchema, SubmitJobBody } from '../schemas/job'
import type { KindSchema } from '../schemas/kind'
import type { PoolSchema } from '../schemas/pool'
import type { PoolEventSchema, PoolEventType as PoolEventTypeSchema } from '../schemas/pool-event'
import type { WorkerSchema } from '../schemas/worker'

/** Which process holds a buffer under which local descriptor number (numbers are per process). */
export type DescriptorHolder = Static<typeof DescriptorHolderSchema>
export type BufferInfo = Static<typeof BufferSchema>
export type BufferState = BufferInfo['state']
/** The job (and pipeline step) whose output a buffer is. */
export type BufferLineage = NonNullable<BufferInfo['producedBy']>
/** Why a buffer went: a DELETE (or the library's store.delete), or its ttl ran out. */
export type BufferDeleteReason = 'deleted' | 'expired'

export type JobState = Static<typeof JobStateSchema>
export type JobError = Static<typeof JobErrorSchema>
export type JobInfo = Static<typeof JobSchema>
/** What pool.enqueue() takes; the body of POST /v1/jobs. */
export type JobSpec = Static<typeof SubmitJobBody>

/**
 * What only the library's pipelines (server/pipelines/) say about a job they enqueue, apart from
 * its JobSpec (which stays exactly the REST body): the pipeline and step it runs for, and its
 * outputs' ttl, where null means they never expire, whatever the pool's default.
 */
export interface JobOrigin {
  pipeline: string
  step: string
  outputTtlMs?: number | null
}

export type WorkerInfo = Static<typeof WorkerSchema>
export type WorkerState = WorkerInfo['state']

export type KindInfo = Static<typeof KindSchema>

export type PoolStats = Static<typeof PoolSchema>

export type PoolEventType = Static<typeof PoolEventTypeSchema>
export type PoolEvent = Static<typeof PoolEventSchema>
