// Fans the pool's events out to every /v1/events subscriber. Each event is serialized once,
// whatever the number of clients, and pushed to each client's bounded queue (event-client.ts);
// the pool's synchronous emit never waits for a socket.
//
// A new subscriber gets its snapshot in the same tick as it is added to the set, so it sees
// every event after the state the snapshot shows, and none twice.
import type { WebSocket } from 'ws'
import type { Pool } from '../pool/pool'
import { PoolError } from '../pool/pool-error'
import type { BufferInfo, JobInfo, PoolEvent, PoolStats, WorkerInfo } from '../pool/types'
import { DEFAULT_LIMITS, EventClient, type OutgoingLimits } from './event-client'
import { matches, type EventFilter } from './topics'

/** RFC 6455 §7.4.1: 1001, "going away", e.g. a server going down. */
export const CLOSE_GOING_AWAY = 1001

/** Jobs in a snapshot: as many as GET /v1/jobs answers by default. */
export const SNAPSHOT_JOBS = 100

export interface EventHubOptions {
  limits?: Partial<OutgoingLimits>
  /** Ping every this often; a client that has not answered the previous ping is dropped (default 30 s). */
  heartbeatMs?: number
  /** At close, how long clients get to answer the close frame before their sockets are destroyed (default 1 s). */
  closeTimeoutMs?: number
}

export interface Snapshot {
  pool: PoolStats
  workers: WorkerInfo[]
  buffers: BufferInfo[]
  jobs: JobInfo[]
}

export class EventHub {
  readonly #pool: Pool
  readonly #limits: OutgoingLimits
  readonly #closeTimeoutMs: number
  readonly #clients = new Set<EventClient>()
  readonly #heartbeat: NodeJS.Timeout
  #closed = false

  constructor (pool: Pool, options: EventHubOptions = {}) {
    this.#pool = pool
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000
    pool.on('event', this.#onEvent)
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
    let text: string | null = null
    for (const client of this.#clients) {
      if (!matches(client.filter, event)) continue
      text ??= JSON.stringify(event)
      client.push(event, text)
    }
  }

  snapshot (filter: EventFilter): Snapshot {
    return {
      pool: this.#pool.stats(),
      workers: this.#pool.workers(),
      buffers: this.#pool.store.list(),
      jobs: filter.job === null ? this.#pool.list({ limit: SNAPSHOT_JOBS }) : this.#jobOrNone(filter.job)
    }
  }

  #jobOrNone (id: string): JobInfo[] {
    try {
      return [this.#pool.get(id)]
    } catch (err) {
      // Checked before the upgrade; it may have left the history since.
      if (err instanceof PoolError && err.code === 'NOT_FOUND') return []
      throw err
    }
  }

  /** Serves one upgraded connection: the snapshot first, then its events, until it closes. */
  serve (socket: WebSocket, filter: EventFilter): void {
    if (this.#closed) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down')
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
    client.sendFirst(JSON.stringify({ type: 'snapshot', ts: new Date().toISOString(), data: this.snapshot(filter) }))
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
