// This server as a member of a cluster: its Redis connections, its heartbeat in the registry,
// the BullMQ queue it serves, and the parts that find, pull and hash buffers. Made by the
// cluster plugin (server/plugins/cluster.ts) only when --cluster is given, and started once the
// server listens (its URL needs the port).
import os from 'node:os'
import type { Redis } from 'ioredis'
import { ApiError } from '../errors'
import type { Pool } from '../pool/pool'
import type { JobInfo } from '../pool/types'
import { BufferDigests } from './buffer-digest'
import { BufferDirectory } from './buffer-directory'
import { BufferLocator } from './buffer-locator'
import { ClusterEvents } from './cluster-events'
import { ClusterJobs } from './cluster-jobs'
import { ClusterPipelines } from './cluster-pipelines'
import { DEFAULT_LOST_AFTER_MS, type ClusterOptions } from './cluster-options'
import { Failover } from './failover'
import { InputPuller } from './input-puller'
import { NodeRegistry, type NodeEntry, type NodeReport } from './node-registry'
import { PeerClient } from './peer-client'
import type { PlacedInput } from './placement'
import { commandConnection, workerConnection } from './redis-connection'

export interface ClusterLog {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
}

export class ClusterNode {
  readonly #pool: Pool
  readonly #options: ClusterOptions
  readonly #log: ClusterLog
  readonly lostAfterMs: number
  readonly prefix: string
  #name = ''
  #url = ''
  #redis: Redis | null = null
  #workerRedis: Redis | null = null
  #subscriber: Redis | null = null
  #onDeleted: ((event: { id: string }) => void) | null = null
  #timer: NodeJS.Timeout | null = null
  #beating = false
  #registry: NodeRegistry | null = null
  #jobs: ClusterJobs | null = null
  #pipelines: ClusterPipelines | null = null
  #failover: Failover | null = null
  #peers: PeerClient | null = null
  #directory: BufferDirectory | null = null
  readonly digests: BufferDigests
  /** Bytes of buffer content sent to each peer (its pulls and proxied reads). */
  readonly servedTo = new Map<string, number>()
  #locator: BufferLocator | null = null
  #puller: InputPuller | null = null
  readonly #placedListeners: Array<(job: JobInfo, inputs: PlacedInput[]) => void> = []
  /** `cluster.node` and `job.placed` for this node's event stream (the event hub listens). */
  readonly events = new ClusterEvents()

  constructor (pool: Pool, options: ClusterOptions, log: ClusterLog) {
    this.#pool = pool
    this.#options = options
    this.#log = log
    this.lostAfterMs = options.lostAfterMs ?? DEFAULT_LOST_AFTER_MS
    this.prefix = options.prefix ?? 'memfd-pool'
    this.digests = new BufferDigests(pool.store)
    this.onPlaced((job, inputs) => { this.events.placed(job, inputs) })
  }

  get name (): string { return this.#name }
  get url (): string { return this.#url }
  get started (): boolean { return this.#redis !== null }
  /** True while Redis answers: new cluster jobs are refused (503) otherwise. */
  get available (): boolean { return this.#redis?.status === 'ready' }

  get jobs (): ClusterJobs { return this.#need(this.#jobs) }
  get pipelines (): ClusterPipelines { return this.#need(this.#pipelines) }
  get locator (): BufferLocator { return this.#need(this.#locator) }
  get puller (): InputPuller { return this.#need(this.#puller) }

  #need<T> (part: T | null): T {
    if (part === null) throw new ApiError('CLUSTER_UNAVAILABLE', 'This node has not joined its cluster yet')
    return part
  }

  /** Headers for a request to another node (the cluster token, the peer mark). */
  peerHeaders (extra: Record<string, string> = {}): Record<string, string> { return this.#need(this.#peers).headers(extra) }

  /** Cancels a cluster job wherever it is (null: no such job). */
  async cancelJob (id: string): Promise<JobInfo | null> {
    const peers = this.#need(this.#peers)
    return await this.jobs.cancel(id, { post: async (url, path) => await peers.post(url, path) })
  }

  onPlaced (listener: (job: JobInfo, inputs: PlacedInput[]) => void): void { this.#placedListeners.push(listener) }

  /** Joins: `port` and `host` are where this server listens, for the default name and URL. */
  start (listening: { host: string, port: number }): void {
    const host = listening.host === '0.0.0.0' || listening.host === '::' ? os.hostname() : listening.host
    this.#name = this.#options.nodeName ?? `${os.hostname()}-${listening.port}`
    this.#url = this.#options.advertise ?? `http://${host.includes(':') ? `[${host}]` : host}:${listening.port}`
    this.events.setSelf(this.#name)
    this.#redis = commandConnection(this.#options.redisUrl)
    this.#workerRedis = workerConnection(this.#options.redisUrl)
    let wasReady = false
    this.#redis.on('error', (err: Error) => {
      if (wasReady) this.#log.warn({ component: 'cluster', err: err.message }, 'Redis connection lost: new cluster jobs are refused until it is back')
      wasReady = false
    })
    this.#redis.on('ready', () => {
      wasReady = true
      this.#log.info({ component: 'cluster', node: this.#name }, 'connected to the cluster\'s Redis')
      // First connection: drops what an earlier process of this name left; later ones: writes what
      // was missed while Redis was away (buffer-directory.ts).
      void this.#directory?.resync()
      void this.#beat()
    })
    this.#workerRedis.on('error', () => {})
    const self = (): { name: string, url: string } => ({ name: this.#name, url: this.#url })
    this.#registry = new NodeRegistry(this.#redis, this.prefix, this.lostAfterMs)
    this.#peers = new PeerClient(this.#name, this.#options.token)
    this.#puller = new InputPuller(this.#pool.store, this.#peers)
    const replicas = this.#puller.replicas
    const directory = new BufferDirectory(this.#redis, this.#pool.store, this.prefix, this.#name, (local) => replicas.isReplica(local))
    this.#directory = directory
    this.#locator = new BufferLocator(this.#pool.store, this.#peers, self, (id) => replicas.info(id), async (id) => await directory.owner(id))
    this.#jobs = new ClusterJobs({
      pool: this.#pool,
      redis: this.#redis,
      workerRedis: this.#workerRedis,
      prefix: this.prefix,
      registry: this.#registry,
      locator: this.#locator,
      puller: this.#puller,
      self,
      placed: (job, inputs) => { for (const l of this.#placedListeners) l(job, inputs) }
    })
    this.#pipelines = new ClusterPipelines({
      pool: this.#pool,
      redis: this.#redis,
      prefix: this.prefix,
      registry: this.#registry,
      locator: this.#locator,
      puller: this.#puller,
      peers: this.#peers,
      self
    })
    this.#listenForDeletions(replicas)
    this.#failover = new Failover(this.#redis, this.#jobs, this.prefix, this.#name, this.lostAfterMs)
    // Enough jobs taken from the queue to keep every thread busy and one more queued behind each;
    // the rest wait in BullMQ, where a lost node's share can still be moved.
    const { workers, threadsPerWorker } = this.#pool.options
    this.#jobs.start(Math.max(1, workers * threadsPerWorker * 2))
    this.#timer = setInterval(() => { void this.#beat() }, Math.max(50, Math.floor(this.lostAfterMs / 4)))
    this.#timer.unref()
  }

  /**
   * Replicas go when their original does: each node publishes the deletion of its own buffers,
   * and every node drops its replica of one. A deletion published while a node is away from Redis
   * is missed; that replica then stays until memory pressure evicts it (docs/CLUSTER.md).
   */
  #listenForDeletions (replicas: InputPuller['replicas']): void {
    const channel = `${this.prefix}:buffer-deleted`
    const redis = this.#need(this.#redis)
    this.#subscriber = workerConnection(this.#options.redisUrl)
    this.#subscriber.on('error', () => {})
    this.#subscriber.subscribe(channel).catch(() => {})
    this.#subscriber.on('message', (_channel: string, id: string) => { replicas.forget(id) })
    this.#onDeleted = ({ id }) => {
      if (replicas.isReplica(id) || redis.status !== 'ready') return
      redis.publish(channel, id).catch(() => {})
    }
    this.#pool.store.on('buffer.deleted', this.#onDeleted)
  }

  async #report (): Promise<NodeReport> {
    const stats = this.#pool.stats()
    const waiting = await this.jobs.waitingCount(this.#name)
    return {
      name: this.#name,
      url: this.#url,
      workers: stats.workers,
      kinds: this.#pool.kinds().map((k) => k.name),
      memoryInUse: stats.bytesInUse,
      maxMemory: stats.quotaBytes,
      buffers: this.#pool.store.count - this.#need(this.#puller).replicas.held,
      queued: stats.queueDepth + waiting,
      running: stats.running,
      maxQueue: stats.maxQueue,
      pulledBytes: [...this.puller.pulledFrom.values()].reduce((a, b) => a + b, 0),
      servedBytes: [...this.servedTo.values()].reduce((a, b) => a + b, 0)
    }
  }

  async #beat (): Promise<void> {
    if (this.#beating || !this.available) return
    this.#beating = true
    try {
      await this.#need(this.#registry).beat(await this.#report())
      if (this.#need(this.#directory).stale) await this.#need(this.#directory).resync()
      const nodes = await this.#need(this.#registry).list()
      this.events.observe(nodes)
      const moved = await this.#need(this.#failover).sweep(nodes)
      if (moved > 0) this.#log.info({ component: 'cluster', jobs: moved }, 'jobs of a lost node placed again or ended')
    } catch (err) {
      this.#log.warn({ component: 'cluster', err: (err as Error).message }, 'cluster heartbeat failed')
    } finally {
      this.#beating = false
    }
  }

  async nodes (): Promise<NodeEntry[]> {
    if (!this.available) throw new ApiError('CLUSTER_UNAVAILABLE')
    try {
      return await this.#need(this.#registry).list()
    } catch (err) {
      throw new ApiError('CLUSTER_UNAVAILABLE', `Redis did not answer: ${(err as Error).message}`)
    }
  }

  /**
   * Leaves the cluster: stops taking jobs (running ones get `graceMs`, then are cancelled), says
   * in the registry that it is gone (its queued jobs move at once), disconnects.
   */
  async close (graceMs: number): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    if (this.#redis === null) return
    try { await this.#jobs?.close(graceMs) } catch { /* Redis away: nothing to tell it */ }
    if (this.available) {
      try { await this.#need(this.#registry).leave(await this.#report()) } catch { /* as above */ }
    }
    if (this.#onDeleted !== null) this.#pool.store.off('buffer.deleted', this.#onDeleted)
    this.#directory?.close()
    this.#redis.disconnect()
    this.#workerRedis?.disconnect()
    this.#subscriber?.disconnect()
  }
}
