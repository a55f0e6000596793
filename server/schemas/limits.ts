// The limits of the contract, named once: the REST schemas use them, and the library (the pool's
// enqueue, the store) checks the same numbers, so a job the REST API refuses is refused by
// pool.enqueue() too and the other way round.

/** Buffer and job ids are at most this long (they are generated far shorter). */
export const MAX_ID_LENGTH = 100
/** A buffer's name. */
export const MAX_NAME_LENGTH = 200
/** A kind's name. */
export const MAX_KIND_NAME_LENGTH = 64
/**
 * Inputs of one job (and of one pipeline step): what a run to a worker process carries
 * (workers/protocol.ts MAX_RUN_INPUTS, in 'inputs' messages ahead of the 'run' past 32; a test
 * keeps them equal). A kind declares its own bound within it (concat takes all 64; an external
 * worker's kinds at most 32).
 */
export const MAX_JOB_INPUTS = 64
/** A job's timeoutMs: 24 hours. */
export const MAX_TIMEOUT_MS = 24 * 3600 * 1000
/** A job's maxAttempts. */
export const MAX_ATTEMPTS = 10
/** The longest a request may hold its reply waiting for a job (`?wait=`). */
export const MAX_WAIT_MS = 60_000
/** GET /v1/jobs?limit= and pool.list({ limit }). */
export const MAX_LIST_LIMIT = 1000
/** Params of any kind, checked at submit: nesting depth and JSON size (INVALID_PARAMS beyond). */
/** A buffer's ttlMs (and a job's or pipeline's outputTtlMs): the longest one Node timer can wait (~24.8 days). */
export const MAX_TTL_MS = 2 ** 31 - 1
/** Steps of one pipeline. */
export const MAX_PIPELINE_STEPS = 256
/** Inputs of one pipeline step: a job's (the kind's own bound applies too). */
export const MAX_STEP_INPUTS = MAX_JOB_INPUTS
/** Params of any kind, checked at submit: nesting depth and JSON size (INVALID_PARAMS beyond). */
export const MAX_PARAMS_DEPTH = 32
export const MAX_PARAMS_BYTES = 64 * 1024
