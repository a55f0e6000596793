// The contract between the pool and a job kind: what `run(ctx)` receives and may return.
// Built-in kinds (workers/kinds/) and custom kinds loaded with `--kinds DIR` implement the same
// interface. A kind module is imported both by the server (for its name and params schema, which
// are validated before a job is queued) and by worker threads (to run it), so it must have no
// side effects at import time.
import type { TSchema } from '@sinclair/typebox'

/** An error a kind throws to fail its job with a specific code (default `HANDLER_ERROR`). */
export class KindError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'KindError'
    this.code = code
  }
}

/** A writable output buffer requested by a kind: a fresh memfd mapped into the thread. */
export interface KindOutput {
  /** Writable view over the new memfd, `capacity` bytes long, initially zero-filled. */
  readonly buffer: Buffer
  readonly capacity: number
  /**
   * Declares how many bytes of `buffer` are the output. The worker trims the memfd to this
   * length before sealing it. When never called, the whole capacity is the output.
   */
  end (length: number): void
}

export interface KindContext<P = Record<string, unknown>> {
  /**
   * Zero-copy, read-only views over the job's input buffers, in the order the job named them.
   * The memory is mapped PROT_READ: writing to it kills the worker process (SIGSEGV), so a kind
   * that must transform bytes in place copies them into an output first.
   */
  readonly inputs: readonly Buffer[]
  /** The job's params, already validated against the kind's `params` schema. */
  readonly params: P
  /** Aborted when the job is cancelled or times out; long-running kinds should check it. */
  readonly signal: AbortSignal
  /** Reports progress in [0, 1]; throttled by the pool before it reaches clients. */
  progress (fraction: number): void
  /**
   * Creates an output buffer of `capacity` bytes. Throws `KindError('OUTPUT_TOO_LARGE')` when
   * the capacity exceeds what the job may produce (the per-buffer maximum, or what is left of
   * the pool's memory quota).
   */
  output (capacity: number): KindOutput
}

export interface JobKind<P = any> {
  /** Unique name jobs use in `kind`. Lowercase letters, digits, `-` and `_`. */
  readonly name: string
  readonly description?: string
  /** How many input buffer ids a job of this kind takes. */
  readonly inputs?: { readonly min: number, readonly max: number }
  /** How many output buffers a job of this kind makes (pipelines check `{step, output}` against it). */
  readonly outputs?: { readonly min: number, readonly max: number }
  /** TypeBox schema of `params`; omitted means "no params" (any object accepted). */
  readonly params?: TSchema
  /** Runs one job. The returned object (JSON-serialisable, small) is the job's `result`. */
  run (ctx: KindContext<P>): Promise<Record<string, unknown> | void> | Record<string, unknown> | void
}
