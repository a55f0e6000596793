// A cluster job as BullMQ carries it and as the REST API shows it. BullMQ's job holds the spec,
// where each input was when the job was placed, and (once done) the local pool's finished job,
// renamed to the cluster id, as its return value: the job record lives in Redis, readable from
// any node.
import type { JobInfo, JobSpec } from '../pool/types'
import type { PlacedInput } from './placement'

export interface ClusterJobData {
  id: string
  spec: JobSpec
  inputs: PlacedInput[]
  queuedAt: string
  /** 1 for the first placement; a job re-run after its node was lost counts up. */
  attempt: number
}

export function pendingJob (data: ClusterJobData, node: string, state: 'queued' | 'running', startedAt: string | null = null): JobInfo {
  return {
    id: data.id,
    kind: data.spec.kind,
    state,
    inputs: data.inputs.map((i) => i.id),
    outputs: [],
    params: data.spec.params ?? {},
    result: null,
    error: null,
    attempts: state === 'running' ? data.attempt : data.attempt - 1,
    maxAttempts: data.spec.maxAttempts ?? 1,
    timeoutMs: data.spec.timeoutMs ?? null,
    workerPid: null,
    progress: 0,
    queuedAt: data.queuedAt,
    startedAt,
    finishedAt: null,
    pipeline: null,
    step: null,
    node
  }
}

export function failedJob (data: ClusterJobData, node: string, code: string, message: string): JobInfo {
  return { ...pendingJob(data, node, 'queued'), state: 'failed', error: { code, message }, finishedAt: new Date().toISOString() }
}

/** The local pool's finished job as the cluster shows it: the cluster id, the original input ids. */
export function finishedJob (local: JobInfo, data: ClusterJobData, node: string, bytesPulled: number): JobInfo {
  return { ...local, id: data.id, inputs: data.inputs.map((i) => i.id), attempts: Math.max(local.attempts, data.attempt), node, bytesPulled }
}
