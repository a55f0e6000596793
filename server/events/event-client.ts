// One subscriber of /v1/events and its bounded outgoing queue.
//
// A WebSocket's send() never refuses: whatever the peer does not read piles up in the net.Socket's
// write buffer, in the server's memory, without limit. So a client gets at most `highWaterBytes`
// handed to the socket and not yet written to the kernel (tracked through send callbacks, which
// fire once the bytes have left for the kernel); the rest waits here, bounded in messages and
// bytes. When that queue overflows, its oldest events are dropped and the client is told how many
// with a `lagged` message placed exactly where the gap is. A stalled client therefore costs the
// server a constant amount of memory, however many events fire.
//
// Some event types carry state rather than a step (a job's progress, a buffer's holders, a
// worker's counters, the pool's counters, a cluster node's entry): a newer one about the same thing replaces a queued
// older one instead of queueing behind it, so a slow reader (a busy browser tab) gets the latest
// state sooner and drops fewer of the events that matter.
import type { WebSocket } from 'ws'
import type { PoolEvent } from '../pool/types'
import type { EventFilter } from './topics'

export interface OutgoingLimits {
  /** Bytes handed to the socket but not yet written to the kernel, above which sending waits. */
  highWaterBytes: number
  /** Messages waiting in the queue at most; beyond it the oldest are dropped. */
  maxQueuedMessages: number
  /** Bytes waiting in the queue at most; beyond it the oldest are dropped. */
  maxQueuedBytes: number
}

export const DEFAULT_LIMITS: OutgoingLimits = {
  highWaterBytes: 256 * 1024,
  maxQueuedMessages: 2000,
  maxQueuedBytes: 1024 * 1024
}

interface Queued {
  /** null once a newer message with the same key superseded it. */
  text: Payload | null
  bytes: number
  key: string | null
}

/** Event types that carry the whole latest state of the thing their `data.id` names. */
const STATE_OF_ID: ReadonlySet<string> = new Set(['job.progress', 'buffer.holders', 'worker.updated'])

/**
 * Events that carry the latest state of something: only the newest one queued per key is worth
 * sending. Ids are never reused across things (buffers and jobs have random ids; a restarted
 * worker keeps its slot id, and its worker.updated carries its new pid, newer than the old one).
 */
export function supersedingKey (event: PoolEvent): string | null {
  if (event.type === 'pool.stats') return event.type
  if (STATE_OF_ID.has(event.type)) return `${event.type}:${String((event.data as { id?: unknown } | null)?.id)}`
  // A node's whole entry, named by its name (node names are unique in a cluster).
  if (event.type === 'cluster.node') return `${event.type}:${String((event.data as { name?: unknown } | null)?.name)}`
  return null
}

/** A message as handed to the socket: a string, or UTF-8 bytes shared by every client (no copy each). */
export type Payload = string | Buffer

function byteLengthOf (payload: Payload): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
}

export class EventClient {
  readonly filter: EventFilter
  /** Cleared at each heartbeat, set by the pong that answers it. */
  alive = true
  /** Events this client has lost since it connected (tests and metrics). */
  droppedTotal = 0
  readonly #socket: WebSocket
  readonly #limits: OutgoingLimits
  #queue: Queued[] = []
  #queuedBytes = 0
  #superseded = 0
  #latest = new Map<string, Queued>()
  #inFlightBytes = 0
  #droppedSinceSent = 0
  #flushScheduled = false
  #closed = false

  constructor (socket: WebSocket, filter: EventFilter, limits: OutgoingLimits = DEFAULT_LIMITS) {
    this.#socket = socket
    this.filter = filter
    this.#limits = limits
  }

  get socket (): WebSocket { return this.#socket }

  /**
   * Sends a message ahead of every event (the snapshot). It is bounded by its builder
   * (snapshot.ts), not here, and counts as bytes in flight: events queue behind it (within the
   * queue's bounds) until the peer has read it.
   */
  sendFirst (text: Payload): void {
    this.#write(text, byteLengthOf(text))
  }

  /** Queues an event (already serialized once for every client) and schedules sending. */
  push (event: PoolEvent, text: Payload): void {
    if (this.#closed) return
    const key = supersedingKey(event)
    if (key !== null) {
      const older = this.#latest.get(key)
      if (older !== undefined) this.#supersede(older)
    }
    const entry: Queued = { text, bytes: byteLengthOf(text), key }
    this.#queue.push(entry)
    this.#queuedBytes += entry.bytes
    if (key !== null) this.#latest.set(key, entry)
    while (this.#queue.length - this.#superseded > this.#limits.maxQueuedMessages || this.#queuedBytes > this.#limits.maxQueuedBytes) {
      if (this.#take()?.text != null) {
        this.#droppedSinceSent++
        this.droppedTotal++
      }
    }
    this.#schedule()
  }

  /** Stops queueing and closes the socket (the closing handshake follows whatever is in flight). */
  close (code: number, reason: string): void {
    this.#discard()
    this.#socket.close(code, reason)
  }

  /** Forgets the queue once the socket has closed. */
  #discard (): void {
    this.#closed = true
    this.#queue = []
    this.#latest.clear()
    this.#queuedBytes = this.#superseded = 0
  }

  dispose (): void { this.#discard() }

  #supersede (entry: Queued): void {
    this.#queuedBytes -= entry.bytes
    entry.text = null
    entry.bytes = 0
    this.#superseded++
    // Superseded entries are skipped when sent; compact them away before they crowd the queue.
    if (this.#superseded > 64 && this.#superseded * 2 > this.#queue.length) {
      this.#queue = this.#queue.filter((e) => e.text !== null)
      this.#superseded = 0
    }
  }

  /** Removes and returns the oldest queued entry. */
  #take (): Queued | undefined {
    const entry = this.#queue.shift()
    if (entry === undefined) return undefined
    if (entry.key !== null && this.#latest.get(entry.key) === entry) this.#latest.delete(entry.key)
    if (entry.text === null) this.#superseded--
    else this.#queuedBytes -= entry.bytes
    return entry
  }

  #schedule (): void {
    const pending = this.#queue.length > 0 || this.#droppedSinceSent > 0
    if (this.#flushScheduled || this.#closed || !pending || this.#inFlightBytes >= this.#limits.highWaterBytes) return
    // Deferred, so that the pool's synchronous emit pays only for a queue push, and events of
    // one tick go out together.
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      this.#flush()
    })
  }

  #flush (): void {
    while (!this.#closed && this.#inFlightBytes < this.#limits.highWaterBytes) {
      const entry = this.#take()
      if (entry?.text === null) continue
      // The gap is right here: before the first event after the dropped ones.
      if (this.#droppedSinceSent > 0) this.#sendLagged()
      if (entry === undefined) return
      this.#write(entry.text, entry.bytes)
    }
  }

  #sendLagged (): void {
    const text = JSON.stringify({ type: 'lagged', ts: new Date().toISOString(), data: { dropped: this.#droppedSinceSent } })
    this.#droppedSinceSent = 0
    this.#write(text, Buffer.byteLength(text))
  }

  #write (text: Payload, bytes: number): void {
    this.#inFlightBytes += bytes
    // binary: false keeps a Buffer payload a text frame (the JSON it is).
    this.#socket.send(text, { binary: false }, (err) => {
      this.#inFlightBytes -= bytes
      if (err == null) this.#schedule()
    })
  }
}
