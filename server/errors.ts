// Every error code, by domain, and the one table of HTTP statuses (like fastify's lib/errors.js).
// - POOL_ERROR_CODES: what the library refuses with (PoolError); sentences speak of the library.
// - HTTP_ERROR_CODES: refusals of the HTTP layer itself (ApiError, Fastify's own errors).
// - JOB_ERROR_CODES: why a job failed (inside Job.error; not HTTP statuses).
// - ATTACH_ERROR_CODES: the attach socket's replies (server/attach/protocol.ts, re-exported here).
// HTTP_STATUS must name a status for every pool and HTTP code: a code added to either table
// without one fails `tsc` (the `satisfies` below; test/server/error-status-compile.test.ts
// proves it on this very file). The error handler maps through it and the OpenAPI document
// lists it, so nothing else decides a status and no code can become a silent 500.
import { CodedError } from './coded-error'

export { CodedError }
export { ATTACH_ERROR_CODES, type AttachErrorCode } from './attach/protocol'

export const POOL_ERROR_CODES = {
  NOT_FOUND: 'No buffer, job or pipeline by that id',
  BUFFER_SEALED: 'The buffer is sealed; its bytes can no longer change',
  BUFFER_NOT_SEALED: 'Jobs read only sealed buffers; seal the input first',
  BUFFER_MAPPED_WRITABLE: 'A process still maps the buffer writable, so it cannot be sealed yet',
  JOB_FINISHED: 'The job has already finished',
  PIPELINE_FINISHED: 'The pipeline has already finished',
  SEAL_REFUSED: 'Another holder of the buffer forbade new seals',
  PAYLOAD_TOO_LARGE: 'The payload is larger than allowed',
  RANGE_NOT_SATISFIABLE: 'The range lies outside the buffer',
  QUEUE_FULL: 'The job queue is full; retry later',
  QUOTA_EXCEEDED: 'The memory quota is exhausted',
  TOO_MANY_BUFFERS: 'The buffer-count limit (derived from the open-file limit) is reached',
  UNKNOWN_KIND: 'No job kind by that name',
  INVALID_PARAMS: 'The params do not match the kind\'s schema',
  INVALID_INPUTS: 'The job names the wrong number of inputs',
  INVALID_JOB: 'The job spec does not match its schema (see the message for the field)',
  INVALID_PIPELINE: 'The pipeline\'s steps do not form a valid graph (see the message for the step)',
  INVALID_SIZE: 'A size must be a non-negative integer',
  NOT_A_MEMFD: 'The descriptor is not a memfd',
  NOT_SEALED: 'The memfd lacks the shrink, grow and write seals',
  LEASE_RELEASED: 'The lease on the buffer was already released',
  POOL_CLOSED: 'The pool is shutting down',
  NOT_READY: 'The worker processes are still starting',
  RESOURCE_EXHAUSTED: 'The server is at its open-file limit; retry later'
} as const

export const HTTP_ERROR_CODES = {
  VALIDATION_ERROR: 'The request does not match the schema',
  BAD_JSON: 'The body is not valid JSON',
  BAD_REQUEST: 'The request is malformed',
  UNAUTHORIZED: 'A valid "Authorization: Bearer <token>" header is required',
  FORBIDDEN_ORIGIN: 'Requests from this web origin are not allowed',
  FORBIDDEN_HOST: 'The Host header names neither this server nor an allowed host',
  METHOD_NOT_ALLOWED: 'The path exists, but not with this method (see Allow)',
  REQUEST_TIMEOUT: 'The request took too long to arrive',
  LENGTH_REQUIRED: 'A Content-Length header is required: the buffer is sized before the body is read',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported Content-Type',
  HEADERS_TOO_LARGE: 'The request headers are too large',
  CLUSTER_UNAVAILABLE: 'The cluster\'s Redis cannot be reached: new cluster jobs are refused until it is back (local buffers still work)',
  NODE_UNREACHABLE: 'The node owning the buffer did not answer',
  PULL_FAILED: 'A pipeline\'s input could not be copied from the node owning it (unreachable, or its sha256 did not match); nothing was started',
  INPUT_LOST: 'A pipeline\'s input was gone from its node by the time it was copied; nothing was started',
  BUFFER_LOST: 'The buffer lived on a node that was lost (its memfd died with it), and no node that is up holds a replica',
  INTERNAL_ERROR: 'Internal server error'
} as const

/** Codes a job can fail with, inside `Job.error`. A custom kind may throw its own `KindError` codes too. */
export const JOB_ERROR_CODES = {
  HANDLER_ERROR: 'The kind threw an error',
  WORKER_CRASHED: 'The worker process died while running the job (after its last attempt)',
  NO_WORKER: 'No worker served the job\'s kind any more, and none came to serve it within the kind wait (--kind-wait)',
  TIMEOUT: 'The job ran longer than its timeoutMs',
  CANCELLED: 'The job was cancelled, or the pool shut down before it finished',
  OUTPUT_TOO_LARGE: 'An output would exceed the per-buffer maximum or the remaining quota',
  QUOTA_EXCEEDED: 'The memory quota was exhausted while registering an output',
  TOO_MANY_BUFFERS: 'An output could not be registered: the server holds as many buffers as its open-file limit allows',
  INVALID_RANGE: 'An offset or length in the params lies outside the input',
  INVALID_INPUT: 'An input\'s bytes are not what the kind expects (e.g. not gzip data)',
  INVALID_PARAMS: 'The params are not usable for this input',
  RESULT_TOO_LARGE: 'The result object is too large; large data belongs in an output buffer',
  RESOURCE_EXHAUSTED: 'The inputs could not be passed to a worker (e.g. it is at its open-file limit)',
  PROTOCOL_ERROR: 'The worker and the server disagreed about the job\'s descriptors',
  NOT_A_MEMFD: 'An output descriptor from the worker was not a memfd',
  NOT_SEALED: 'An output memfd from the worker lacked the shrink, grow and write seals',
  PAYLOAD_TOO_LARGE: 'An output was larger than the per-buffer maximum',
  UNKNOWN_KIND: 'The worker that took the job does not serve its kind',
  TOO_MANY_OUTPUTS: 'The kind produced more outputs than it declares',
  UPSTREAM_FAILED: 'A pipeline step this one depends on failed, so it never ran',
  INPUT_LOST: 'An input lived only on a node that was lost (or was deleted) before the job could run',
  NODE_LOST: 'The node running the job was lost',
  PULL_FAILED: 'An input could not be copied from the node owning it (unreachable, or its sha256 did not match)'
} as const

export type PoolErrorCode = keyof typeof POOL_ERROR_CODES
export type HttpErrorCode = keyof typeof HTTP_ERROR_CODES
export type JobErrorCode = keyof typeof JOB_ERROR_CODES
/** Every code a REST client can receive in `{"error":{"code","message"}}`. */
export type ErrorCode = PoolErrorCode | HttpErrorCode

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 408 | 409 | 410 | 411 | 413 | 415 | 416 | 429 | 431 | 500 | 503 | 507

/** The shape HTTP_STATUS must have: one status for each code, no more, no fewer. */
export type StatusTable = { readonly [C in ErrorCode]: ErrorStatus }

export const HTTP_STATUS = {
  NOT_FOUND: 404,
  BUFFER_SEALED: 409,
  BUFFER_NOT_SEALED: 409,
  BUFFER_MAPPED_WRITABLE: 409,
  JOB_FINISHED: 409,
  PIPELINE_FINISHED: 409,
  SEAL_REFUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  QUEUE_FULL: 429,
  QUOTA_EXCEEDED: 507,
  TOO_MANY_BUFFERS: 507,
  UNKNOWN_KIND: 400,
  INVALID_PARAMS: 400,
  INVALID_INPUTS: 400,
  INVALID_JOB: 400,
  INVALID_PIPELINE: 400,
  INVALID_SIZE: 400,
  NOT_A_MEMFD: 400,
  NOT_SEALED: 409,
  LEASE_RELEASED: 409,
  POOL_CLOSED: 503,
  NOT_READY: 503,
  RESOURCE_EXHAUSTED: 503,

  VALIDATION_ERROR: 400,
  BAD_JSON: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN_ORIGIN: 403,
  FORBIDDEN_HOST: 403,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  LENGTH_REQUIRED: 411,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  CLUSTER_UNAVAILABLE: 503,
  NODE_UNREACHABLE: 503,
  PULL_FAILED: 503,
  INPUT_LOST: 404,
  BUFFER_LOST: 410,
  INTERNAL_ERROR: 500
} as const satisfies StatusTable

export interface ErrorDefinition {
  status: ErrorStatus
  message: string
}

const MESSAGES: { readonly [C in ErrorCode]: string } = { ...POOL_ERROR_CODES, ...HTTP_ERROR_CODES }

export const ERROR_CODES = Object.keys(HTTP_STATUS) as ErrorCode[]

/** Status and default sentence of every REST code. */
export const ERRORS = Object.fromEntries(ERROR_CODES.map((code) => [code, { status: HTTP_STATUS[code], message: MESSAGES[code] }])) as
  { readonly [C in ErrorCode]: { status: (typeof HTTP_STATUS)[C], message: string } }

export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(HTTP_STATUS, code)
}

/** A refusal raised by the HTTP layer; the error handler answers it from the table. */
export class ApiError extends CodedError<ErrorCode> {
  readonly statusCode: number
  constructor (code: ErrorCode, message: string = ERRORS[code].message) {
    super(code, message)
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
