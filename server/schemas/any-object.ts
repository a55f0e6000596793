// A JSON object with any members, typed Record<string, unknown> (TypeBox's empty Type.Object
// types as `{}`, which TypeScript lets a string or a number satisfy).
import { Type, type SchemaOptions, type TUnsafe } from '@sinclair/typebox'

export function anyObject (options: SchemaOptions = {}): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({ ...options, type: 'object', additionalProperties: true })
}
