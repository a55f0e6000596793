// Checks a step's params against its kind's schema (as pool.kinds() reports it: JSON Schema) before
// anything of the pipeline exists, so a bad step refuses the whole pipeline instead of failing
// half-way through it. Ajv, the validator Fastify itself uses; one compiled validator per kind,
// recompiled only when the kind's schema changes.
import Ajv, { type ValidateFunction } from 'ajv'
import type { KindInfo } from '../pool/types'

export class ParamsChecker {
  // strict off: kind schemas are written by kind authors (TypeBox or by hand) and may carry
  // keywords Ajv does not know; formats are not checked here (the pool checks them at enqueue).
  readonly #ajv = new Ajv({ strict: false, allErrors: false, useDefaults: true, validateFormats: false })
  readonly #compiled = new Map<string, { source: string, validate: ValidateFunction }>()

  /** null when the params are acceptable, else a sentence naming the offending field. */
  problem (kind: KindInfo, params: Record<string, unknown>): string | null {
    if (kind.params === null || kind.params === undefined) return null
    const source = JSON.stringify(kind.params)
    let entry = this.#compiled.get(kind.name)
    if (entry === undefined || entry.source !== source) {
      let validate: ValidateFunction
      try {
        validate = this.#ajv.compile(JSON.parse(source) as object)
      } catch {
        // A schema Ajv cannot compile is the kind's problem, not the pipeline's: the pool's own
        // check at enqueue still applies to the step's job.
        return null
      }
      entry = { source, validate }
      this.#compiled.set(kind.name, entry)
    }
    // On a copy: defaults are filled in for the check only; the pool applies its own at enqueue.
    if (entry.validate(structuredClone(params))) return null
    const first = entry.validate.errors?.[0]
    if (first === undefined) return 'invalid'
    const where = `params${first.instancePath.replace(/\//g, '.')}`
    const extra = first.keyword === 'additionalProperties' ? ` (${String((first.params as { additionalProperty?: unknown }).additionalProperty)})` : ''
    return `${where}: ${first.message ?? 'invalid'}${extra}`
  }
}
