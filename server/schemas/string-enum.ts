// A string from a fixed set, as a plain JSON-schema `enum` (TypeBox's union of literals becomes
// an anyOf of consts, which documents worse and fails validation with "must be equal to constant").
import { Type, type TUnsafe, type SchemaOptions } from '@sinclair/typebox'

export function stringEnum<const T extends readonly string[]> (values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] })
}
