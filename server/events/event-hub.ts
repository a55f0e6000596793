// Fans the pool's events (and, with --cluster, the cluster's: cluster-feed below) out to every
// /v1/events subscriber. Each event is serialized once,
// whatever the number of clients, and pushed to each client's bounded queue (event-client.ts);
// the pool's synchronous emit never waits for a socket.
//
// A new subscriber gets its snapshot in the same tick as it is added to the set, so it sees
// every event after the state the snapshot shows, and none twice. The snapshot is bounded
// (snapshot.ts), and its bytes are shared by every subscriber that connects before the next
// event, so a crowd of new subscribers costs one copy, not one each.
import type { WebSocket } from 'ws'
import type { Pool } from '../pool/pool'
import type { PoolEvent, PoolStats } from '../pool/types'
import { DEFAULT_LIMITS, EventClient, type OutgoingLimits } from './event-client'
import { buildSnapshot, DEFAULT_SNAPSHOT_LIMITS, type ClusterSnapshot, type SnapshotLimits } from './snapshot'
import { StatsHistory } from './stats-history'
import { matches, type EventFilter } from './topics'

/**
 * The cluster's side of the stream (server/cluster/cluster-events.ts), so that the hub knows
 * nothing of Redis or BullMQ: its events (`cluster.node`, `job.placed`) are fanned out like the
 * pool's, and its view of the nodes is the snapshot's `cluster`.
 */
export interface ClusterFeed {
  on: (event: 'event', listener: (event: PoolEvent) => void) => unknown
  off: (event: 'event', listener: (event: PoolEvent) => void) => unknown
  view: () => ClusterSnapshot
}

/** RFC 6455 §7.4.1: 1001, "going away", e.g. a server going down. */
export const CLOSE_GOING_AWAY = 1001
/** 1013, "try again later" (IANA's WebSocket close code registry): the subscriber limit is reached. */
export const CLOSE_TRY_AGAIN_LATER = 1013

/**
 * Subscribers at once by default. Each one that stops reading may cost the server its queue
 * (1 MiB) and bytes in flight (256 KiB): 100 of them, ~125 MiB at worst.
 */
export const DEFAULT_MAX_SUBSCRIBERS = 100

export interface EventHubOptions {
  /** Subscribers at once; one more is closed with 1013 and a reason (default 100). */
  maxSubscribers?: number
  limits?: Partial<OutgoingLimits>
  snapshot?: Partial<SnapshotLimits>
  /** Ping every this often; a client that has not answered the previous ping is dropped (default 30 s). */
  heartbeatMs?: number
  /** At close, how long clients get to answer the close frame before their sockets are destroyed (default 1 s). */
  closeTimeoutMs?: number
}

export class EventHub {
  readonly maxSubscribers: number
  readonly #pool: Pool
  readonly #cluster: ClusterFeed | null
  readonly #limits: OutgoingLimits
  readonly #snapshotLimits: SnapshotLimits
  readonly #closeTimeoutMs: number
  readonly #clients = new Set<EventClient>()
  readonly #heartbeat: NodeJS.Timeout
  readonly #history = new StatsHistory()
  /** Serialized snapshots by what they hold (history or not, the followed job), valid until the next event. */
  readonly #snapshots = new Map<string, Buffer>()
  #closed = false

  /** `cluster`: the cluster's feed on a clustered server, null otherwise (the snapshot says null). */
  constructor (pool: Pool, options: EventHubOptions = {}, cluster: ClusterFeed | null = null) {
    this.#pool = pool
    this.#cluster = cluster
    this.maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.#snapshotLimits = { ...DEFAULT_SNAPSHOT_LIMITS, ...options.snapshot }
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000
    pool.on('event', this.#onEvent)
    cluster?.on('event', this.#onEvent)
    // Without it, a peer that vanished without a FIN (a laptop closed mid-stream) would keep its
    // socket and queue until TCP gave up, hours later.
    this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs ?? 30_000)
    this.#heartbeat.unref()
  }

  /** Subscribers now. */
  get size (): number { return this.#clients.size }

  /** Events lost by slow subscribers, per subscriber (tests and metrics). */
  droppedCounts (): number[] { return [...this.#clients].map((c) => c.droppedTotal) }

  readonly #onEvent = (event: PoolEvent): void => {
    // Any event may change what a snapshot shows, and must not be both in it and after it.
    this.#snapshots.clear()
    if (event.type === 'pool.stats') this.#history.add(event.ts, event.data as PoolStats)
    // Bytes, not a string: the same bytes go to every client's socket, no copy per client.
    let payload: Buffer | null = null
    for (const client of this.#clients) {
      if (!matches(client.filter, event)) continue
      payload ??= Buffer.from(JSON.stringify(event))
      client.push(event, payload)
    }
  }

  /** The serialized snapshot message for a subscriber with this filter (shared until the next event). */
  snapshot (filter: EventFilter): Buffer {
    // The charts' history only for those who asked for the pool's counters.
    const key = `${filter.topics.has('pool') ? 'p' : ''}:${filter.job ?? ''}`
    let bytes = this.#snapshots.get(key)
    if (bytes === undefined) {
      const history = filter.topics.has('pool') ? this.#history.samples() : null
      bytes = Buffer.from(buildSnapshot(this.#pool, filter.job, this.#snapshotLimits, history, this.#cluster?.view() ?? null))
      this.#snapshots.set(key, bytes)
    }
    return bytes
  }

  /** Serves one upgraded connection: the snapshot first, then its events, until it closes. */
  serve (socket: WebSocket, filter: EventFilter): void {
    if (this.#closed) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down')
      return
    }
    if (this.#clients.size >= this.maxSubscribers) {
      // After the upgrade, so that a browser sees why (it cannot read a refused handshake).
      socket.close(CLOSE_TRY_AGAIN_LATER, `too many subscribers (the limit is ${this.maxSubscribers}); retry later`)
      return
    }
    const client = new EventClient(socket, filter, this.#limits)
    this.#clients.add(client)
    socket.on('close', () => {
      this.#clients.delete(client)
      client.dispose()
    })
    socket.on('pong', () => { client.alive = true })
    // Clients send nothing (the plugin caps message size); anything that arrives is ignored.
    client.sendFirst(this.snapshot(filter))
  }

  #ping (): void {
    for (const client of this.#clients) {
      if (!client.alive) {
        client.socket.terminate()
        continue
      }
      client.alive = false
      client.socket.ping()
    }
  }

  /**
   * Stops listening to the pool and closes every subscriber with 1001. A client that does not
   * complete the closing handshake in time (one that stopped reading cannot even receive the
   * close frame) has its socket destroyed, so shutdown never waits on a stalled peer.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#pool.off('event', this.#onEvent)
    this.#cluster?.off('event', this.#onEvent)
    clearInterval(this.#heartbeat)
    const clients = [...this.#clients]
    const closed = clients.map((client) => new Promise<void>((resolve) => {
      if (client.socket.readyState === client.socket.CLOSED) resolve()
      else client.socket.once('close', () => resolve())
    }))
    for (const client of clients) client.close(CLOSE_GOING_AWAY, 'server shutting down')
    const timer = setTimeout(() => { for (const client of clients) client.socket.terminate() }, this.#closeTimeoutMs)
    try {
      await Promise.all(closed)
    } finally {
      clearTimeout(timer)
    }
  }
}
