// Every error code the REST API can answer with, its HTTP status and a default sentence: the one
// table (like fastify's lib/errors.js). The error handler maps PoolErrors and Fastify's own
// errors through it, the OpenAPI document lists it (a test pins that every code appears there),
// and nothing else decides a status.

export interface ErrorDefinition {
  status: number
  message: string
}

export const ERRORS = {
  // Refusals from the pool (server/pool/pool-error.ts carries the code).
  NOT_FOUND: { status: 404, message: 'No such resource' },
  BUFFER_SEALED: { status: 409, message: 'The buffer is sealed; its bytes can no longer change' },
  BUFFER_NOT_SEALED: { status: 409, message: 'Jobs read only sealed buffers; seal the input first' },
  JOB_FINISHED: { status: 409, message: 'The job has already finished' },
  PIPELINE_FINISHED: { status: 409, message: 'The pipeline has already finished' },
  SEAL_REFUSED: { status: 409, message: 'Another holder of the buffer forbade new seals' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is larger than allowed' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'The range lies outside the buffer' },
  QUEUE_FULL: { status: 429, message: 'The job queue is full; retry later' },
  QUOTA_EXCEEDED: { status: 507, message: 'The memory quota is exhausted' },
  UNKNOWN_KIND: { status: 400, message: 'No job kind by that name' },
  INVALID_PARAMS: { status: 400, message: 'The params do not match the kind\'s schema' },
  INVALID_INPUTS: { status: 400, message: 'The job names the wrong number of inputs' },
  INVALID_SIZE: { status: 400, message: 'A size must be a non-negative integer' },
  INVALID_PIPELINE: { status: 400, message: 'The pipeline\'s steps do not form a valid graph' },
  POOL_CLOSED: { status: 503, message: 'The pool is shutting down' },
  // Refusals of the HTTP layer itself.
  VALIDATION_ERROR: { status: 400, message: 'The request does not match the schema' },
  BAD_JSON: { status: 400, message: 'The body is not valid JSON' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  UNAUTHORIZED: { status: 401, message: 'A valid "Authorization: Bearer <token>" header is required' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  LENGTH_REQUIRED: { status: 411, message: 'A Content-Length header is required: the buffer is sized before the body is read' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  NOT_READY: { status: 503, message: 'The worker processes are still starting' },
  RESOURCE_EXHAUSTED: { status: 503, message: 'The server is at its open-file limit; retry later' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' }
} as const satisfies Record<string, ErrorDefinition>

export type ErrorCode = keyof typeof ERRORS

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[]

/**
 * Codes a job can fail with, inside `Job.error` (not HTTP statuses). Built-in kinds and the pool
 * use these; a custom kind may throw its own `KindError` codes too.
 */
export const JOB_ERROR_CODES = {
  HANDLER_ERROR: 'The kind threw an error',
  WORKER_CRASHED: 'The worker process died while running the job (after its last attempt)',
  TIMEOUT: 'The job ran longer than its timeoutMs',
  CANCELLED: 'The job was cancelled, or the pool shut down before it finished',
  OUTPUT_TOO_LARGE: 'An output would exceed the per-buffer maximum or the remaining quota',
  QUOTA_EXCEEDED: 'The memory quota was exhausted while registering an output',
  INVALID_RANGE: 'An offset or length in the params lies outside the input',
  INVALID_INPUT: 'An input\'s bytes are not what the kind expects (e.g. not gzip data)',
  INVALID_PARAMS: 'The params are not usable for this input',
  RESULT_TOO_LARGE: 'The result object is too large; large data belongs in an output buffer',
  RESOURCE_EXHAUSTED: 'The inputs could not be passed to a worker (e.g. it is at its open-file limit)',
  PROTOCOL_ERROR: 'The worker and the server disagreed about the job\'s descriptors',
  NOT_A_MEMFD: 'An output descriptor from the worker was not a memfd',
  NOT_SEALED: 'An output memfd from the worker lacked the shrink, grow and write seals',
  PAYLOAD_TOO_LARGE: 'An output was larger than the per-buffer maximum',
  UPSTREAM_FAILED: 'A pipeline step this one depends on failed, so it never ran'
} as const

export type JobErrorCode = keyof typeof JOB_ERROR_CODES

export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/** A refusal raised by the HTTP layer; the error handler answers it from the table. */
export class ApiError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  constructor (code: ErrorCode, message: string = ERRORS[code].message) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.statusCode = ERRORS[code].status
  }
}

/** The one error body shape: `{"error":{"code","message"}}`. */
export function errorBody (code: ErrorCode, message: string = ERRORS[code].message): { error: { code: ErrorCode, message: string } } {
  return { error: { code, message } }
}

/** Codes a status can carry, for the OpenAPI response descriptions. */
export function codesForStatus (status: number): ErrorCode[] {
  return ERROR_CODES.filter((code) => ERRORS[code].status === status)
}
