// Fastify's Ajv coerces types everywhere by default, which is right for query strings and path
// parameters (they are text) and wrong for JSON bodies: `{"size": true}` became 1 byte, `null`
// 0, `"1e3"` 1000, `[5]` 5, `{"inputs": "x"}` ["x"]. This validator factory keeps Fastify's own
// compiler (same Ajv, same shared schemas, same options) but builds bodies with a second
// instance that never coerces, so a wrong type in a body is a 400 naming the field.
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifyServerOptions } from 'fastify'

type SchemaController = NonNullable<FastifyServerOptions['schemaController']>
type BuildValidator = NonNullable<NonNullable<SchemaController['compilersFactory']>['buildValidator']>

export function strictBodyValidator (): BuildValidator {
  const fromPool = AjvCompiler()
  const build: BuildValidator = (externalSchemas, options) => {
    const ajvOptions = (options ?? {}) as { customOptions?: Record<string, unknown> }
    const lenient = fromPool(externalSchemas as never, { ...ajvOptions, customOptions: { ...ajvOptions.customOptions } } as never)
    const strict = fromPool(externalSchemas as never, { ...ajvOptions, customOptions: { ...ajvOptions.customOptions, coerceTypes: false } } as never)
    return (route) => route.httpPart === 'body' ? strict(route as never) : lenient(route as never)
  }
  return build
}
