// The one error body every refusal uses, and the per-route response entries that document which
// codes each status can carry (generated from server/errors.ts, so the spec cannot drift).
import { Type, type Static } from '@sinclair/typebox'
import { ERROR_CODES, ERRORS, errorBody, type ErrorCode } from '../errors'
import { ref } from './ref'

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODES, description: 'Stable UPPER_SNAKE code; branch on this.' }),
    message: Type.String({ description: 'A sentence for humans; may change.' })
  }, { additionalProperties: false })
}, {
  $id: 'Error',
  additionalProperties: false,
  description: 'Every refusal: {"error":{"code","message"}}. Codes and their statuses: ' +
    ERROR_CODES.map((code) => `${code} (${ERRORS[code].status})`).join(', ') + '.'
})
export type ErrorResponse = Static<typeof ErrorResponse>

// @fastify/swagger takes a header as a JSON schema with a description.
const RETRY_AFTER = { 'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying' } }
const ALLOW = { Allow: { type: 'string', description: 'The methods the path takes' } }

/**
 * Response schemas for the given error codes (and FORBIDDEN_HOST, which every route can answer),
 * grouped by status, each described with the codes it can carry and an example of each (429 also
 * documents Retry-After, 405 Allow).
 */
export function errorResponses (...codes: ErrorCode[]): Record<number, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  // The Host check (server/plugins/origin-guard.ts) runs before every route.
  for (const code of new Set([...codes, 'FORBIDDEN_HOST' as const])) {
    const status = ERRORS[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const responses: Record<number, unknown> = {}
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const description = list.map((code) => `${code}: ${ERRORS[code].message}`).join('. ')
    // One example per code, so a reader (and a generated client's docs) sees each refusal.
    const examples = Object.fromEntries(list.map((code) => [code, { summary: ERRORS[code].message, value: errorBody(code) }]))
    const response: Record<string, unknown> = {
      description,
      content: { 'application/json': { schema: ref(ErrorResponse), examples } }
    }
    if (list.includes('QUEUE_FULL')) response.headers = RETRY_AFTER
    if (list.includes('METHOD_NOT_ALLOWED')) response.headers = ALLOW
    responses[status] = response
  }
  return responses
}
