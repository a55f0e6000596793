// Jobs across the cluster, through BullMQ: one queue per node (`node.NAME`), a BullMQ Worker on
// each node taking its own queue's jobs into its local pool (pool.enqueue, so backpressure and
// limits stay the pool's), and a small directory in Redis saying which queue holds a job now
// (a job moves when its node is lost). BullMQ keeps the job records; this file only maps them to
// the REST Job shape.
import { Job, Queue, Worker } from 'bullmq'
import type { Redis } from 'ioredis'
import { ApiError } from '../errors'
import { newId } from '../pool/ids'
import type { Pool } from '../pool/pool'
import { PoolError } from '../pool/pool-error'
import type { JobInfo, JobSpec } from '../pool/types'
import { lostMessage, type BufferLocator } from './buffer-locator'
import { type ClusterJobData, failedJob, finishedJob, pendingJob } from './cluster-job'
import { PullError, type InputPuller } from './input-puller'
import type { NodeEntry, NodeRegistry } from './node-registry'
import { placeJob, type PlacedInput } from './placement'

/** Job records (BullMQ's and the directory's) are kept this long after they end. */
const RECORD_TTL_S = 24 * 3600

export interface ClusterJobsDeps {
  pool: Pool
  redis: Redis
  workerRedis: Redis
  prefix: string
  registry: NodeRegistry
  locator: BufferLocator
  puller: InputPuller
  self: () => { name: string, url: string }
  /** Called with every job placed and where its inputs were, for the event stream. */
  placed?: (job: JobInfo, inputs: PlacedInput[]) => void
}

function isTerminal (job: JobInfo): boolean {
  return job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled'
}

export class ClusterJobs {
  readonly #deps: ClusterJobsDeps
  readonly #queues = new Map<string, Queue>()
  #worker: Worker | null = null
  /** Local pool job ids of the cluster jobs running here, and the promises of their processors. */
  readonly #running = new Map<Promise<JobInfo>, string | null>()
  /** Cluster id → local pool id of the jobs running here (for cancel). */
  readonly #localIds = new Map<string, string>()

  constructor (deps: ClusterJobsDeps) {
    this.#deps = deps
  }

  queueName (node: string): string { return `node.${node}` }

  queue (node: string): Queue {
    let queue = this.#queues.get(node)
    if (queue === undefined) {
      queue = new Queue(this.queueName(node), { connection: this.#deps.redis, prefix: this.#deps.prefix })
      // A queue's connection errors are the registry's to report (503s); not unhandled events.
      queue.on('error', () => {})
      this.#queues.set(node, queue)
    }
    return queue
  }

  #directoryKey (id: string): string { return `${this.#deps.prefix}:job:${id}` }
  #finalKey (id: string): string { return `${this.#deps.prefix}:job-final:${id}` }

  /** Starts taking this node's queue's jobs; `concurrency` bounds how many run here at once. */
  start (concurrency: number): void {
    const self = this.#deps.self()
    this.#worker = new Worker<ClusterJobData, JobInfo>(this.queueName(self.name), async (job) => await this.#track(job), {
      connection: this.#deps.workerRedis,
      prefix: this.#deps.prefix,
      concurrency,
      autorun: true
    })
    this.#worker.on('error', () => {})
  }

  /** Validates, places and queues a job; returns it queued (with the node it was placed on). */
  async submit (spec: JobSpec): Promise<JobInfo> {
    if (this.#deps.redis.status !== 'ready') throw new ApiError('CLUSTER_UNAVAILABLE')
    let nodes: NodeEntry[]
    try { nodes = await this.#deps.registry.list() } catch { throw new ApiError('CLUSTER_UNAVAILABLE') }
    const serving = nodes.filter((n) => n.state === 'up' && n.kinds.includes(spec.kind))
    if (serving.length === 0) throw new PoolError('UNKNOWN_KIND', `No node that is up serves the kind ${JSON.stringify(spec.kind)}`)
    // The params are checked here when this node serves the kind; otherwise by the node that runs it.
    const params = this.#deps.pool.kinds().some((k) => k.name === spec.kind) ? this.#deps.pool.checkParams(spec.kind, spec.params ?? {}) : spec.params
    const inputs = await this.#locateInputs(spec.inputs ?? [], nodes)
    const node = placeJob(nodes, spec.kind, inputs)
    if (node === null) throw new PoolError('QUEUE_FULL', `Every node serving ${JSON.stringify(spec.kind)} has a full queue; retry later`)
    const data: ClusterJobData = { id: newId('job'), spec: { ...spec, ...(params === undefined ? {} : { params }) }, inputs, queuedAt: new Date().toISOString(), attempt: 1 }
    await this.#enqueueOn(node.name, data)
    const job = pendingJob(data, node.name, 'queued')
    this.#deps.placed?.(job, inputs)
    return job
  }

  async #locateInputs (ids: string[], nodes: NodeEntry[]): Promise<PlacedInput[]> {
    return await Promise.all(ids.map(async (id) => {
      // A lost input refuses the job at once (410 BUFFER_LOST, as GET /v1/buffers/:id answers):
      // queuing it only to fail INPUT_LOST would report later what is already known.
      const found = await this.#deps.locator.locate(id, nodes)
      if (found === null) throw new PoolError('NOT_FOUND', `No node that is up has a buffer ${id}`)
      if (!found.info.sealed) throw new PoolError('BUFFER_NOT_SEALED', `Buffer ${id} (on node ${found.node}) is not sealed; seal it first`)
      return { id, node: found.node, size: found.info.size }
    }))
  }

  async #enqueueOn (node: string, data: ClusterJobData): Promise<void> {
    try {
      await this.#deps.redis.set(this.#directoryKey(data.id), node, 'EX', RECORD_TTL_S)
      await this.queue(node).add('job', data, { jobId: data.id, removeOnComplete: { age: RECORD_TTL_S }, removeOnFail: { age: RECORD_TTL_S } })
    } catch (err) {
      if (err instanceof ApiError) throw err
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis refused the job: ${(err as Error).message}`)
    }
  }

  /** Re-places a job whose node was lost (failover.ts). */
  async replace (data: ClusterJobData, from: string, nodes: NodeEntry[]): Promise<JobInfo> {
    const inputs: PlacedInput[] = []
    // `from` is lost in `nodes`: the directory then names it as the owner of its buffers, and only
    // a replica on a node that is up keeps such an input alive.
    const view = nodes.map((n) => n.name === from && n.state === 'up' ? { ...n, state: 'lost' as const } : n)
    for (const input of data.inputs) {
      const where = await this.#deps.locator.find(input.id, view)
      if (where.state !== 'found') {
        const why = where.state === 'lost' ? lostMessage(input.id, where) : where.state === 'unreachable' ? `Buffer ${input.id} is on node ${where.node}, which does not answer` : `Buffer ${input.id} is on no node that is up`
        return await this.finish(data, from, 'INPUT_LOST', `${why}; node ${from} was lost before the job ran`)
      }
      inputs.push({ id: input.id, node: where.at.node, size: where.at.info.size })
    }
    const node = placeJob(nodes.filter((n) => n.name !== from), data.spec.kind, inputs)
    if (node === null) return await this.finish(data, from, 'NODE_LOST', `Node ${from} was lost and no other node serving ${data.spec.kind} has room`)
    const moved = { ...data, inputs }
    await this.#enqueueOn(node.name, moved)
    const job = pendingJob(moved, node.name, 'queued')
    this.#deps.placed?.(job, inputs)
    return job
  }

  /** Ends a job outside any queue (its node is gone): the directory keeps its failure. */
  async finish (data: ClusterJobData, node: string, code: string, message: string): Promise<JobInfo> {
    const job = failedJob(data, node, code, message)
    await this.#deps.redis.set(this.#finalKey(data.id), JSON.stringify(job), 'EX', RECORD_TTL_S)
    return job
  }

  /** The job as it stands, from Redis; null when the cluster never had it. */
  async get (id: string): Promise<JobInfo | null> {
    if (this.#deps.redis.status !== 'ready') throw new ApiError('CLUSTER_UNAVAILABLE')
    try {
      const [final, first] = await Promise.all([this.#deps.redis.get(this.#finalKey(id)), this.#deps.redis.get(this.#directoryKey(id))])
      if (final !== null) return JSON.parse(final) as JobInfo
      let node = first
      if (node === null) return null
      let job = await Job.fromId<ClusterJobData, JobInfo>(this.queue(node), id)
      if (job === undefined) {
        // Moved (failover) between the two reads: the directory names its new queue now.
        const now = await this.#deps.redis.get(this.#directoryKey(id))
        const final2 = await this.#deps.redis.get(this.#finalKey(id))
        if (final2 !== null) return JSON.parse(final2) as JobInfo
        if (now === null || now === node) return null
        job = await Job.fromId<ClusterJobData, JobInfo>(this.queue(now), id)
        if (job === undefined) return null
        node = now
      }
      const state = await job.getState()
      if (state === 'completed') {
        // The hash may have been read just before the job finished: its return value is then
        // missing from this copy, not from Redis.
        if (job.returnvalue !== null && job.returnvalue !== undefined) return job.returnvalue
        const fresh = await Job.fromId<ClusterJobData, JobInfo>(this.queue(node), id)
        return fresh?.returnvalue ?? pendingJob(job.data, node, 'running')
      }
      if (state === 'failed' && (job.failedReason === undefined || job.failedReason === '')) {
        const fresh = await Job.fromId<ClusterJobData, JobInfo>(this.queue(node), id)
        return failedJob(job.data, node, 'HANDLER_ERROR', fresh?.failedReason ?? 'the job failed on its node')
      }
      if (state === 'failed') return failedJob(job.data, node, 'HANDLER_ERROR', job.failedReason ?? 'the job failed on its node')
      if (state === 'active') {
        const progress = job.progress as { startedAt?: string } | number
        return pendingJob(job.data, node, 'running', typeof progress === 'object' ? progress.startedAt ?? null : null)
      }
      return pendingJob(job.data, node, 'queued')
    } catch (err) {
      if (err instanceof ApiError) throw err
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis did not answer: ${(err as Error).message}`)
    }
  }

  /**
   * Cancels a cluster job: a queued one leaves its queue and is recorded cancelled; one running
   * here is cancelled in the local pool (its record follows when it stops); one running on
   * another node is cancelled there (the request is passed on). null: no such job.
   */
  async cancel (id: string, peers: { post: (url: string, path: string) => Promise<{ status: number, body: unknown }> }): Promise<JobInfo | null> {
    const job = await this.get(id)
    if (job === null) return null
    if (isTerminal(job)) throw new PoolError('JOB_FINISHED', `Job ${id} has already ${job.state}`)
    const node = job.node ?? ''
    const self = this.#deps.self()
    if (node === self.name) {
      const localId = this.#localIds.get(id)
      if (localId !== undefined) {
        this.#deps.pool.cancel(localId)
        return (await this.wait(id, 2000, new AbortController().signal)) ?? job
      }
    }
    if (job.state === 'queued') {
      const queued = await Job.fromId<ClusterJobData, JobInfo>(this.queue(node), id)
      if (queued !== undefined) {
        try {
          await queued.remove()
          const cancelled: JobInfo = { ...job, state: 'cancelled', error: { code: 'CANCELLED', message: 'Cancelled while queued' }, finishedAt: new Date().toISOString() }
          await this.#deps.redis.set(this.#finalKey(id), JSON.stringify(cancelled), 'EX', RECORD_TTL_S)
          return cancelled
        } catch { /* taken by its node meanwhile: cancel it there */ }
      }
    }
    const owner = (await this.#deps.registry.list()).find((n) => n.name === node && n.state === 'up')
    if (owner === undefined || owner.name === self.name) return await this.get(id)
    const answer = await peers.post(owner.url, `/v1/jobs/${encodeURIComponent(id)}/cancel`)
    return answer.status === 200 ? answer.body as JobInfo : await this.get(id)
  }

  /** Polls until the job ends or `ms` pass (or `cut` fires: a shutdown), with its state then. */
  async wait (id: string, ms: number, cut: AbortSignal): Promise<JobInfo | null> {
    const deadline = Date.now() + ms
    let pause = 5
    for (;;) {
      const job = await this.get(id)
      if (job === null || isTerminal(job) || Date.now() >= deadline || cut.aborted) return job
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))))
      pause = Math.min(pause * 2, 100)
    }
  }

  async #track (job: Job<ClusterJobData, JobInfo>): Promise<JobInfo> {
    let done: Promise<JobInfo> | null = null
    done = this.#run(job, (localId) => {
      if (done !== null) this.#running.set(done, localId)
      this.#localIds.set(job.data.id, localId)
    })
    this.#running.set(done, null)
    try {
      return await done
    } finally {
      this.#running.delete(done)
      this.#localIds.delete(job.data.id)
    }
  }

  /** Runs one of this node's queue's jobs on the local pool, pulling inputs held elsewhere. */
  async #run (job: Job<ClusterJobData, JobInfo>, started: (localId: string) => void): Promise<JobInfo> {
    const data = job.data
    const self = this.#deps.self()
    const { pool, puller } = this.#deps
    await job.updateProgress({ startedAt: new Date().toISOString() })
    let bytesPulled = 0
    const local: string[] = []
    let nodes: NodeEntry[] | null = null
    try {
      for (const input of data.inputs) {
        if (pool.store.has(input.id)) {
          local.push(input.id)
          continue
        }
        nodes ??= await this.#deps.registry.list()
        const placed = nodes.find((n) => n.name === input.node && n.state === 'up')
        let from: { name: string, url: string }
        if (placed !== undefined) {
          from = { name: placed.name, url: placed.url }
        } else {
          const where = await this.#deps.locator.find(input.id, nodes)
          if (where.state === 'lost') throw new PullError('INPUT_LOST', lostMessage(input.id, where))
          if (where.state !== 'found') throw new PullError('INPUT_LOST', `Input ${input.id} is on no node that is up`)
          from = { name: where.at.node, url: where.at.url }
        }
        const pulled = await puller.pull(from, input.id)
        bytesPulled += pulled.pulled
        local.push(pulled.local)
      }
    } catch (err) {
      if (err instanceof PullError) return failedJob(data, self.name, err.code, err.message)
      if (err instanceof PoolError) return failedJob(data, self.name, err.code, err.message)
      throw err
    }
    let enqueued: JobInfo
    try {
      enqueued = pool.enqueue({ ...data.spec, inputs: local })
    } catch (err) {
      if (err instanceof PoolError) return failedJob(data, self.name, err.code, err.message)
      throw err
    }
    started(enqueued.id)
    const done = await pool.wait(enqueued.id, Infinity)
    return finishedJob(done, data, self.name, bytesPulled)
  }

  /**
   * Moves each waiting job of a lost node's queue: `move` places it again (or ends it) first, then
   * it leaves the old queue, so that a reader always finds it in one of the two.
   */
  async moveWaiting (node: string, move: (data: ClusterJobData) => Promise<void>): Promise<number> {
    const jobs = await this.queue(node).getJobs(['waiting', 'prioritized', 'delayed'])
    for (const job of jobs) {
      await move(job.data)
      try { await job.remove() } catch { /* already gone */ }
    }
    return jobs.length
  }

  async activeOn (node: string): Promise<ClusterJobData[]> {
    const jobs = await this.queue(node).getJobs(['active'])
    return jobs.map((j) => j.data)
  }

  async waitingCount (node: string): Promise<number> {
    return await this.queue(node).getWaitingCount()
  }

  /**
   * Stops taking jobs; those running here get `graceMs` to finish, then are cancelled (their
   * records say so: the local pool closes next and would cancel them anyway, but the BullMQ
   * worker must see them end before it can close). Then closes the queues.
   */
  async close (graceMs: number): Promise<void> {
    const worker = this.#worker
    if (worker !== null) {
      await worker.pause(true).catch(() => {})
      const all = Promise.allSettled([...this.#running.keys()])
      let timer: NodeJS.Timeout | undefined
      await Promise.race([all, new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })])
      clearTimeout(timer)
      for (const localId of this.#running.values()) {
        if (localId === null) continue
        try { this.#deps.pool.cancel(localId) } catch { /* finished meanwhile */ }
      }
      await all
      await worker.close()
    }
    await Promise.all([...this.#queues.values()].map(async (q) => { await q.close() }))
  }
}
