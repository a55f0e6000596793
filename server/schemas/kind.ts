// A job kind: its name, how many inputs (and outputs) it takes and the JSON schema its params
// must match, as the workers report it.
import { Type } from '@sinclair/typebox'
import { ref } from './ref'

const Bounds = Type.Object({ min: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })

export const KindSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  inputs: Bounds,
  outputs: Type.Object(Bounds.properties, {
    additionalProperties: false,
    description: 'How many output buffers a job of this kind may produce (a pipeline step may read outputs 0 to max - 1)'
  }),
  params: Type.Unknown({
    description: 'The JSON Schema (draft 2020-12 subset, as the kind declares it) that a job\'s `params` must match; ' +
      'null when the kind takes any params. POST /v1/jobs validates against it (400 INVALID_PARAMS).'
  }),
  servedBy: Type.Optional(Type.Array(Type.String(), { description: 'Ids of the workers that reported this kind' }))
}, { $id: 'Kind', additionalProperties: false })

export const KindList = Type.Object({ kinds: Type.Array(ref(KindSchema)) }, { additionalProperties: false, description: 'The job kinds this pool runs, each with its params schema' })
