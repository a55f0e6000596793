// Pipelines across the cluster (docs/CLUSTER.md). A pipeline is placed as a unit, by its input
// bytes, on a node serving every kind its steps use, and runs there on that node's own pool
// (server/pipelines/): its intermediates stay in one host's shared memory, as Ray keeps a task's
// outputs where it ran. The node a client talks to places it and passes the request on; the node
// running it pulls the inputs held elsewhere into replicas first, then creates the pipeline over
// their local ids. A directory key in Redis (pipeline id → node) lets any node answer GET,
// `?wait` and cancel by passing them on to that node.
import type { Redis } from 'ioredis'
import { ApiError } from '../errors'
import { STEP_TERMINAL, type PipelineInfo, type PipelineSpec, type StepSpec } from '../pipelines'
import type { Pool } from '../pool/pool'
import { PoolError } from '../pool/pool-error'
import { MAX_PIPELINE_STEPS } from '../schemas/limits'
import type { BufferLocator } from './buffer-locator'
import { PEER_TIMEOUT_MS } from './cluster-options'
import { PullError, type InputPuller } from './input-puller'
import type { NodeEntry, NodeRegistry } from './node-registry'
import type { PeerClient } from './peer-client'
import { placeByBytes, type PlacedInput } from './placement'

/** Directory entries live as long as cluster job records: a day after the pipeline ends. */
const RECORD_TTL_S = 24 * 3600
/** A passed-on submit pulls its inputs before it answers: this long for that, on top of its `?wait`. */
const RELAY_SUBMIT_MS = 120_000
/** Records of pipelines run here are pruned (of those the pipeline table forgot) past this many. */
const PRUNE_AT = 2000

export interface ClusterPipelinesDeps {
  pool: Pool
  redis: Redis
  prefix: string
  registry: NodeRegistry
  locator: BufferLocator
  puller: InputPuller
  peers: PeerClient
  self: () => { name: string, url: string }
}

interface RunRecord {
  bytesPulled: number
  /** Local id of each pulled input → the id the spec named (the original's). */
  originals: Map<string, string>
}

/** The answer of the node running a pipeline, passed back to the client as it came. */
export interface Relayed {
  status: number
  body: unknown
}

function message (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Each existing buffer a spec names, with the first step naming it (for refusals). */
function bufferInputs (spec: PipelineSpec): Map<string, string> {
  const found = new Map<string, string>()
  for (const step of Array.isArray(spec.steps) ? spec.steps : []) {
    for (const input of Array.isArray(step.inputs) ? step.inputs : []) {
      if (typeof input === 'string' && !found.has(input)) found.set(input, step.id)
    }
  }
  return found
}

export class ClusterPipelines {
  readonly #deps: ClusterPipelinesDeps
  readonly #runs = new Map<string, RunRecord>()

  constructor (deps: ClusterPipelinesDeps) {
    this.#deps = deps
  }

  #key (id: string): string { return `${this.#deps.prefix}:pipeline:${id}` }
  /** The pipeline as its node last wrote it (at its start and at its end): what is left if that node is lost. */
  #recordKey (id: string): string { return `${this.#deps.prefix}:pipeline-record:${id}` }

  #record (id: string): void {
    let info: PipelineInfo
    try { info = this.decorate(this.#deps.pool.pipelines.get(id)) } catch { return }
    this.#deps.redis.set(this.#recordKey(id), JSON.stringify(info), 'EX', RECORD_TTL_S).catch(() => {})
  }

  #needRedis (): void {
    if (this.#deps.redis.status !== 'ready') throw new ApiError('CLUSTER_UNAVAILABLE')
  }

  async #nodes (): Promise<NodeEntry[]> {
    try {
      return await this.#deps.registry.list()
    } catch (err) {
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis did not answer: ${message(err)}`)
    }
  }

  /**
   * The node for a client's spec: among those up, serving every kind of its steps and not full,
   * the one holding the largest share of its existing inputs' bytes (placement.ts). The rest of
   * the spec is checked by the node that runs it (pipeline-plan.ts), whose refusal is passed back.
   */
  async place (spec: PipelineSpec): Promise<NodeEntry> {
    this.#needRedis()
    const nodes = await this.#nodes()
    const steps: StepSpec[] = Array.isArray(spec.steps) ? spec.steps : []
    // Before any lookup: a spec the plan refuses anyway costs no request to every node per input.
    if (steps.length > MAX_PIPELINE_STEPS) throw new PoolError('INVALID_PIPELINE', `a pipeline has at most ${MAX_PIPELINE_STEPS} steps; ${steps.length} given`)
    const up = nodes.filter((n) => n.state === 'up')
    for (const step of steps) {
      if (!up.some((n) => n.kinds.includes(step.kind))) {
        throw new PoolError('UNKNOWN_KIND', `step ${JSON.stringify(step.id)}: no node that is up serves the kind ${JSON.stringify(step.kind)}`)
      }
    }
    const kinds = [...new Set(steps.map((s) => s.kind))]
    if (!up.some((n) => kinds.every((k) => n.kinds.includes(k)))) {
      throw new PoolError('UNKNOWN_KIND', `No node that is up serves every kind the steps use (${kinds.join(', ')}); a pipeline runs on one node`)
    }
    const inputs = await Promise.all([...bufferInputs(spec)].map(async ([id, step]): Promise<PlacedInput> => {
      const found = await this.#deps.locator.locate(id, nodes)
      if (found === null) throw new PoolError('NOT_FOUND', `step ${JSON.stringify(step)}: no node that is up has a buffer ${JSON.stringify(id)}`)
      if (!found.info.sealed) throw new PoolError('BUFFER_NOT_SEALED', `step ${JSON.stringify(step)}: input ${id} (on node ${found.node}) is not sealed: seal it first`)
      return { id, node: found.node, size: found.info.size }
    }))
    const node = placeByBytes(nodes, kinds, inputs)
    if (node === null) throw new PoolError('QUEUE_FULL', `Every node serving ${kinds.join(', ')} has a full queue; retry later`)
    return node
  }

  /**
   * A client's submit: placed, then run here or passed on to the chosen node (its answer as it
   * came). A `?wait` is then held as a GET of the pipeline there, so that a shutdown (`closing`)
   * cuts it as it cuts local waits, without losing the answer of the submit itself.
   */
  async submit (spec: PipelineSpec, waitMs: number, closing: AbortSignal): Promise<{ here: PipelineInfo } | { relayed: Relayed }> {
    const node = await this.place(spec)
    if (node.name === this.#deps.self().name) return { here: await this.runHere(spec) }
    let submitted: Relayed
    try {
      submitted = await this.#deps.peers.relay('POST', node.url, '/v1/pipelines', { body: spec, timeoutMs: RELAY_SUBMIT_MS })
    } catch (err) {
      throw new ApiError('NODE_UNREACHABLE', `Node ${node.name} (${node.url}), chosen for the pipeline, did not answer: ${message(err)}`)
    }
    const id = (submitted.body as { id?: unknown } | null)?.id
    if (waitMs <= 0 || submitted.status !== 201 || typeof id !== 'string') return { relayed: submitted }
    try {
      const waited = await this.#relayGet(node, id, waitMs, closing)
      const state = (waited.body as { state?: unknown } | null)?.state
      if (waited.status === 200) return { relayed: { status: state === 'running' ? 201 : 200, body: waited.body } }
    } catch { /* it runs there all the same: the submit's answer says where */ }
    return { relayed: submitted }
  }

  /**
   * Runs a spec on this node (placed here, or passed on by the node that placed it): pulls every
   * existing input held elsewhere (sha256-checked, kept as replicas), then creates the pipeline on
   * the local pool over the local ids. A failed pull refuses the pipeline with its code, before
   * anything is created.
   */
  async runHere (spec: PipelineSpec): Promise<PipelineInfo> {
    this.#needRedis()
    const { pool, puller, locator } = this.#deps
    const local = new Map<string, string>()
    let bytesPulled = 0
    let info: PipelineInfo
    try {
      let nodes: NodeEntry[] | null = null
      for (const [id, step] of bufferInputs(spec)) {
        if (pool.store.has(id)) continue
        nodes ??= await this.#nodes()
        const found = await locator.locate(id, nodes)
        if (found === null) throw new PoolError('NOT_FOUND', `step ${JSON.stringify(step)}: no node that is up has a buffer ${JSON.stringify(id)}`)
        if (!found.info.sealed) throw new PoolError('BUFFER_NOT_SEALED', `step ${JSON.stringify(step)}: input ${id} (on node ${found.node}) is not sealed: seal it first`)
        const pulled = await puller.pull({ name: found.node, url: found.url }, id)
        // Pinned at once: a later pull (of this pipeline or another) must not evict it.
        puller.replicas.pin(id)
        local.set(id, pulled.local)
        bytesPulled += pulled.pulled
      }
      info = pool.pipelines.create(localSpec(spec, local))
    } catch (err) {
      for (const id of local.keys()) puller.replicas.unpin(id)
      if (err instanceof PullError) throw new ApiError(err.code, err.message)
      throw err
    }
    const ended = (): void => {
      for (const id of local.keys()) puller.replicas.unpin(id)
      // Kept a day after it ends, as job records are (a long pipeline outlives the first TTL).
      this.#deps.redis.set(this.#key(info.id), this.#deps.self().name, 'EX', RECORD_TTL_S).catch(() => {})
      this.#record(info.id)
    }
    pool.pipelines.wait(info.id, Infinity).then(ended, ended)
    this.#remember(info.id, { bytesPulled, originals: new Map([...local].map(([original, id]) => [id, original])) })
    try {
      await this.#deps.redis.set(this.#key(info.id), this.#deps.self().name, 'EX', RECORD_TTL_S)
    } catch (err) {
      // Unlisted, no other node could find it: it does not run at all.
      try { pool.pipelines.cancel(info.id) } catch { /* ended already */ }
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis refused the pipeline's directory entry, so it was cancelled: ${message(err)}`)
    }
    this.#record(info.id)
    return this.decorate(pool.pipelines.get(info.id))
  }

  #remember (id: string, record: RunRecord): void {
    this.#runs.set(id, record)
    if (this.#runs.size <= PRUNE_AT) return
    for (const known of this.#runs.keys()) {
      try { this.#deps.pool.pipelines.get(known) } catch { this.#runs.delete(known) }
    }
  }

  /** A pipeline of this node's pool as the cluster shows it: its node, its bytes pulled, the inputs' original ids. */
  decorate (info: PipelineInfo): PipelineInfo {
    const run = this.#runs.get(info.id)
    const node = this.#deps.self().name
    if (run === undefined || run.originals.size === 0) return { ...info, node, bytesPulled: run?.bytesPulled ?? 0 }
    const original = (input: PipelineInfo['steps'][number]['inputs'][number]): typeof input =>
      typeof input === 'string' ? run.originals.get(input) ?? input : input
    return { ...info, steps: info.steps.map((step) => ({ ...step, inputs: step.inputs.map(original) })), node, bytesPulled: run.bytesPulled }
  }

  /**
   * The node running a pipeline this node does not hold, from the directory; null: none. A node
   * that is lost (or no longer registered) comes back as `lost`, with its entry when there is one.
   */
  async #owner (id: string): Promise<{ up: NodeEntry } | { lost: string, entry: NodeEntry | undefined } | null> {
    this.#needRedis()
    let name: string | null
    try {
      name = await this.#deps.redis.get(this.#key(id))
    } catch (err) {
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis did not answer: ${message(err)}`)
    }
    if (name === null || name === this.#deps.self().name) return null
    const node = (await this.#nodes()).find((n) => n.name === name)
    return node !== undefined && node.state === 'up' ? { up: node } : { lost: name, entry: node }
  }

  /**
   * A pipeline whose node was lost, as jobs are: ended as its node last recorded it, or, if it was
   * still running then, `failed` with NODE_LOST on every step not finished (their jobs were that
   * node's and went with it).
   */
  async #lostPipeline (id: string, node: string, entry: NodeEntry | undefined): Promise<PipelineInfo> {
    let text: string | null
    try {
      text = await this.#deps.redis.get(this.#recordKey(id))
    } catch (err) {
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis did not answer: ${message(err)}`)
    }
    if (text === null) throw new ApiError('NODE_UNREACHABLE', `Pipeline ${id} ran on node ${node}, which is lost, and no record of it was kept`)
    const last = JSON.parse(text) as PipelineInfo
    if (last.state !== 'running') return last
    const seen = entry === undefined ? 0 : Date.parse(entry.lastSeen)
    const lostAt = seen > 0 ? entry!.lastSeen : new Date().toISOString()
    const why = `Node ${node}, which ran the pipeline, was lost${seen > 0 ? ` (last seen ${lostAt})` : ''}; its unfinished steps went with it`
    const open = (step: PipelineInfo['steps'][number]): boolean => !STEP_TERMINAL.has(step.state)
    const first = last.steps.find(open) ?? last.steps[0]
    return {
      ...last,
      state: 'failed',
      finishedAt: lostAt,
      error: { code: 'NODE_LOST', message: why, step: first.id },
      steps: last.steps.map((step) => open(step) ? { ...step, state: 'failed', error: { code: 'NODE_LOST', message: why } } : step)
    }
  }

  /** GET of a pipeline held elsewhere, passed on to its node (`?wait` included; `closing` cuts the wait). */
  async get (id: string, waitMs: number, closing: AbortSignal): Promise<Relayed | null> {
    const found = await this.#owner(id)
    if (found === null) return null
    if ('lost' in found) return { status: 200, body: await this.#lostPipeline(id, found.lost, found.entry) }
    const owner = found.up
    try {
      return await this.#relayGet(owner, id, waitMs, closing)
    } catch (err) {
      throw new ApiError('NODE_UNREACHABLE', `Node ${owner.name} (${owner.url}), running pipeline ${id}, did not answer: ${message(err)}`)
    }
  }

  async #relayGet (owner: NodeEntry, id: string, waitMs: number, closing: AbortSignal): Promise<Relayed> {
    const path = `/v1/pipelines/${encodeURIComponent(id)}`
    if (waitMs > 0 && !closing.aborted) {
      try {
        return await this.#deps.peers.relay('GET', owner.url, `${path}?wait=${waitMs}`, { timeoutMs: waitMs + PEER_TIMEOUT_MS, signal: closing })
      } catch (err) {
        // Shutting down: answer with the state now, as a local wait does.
        if (!closing.aborted) throw err
      }
    }
    return await this.#deps.peers.relay('GET', owner.url, path)
  }

  /** Cancel of a pipeline held elsewhere, passed on to its node. */
  async cancel (id: string): Promise<Relayed | null> {
    const found = await this.#owner(id)
    if (found === null) return null
    if ('lost' in found) {
      const ended = await this.#lostPipeline(id, found.lost, found.entry)
      throw new PoolError('PIPELINE_FINISHED', `Pipeline ${id} already ${ended.state}${ended.error?.code === 'NODE_LOST' ? ` (${ended.error.message})` : ''}`)
    }
    const owner = found.up
    try {
      return await this.#deps.peers.relay('POST', owner.url, `/v1/pipelines/${encodeURIComponent(id)}/cancel`)
    } catch (err) {
      throw new ApiError('NODE_UNREACHABLE', `Node ${owner.name} (${owner.url}), running pipeline ${id}, did not answer: ${message(err)}`)
    }
  }
}

/** The spec with each pulled input named by its local replica's id. */
function localSpec (spec: PipelineSpec, local: Map<string, string>): PipelineSpec {
  if (local.size === 0) return spec
  return {
    ...spec,
    steps: spec.steps.map((step) => Array.isArray(step.inputs)
      ? { ...step, inputs: step.inputs.map((input) => typeof input === 'string' ? local.get(input) ?? input : input) }
      : step)
  }
}
