// Limits every job's params obey, whatever its kind's schema says (or when it has none): params
// nested ~20,000 deep once overflowed the stack of the channel's JSON encoder inside dispatch,
// and a run message over the channel's 256 KiB limit could not be sent at all (issue 15, items 5
// and 6). Checked at submit, before anything recursive touches the value.
import { PoolError } from './pool-error'

/** Deepest nesting of objects and arrays (the params object itself is level 1). */
export const PARAMS_MAX_DEPTH = 32
/** Largest params as JSON, in bytes: a run message stays far below the channel's 256 KiB. */
export const PARAMS_MAX_BYTES = 64 * 1024

/**
 * The params as the worker will see them (a JSON copy), or INVALID_PARAMS naming the limit. The
 * depth walk is iterative, and stops early: a cycle only ever looks too deep, and more values
 * than bytes allowed (each takes at least two) is too large without serialising anything.
 */
export function boundedParams (params: Record<string, unknown>): Record<string, unknown> {
  // Most jobs have no params: nothing to walk or copy (a plain empty object has no own keys and
  // no toJSON; symbol keys and non-enumerable ones are not JSON), so its JSON copy is a fresh {}.
  if (Object.getPrototypeOf(params) === Object.prototype && isEmpty(params)) return {}
  const stack: Array<[unknown, number]> = [[params, 1]]
  let values = 0
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!
    if (value === null || typeof value !== 'object') continue
    if (depth > PARAMS_MAX_DEPTH) {
      throw new PoolError('INVALID_PARAMS', `params nest deeper than ${PARAMS_MAX_DEPTH} levels of objects and arrays (the limit)`)
    }
    const children = Array.isArray(value) ? value : Object.values(value)
    values += children.length
    if (values > PARAMS_MAX_BYTES / 2) throw tooLarge(`more than ${PARAMS_MAX_BYTES / 2} values`)
    for (const child of children) stack.push([child, depth + 1])
  }
  let json: string
  try {
    json = JSON.stringify(params)
  } catch (err) {
    throw new PoolError('INVALID_PARAMS', `params must be plain JSON: ${(err as Error).message}`)
  }
  const bytes = Buffer.byteLength(json)
  if (bytes > PARAMS_MAX_BYTES) throw tooLarge(`${bytes} bytes of JSON`)
  return JSON.parse(json) as Record<string, unknown>
}

function tooLarge (what: string): PoolError {
  return new PoolError('INVALID_PARAMS', `params are ${what}; the limit is ${PARAMS_MAX_BYTES} bytes of JSON`)
}

function isEmpty (value: object): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return false
  return true
}
