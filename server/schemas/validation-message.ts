// One sentence naming the field an Ajv validation failed on: "body.size must be integer",
// "query.offset must be >= 0", "spec.kind is required". Used for REST refusals and for the
// library's own check of a job spec, so both say the same thing.
export interface AjvError {
  keyword: string
  instancePath?: string
  message?: string
  params?: Record<string, unknown>
}

const CONTEXT_NAMES: Record<string, string> = { querystring: 'query', params: 'path', body: 'body', headers: 'headers' }

const FALLBACK = 'The request does not match the schema'

export function describeValidation (context: string | undefined, errors: AjvError[]): string {
  const first = errors[0]
  if (first === undefined) return FALLBACK
  const path = (first.instancePath ?? '').split('/').filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
  const field = (extra?: unknown): string =>
    [CONTEXT_NAMES[context ?? ''] ?? context ?? 'request', ...path, ...(extra === undefined ? [] : [String(extra)])].join('.')
  switch (first.keyword) {
    case 'required': return `${field(first.params?.missingProperty)} is required`
    case 'additionalProperties': return `${field(first.params?.additionalProperty)} is not allowed`
    case 'enum': {
      const allowed = first.params?.allowedValues
      return `${field()} must be one of: ${Array.isArray(allowed) ? allowed.join(', ') : 'the allowed values'}`
    }
    default: return `${field()} ${first.message ?? 'is invalid'}`
  }
}
