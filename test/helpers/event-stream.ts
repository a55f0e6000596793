// A `ws` client of /v1/events for tests: keeps every message in arrival order and lets a test
// wait for the next one that matches, so tests synchronise on messages rather than on time.
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { portOf } from './server-app'

export interface EventMessage {
  type: string
  ts: string
  data: any
}

export class EventStream {
  readonly socket: WebSocket
  readonly messages: EventMessage[] = []
  #waiters: Array<{ from: number, predicate: (m: EventMessage) => boolean, resolve: (m: EventMessage) => void }> = []
  #cursor = 0
  /** The close code once the server closed the connection. */
  closed: Promise<{ code: number, reason: string }>

  constructor (socket: WebSocket) {
    this.socket = socket
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as EventMessage
      this.messages.push(message)
      const index = this.messages.length - 1
      this.#waiters = this.#waiters.filter((waiter) => {
        if (index < waiter.from || !waiter.predicate(message)) return true
        waiter.resolve(message)
        return false
      })
    })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: String(reason) }))
    })
  }

  /**
   * The next message (after the previous next() result) matching `predicate`; messages before
   * it are skipped.
   */
  async next (predicate: (m: EventMessage) => boolean = () => true): Promise<EventMessage> {
    for (let i = this.#cursor; i < this.messages.length; i++) {
      if (predicate(this.messages[i])) {
        this.#cursor = i + 1
        return this.messages[i]
      }
    }
    const from = this.messages.length
    const message = await new Promise<EventMessage>((resolve) => this.#waiters.push({ from, predicate, resolve }))
    this.#cursor = this.messages.indexOf(message) + 1
    return message
  }

  /**
   * The first message matching `predicate`, among those received so far or still to come;
   * the cursor of next() does not move. For events whose place relative to others is not fixed
   * (a coalesced worker.updated may come before or after the job event that caused it).
   */
  async any (predicate: (m: EventMessage) => boolean): Promise<EventMessage> {
    const found = this.messages.find(predicate)
    if (found !== undefined) return found
    const from = this.messages.length
    return await new Promise<EventMessage>((resolve) => this.#waiters.push({ from, predicate, resolve }))
  }

  /** The next message of this type (for this id, when given). */
  async nextOf (type: string, id?: string): Promise<EventMessage> {
    return await this.next((m) => m.type === type && (id === undefined || m.data?.id === id))
  }

  close (): void { this.socket.close() }
}

/** Opens /v1/events?query and resolves once the handshake is done. */
export async function openEvents (app: FastifyInstance, query = '', headers: Record<string, string> = {}): Promise<EventStream> {
  const socket = new WebSocket(`ws://127.0.0.1:${portOf(app)}/v1/events${query}`, { headers })
  const stream = new EventStream(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  return stream
}

/** A handshake the server refuses: its status and JSON body. */
export async function refusedHandshake (app: FastifyInstance, query = '', headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const socket = new WebSocket(`ws://127.0.0.1:${portOf(app)}/v1/events${query}`, { headers })
  return await new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.close()
      reject(new Error('the handshake was accepted'))
    })
    socket.once('unexpected-response', (req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) })
      })
    })
    socket.once('error', () => {}) // follows unexpected-response once the request is destroyed
  })
}

/**
 * Resolves once `condition` holds, checking every few milliseconds: for server state that has no
 * event of its own (how many subscribers the hub serves), never as a stand-in for an event.
 */
export async function until (condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
