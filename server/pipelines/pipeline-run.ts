// One pipeline while it runs: starts each step as an ordinary job of the pool as soon as all its
// inputs exist, carries failures to the steps downstream, and deletes every intermediate buffer
// once the last step reading it has finished. It uses only the pool's public methods (enqueue,
// wait, get, cancel, store), so the engine behind them may change freely.
import type { Pool } from '../pool/pool'
import type { JobError, JobInfo } from '../pool/types'
import type { PipelinePlan, PlannedStep } from './pipeline-plan'
import type { PipelineError, PipelineInfo, PipelineState, StepInfo, StepState } from './types'

/** Step states after which nothing more happens to a step. */
export const STEP_TERMINAL: ReadonlySet<StepState> = new Set(['succeeded', 'failed', 'cancelled'])

interface StepRecord {
  plan: PlannedStep
  state: StepState
  jobId: string | null
  outputs: string[]
  result: Record<string, unknown> | null
  error: JobError | null
  /** Its claims on its producers' outputs were given back (it finished, or will never run). */
  released: boolean
}

export interface PipelineRunHooks {
  /** A step changed state (queued, or finished). */
  step: (run: PipelineRun, step: StepInfo) => void
  /** Every step has finished. */
  ended: (run: PipelineRun) => void
}

export class PipelineRun {
  readonly id: string
  readonly name: string
  readonly createdAt: string
  state: PipelineState = 'running'
  finishedAt: string | null = null
  error: PipelineError | null = null
  readonly #pool: Pool
  readonly #plan: PipelinePlan
  readonly #hooks: PipelineRunHooks
  readonly #steps: StepRecord[]
  /** Per step and output index: steps that will still read it (the intermediate's readers). */
  readonly #readersLeft: Array<Map<number, number>>
  #cancelRequested = false

  constructor (id: string, plan: PipelinePlan, pool: Pool, hooks: PipelineRunHooks) {
    this.id = id
    this.name = plan.name === '' ? id : plan.name
    this.createdAt = new Date().toISOString()
    this.#pool = pool
    this.#plan = plan
    this.#hooks = hooks
    this.#steps = plan.steps.map((step) => ({ plan: step, state: 'pending', jobId: null, outputs: [], result: null, error: null, released: false }))
    this.#readersLeft = plan.steps.map(() => new Map())
    for (const step of plan.steps) {
      for (const input of step.inputs) {
        if (!('step' in input)) continue
        const readers = this.#readersLeft[input.step]
        readers.set(input.output, (readers.get(input.output) ?? 0) + 1)
      }
    }
  }

  get finished (): boolean { return this.state !== 'running' }

  /** Starts every step that has no step inputs. */
  start (): void {
    for (const step of this.#steps) if (this.#ready(step)) this.#startStep(step)
    this.#checkEnded()
  }

  /** Cancels every step not yet finished: pending ones at once, queued and running jobs through the pool. */
  cancel (): void {
    if (this.finished || this.#cancelRequested) return
    this.#cancelRequested = true
    for (const step of this.#steps) {
      if (step.state === 'pending') this.#endStep(step, 'cancelled', { code: 'CANCELLED', message: 'The pipeline was cancelled before the step started' })
    }
    for (const step of this.#steps) {
      if (step.jobId === null || STEP_TERMINAL.has(step.state)) continue
      try {
        this.#pool.cancel(step.jobId)
      } catch { /* finished meanwhile: its wait() brings the outcome */ }
    }
    this.#checkEnded()
  }

  info (): PipelineInfo {
    const outputs: Record<string, string[]> = {}
    for (const step of this.#steps) if (step.plan.isResult) outputs[step.plan.id] = [...step.outputs]
    return {
      id: this.id,
      name: this.name,
      state: this.state,
      steps: this.#steps.map((step) => this.#stepInfo(step)),
      outputs,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt,
      error: this.error === null ? null : { ...this.error }
    }
  }

  #stepInfo (step: StepRecord): StepInfo {
    let state = step.state
    // Between queued and finished the job's own state says where it is.
    if (step.jobId !== null && !STEP_TERMINAL.has(state)) {
      try { state = this.#pool.get(step.jobId).state } catch { /* left the job history */ }
    }
    return {
      id: step.plan.id,
      kind: step.plan.kind,
      inputs: step.plan.inputs.map((input) => 'buffer' in input ? input.buffer : { step: this.#steps[input.step].plan.id, output: input.output }),
      state,
      jobId: step.jobId,
      outputs: [...step.outputs],
      result: step.result,
      error: step.error === null ? null : { ...step.error }
    }
  }

  #ready (step: StepRecord): boolean {
    return step.state === 'pending' && step.plan.inputs.every((input) => !('step' in input) || this.#steps[input.step].state === 'succeeded')
  }

  #startStep (step: StepRecord): void {
    const inputs: string[] = []
    for (const input of step.plan.inputs) {
      if ('buffer' in input) {
        inputs.push(input.buffer)
        continue
      }
      const producer = this.#steps[input.step]
      const id = producer.outputs[input.output]
      if (id === undefined) {
        this.#fail(step, { code: 'INVALID_INPUTS', message: `Step ${JSON.stringify(producer.plan.id)} made ${producer.outputs.length} output(s); output ${input.output} does not exist` })
        return
      }
      inputs.push(id)
    }
    let job: JobInfo
    try {
      job = this.#pool.enqueue({
        kind: step.plan.kind,
        inputs,
        params: step.plan.params,
        timeoutMs: step.plan.timeoutMs,
        maxAttempts: step.plan.maxAttempts
      }, {
        pipeline: this.id,
        step: step.plan.id,
        // Only results expire; an intermediate lives exactly as long as its readers need it,
        // whatever the pool's default for outputs.
        outputTtlMs: step.plan.isResult ? this.#plan.outputTtlMs : null
      })
    } catch (err) {
      // The pool refused now what the plan accepted (an input deleted meanwhile, a full queue, a
      // closing pool): the step fails with the pool's reason.
      const e = err as { code?: unknown, message?: unknown }
      this.#fail(step, { code: typeof e.code === 'string' ? e.code : 'INTERNAL_ERROR', message: String(e.message) })
      return
    }
    step.jobId = job.id
    step.state = 'queued'
    this.#hooks.step(this, this.#stepInfo(step))
    this.#pool.wait(job.id, Infinity).then(
      (done) => { this.#jobEnded(step, done) },
      (err: unknown) => { this.#fail(step, { code: 'INTERNAL_ERROR', message: `Lost track of job ${job.id}: ${String((err as Error).message)}` }) }
    )
  }

  #jobEnded (step: StepRecord, job: JobInfo): void {
    if (STEP_TERMINAL.has(step.state)) return
    step.outputs = [...job.outputs]
    step.result = job.result
    if (job.state === 'succeeded') {
      this.#endStep(step, 'succeeded', null)
      if (!step.plan.isResult) {
        // Outputs nobody reads are freed at once.
        step.outputs.forEach((id, i) => { if ((this.#readersLeft[step.plan.index].get(i) ?? 0) === 0) this.#deleteBuffer(id) })
      }
      if (!this.#cancelRequested) {
        for (const index of step.plan.dependents) {
          const dependent = this.#steps[index]
          if (this.#ready(dependent)) this.#startStep(dependent)
        }
      }
    } else if (job.state === 'cancelled' && this.#cancelRequested) {
      this.#endStep(step, 'cancelled', job.error)
    } else {
      // Failed, or cancelled on its own (through the jobs API): a failure of the pipeline.
      this.#fail(step, job.error ?? { code: 'HANDLER_ERROR', message: 'The job failed' }, job.state === 'cancelled' ? 'cancelled' : 'failed')
    }
    this.#checkEnded()
  }

  /** The step failed: the first failure is the pipeline's, and every step downstream ends cancelled. */
  #fail (step: StepRecord, error: JobError, state: 'failed' | 'cancelled' = 'failed'): void {
    this.#endStep(step, state, error)
    if (this.error === null && !this.#cancelRequested) this.error = { ...error, step: step.plan.id }
    const downstream = [...step.plan.dependents]
    while (downstream.length > 0) {
      const next = this.#steps[downstream.shift()!]
      if (next.state !== 'pending') continue
      this.#endStep(next, 'cancelled', { code: 'UPSTREAM_FAILED', message: `Step ${JSON.stringify(step.plan.id)} ${state === 'failed' ? 'failed' : 'was cancelled'} (${error.code}): ${error.message}` })
      downstream.push(...next.plan.dependents)
    }
    this.#checkEnded()
  }

  #endStep (step: StepRecord, state: StepState, error: JobError | null): void {
    step.state = state
    step.error = error === null ? null : { ...error }
    this.#release(step)
    this.#hooks.step(this, this.#stepInfo(step))
  }

  /** The step will read nothing more: an intermediate whose last reader this was is deleted. */
  #release (step: StepRecord): void {
    if (step.released) return
    step.released = true
    for (const input of step.plan.inputs) {
      if (!('step' in input)) continue
      const readers = this.#readersLeft[input.step]
      const left = (readers.get(input.output) ?? 1) - 1
      readers.set(input.output, left)
      const producer = this.#steps[input.step]
      if (left === 0 && !producer.plan.isResult) {
        const id = producer.outputs[input.output]
        if (id !== undefined) this.#deleteBuffer(id)
      }
    }
  }

  #deleteBuffer (id: string): void {
    // Deleting hides it now; a job still reading it holds a lease until it ends.
    if (this.#pool.store.has(id)) this.#pool.store.delete(id)
  }

  #checkEnded (): void {
    if (this.finished || !this.#steps.every((step) => STEP_TERMINAL.has(step.state))) return
    // Backstop: no intermediate outlives its pipeline, whatever path the steps took.
    for (const step of this.#steps) if (!step.plan.isResult) for (const id of step.outputs) this.#deleteBuffer(id)
    this.state = this.#cancelRequested ? 'cancelled' : this.error !== null ? 'failed' : 'succeeded'
    this.finishedAt = new Date().toISOString()
    this.#hooks.ended(this)
  }
}
