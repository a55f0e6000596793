// The library's check of a JobSpec with the very schema and validator the REST API uses
// (SubmitJobBody, compiled by Fastify's own Ajv compiler with the body options: no coercion, no
// removal of unknown members), so pool.enqueue() and POST /v1/jobs agree on every limit.
// The pool throws `new PoolError('INVALID_JOB', problem)` with the sentence returned here.
import { AjvCompiler } from '@fastify/ajv-compiler'
import { SubmitJobBody } from './job'
import { describeValidation, type AjvError } from './validation-message'

interface Validate {
  (value: unknown): boolean
  errors?: AjvError[] | null
}

let validate: Validate | undefined

function compiled (): Validate {
  if (validate === undefined) {
    const build = AjvCompiler()({}, { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } } as never)
    validate = build({ schema: SubmitJobBody, method: 'POST', url: '/v1/jobs', httpPart: 'body' } as never) as unknown as Validate
  }
  return validate
}

/** null when `spec` is a valid JobSpec; otherwise one sentence naming the field ("spec.timeoutMs must be <= 86400000"). */
export function jobSpecProblem (spec: unknown): string | null {
  const check = compiled()
  if (check(spec)) return null
  return describeValidation('spec', check.errors ?? [])
}
