// A job kind: its name, how many inputs it takes and the JSON schema its params must match.
import { Type } from '@sinclair/typebox'
import { ref } from './ref'

export const KindSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  inputs: Type.Object({ min: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  outputs: Type.Object({ min: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 0 }) }, {
    additionalProperties: false,
    description: 'How many output buffers a job of the kind makes (a pipeline step may read outputs 0 to max - 1)'
  }),
  params: Type.Unknown({ description: 'JSON schema of the params object' })
}, { $id: 'Kind', additionalProperties: false })

export const KindList = Type.Object({ kinds: Type.Array(ref(KindSchema)) }, { additionalProperties: false, description: 'The job kinds this pool runs' })
