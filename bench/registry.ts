/**
 * The targets each section measures, one list per section. To add this
 * project's pool, implement the interfaces in ./targets and add entries here
 * (e.g. `createPoolDispatch()` named 'memfd-pool'); nothing else changes.
 *
 * Ratios: the dispatch section compares against the target named 'memfd-pool'
 * when it is registered, otherwise against the first entry. The other sections
 * compare against their first entry (the reference alternative), because their
 * goals are stated as "pool relative to the reference".
 */
import { createChannelFloor } from './alternatives/channel-floor'
import { createForkIpc } from './alternatives/fork-ipc'
import { createFastifyHello } from './alternatives/fastify-hello'
import { createHttpDiscard } from './alternatives/http-discard'
import { createInProcessCompute } from './alternatives/in-process-compute'
import { createPiscinaCopy } from './alternatives/piscina-copy'
import { createPiscinaNoop } from './alternatives/piscina-noop'
import { createPiscinaTransfer } from './alternatives/piscina-transfer'
import { createUnixStream } from './alternatives/unix-stream'
import { createPoolCompute } from './pool/pool-compute'
import { createPoolDispatch } from './pool/pool-dispatch'
import { createPoolHttp, createPoolUpload } from './pool/pool-http'
import { createPoolNoop } from './pool/pool-noop'
import type { ComputeTarget, DispatchTarget, HttpTarget, TaskTarget, UploadTarget } from './targets'

/** Name the dispatch section prefers as the ratio baseline. */
export const POOL_TARGET_NAME = 'memfd-pool'

/** The latency section's floor: its tables also divide by this target's figures. */
export const FLOOR_TARGET_NAME = 'channel-floor'

/** Worker threads/processes used by the latency/throughput targets. */
export const TASK_WORKERS = 2

export function dispatchTargets (): DispatchTarget[] {
  return [
    createPoolDispatch(),
    createPiscinaCopy(),
    createPiscinaTransfer(),
    createForkIpc(),
    createUnixStream(),
  ]
}

export function taskTargets (): TaskTarget[] {
  return [
    createPiscinaNoop(TASK_WORKERS),
    // What the pool's transport alone costs: one message with one descriptor each way.
    createChannelFloor(),
    // The same TASK_WORKERS threads, both ways: one process with all of them, one process each.
    createPoolNoop(1, TASK_WORKERS),
    createPoolNoop(TASK_WORKERS, 1),
    // Where the time goes: the generic path (noop on a piscina thread), and the prefetch option.
    createPoolNoop(1, TASK_WORKERS, { onThread: true }),
    createPoolNoop(1, TASK_WORKERS, { prefetch: 0 }),
    createPoolNoop(1, TASK_WORKERS, { prefetch: 16 }),
  ]
}

export function computeTargets (): ComputeTarget[] {
  return [
    createInProcessCompute(),
    createPoolCompute(),
  ]
}

export function httpTargets (): HttpTarget[] {
  return [
    createFastifyHello(),
    createPoolHttp(),
    createPoolHttp(16),
  ]
}

export function uploadTargets (): UploadTarget[] {
  return [
    createHttpDiscard(),
    createPoolUpload(),
  ]
}
