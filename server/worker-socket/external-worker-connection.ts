// One external worker on the worker socket: its handshake (hello → welcome, ready → accepted or
// refused), then the internal worker protocol both ways, every incoming message checked
// (protocol.ts) before it is emitted. The engine wraps an accepted connection in a worker link the
// way it wraps a process slot: it listens to 'ready', 'message' and 'close' and calls send().
//
// Descriptors: every one that arrives is owned here until it is emitted inside an OwnedFds (whose
// listener takes what it keeps; the rest is closed when the listener returns) or closed. Every
// descriptor sent is a fresh read-only reopen made here and closed after the send, so an external
// process never shares an open file description (offset, flags) with the server or with another
// worker, and never gets a writable one whatever the caller passed.
import { EventEmitter } from 'node:events'
import * as native from '../../native'
import { encode, type KindReport, type ServerMessage, type WorkerMessage } from '../../workers/protocol'
import {
  WORKER_SOCKET_ERROR_CODES, WorkerSocketRefusal, batchParts, encodeReply, parseHello, parseMessage, parseReady,
  parseWorkerMessage, quoted, secretsEqual, type HandshakeReply, type WorkerSocketErrorCode
} from './protocol'

export interface WorkerSocketLogger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export type ConnectionState = 'hello' | 'welcomed' | 'reported' | 'accepted' | 'closed'

/** What 'ready' tells: the worker's declaration, with who it is by the kernel's account. */
export interface ExternalWorkerReport {
  id: string
  threads: number
  kinds: KindReport[]
  /** SO_PEERCRED at connect time; 0 when the worker lives in another pid namespace. */
  pid: number
  uid: number
  /** The pid the worker says it has (differs from `pid` across pid namespaces). */
  helloPid: number
  name: string | null
}

export interface CloseReason { code: string, message: string }

export interface ExternalWorkerEvents {
  /** The worker declared its kinds: call accept() or refuse() (else it is refused at the ready timeout). */
  ready: [report: ExternalWorkerReport]
  /** A checked message of an accepted worker; the listener takes the descriptors it keeps, the rest are closed after it returns. */
  message: [message: WorkerMessage, fds: native.OwnedFds]
  /** Once, whatever closed it; `reason` is null when the worker hung up by itself. */
  close: [reason: CloseReason | null]
}

export interface ConnectionContext {
  /** Required in 'hello' when set. */
  token: string | null
  /** The id this connection is welcomed with. */
  workerId: () => string
  helloTimeoutMs: number
  readyTimeoutMs: number
  /** How long a refused connection waits for the worker to read the reason before closing. */
  refusalLingerMs: number
  /** Messages queued behind a worker that does not read before it is dropped. */
  maxPendingMessages: number
  /** Reopen every sent descriptor read-only (the default; tests may turn it off to send raw ones). */
  reopenSent: boolean
  logger: WorkerSocketLogger
  /** Called once when the hello was accepted and 'welcome' sent: the listener's 'connection'. */
  onWelcome: (connection: ExternalWorkerConnection) => void
  /** Called once when the channel is finally closed. */
  onClosed: (connection: ExternalWorkerConnection) => void
}

function closeQuietly (fd: number): void {
  try { native.close(fd) } catch { /* already closed: nothing to release */ }
}

export class ExternalWorkerConnection extends EventEmitter<ExternalWorkerEvents> {
  readonly channel: native.Channel
  readonly peer: native.PeerCredentials
  /** Set when welcomed. */
  id: string | null = null
  name: string | null = null
  report: ExternalWorkerReport | null = null
  /** The kinds accepted (a subset of report.kinds). */
  acceptedKinds: string[] = []
  #state: ConnectionState = 'hello'
  #context: ConnectionContext
  #timer: NodeJS.Timeout | null
  /** A refusal sent, the channel still open until the worker has read it. */
  #lingering = false
  #channelClosed = false
  #helloPid = 0
  /** onClosed was called: the listener no longer counts this connection. */
  #released = false

  constructor (channel: native.Channel, peer: native.PeerCredentials, context: ConnectionContext) {
    super()
    this.channel = channel
    this.peer = peer
    this.#context = context
    this.#timer = setTimeout(() => this.refuse('HANDSHAKE_TIMEOUT', `No "hello" within ${context.helloTimeoutMs} ms`), context.helloTimeoutMs)
    // Listeners run inside the addon's callback, where a throw is fatal: each one catches everything.
    channel.on('message', (data, fds) => { this.#onMessage(data, native.OwnedFds.from(fds)) })
    channel.on('error', (err) => { this.#onChannelError(err) })
    channel.on('close', () => { this.#onChannelClose() })
  }

  get state (): ConnectionState { return this.#state }

  /** Accepted and still connected: runs may be sent. */
  get open (): boolean { return this.#state === 'accepted' }

  /** Messages waiting for the worker's socket to drain. */
  get pending (): number { return this.#channelClosed ? 0 : this.channel.pending }

  /**
   * Takes the worker: answers 'accepted' with `kinds` (default: every kind it declared; a name it
   * did not declare is ignored). From now on send() delivers and 'message' is emitted.
   */
  accept (kinds?: readonly string[]): void {
    if (this.#state !== 'reported' || this.report === null) throw new Error(`accept() needs a worker that reported its kinds; this one is ${this.#state}`)
    const declared = new Set(this.report.kinds.map((kind) => kind.name))
    this.acceptedKinds = kinds === undefined ? [...declared] : kinds.filter((name) => declared.has(name))
    this.#clearTimer()
    this.#state = 'accepted'
    if (!this.#sendReply({ t: 'accepted', kinds: this.acceptedKinds })) return
    this.#context.logger.info({ worker: this.id, pid: this.peer.pid, name: this.name, kinds: this.acceptedKinds }, 'external worker accepted')
  }

  /**
   * Sends {t:'refused', error} and closes: at the handshake (a kind taken by a built-in, a schema
   * that conflicts), or at any time after it (a protocol error, a worker that ignored a cancel).
   * 'close' is emitted now; the socket itself closes once the worker has read the reason (or after
   * the linger time), so it does not see ECONNRESET instead.
   */
  refuse (code: WorkerSocketErrorCode | string, message: string = (WORKER_SOCKET_ERROR_CODES as Record<string, string>)[code] ?? code): void {
    if (this.#state === 'closed') return
    this.#context.logger.warn({ worker: this.id, peer: this.peer, code }, `external worker refused: ${message}`)
    const reason = { code, message }
    let sent = false
    try {
      this.channel.send(encodeReply({ t: 'refused', error: reason }))
      sent = true
    } catch { /* the worker is gone already */ }
    this.#finish(reason)
    if (!sent || this.#channelClosed) {
      this.#closeChannel()
      return
    }
    this.#lingering = true
    this.#timer = setTimeout(() => this.#closeChannel(), this.#context.refusalLingerMs)
  }

  /**
   * Closes at once (the engine's kill: a worker that ignored a cancel past its grace; the
   * server's own close). The reason is sent first, best effort, as {t:'refused', error}.
   */
  close (reason: CloseReason | null = { code: 'CLOSED', message: 'The server closed the connection' }): void {
    if (this.#state !== 'closed') {
      if (reason !== null && !this.#channelClosed) {
        try { this.channel.send(encodeReply({ t: 'refused', error: reason })) } catch { /* gone already */ }
      }
      this.#finish(reason)
    }
    this.#closeChannel()
  }

  /**
   * Sends one message (a ServerMessage or its encoded bytes) with descriptors, which the caller
   * keeps: each is sent as a read-only reopen of its own. True when sent or queued; false when the
   * worker is not accepted or gone (nothing was sent). Throws when a reopen fails (EMFILE: the
   * server is at its descriptor limit), before anything is sent.
   */
  send (message: ServerMessage | Buffer, fds: readonly number[] = []): boolean {
    if (this.#state !== 'accepted' || this.#channelClosed) return false
    const outgoing: number[] = []
    let prepared = false
    try {
      if (this.#context.reopenSent) for (const fd of fds) outgoing.push(native.reopenReadOnly(fd))
      prepared = true
      this.channel.send(Buffer.isBuffer(message) ? message : encode(message), this.#context.reopenSent ? outgoing : fds)
    } catch (err) {
      if (!prepared) throw err
      // EPIPE: the worker went away; 'close' follows from the channel.
      this.#context.logger.info({ worker: this.id, err: (err as Error).message }, 'send to external worker failed')
      return false
    } finally {
      for (const fd of outgoing) closeQuietly(fd)
    }
    if (this.channel.pending > this.#context.maxPendingMessages) {
      this.refuse('PROTOCOL_ERROR', `The worker did not read its messages (${this.channel.pending} queued)`)
      return false
    }
    return true
  }

  #onMessage (data: Buffer, fds: native.OwnedFds): void {
    try {
      if (this.#lingering) {
        // The worker read our refusal (or never will): nothing it says now is handled.
        this.#closeChannel()
        return
      }
      switch (this.#state) {
        case 'hello':
          this.#noDescriptors(fds)
          this.#onHello(parseMessage(data))
          return
        case 'welcomed':
          this.#noDescriptors(fds)
          this.#onReady(parseMessage(data))
          return
        case 'reported':
          // Nothing may come between 'ready' and our answer.
          throw new WorkerSocketRefusal('PROTOCOL_ERROR', 'The worker sent a message before it was accepted')
        case 'accepted':
          this.#deliver(data, fds, false)
      }
    } catch (err) {
      if (err instanceof WorkerSocketRefusal) {
        this.refuse(err.code, err.message)
      } else {
        this.#context.logger.error({ worker: this.id, err }, 'external worker message could not be handled')
        this.refuse('PROTOCOL_ERROR', 'The server failed to handle a message')
      }
    } finally {
      fds.closeAll()
    }
  }

  #noDescriptors (fds: native.OwnedFds): void {
    if (fds.length > 0) throw new WorkerSocketRefusal('UNEXPECTED_DESCRIPTOR', `A handshake message carries no descriptor; ${fds.length} came and were closed`)
  }

  #onHello (message: Record<string, unknown>): void {
    const hello = parseHello(message)
    const token = this.#context.token
    if (token !== null && (hello.token === undefined || !secretsEqual(hello.token, token))) {
      throw new WorkerSocketRefusal('FORBIDDEN', hello.token === undefined ? 'This server needs a worker token in "hello"' : 'Wrong worker token')
    }
    this.#clearTimer()
    this.id = this.#context.workerId()
    this.name = hello.name ?? null
    this.#helloPid = hello.pid
    this.#state = 'welcomed'
    if (!this.#sendReply({ t: 'welcome', worker: this.id })) return
    this.#timer = setTimeout(() => this.refuse('HANDSHAKE_TIMEOUT', `No "ready" within ${this.#context.readyTimeoutMs} ms of "welcome"`), this.#context.readyTimeoutMs)
    this.#context.onWelcome(this)
  }

  #onReady (message: Record<string, unknown>): void {
    const ready = parseReady(message)
    this.report = {
      id: this.id ?? '',
      threads: ready.threads,
      kinds: ready.kinds,
      pid: this.peer.pid,
      uid: this.peer.uid,
      helloPid: this.#helloPid,
      name: this.name
    }
    this.#state = 'reported'
    this.#clearTimer()
    this.#timer = setTimeout(() => this.refuse('HANDSHAKE_TIMEOUT', `The server did not decide on the declared kinds within ${this.#context.readyTimeoutMs} ms`), this.#context.readyTimeoutMs)
    if (this.listenerCount('ready') === 0) {
      this.refuse('KIND_REFUSED', 'This server does not take external workers now')
      return
    }
    this.emit('ready', this.report)
  }

  /**
   * An accepted worker's message, or each part of its batch, with its own descriptors. When the
   * counts do not add up (or descriptors were lost in transit: `lost`), every descriptor is closed
   * and each message is delivered without any, so the engine fails the jobs whose outputs went
   * missing instead of giving one job another's.
   */
  #deliver (data: Buffer, fds: native.OwnedFds, lost: boolean): void {
    const parsed = parseMessage(data)
    const parts = parsed.t === 'batch' ? batchParts(parsed).map(parseWorkerMessage) : [parseWorkerMessage(parsed)]
    const claimed = parts.reduce((n, part) => n + part.fdCount, 0)
    const consistent = !lost && claimed === fds.length
    if (!consistent) {
      this.#context.logger.warn({ worker: this.id, claimed, received: fds.length }, 'an external worker\'s message did not account for its descriptors')
      fds.closeAll()
    }
    for (const part of parts) {
      if (this.#state !== 'accepted') return // a listener closed us
      const mine = consistent ? fds.split(part.fdCount) : native.OwnedFds.empty()
      try {
        this.emit('message', part.message, mine)
      } catch (err) {
        this.#context.logger.error({ worker: this.id, err }, 'a listener of an external worker\'s message threw')
      } finally {
        mine.closeAll()
      }
    }
  }

  #onChannelError (err: native.SystemError): void {
    try {
      if (err.code === 'ERR_MESSAGE_TOO_LARGE') {
        this.refuse('MESSAGE_TOO_LARGE', err.message)
        return
      }
      if (err.code === 'ERR_TOO_MANY_DESCRIPTORS' && this.#state === 'accepted' && err.data !== undefined) {
        // More descriptors than a message may carry, or some lost to MSG_CTRUNC (this server at its
        // open-file limit): the message still names its jobs, which fail for want of their outputs.
        this.#deliver(err.data, native.OwnedFds.empty(), true)
        return
      }
      if (err.code === 'ERR_TOO_MANY_DESCRIPTORS') {
        this.refuse('UNEXPECTED_DESCRIPTOR', err.message)
        return
      }
      // A socket failure; 'close' follows.
      this.#context.logger.warn({ worker: this.id, peer: this.peer, err: err.message }, 'external worker connection failed')
    } catch (failure) {
      const code = failure instanceof WorkerSocketRefusal ? failure.code : 'PROTOCOL_ERROR'
      this.refuse(code, (failure as Error).message)
    }
  }

  #onChannelClose (): void {
    this.#channelClosed = true
    if (this.#state !== 'closed') this.#finish(null)
    this.#closeChannel()
  }

  #sendReply (reply: HandshakeReply): boolean {
    try {
      this.channel.send(encodeReply(reply))
      return true
    } catch (err) {
      this.#context.logger.info({ worker: this.id, err: (err as Error).message }, 'external worker left during its handshake')
      this.close(null)
      return false
    }
  }

  #clearTimer (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** The connection is over for its users: one 'close', whatever happens to the socket after. */
  #finish (reason: CloseReason | null): void {
    this.#clearTimer()
    const wasAccepted = this.#state === 'accepted'
    this.#state = 'closed'
    if (wasAccepted || reason === null) {
      this.#context.logger.info({ worker: this.id, pid: this.peer.pid, reason }, reason === null ? 'external worker disconnected' : `external worker closed: ${quoted(reason.message)}`)
    }
    try {
      this.emit('close', reason)
    } catch (err) {
      this.#context.logger.error({ worker: this.id, err }, 'a close listener of an external worker threw')
    }
  }

  #closeChannel (): void {
    this.#clearTimer()
    this.#lingering = false
    if (!this.channel.closed) this.channel.close()
    if (this.#released) return
    this.#released = true
    this.#context.onClosed(this)
  }
}
