// Runs one job: maps its inputs read-only (through the mapping cache), runs the kind over the
// bytes in place, and returns its outputs as sealed memfds. Used by the piscina threads
// (thread.ts) and, for the few built-in kinds that do O(1) work, by the worker process's main
// thread itself (worker-process.ts), so both run a job in exactly the same way.
//
// Ownership: the caller owns the inputs' descriptors (and closes them after the job); the job
// owns the outputs it creates until it returns them, and closes them itself if it fails.
import * as native from '../native'
import { type InputMapping, type InputMappings } from './input-mappings'
import { KindError, type JobKind, type KindContext, type KindOutput } from './kind-api'
import { MAX_OUTPUTS } from './kind-loader'

export interface ThreadTask {
  job: string
  kind: string
  params: Record<string, unknown>
  /** `id` and `generation` key the thread's mapping cache; `fd` is mapped on a miss only. */
  inputs: Array<{ id: string, generation: number, fd: number, size: number }>
  maxOutputBytes: number
}

/** `runMs`: how long the job ran here, from its start on this thread to its answer. */
export type ThreadResult =
  | { ok: true, result: Record<string, unknown>, outputs: Array<{ fd: number, size: number }>, runMs: number }
  | { ok: false, error: { code: string, message: string }, runMs?: number }

/** What a job runs against: one per thread (and one on a worker's main thread). */
export interface JobEnvironment {
  kinds: Map<string, JobKind>
  mappings: InputMappings
  /** The running jobs' controllers, by job id: `cancelJob` aborts through them. */
  controllers: Map<string, AbortController>
  /**
   * Jobs cancelled before they started here, with the reason: with `prefetch`, a job can wait in
   * the worker's queue when its cancel arrives, and must start cancelled. Bounded (each thread
   * hears every cancel, also for jobs another thread runs).
   */
  cancelledEarly: Map<string, string>
  /** Forwards a (throttled) progress report towards the server. */
  progress: (job: string, fraction: number) => void
}

/** Fires a running job's AbortSignal, with the pool's reason as a KindError. */
export function cancelJob (env: JobEnvironment, job: string, why: string): void {
  const controller = env.controllers.get(job)
  if (controller !== undefined) {
    controller.abort(cancellationReason(why))
    return
  }
  env.cancelledEarly.set(job, why)
  if (env.cancelledEarly.size > CANCELLED_EARLY_KEPT) env.cancelledEarly.delete(env.cancelledEarly.keys().next().value as string)
}

const CANCELLED_EARLY_KEPT = 1024

function cancellationReason (why: string): KindError {
  const reason = why === 'TIMEOUT' ? 'TIMEOUT' : 'CANCELLED'
  return new KindError(reason, reason === 'TIMEOUT' ? 'The job ran past its timeout' : 'The job was cancelled')
}

const PROGRESS_INTERVAL_MS = 100
const MAX_RESULT_BYTES = 128 * 1024

interface OutputRecord { fd: number, map: Buffer | null, capacity: number, length: number }

function toJobError (err: unknown): { code: string, message: string } {
  if (err instanceof KindError) return { code: err.code, message: err.message }
  const e = err as { code?: unknown, message?: unknown, name?: string }
  if (e?.name === 'AbortError') return { code: 'CANCELLED', message: 'The job was cancelled' }
  return { code: 'HANDLER_ERROR', message: typeof e?.message === 'string' ? e.message : String(err) }
}

export async function runJob (task: ThreadTask, env: JobEnvironment): Promise<ThreadResult> {
  const { kinds, mappings, controllers } = env
  const kind = kinds.get(task.kind)
  if (kind === undefined) return { ok: false, error: { code: 'UNKNOWN_KIND', message: `No kind ${task.kind} in this worker` } }
  const early = env.cancelledEarly.get(task.job)
  if (early !== undefined) {
    // Stopped while it waited in the worker's queue (prefetch): it never runs.
    env.cancelledEarly.delete(task.job)
    return { ok: false, error: toJobError(cancellationReason(early)) }
  }
  const began = performance.now()
  const controller = new AbortController()
  controllers.set(task.job, controller)
  const views: Buffer[] = []
  const used: InputMapping[] = []
  let succeeded = false
  const outputs: OutputRecord[] = []
  let outputBytes = 0
  let lastProgress = 0
  const maxOutputs = kind.outputs?.max ?? MAX_OUTPUTS
  try {
    for (const input of task.inputs) {
      const mapping = mappings.acquire(input)
      used.push(mapping)
      // A view of its own: native.release() refuses it (only the mapping's own Buffer can be
      // released), so no kind can zero a mapping the next jobs on this buffer will read.
      views.push(mapping.view.subarray(0))
    }
    const ctx: KindContext = {
      inputs: views,
      params: task.params,
      signal: controller.signal,
      progress (fraction: number): void {
        const now = Date.now()
        if (now - lastProgress < PROGRESS_INTERVAL_MS && fraction < 1) return
        lastProgress = now
        const progress = Math.min(1, Math.max(0, Number(fraction) || 0))
        env.progress(task.job, progress)
      },
      output (capacity: number): KindOutput {
        if (!Number.isSafeInteger(capacity) || capacity < 0) throw new KindError('HANDLER_ERROR', 'output capacity must be a non-negative integer')
        if (outputs.length >= maxOutputs) {
          throw new KindError('TOO_MANY_OUTPUTS', `Kind ${kind.name} declares at most ${maxOutputs} output(s)`)
        }
        if (outputBytes + capacity > task.maxOutputBytes) {
          throw new KindError('OUTPUT_TOO_LARGE', `An output of ${capacity} bytes exceeds what this job may produce (${task.maxOutputBytes - outputBytes} bytes left of the quota and per-buffer limit)`)
        }
        // Named after the job so the main thread can find (and close) it if this thread is
        // terminated before it can hand the descriptor over.
        const fd = native.memfdCreate(`memfd-pool-out:${task.job}:${outputs.length}`)
        const record: OutputRecord = { fd, map: null, capacity, length: capacity }
        outputs.push(record)
        native.ftruncate(fd, capacity)
        try {
          native.allocate(fd, 0, capacity)
        } catch (err) {
          throw new KindError('QUOTA_EXCEEDED', `Could not reserve ${capacity} bytes for an output (${(err as native.SystemError).code})`)
        }
        outputBytes += capacity
        record.map = capacity === 0 ? Buffer.alloc(0) : native.mapShared(fd, { length: capacity, writable: true })
        return {
          buffer: record.map,
          capacity,
          end (length: number): void {
            if (!Number.isSafeInteger(length) || length < 0 || length > capacity) {
              throw new KindError('HANDLER_ERROR', `end(${length}) is outside the output's capacity ${capacity}`)
            }
            record.length = length
          }
        }
      }
    }
    const value = await kind.run(ctx)
    const result = (value ?? {}) as Record<string, unknown>
    if (typeof result !== 'object' || Array.isArray(result)) throw new KindError('HANDLER_ERROR', 'A kind returns an object (its result) or nothing')
    if (Buffer.byteLength(JSON.stringify(result)) > MAX_RESULT_BYTES) {
      throw new KindError('RESULT_TOO_LARGE', `A job's result is at most ${MAX_RESULT_BYTES} bytes of JSON; write large data to an output`)
    }
    const sealed: Array<{ fd: number, size: number }> = []
    for (const output of outputs) {
      // Unmap first: F_SEAL_WRITE is refused (EBUSY) while a writable mapping exists.
      if (output.map !== null && output.map.length > 0) native.release(output.map)
      output.map = null
      native.ftruncate(output.fd, output.length)
      native.addSeals(output.fd, ['shrink', 'grow', 'write', 'seal'])
      sealed.push({ fd: output.fd, size: output.length })
    }
    outputs.length = 0 // ownership passes to the main thread with the result
    succeeded = true
    return { ok: true, result, outputs: sealed, runMs: performance.now() - began }
  } catch (err) {
    return { ok: false, error: toJobError(controller.signal.aborted && !(err instanceof KindError) ? controller.signal.reason : err), runMs: performance.now() - began }
  } finally {
    controllers.delete(task.job)
    for (const mapping of used) mappings.done(mapping, succeeded)
    for (const output of outputs) {
      if (output.map !== null && output.map.length > 0) native.release(output.map)
      native.close(output.fd)
    }
  }
}
