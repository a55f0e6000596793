// Liveness and readiness bodies.
import { Type } from '@sinclair/typebox'
import { stringEnum } from './string-enum'

export const HealthSchema = Type.Object({ status: stringEnum(['ok']) }, { additionalProperties: false, description: 'The process answers' })

export const ReadinessSchema = Type.Object({
  status: stringEnum(['ready']),
  workers: Type.Integer({ minimum: 0 }),
  workersReady: Type.Integer({ minimum: 0 })
}, { additionalProperties: false, description: 'Every worker process is up' })
