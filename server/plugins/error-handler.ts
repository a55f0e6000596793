// Turns every error into `{"error":{"code","message"}}` with the status from server/errors.ts:
// our own ApiErrors, the pool's PoolErrors, and Fastify's own (validation, malformed JSON,
// unsupported media types, oversized bodies, unknown routes, unparseable HTTP). Only a real bug
// becomes a 500, and it is logged with its stack.
import type { Socket } from 'node:net'
import http from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { PoolError } from '../pool/pool-error'
import { ApiError, CodedError, ERRORS, errorBody, isErrorCode, type ErrorCode } from '../errors'
import { acceptedMediaTypes, allowedMethods } from './route-table'
import { describeValidation, type AjvError } from '../schemas/validation-message'

export { describeValidation }

interface Classified { code: ErrorCode, message: string }

/** Fastify's own error codes that a client can provoke, and what they mean in our table. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_INVALID_URL: 'BAD_REQUEST',
  // A path parameter far longer than any id (app.ts sets maxParamLength above the schemas'
  // maxLength, so ordinary overlong ids get the schema's 400 naming the field).
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_ERROR'
}

/** The code that stands for a bare status when nothing more specific is known. */
const GENERIC_BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  411: 'LENGTH_REQUIRED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
  431: 'HEADERS_TOO_LARGE'
}

export function classifyError (err: FastifyError | Error): Classified {
  if (err instanceof ApiError) return { code: err.code, message: err.message }
  if (err instanceof PoolError || err instanceof CodedError) {
    // PoolError's code is typed, so tsc refuses an unlisted one; a code that still arrives here
    // unlisted (a cast, a plain JavaScript caller) is a bug, answered 500 with its code named.
    if (isErrorCode(err.code)) return { code: err.code, message: err.message }
    return { code: 'INTERNAL_ERROR', message: `Unlisted error code ${String(err.code)}: ${err.message}` }
  }
  const fastifyError = err as FastifyError
  if (Array.isArray(fastifyError.validation)) {
    return { code: 'VALIDATION_ERROR', message: describeValidation(fastifyError.validationContext, fastifyError.validation as AjvError[]) }
  }
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code]
  // Fastify's own sentence repeats the whole parameter; every path parameter here is an id.
  if (fastifyError.code === 'FST_ERR_MAX_PARAM_LENGTH') return { code: 'VALIDATION_ERROR', message: 'path.id must NOT have more than 100 characters' }
  if (mapped === 'BAD_JSON') return { code: mapped, message: `The body is not valid JSON: ${err.message}` }
  if (mapped !== undefined) return { code: mapped, message: err.message }
  // secure-json-parse throws a plain SyntaxError for some malformed JSON.
  if (err instanceof SyntaxError && fastifyError.statusCode === 400) return { code: 'BAD_JSON', message: `The body is not valid JSON: ${err.message}` }
  // Any other 4xx a plugin raised (e.g. @fastify/static): keep the status's meaning.
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = GENERIC_BY_STATUS[status] ?? 'BAD_REQUEST'
    return { code, message: err.message || ERRORS[code].message }
  }
  return unexpected()
}

function unexpected (): Classified {
  return { code: 'INTERNAL_ERROR', message: ERRORS.INTERNAL_ERROR.message }
}

/**
 * Answers the router's own errors (an undecodable URL, a path parameter over the length limit),
 * which Fastify raises before any route or error handler exists. Passed as `frameworkErrors`.
 */
export function answerFrameworkError (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const { code, message } = classifyError(err)
  void reply.code(ERRORS[code].status).type('application/json; charset=utf-8').send(errorBody(code, message))
}

/**
 * Answers an HTTP parse error (malformed request line, oversized headers, a timeout) on the raw
 * socket, in our error shape. Passed to Fastify as `clientErrorHandler`.
 */
export function answerClientError (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const code: ErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? 'REQUEST_TIMEOUT'
    : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST'
  const status = ERRORS[code].status
  const body = JSON.stringify(errorBody(code))
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** "Content-Type text/plain is not accepted by POST /v1/jobs; send application/json". */
function unsupportedMediaMessage (request: FastifyRequest): string {
  const sent = (request.headers['content-type'] ?? '').split(';')[0].trim() || '(none)'
  const accepted = acceptedMediaTypes(request)
  return `Content-Type ${sent} is not accepted by ${request.method} ${request.routeOptions.url ?? request.url}; send ${accepted.join(' or ')}`
}

export default fp(async function errorHandler (app) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let { code, message } = classifyError(err)
    if (code === 'UNSUPPORTED_MEDIA_TYPE' && err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = unsupportedMediaMessage(request)
    }
    const status = ERRORS[code].status
    if (status >= 500 && code === 'INTERNAL_ERROR') request.log.error({ err }, 'unexpected error')
    else request.log.info({ code, message }, 'request refused')
    if (code === 'QUEUE_FULL') void reply.header('retry-after', '1')
    // A refusal while an upload is still arriving (413 from Content-Length or mid-stream, 409 on
    // a sealed buffer): discard what keeps coming and close the connection after the reply,
    // rather than read a body we refused into the next request's parser.
    if (!request.raw.complete) {
      void reply.header('connection', 'close')
      if (code === 'REQUEST_TIMEOUT' || code === 'POOL_CLOSED') {
        // A stalled body will never end: once the answer is out, drop the connection, so
        // neither the socket nor a shutdown waits on the client.
        reply.raw.once('finish', () => { request.raw.socket.destroy() })
      } else {
        request.raw.resume()
      }
    }
    void reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message))
  })

  app.setNotFoundHandler((request, reply) => {
    const url = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url
    // RFC 9110 §15.5.6: a path that exists with other methods is a 405 listing them.
    const allow = allowedMethods(app, request.url.split('?')[0])
    if (allow.length > 0) {
      void reply.code(405).header('allow', allow.join(', '))
        .send(errorBody('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url}; allowed: ${allow.join(', ')}`))
      return
    }
    void reply.code(404).send(errorBody('NOT_FOUND', `No route ${request.method} ${url}`))
  })
}, { name: 'memfd-pool/error-handler' })
