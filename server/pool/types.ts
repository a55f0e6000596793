// The pool's public shapes: what the library API returns and what events carry. The REST
// schemas (server/schemas/) describe the same objects for HTTP clients.

export type BufferState = 'writable' | 'sealed'

/** Which process holds a buffer under which local descriptor number (numbers are per process). */
export interface DescriptorHolder {
  pid: number
  /** The holder's own number; null when only the holder knows it (an attached client). */
  fd: number | null
  role: 'server' | 'worker' | 'attached'
}

export interface BufferInfo {
  id: string
  name: string
  size: number
  sealed: boolean
  state: BufferState
  createdAt: string
  /** A capability for the attach socket: whoever has it may map this buffer. */
  attachToken: string
  descriptors: DescriptorHolder[]
  /** The job (and pipeline step) whose output this is; null for uploads and registrations. */
  producedBy: BufferLineage | null
  /** When the buffer is deleted on its own (a ttl); null: never. */
  expiresAt: string | null
}

export interface BufferLineage {
  job: string
  pipeline?: string
  step?: string
}

/** Why a buffer went: a DELETE (or the library's store.delete), or its ttl ran out. */
export type BufferDeleteReason = 'deleted' | 'expired'

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface JobError {
  code: string
  message: string
}

export interface JobInfo {
  id: string
  kind: string
  state: JobState
  inputs: string[]
  outputs: string[]
  params: Record<string, unknown>
  result: Record<string, unknown> | null
  error: JobError | null
  attempts: number
  maxAttempts: number
  timeoutMs: number | null
  workerPid: number | null
  progress: number
  queuedAt: string
  startedAt: string | null
  finishedAt: string | null
  /** The pipeline and step this job runs for; null outside pipelines. */
  pipeline: string | null
  step: string | null
}

export interface JobSpec {
  kind: string
  inputs?: string[]
  params?: Record<string, unknown>
  /** Fail with TIMEOUT when the job runs longer (its thread or worker is killed if it will not stop). */
  timeoutMs?: number
  /** Attempts when a worker dies under the job (default 1: no retry). */
  maxAttempts?: number
  /** Set by pipelines: the pipeline and step the job runs for. */
  pipeline?: string
  step?: string
  /** The outputs expire (are deleted) this long after they are made; null: never, whatever the
   * pool's default (PoolOptions.outputTtlMs). */
  outputTtlMs?: number | null
}

export type WorkerState = 'starting' | 'ready' | 'stopping' | 'exited'

export interface WorkerInfo {
  id: string
  pid: number | null
  state: WorkerState
  threads: number
  running: number
  jobsDone: number
  startedAt: string | null
  restarts: number
}

export interface KindInfo {
  name: string
  description: string
  inputs: { min: number, max: number }
  /** How many output buffers a job of the kind may produce. */
  outputs: { min: number, max: number }
  params: unknown
}

export interface PoolStats {
  workers: number
  workersReady: number
  queueDepth: number
  maxQueue: number
  running: number
  jobsDone: number
  /** Jobs finished per second, over the last second. */
  throughput: number
  buffers: number
  bytesInUse: number
  quotaBytes: number
  maxBufferBytes: number
  attachSocket: string | null
}

export type PoolEventType =
  | 'buffer.created' | 'buffer.sealed' | 'buffer.deleted'
  | 'job.queued' | 'job.started' | 'job.progress' | 'job.succeeded' | 'job.failed' | 'job.cancelled'
  | 'worker.started' | 'worker.exited'
  | 'pool.stats'
  | 'pipeline.created' | 'pipeline.step' | 'pipeline.succeeded' | 'pipeline.failed' | 'pipeline.cancelled'

export interface PoolEvent {
  type: PoolEventType
  ts: string
  data: unknown
}
