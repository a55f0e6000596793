// A pipeline spec checked whole and turned into a plan, before any job or buffer exists: every
// refusal names the step at fault, and a refused spec leaves nothing behind.
import type { PoolErrorCode } from '../errors'
import { checkTtl } from '../pool/buffer-store'
import type { Pool } from '../pool/pool'
import { PoolError } from '../pool/pool-error'
import type { KindInfo } from '../pool/types'
import { MAX_ATTEMPTS, MAX_NAME_LENGTH, MAX_PIPELINE_STEPS, MAX_STEP_INPUTS, MAX_TIMEOUT_MS } from '../schemas/limits'
import type { PipelineSpec, StepInput } from './types'

export const MAX_STEPS = MAX_PIPELINE_STEPS
const STEP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export type PlannedInput = { buffer: string } | { step: number, output: number }

export interface PlannedStep {
  index: number
  id: string
  kind: string
  inputs: PlannedInput[]
  params: Record<string, unknown>
  timeoutMs?: number
  maxAttempts?: number
  /** Steps that read an output of this one (each once). */
  dependents: number[]
  /** Its outputs are results of the pipeline (nobody consumes it, or it is kept). */
  isResult: boolean
}

export interface PipelinePlan {
  name: string
  steps: PlannedStep[]
  outputTtlMs?: number
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function refuse (code: PoolErrorCode, step: string | null, message: string): never {
  throw new PoolError(code, step === null ? message : `step ${JSON.stringify(step)}: ${message}`)
}

function range (bounds: { min: number, max: number }): string {
  return bounds.min === bounds.max ? String(bounds.min) : `${bounds.min} to ${bounds.max}`
}

export function planPipeline (spec: PipelineSpec, pool: Pool): PipelinePlan {
  if (!isObject(spec)) refuse('INVALID_PIPELINE', null, 'a pipeline is an object {name?, steps, keep?, outputTtlMs?}')
  const rawSteps: unknown = spec.steps
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) refuse('INVALID_PIPELINE', null, 'steps must be a non-empty array')
  if (rawSteps.length > MAX_STEPS) refuse('INVALID_PIPELINE', null, `a pipeline has at most ${MAX_STEPS} steps; ${rawSteps.length} given`)
  if (spec.name !== undefined && (typeof spec.name !== 'string' || spec.name.length > MAX_NAME_LENGTH)) refuse('INVALID_PIPELINE', null, `name must be a string of at most ${MAX_NAME_LENGTH} characters`)
  if (spec.outputTtlMs !== undefined) checkTtl(spec.outputTtlMs, 'outputTtlMs')

  const kinds = new Map<string, KindInfo>(pool.kinds().map((kind) => [kind.name, kind]))
  // As enqueue() says it: until a worker has reported its kinds, no kind is known yet.
  if (kinds.size === 0) refuse('NOT_READY', null, 'No worker has reported its kinds yet; await pool.whenReady() first')
  const indexOf = new Map<string, number>()
  rawSteps.forEach((step: unknown, i) => {
    if (!isObject(step)) refuse('INVALID_PIPELINE', null, `steps[${i}] is not an object`)
    const id = step.id
    if (typeof id !== 'string' || !STEP_ID.test(id)) refuse('INVALID_PIPELINE', null, `steps[${i}].id must be 1–64 letters, digits, '_', '-' or '.', starting with a letter or digit`)
    if (indexOf.has(id)) refuse('INVALID_PIPELINE', id, 'duplicate step id')
    indexOf.set(id, i)
  })

  const steps: PlannedStep[] = rawSteps.map((step: Record<string, unknown>, index) => {
    const id = step.id as string
    const kind = typeof step.kind === 'string' ? kinds.get(step.kind) : undefined
    if (kind === undefined) refuse('UNKNOWN_KIND', id, `no job kind ${JSON.stringify(step.kind)}; pool.kinds() (GET /v1/kinds) lists them`)
    const rawInputs: unknown = step.inputs ?? []
    if (!Array.isArray(rawInputs)) refuse('INVALID_INPUTS', id, 'inputs must be an array')
    if (rawInputs.length > MAX_STEP_INPUTS) refuse('INVALID_INPUTS', id, `a step takes at most ${MAX_STEP_INPUTS} inputs; ${rawInputs.length} given`)
    if (rawInputs.length < kind.inputs.min || rawInputs.length > kind.inputs.max) {
      refuse('INVALID_INPUTS', id, `kind ${kind.name} takes ${range(kind.inputs)} input(s); ${rawInputs.length} given`)
    }
    const inputs = rawInputs.map((input: StepInput, n): PlannedInput => {
      if (typeof input === 'string' && input.length > 0) return { buffer: input }
      if (!isObject(input) || typeof input.step !== 'string') refuse('INVALID_INPUTS', id, `inputs[${n}] must be a buffer id or {step, output?}`)
      const producer = indexOf.get(input.step)
      if (producer === undefined) refuse('INVALID_PIPELINE', id, `inputs[${n}] names step ${JSON.stringify(input.step)}, which the pipeline does not have`)
      const output = input.output ?? 0
      if (!Number.isSafeInteger(output) || output < 0) refuse('INVALID_INPUTS', id, `inputs[${n}].output must be a non-negative integer`)
      const producerKind = kinds.get(rawSteps[producer].kind as string)
      // An unknown producer kind is refused when its own step is checked.
      if (producerKind !== undefined && output >= producerKind.outputs.max) {
        refuse('INVALID_INPUTS', id, `inputs[${n}] wants output ${output} of step ${JSON.stringify(input.step)}, but kind ${producerKind.name} makes ${range(producerKind.outputs)} output(s)`)
      }
      return { step: producer, output }
    })
    const stepParams = step.params ?? {}
    if (!isObject(stepParams)) refuse('INVALID_PARAMS', id, 'params must be an object')
    // The pool's own check (the kind registry's Ajv validator and the params bounds), so a step
    // the plan accepts is one enqueue() accepts. Its defaults apply to the check only: the step's
    // job is enqueued with the params as given, and the pool fills them in again then.
    try {
      pool.checkParams(kind.name, stepParams)
    } catch (err) {
      if (err instanceof PoolError) refuse(err.code, id, err.message)
      throw err
    }
    const { timeoutMs, maxAttempts } = step
    if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || (timeoutMs as number) < 1 || (timeoutMs as number) > MAX_TIMEOUT_MS)) {
      refuse('INVALID_PARAMS', id, `timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS} (24 hours)`)
    }
    if (maxAttempts !== undefined && (!Number.isSafeInteger(maxAttempts) || (maxAttempts as number) < 1 || (maxAttempts as number) > MAX_ATTEMPTS)) {
      refuse('INVALID_PARAMS', id, `maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS}`)
    }
    return {
      index,
      id,
      kind: kind.name,
      inputs,
      params: stepParams,
      timeoutMs: timeoutMs as number | undefined,
      maxAttempts: maxAttempts as number | undefined,
      dependents: [],
      isResult: false
    }
  })

  for (const step of steps) {
    for (const input of step.inputs) {
      if ('step' in input && !steps[input.step].dependents.includes(step.index)) steps[input.step].dependents.push(step.index)
    }
  }
  refuseCycles(steps)

  const keep: unknown = spec.keep ?? []
  if (!Array.isArray(keep)) refuse('INVALID_PIPELINE', null, 'keep must be an array of step ids')
  const kept = new Set<number>()
  for (const name of keep) {
    const index = typeof name === 'string' ? indexOf.get(name) : undefined
    if (index === undefined) refuse('INVALID_PIPELINE', null, `keep names step ${JSON.stringify(name)}, which the pipeline does not have`)
    kept.add(index)
  }
  for (const step of steps) step.isResult = step.dependents.length === 0 || kept.has(step.index)

  // Existing buffers last: the same checks (and codes) as for a job's inputs.
  for (const step of steps) {
    for (const input of step.inputs) {
      if (!('buffer' in input)) continue
      if (!pool.store.has(input.buffer)) refuse('NOT_FOUND', step.id, `no buffer ${JSON.stringify(input.buffer)}`)
      if (!pool.store.get(input.buffer).sealed) refuse('BUFFER_NOT_SEALED', step.id, `input ${input.buffer} is not sealed: seal it first so its bytes cannot change under the pipeline`)
    }
  }
  return { name: typeof spec.name === 'string' ? spec.name : '', steps, outputTtlMs: spec.outputTtlMs }
}

/** Refuses a graph in which some step (in)directly consumes its own output, naming the loop. */
function refuseCycles (steps: PlannedStep[]): void {
  const WHITE = 0
  const GREY = 1
  const BLACK = 2
  const color = new Array<number>(steps.length).fill(WHITE)
  const path: number[] = []
  // Iterative depth-first search over producer → consumer edges: 256 steps in a chain must not
  // depend on the stack depth.
  for (let root = 0; root < steps.length; root++) {
    if (color[root] !== WHITE) continue
    const stack: Array<{ node: number, next: number }> = [{ node: root, next: 0 }]
    color[root] = GREY
    path.push(root)
    while (stack.length > 0) {
      const top = stack[stack.length - 1]
      const dependents = steps[top.node].dependents
      if (top.next < dependents.length) {
        const child = dependents[top.next++]
        if (color[child] === GREY) {
          const loop = path.slice(path.indexOf(child)).map((i) => steps[i].id)
          refuse('INVALID_PIPELINE', steps[child].id, `the steps form a cycle: ${[...loop, steps[child].id].join(' → ')}`)
        }
        if (color[child] === WHITE) {
          color[child] = GREY
          path.push(child)
          stack.push({ node: child, next: 0 })
        }
      } else {
        color[top.node] = BLACK
        path.pop()
        stack.pop()
      }
    }
  }
}
