// `T | null` as a type list (`type: ['string', 'null']`) rather than TypeBox's
// Type.Union([T, Type.Null()]), which is an `anyOf`. The two accept the same values, but
// fast-json-stringify (Fastify's response serializer) cannot tell the branches of an anyOf apart
// by itself: it runs an Ajv validator per nullable field on every response (~6 µs of the ~8 µs it
// took to serialize one Job). A type list it checks with `=== null`. OpenAPI 3.1 (JSON Schema
// 2020-12) documents it as it stands.
import { Type, type SchemaOptions, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'

export function nullable<T extends TSchema> (schema: T, options: SchemaOptions = {}): TUnsafe<Static<T> | null> {
  // String keys only: TypeBox's own [Kind] mark would otherwise survive and call this an Object.
  const { type, enum: values, ...rest } = Object.fromEntries(Object.entries(schema)) as { type?: unknown, enum?: unknown[] }
  if (typeof type !== 'string') throw new TypeError('nullable() takes a schema with a single `type`')
  return Type.Unsafe<Static<T> | null>({
    ...rest,
    ...options,
    type: [type, 'null'],
    // An enum lists every allowed value: null among them, or Ajv refuses it.
    ...(values === undefined ? {} : { enum: [...values, null] })
  })
}
