// A reference to a shared schema (registered once with addSchema, listed once under
// components.schemas in the OpenAPI document), typed as the schema itself. TypeBox 0.34 types a
// bare Type.Ref('X') as unknown; this keeps the handler types.
import { Type, type Static, type TSchema, type TUnsafe, type SchemaOptions } from '@sinclair/typebox'

export function ref<T extends TSchema> (schema: T, options: SchemaOptions = {}): TUnsafe<Static<T>> {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id, options))
}
