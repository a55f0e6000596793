// One client of the attach socket: reads one JSON request per message and answers each with one
// JSON reply, in order (every operation is synchronous, so the order of replies is the order of
// requests). Owns every descriptor a request brings until it closes it or the store adopts it,
// and the leases that list this peer as an `attached` holder while the connection is open.
import * as native from '../../native'
import type { BufferLease, BufferStore } from '../store/buffer-store'
import { secretsEqual } from '../pool/ids'
import { PoolError } from '../pool/pool-error'
import {
  AttachRefusal, encodeReply, errorReply, isAttachErrorCode, parseRequest, quoted,
  type AttachErrorCode, type AttachReply, type AttachRequest
} from './protocol'

export interface AttachLogger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export interface ConnectionContext {
  store: BufferStore
  logger: AttachLogger
  /** Replies queued behind a full socket before the client counts as not reading. */
  maxPendingReplies: number
  /** A connection that sends no request for this long is closed (its holder entries go with it). */
  idleTimeoutMs: number
}

/** Said in the reply to an `r` attach of an unsealed buffer, and in docs/attach-protocol.md. */
export const UNSEALED_WARNING = 'The buffer is not sealed: its bytes may still change, and this read-only descriptor ' +
  'can be reopened writable through /proc/self/fd/N by its holder (seals, not access modes, make a buffer immutable)'

interface Answer {
  reply: AttachReply
  /** A descriptor to send with the reply; closed by us once sent (the channel keeps its own copy). */
  fd?: number
}

/** Errors of the channel that refuse one message and leave the connection usable. */
const REFUSED_MESSAGES: Record<string, AttachErrorCode> = {
  ERR_TOO_MANY_DESCRIPTORS: 'TOO_MANY_DESCRIPTORS',
  ERR_MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE'
}

function closeQuietly (fd: number): void {
  try { native.close(fd) } catch { /* already closed: nothing to release */ }
}

export class AttachConnection {
  readonly channel: native.Channel
  readonly peer: native.PeerCredentials
  #context: ConnectionContext
  /** One lease per buffer this connection attached: it lists the peer as a holder and keeps the
   * memory counted (even across a DELETE) until the connection closes. */
  #leases = new Map<string, BufferLease>()
  #closed = false
  #onClosed: (connection: AttachConnection) => void
  #idleTimer: NodeJS.Timeout

  constructor (channel: native.Channel, peer: native.PeerCredentials, context: ConnectionContext, onClosed: (connection: AttachConnection) => void) {
    this.channel = channel
    this.peer = peer
    this.#context = context
    this.#onClosed = onClosed
    // Listeners run inside the addon's callback, where a throw is fatal to the process: each one
    // catches everything.
    channel.on('message', (data, fds) => { this.#onMessage(data, fds) })
    channel.on('error', (err) => { this.#onChannelError(err) })
    channel.on('close', () => { this.close() })
    // An idle connection holds one of the server's few slots: a client that stays quiet this long
    // is closed, so idle peers cannot lock everyone else out for good (issue 15, item 13).
    this.#idleTimer = setTimeout(() => { this.#onIdle() }, context.idleTimeoutMs).unref()
  }

  #onIdle (): void {
    this.#context.logger.info({ peer: this.peer, idleTimeoutMs: this.#context.idleTimeoutMs }, 'attach connection idle; closing it')
    this.close()
  }

  get attachedBuffers (): number { return this.#leases.size }

  /** Closes the channel and drops this peer's holder entries and leases now. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#idleTimer)
    this.channel.close()
    for (const lease of this.#leases.values()) lease.release()
    this.#leases.clear()
    this.#onClosed(this)
  }

  #onMessage (data: Buffer, received: readonly number[]): void {
    this.#idleTimer.refresh()
    // Whatever the request does not take is closed here, on every path.
    const owned = native.OwnedFds.from(received)
    const take = (i: number): number => owned.take(i)
    let answer: Answer
    let op = 'unknown'
    try {
      const request = this.#checkDescriptors(parseRequestOrRefuseExtras(data, owned.length), owned.length)
      op = request.op
      answer = this.#handle(request, take, owned.length)
    } catch (err) {
      answer = { reply: this.#refusal(err, op) }
    } finally {
      owned.closeAll()
    }
    this.#send(answer)
  }

  #onChannelError (err: native.SystemError): void {
    const code = REFUSED_MESSAGES[err.code]
    if (code === undefined) {
      // A socket failure; 'close' follows.
      this.#context.logger.warn({ peer: this.peer, err: err.message }, 'attach connection failed')
      return
    }
    this.#send({ reply: this.#refusal(new AttachRefusal(code, err.message), 'unknown') })
  }

  #checkDescriptors (request: AttachRequest, count: number): AttachRequest {
    if (count === 1 && request.op !== 'register') {
      throw new AttachRefusal('UNEXPECTED_DESCRIPTOR', `"${request.op}" takes no descriptor; it was closed`)
    }
    return request
  }

  #handle (request: AttachRequest, take: (i: number) => number, count: number): Answer {
    switch (request.op) {
      case 'ping':
        return { reply: { ok: true, pid: process.pid } }
      case 'attach':
        return this.#attach(request.buffer, request.token, request.mode, request.unsealed)
      case 'register':
        return this.#register(request.name, request.ttlMs, take, count)
    }
  }

  #attach (id: string, token: string, mode: 'r' | 'rw', unsealed: boolean): Answer {
    const store = this.#context.store
    // Our own messages, never the store's: they must not echo a long id back, and a wrong token
    // must not learn anything about the buffer (its seal state) beyond that it exists.
    if (!store.has(id)) throw new AttachRefusal('NOT_FOUND', `No buffer ${quoted(id)}`)
    if (!secretsEqual(token, store.attachToken(id))) throw new AttachRefusal('FORBIDDEN', `Wrong attach token for buffer ${quoted(id)}`)
    const info = store.get(id)
    if (mode === 'rw' && info.sealed) throw new AttachRefusal('BUFFER_SEALED', `Buffer ${quoted(id)} is sealed; attach it with mode "r"`)
    // A read-only descriptor of an unsealed buffer promises less than it seems to (it can be
    // reopened O_RDWR, and the bytes may change anyway): only for a client that says it knows.
    if (mode === 'r' && !info.sealed && !unsealed) {
      throw new AttachRefusal('BUFFER_NOT_SEALED', `Buffer ${quoted(id)} is not sealed: its bytes may still change. Seal it first, or ask with "unsealed": true (or mode "rw")`)
    }
    const lease = this.#leaseFor(id)
    // Both are reopens with an open file description of their own, never a dup() of the store's:
    // flags a client sets (O_APPEND) or its file offset must not reach the server's descriptor.
    const fd = mode === 'r' ? lease.readOnlyDescriptor({ ownDescription: true }) : store.writableDescriptor(id)
    const buffer = { id: info.id, size: info.size, sealed: info.sealed }
    return { reply: mode === 'r' && !info.sealed ? { ok: true, buffer, warning: UNSEALED_WARNING } : { ok: true, buffer }, fd }
  }

  #leaseFor (id: string): BufferLease {
    let lease = this.#leases.get(id)
    if (lease !== undefined) return lease
    // Every buffer's size is sealed (shrink, grow) from its creation, so no descriptor handed out
    // can resize the memory under the server's mapping.
    lease = this.#context.store.acquire(id)
    lease.addHolder({ pid: this.peer.pid, fd: null, role: 'attached' })
    this.#leases.set(id, lease)
    return lease
  }

  #register (name: string | undefined, ttlMs: number | undefined, take: (i: number) => number, count: number): Answer {
    if (count === 0) throw new AttachRefusal('BAD_REQUEST', 'register needs one memfd in SCM_RIGHTS')
    // The store owns the descriptor from here, whether it accepts it or not; it checks the seals
    // (and adds F_SEAL_WRITE to a future-write-only memfd, refusing while a writable mapping exists).
    const info = this.#context.store.adopt(take(0), { name, ttlMs })
    this.#context.logger.info({ peer: this.peer, buffer: info.id, size: info.size }, 'attach socket registered a memfd')
    return { reply: { ok: true, buffer: info } }
  }

  #refusal (err: unknown, op: string): AttachReply {
    let code: AttachErrorCode
    let message: string
    if (err instanceof AttachRefusal) {
      ({ code, message } = err)
    } else if (err instanceof PoolError && isAttachErrorCode(err.code)) {
      code = err.code
      message = err.message
    } else {
      code = 'INTERNAL_ERROR'
      message = 'The server failed to handle the request'
      this.#context.logger.error({ peer: this.peer, op, err }, 'attach request failed')
    }
    if (code !== 'INTERNAL_ERROR') this.#context.logger.info({ peer: this.peer, op, code, reason: message }, 'attach request refused')
    return errorReply(code, message)
  }

  #send (answer: Answer): void {
    try {
      if (this.#closed) return
      this.channel.send(encodeReply(answer.reply), answer.fd === undefined ? [] : [answer.fd])
      if (this.channel.pending > this.#context.maxPendingReplies) {
        this.#context.logger.warn({ peer: this.peer, pending: this.channel.pending }, 'attach client is not reading its replies; closing the connection')
        this.close()
      }
    } catch (err) {
      // EPIPE (the client left) or a closed channel: nobody to answer.
      this.#context.logger.info({ peer: this.peer, err: (err as Error).message }, 'attach reply not sent; closing the connection')
      this.close()
    } finally {
      if (answer.fd !== undefined) closeQuietly(answer.fd)
    }
  }
}

/** TOO_MANY_DESCRIPTORS first (whatever the bytes say), then the request itself. */
function parseRequestOrRefuseExtras (data: Buffer, fdCount: number): AttachRequest {
  if (fdCount > 1) throw new AttachRefusal('TOO_MANY_DESCRIPTORS', `The request carried ${fdCount} descriptors; at most 1 is allowed. All were closed`)
  return parseRequest(data)
}
