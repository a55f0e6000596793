// The worker socket (docs/worker-protocol.md): a SOCK_SEQPACKET listener through which a local
// process of an allowed uid, in any language, becomes a worker: it declares the kinds it serves
// and then takes runs with their input descriptors, exactly as a Node worker process does over
// its socketpair. A socket of its own rather than an op of the attach socket: attach connections
// are stateless request/reply, a worker connection is a long-lived session in which the server
// speaks first (runs, pings) — two protocols on one socket would make every message ambiguous.
//
// The listener owns the socket file and the connections it has not handed on; each
// ExternalWorkerConnection owns its descriptors. It knows nothing of the engine: 'connection'
// hands each welcomed worker to whoever dispatches.
import { EventEmitter } from 'node:events'
import path from 'node:path'
import * as native from '../../native'
import { prepareSocketFolder } from '../attach/socket-folder'
import { ExternalWorkerConnection, type WorkerSocketLogger } from './external-worker-connection'
import { WORKER_SOCKET_LIMITS } from './protocol'

export interface WorkerSocketTimings {
  /** From connect to 'hello' (default 5000 ms). */
  helloTimeoutMs: number
  /** From 'welcome' to 'ready' and from 'ready' to the server's decision: loading kinds may take a while (default 60000 ms). */
  readyTimeoutMs: number
  /** How long a refused connection waits for the worker to read the reason (default 1000 ms). */
  refusalLingerMs: number
}

export interface WorkerSocketServerOptions {
  /** The socket's path; its folder is created (or checked) on start. */
  path: string
  /** Peer uids allowed (SO_PEERCRED); default: this process's own uid only. */
  allowedUids?: number[]
  /** When set, 'hello' must carry it (compared in constant time). */
  token?: string | null
  /** External workers connected at once (default 64); one more is refused SERVER_BUSY. */
  maxConnections?: number
  /** Messages queued for a worker that does not read before it is dropped (default 1024). */
  maxPendingMessages?: number
  timings?: Partial<WorkerSocketTimings>
  /** Ids for welcomed workers (default x0, x1, …; Node workers are w0, w1, …). */
  workerId?: () => string
  /** Reopen every sent descriptor read-only (default true; see ExternalWorkerConnection.send). */
  reopenSent?: boolean
  logger?: WorkerSocketLogger
  socketMode?: number
  folderMode?: number
}

export interface WorkerSocketServerEvents {
  /** A worker passed the peer check and the token and was welcomed; its 'ready' follows. */
  connection: [connection: ExternalWorkerConnection]
}

const DEFAULT_TIMINGS: WorkerSocketTimings = { helloTimeoutMs: 5000, readyTimeoutMs: 60_000, refusalLingerMs: 1000 }

const silentLogger: WorkerSocketLogger = { info () {}, warn () {}, error () {} }

/** Where the worker socket goes without --worker-socket: beside the attach socket. */
export function defaultWorkerSocketPath (attachSocketPath: string): string {
  return path.join(path.dirname(path.resolve(attachSocketPath)), 'worker.sock')
}

export class WorkerSocketServer extends EventEmitter<WorkerSocketServerEvents> {
  readonly path: string
  readonly timings: WorkerSocketTimings
  #options: WorkerSocketServerOptions
  #allowedUids: ReadonlySet<number>
  #logger: WorkerSocketLogger
  #listener: native.SeqpacketServer | null = null
  /** Every connection whose socket is open, refused ones still lingering included. */
  #connections = new Set<ExternalWorkerConnection>()
  #nextId = 0

  constructor (options: WorkerSocketServerOptions) {
    super()
    this.path = path.resolve(options.path)
    this.#options = options
    this.#allowedUids = new Set(options.allowedUids ?? [process.getuid?.() ?? 0])
    this.#logger = options.logger ?? silentLogger
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings }
  }

  get listening (): boolean { return this.#listener !== null }

  /** Connections whose socket is open (handshaking, serving, or refused and lingering). */
  get connections (): number { return this.#connections.size }

  /** Connections past the handshake, serving jobs. */
  get accepted (): ExternalWorkerConnection[] { return [...this.#connections].filter((c) => c.open) }

  start (): void {
    if (this.#listener !== null) throw new Error('The worker socket is already listening')
    prepareSocketFolder(path.dirname(this.path), this.#options.folderMode ?? 0o700)
    const listener = native.listenSeqpacket(this.path, {
      mode: this.#options.socketMode ?? 0o600,
      channel: { maxMessageBytes: WORKER_SOCKET_LIMITS.maxMessageBytes, maxFds: WORKER_SOCKET_LIMITS.maxFds }
    })
    // Both run inside the addon's callback, where a throw would be fatal: they catch everything.
    listener.on('connection', (channel) => {
      try {
        this.#accept(channel)
      } catch (err) {
        this.#logger.error({ err }, 'worker socket connection could not be set up')
        channel.close()
      }
    })
    listener.on('error', (err) => { this.#logger.error({ err }, 'worker socket could not accept a connection') })
    this.#listener = listener
    this.#logger.info({ path: this.path, allowedUids: [...this.#allowedUids], token: this.#options.token != null }, `worker socket listening at ${this.path}`)
  }

  /**
   * Stops listening and removes the socket file. Connections not yet welcomed are closed; those
   * handed on ('connection') stay open: their owner (the pool) ends them as it closes.
   */
  stopListening (): void {
    this.#listener?.close()
    this.#listener = null
    for (const connection of [...this.#connections]) {
      if (connection.state === 'hello') connection.close({ code: 'SHUTTING_DOWN', message: 'The server is closing' })
    }
  }

  /**
   * Stops listening, removes the socket file and closes every connection: each emits 'close'
   * (reason SHUTTING_DOWN), so whoever dispatches fails or requeues the jobs it had sent.
   */
  close (): void {
    this.#listener?.close()
    this.#listener = null
    for (const connection of [...this.#connections]) connection.close({ code: 'SHUTTING_DOWN', message: 'The server is closing' })
  }

  #accept (channel: native.Channel): void {
    const maxConnections = this.#options.maxConnections ?? 64
    // Lingering refusals count too, but only up to twice the bound: a flood is closed unanswered.
    if (this.#connections.size >= 2 * maxConnections) {
      channel.close()
      return
    }
    // SO_PEERCRED was taken by the kernel at connect time: it names the process that connected.
    const peer = channel.peer()
    const connection = new ExternalWorkerConnection(channel, peer, {
      token: this.#options.token ?? null,
      workerId: this.#options.workerId ?? (() => `x${this.#nextId++}`),
      helloTimeoutMs: this.timings.helloTimeoutMs,
      readyTimeoutMs: this.timings.readyTimeoutMs,
      refusalLingerMs: this.timings.refusalLingerMs,
      maxPendingMessages: this.#options.maxPendingMessages ?? 1024,
      reopenSent: this.#options.reopenSent ?? true,
      logger: this.#logger,
      onWelcome: (welcomed) => {
        try {
          this.emit('connection', welcomed)
        } catch (err) {
          this.#logger.error({ err }, 'a worker socket connection listener threw')
          welcomed.close()
        }
      },
      onClosed: (closed) => { this.#connections.delete(closed) }
    })
    this.#connections.add(connection)
    const serving = [...this.#connections].filter((c) => c.state !== 'closed').length - 1
    if (!this.#allowedUids.has(peer.uid)) {
      connection.refuse('PEER_NOT_ALLOWED', `uid ${peer.uid} may not use this worker socket`)
    } else if (serving >= maxConnections) {
      connection.refuse('SERVER_BUSY', `The worker socket serves at most ${maxConnections} workers; retry later`)
    }
  }
}
