import { Type, type Static } from '@sinclair/typebox'
import type { JobKind } from '../kind-api'

const NoopParams = Type.Object({}, { additionalProperties: false })

export const noopKind: JobKind<Static<typeof NoopParams>> = {
  name: 'noop',
  description: 'Does nothing and returns {}. Measures the pool\'s own per-job cost, with or without ' +
    'inputs mapped into the worker.',
  inputs: { min: 0, max: 16 },
  outputs: { min: 0, max: 0 },
  params: NoopParams,
  run () {
    return {}
  }
}
