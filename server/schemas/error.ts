// The one error body every refusal uses, and the per-route response entries that document which
// codes each status can carry (generated from server/errors.ts, so the spec cannot drift).
import { Type, type Static } from '@sinclair/typebox'
import { ERROR_CODES, ERRORS, type ErrorCode } from '../errors'
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

const RETRY_AFTER = { 'Retry-After': { type: 'integer', description: 'Seconds to wait before retrying' } }

/**
 * Response schemas for the given error codes, grouped by status, each described with the codes
 * it can carry (429 also documents Retry-After).
 */
export function errorResponses (...codes: ErrorCode[]): Record<number, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = ERRORS[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const responses: Record<number, unknown> = {}
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const description = list.map((code) => `${code}: ${ERRORS[code].message}`).join('. ')
    const schema: Record<string, unknown> = { ...ref(ErrorResponse), description }
    if (list.includes('QUEUE_FULL')) schema.headers = RETRY_AFTER
    responses[status] = schema
  }
  return responses
}
