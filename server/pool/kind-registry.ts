// The job kinds the pool offers, learnt only from what workers report in their 'ready'
// (workers/protocol.ts KindReport): the server never loads a kind module, so no kind's code runs
// in the control plane. Params are validated with Ajv — the validator Fastify itself uses — the
// same way for a TypeBox schema (which is JSON Schema once serialised) and a plain one. A worker
// that reports a kind differently from the workers already serving it is refused whole: two
// workers validating the same job differently would make a job's fate depend on where it lands.
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv'
import { MAX_RUN_INPUTS, type KindReport } from '../../workers/protocol'
import { boundedParams } from './params-bounds'
import { PoolError } from './pool-error'
import type { KindInfo } from './types'

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/
/** Inputs travel as descriptors with the run ('inputs' messages ahead of it past one message's worth). */
const MAX_INPUTS = MAX_RUN_INPUTS
/** Outputs come back in 'outputs' messages of up to maxFds each; beyond this a report is refused. */
export const MAX_OUTPUTS = 1024

interface Entry {
  report: KindReport
  /** The report's contract (bounds and params), serialised with sorted keys, to compare reports. */
  contract: string
  validate: ValidateFunction | null
  servedBy: Set<string>
}

/** JSON with object keys sorted, so equal schemas compare equal whatever order they were built in. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function isBounds (value: unknown, max: number): value is { min: number, max: number } {
  const b = value as { min?: unknown, max?: unknown } | null
  return b !== null && typeof b === 'object' && Number.isSafeInteger(b.min) && Number.isSafeInteger(b.max) &&
    (b.min as number) >= 0 && (b.min as number) <= (b.max as number) && (b.max as number) <= max
}

/** A sentence for Ajv's first error: where in the params, and what is wrong. */
function describe (error: ErrorObject | undefined): string {
  if (error === undefined) return 'params: invalid'
  const where = `params${error.instancePath.replace(/\//g, '.')}`
  const extra = error.keyword === 'additionalProperties' ? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})` : ''
  return `${where}: ${error.message ?? 'invalid'}${extra}`
}

export class KindRegistry {
  #kinds = new Map<string, Entry>()
  // useDefaults fills in what a schema defaults (TypeBox's Value.Default did the same before);
  // no type coercion: a library caller's `"5"` is not 5. strict off: kinds may carry annotations
  // Ajv does not know (TypeBox adds none once serialised, hand-written schemas may).
  #ajv = new Ajv({ useDefaults: true, coerceTypes: false, allErrors: false, strict: false })

  /** No worker has reported its kinds yet. */
  get empty (): boolean { return this.#kinds.size === 0 }

  /**
   * Registers what the worker `workerId` serves. Returns null when accepted, or why it was
   * refused (nothing is registered then): a malformed report, a schema Ajv cannot compile, or a
   * kind that other live workers report differently.
   */
  register (workerId: string, reports: unknown): string | null {
    if (!Array.isArray(reports)) return 'its ready message lists no kinds'
    const fresh = new Map<string, Entry>()
    for (const report of reports as KindReport[]) {
      const name = (report as { name?: unknown } | null)?.name
      if (typeof name !== 'string' || !NAME.test(name)) return `kind name ${JSON.stringify(name)} must match ${NAME}`
      if (fresh.has(name)) return `kind ${name} is reported twice`
      if (!isBounds(report.inputs, MAX_INPUTS)) return `kind ${name}: inputs must be {min, max} with 0 <= min <= max <= ${MAX_INPUTS}`
      if (!isBounds(report.outputs, MAX_OUTPUTS)) return `kind ${name}: outputs must be {min, max} with 0 <= min <= max <= ${MAX_OUTPUTS}`
      const params = report.params
      if (params !== null && (typeof params !== 'object' || Array.isArray(params))) return `kind ${name}: params must be a JSON Schema object or null`
      const contract = canonical({ inputs: report.inputs, outputs: report.outputs, params })
      const known = this.#kinds.get(name)
      if (known !== undefined && known.contract !== contract && known.servedBy.size > 0) {
        return `kind ${name} differs from what ${[...known.servedBy].join(', ')} reported (its bounds or params schema)`
      }
      let validate: ValidateFunction | null = known?.contract === contract ? known.validate : null
      if (params !== null && validate === null) {
        try {
          validate = this.#ajv.compile(params)
        } catch (err) {
          return `kind ${name}: its params schema does not compile: ${(err as Error).message}`
        }
      }
      const description = typeof report.description === 'string' ? report.description : ''
      fresh.set(name, { report: { ...report, description }, contract, validate, servedBy: known?.servedBy ?? new Set() })
    }
    for (const [name, entry] of fresh) {
      entry.servedBy.add(workerId)
      this.#kinds.set(name, entry)
    }
    return null
  }

  /**
   * The worker serves nothing any more (it exited). Its kinds stay known, so jobs can queue for
   * them while it restarts; a kind nobody serves may be reported differently next time.
   */
  unregister (workerId: string): void {
    for (const entry of this.#kinds.values()) entry.servedBy.delete(workerId)
  }

  /**
   * Forgets a kind nobody serves (its last external worker left): a new job of it is refused
   * UNKNOWN_KIND from now on, and another worker may report it differently. False when some
   * worker still serves it (nothing is dropped then).
   */
  drop (name: string): boolean {
    const entry = this.#kinds.get(name)
    if (entry === undefined || entry.servedBy.size > 0) return false
    this.#kinds.delete(name)
    return true
  }

  /** Some live worker serves the kind. */
  served (name: string): boolean { return (this.#kinds.get(name)?.servedBy.size ?? 0) > 0 }

  has (name: string): boolean { return this.#kinds.has(name) }

  /** The kind's input bounds; undefined for an unknown kind. */
  inputs (name: string): { min: number, max: number } | undefined { return this.#kinds.get(name)?.report.inputs }

  /** How many outputs a job of the kind may return. */
  maxOutputs (name: string): number { return this.#kinds.get(name)?.report.outputs.max ?? 0 }

  /**
   * The params a job of `kind` runs with: bounded in depth and size (every kind), checked against
   * the kind's schema with its defaults filled in. INVALID_PARAMS names the first problem.
   */
  validate (name: string, params: unknown): Record<string, unknown> {
    const entry = this.#kinds.get(name)
    if (entry === undefined) throw new PoolError('UNKNOWN_KIND', `No job kind ${JSON.stringify(name)}; pool.kinds() lists them`)
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new PoolError('INVALID_PARAMS', 'params must be an object')
    }
    const value = boundedParams(params as Record<string, unknown>)
    if (entry.validate !== null && !entry.validate(value)) {
      throw new PoolError('INVALID_PARAMS', `${describe(entry.validate.errors?.[0])} (kind ${name})`)
    }
    return value
  }

  list (): KindInfo[] {
    return [...this.#kinds.values()].map(({ report, servedBy }) => ({
      name: report.name,
      description: report.description,
      inputs: { ...report.inputs },
      outputs: { ...report.outputs },
      params: report.params ?? { type: 'object' },
      servedBy: [...servedBy].sort()
    }))
  }
}
