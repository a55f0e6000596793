// The attach socket (docs/attach-protocol.md): a SOCK_SEQPACKET listener through which any local
// process of an allowed uid maps buffers by id and token, or hands the pool a sealed memfd of its
// own. Descriptors cross only as SCM_RIGHTS; numbers stay in their process.
//
// The listener owns the socket file and the connections; each AttachConnection owns its requests'
// descriptors and its peer's holder entries. Nothing here blocks: replies to a client that does
// not read queue in its channel, and past a bound the client is dropped.
import path from 'node:path'
import * as native from '../../native'
import type { BufferStore } from '../store/buffer-store'
import { AttachConnection, type AttachLogger } from './attach-connection'
import { MAX_MESSAGE_BYTES, RECEIVE_FDS_ROOM, encodeReply, errorReply, type AttachErrorCode } from './protocol'
import { prepareSocketFolder } from './socket-folder'

export interface AttachLimits {
  /** Connections served at once; one more is answered SERVER_BUSY and closed (default 64). */
  maxConnections: number
  /** Replies queued behind a client's full socket before it counts as not reading and is dropped (default 32). */
  maxPendingReplies: number
  /** How long a refused connection waits for the client's first request before closing (default 1000 ms). */
  refusalLingerMs: number
  /** Connections one peer process (by pid; by uid when the pid is 0, another namespace) may hold at once (default 8). */
  maxConnectionsPerPeer: number
  /** A connection without a request for this long is closed (default 60 000 ms). */
  idleTimeoutMs: number
}

export interface AttachServerOptions {
  store: BufferStore
  /** The socket's path; its folder is created (or checked) when the server starts. */
  path: string
  /** Peer uids allowed (SO_PEERCRED); default: this process's own uid only. */
  allowedUids?: number[]
  logger?: AttachLogger
  limits?: Partial<AttachLimits>
  /** The socket file's mode (default 0o600). Wider modes are for tests that must let another uid reach the socket. */
  socketMode?: number
  /** The folder's mode (default 0o700). */
  folderMode?: number
}

const DEFAULT_LIMITS: AttachLimits = { maxConnections: 64, maxPendingReplies: 32, refusalLingerMs: 1000, maxConnectionsPerPeer: 8, idleTimeoutMs: 60_000 }

/** The key a peer's connections are counted under. */
function peerKey (peer: native.PeerCredentials): string {
  return peer.pid > 0 ? `pid:${peer.pid}` : `uid:${peer.uid}`
}

const silentLogger: AttachLogger = { info () {}, warn () {}, error () {} }

export class AttachServer {
  /** The socket's absolute path. */
  readonly path: string
  readonly limits: AttachLimits
  #store: BufferStore
  #allowedUids: ReadonlySet<number>
  #logger: AttachLogger
  #socketMode: number
  #folderMode: number
  #listener: native.SeqpacketServer | null = null
  #connections = new Set<AttachConnection>()
  #perPeer = new Map<string, number>()
  /** Refused connections waiting to close (see #refuse), with their timers. */
  #refused = new Map<native.Channel, NodeJS.Timeout>()

  constructor (options: AttachServerOptions) {
    this.path = path.resolve(options.path)
    this.#store = options.store
    const ownUid = process.getuid?.() ?? 0
    this.#allowedUids = new Set(options.allowedUids ?? [ownUid])
    this.#logger = options.logger ?? silentLogger
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.#socketMode = options.socketMode ?? 0o600
    this.#folderMode = options.folderMode ?? 0o700
  }

  /** Connections being served now. */
  get connections (): number { return this.#connections.size }

  get listening (): boolean { return this.#listener !== null }

  /** True while accepting is paused because the process is at its open-file limit. */
  get acceptPaused (): boolean { return this.#listener?.paused ?? false }

  /**
   * Creates the folder (when it does not exist) and listens. A stale socket file left by a dead
   * server is replaced; a live listener or a file that is not a socket fails with EADDRINUSE,
   * said as what it means: which path is taken, and how to choose another.
   */
  start (): void {
    if (this.#listener !== null) throw new Error('The attach server is already listening')
    const folder = prepareSocketFolder(path.dirname(this.path), this.#folderMode)
    if (folder.warning !== null) this.#logger.warn({ path: this.path }, folder.warning)
    let listener: native.SeqpacketServer
    try {
      listener = native.listenSeqpacket(this.path, {
        mode: this.#socketMode,
        channel: { maxMessageBytes: MAX_MESSAGE_BYTES, maxFds: RECEIVE_FDS_ROOM }
      })
    } catch (err) {
      if ((err as native.SystemError).code !== 'EADDRINUSE') throw err
      const inUse = new Error(`The attach socket ${this.path} is in use: another memfd-pool server (or another program) listens there, or the path is not a socket. Stop that server, or give this one its own path with --attach-socket PATH (MEMFD_POOL_ATTACH_SOCKET)`) as native.SystemError
      inUse.code = 'EADDRINUSE'
      inUse.syscall = 'bind'
      throw inUse
    }
    // Both run inside the addon's callback, where a throw would be fatal: they catch everything.
    listener.on('connection', (channel) => {
      try {
        this.#accept(channel)
      } catch (err) {
        this.#logger.error({ err }, 'attach connection could not be set up')
        channel.close()
      }
    })
    listener.on('error', (err) => {
      if (['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM'].includes(err.code)) {
        // The listener stopped polling and retries with a back-off (native/index.ts): no spinning.
        this.#logger.warn({ code: err.code }, `attach socket paused accepting: the server is out of descriptors (${err.code}); retrying`)
      } else {
        this.#logger.error({ err }, 'attach socket could not accept a connection')
      }
    })
    listener.on('resumed', () => { this.#logger.info({}, 'attach socket accepting again') })
    this.#listener = listener
    this.#logger.info({ path: this.path, allowedUids: [...this.#allowedUids] }, `attach socket listening at ${this.path}`)
  }

  /** Stops listening, removes the socket file and closes every connection (their holder entries go too). */
  close (): void {
    this.#listener?.close()
    this.#listener = null
    for (const connection of [...this.#connections]) connection.close()
    for (const [channel, timer] of this.#refused) {
      clearTimeout(timer)
      channel.close()
    }
    this.#refused.clear()
  }

  #accept (channel: native.Channel): void {
    // SO_PEERCRED was taken by the kernel at connect time: it names the process that connected,
    // whatever it does later.
    const peer = channel.peer()
    if (!this.#allowedUids.has(peer.uid)) {
      this.#refuse(channel, peer, 'PEER_NOT_ALLOWED', `uid ${peer.uid} may not use this attach socket`)
      return
    }
    if (this.#connections.size >= this.limits.maxConnections) {
      this.#refuse(channel, peer, 'SERVER_BUSY', `The attach socket serves at most ${this.limits.maxConnections} connections; retry later`)
      return
    }
    // One process may not take every slot (issue 15, item 13): past its share it is refused,
    // while other processes still get in.
    const key = peerKey(peer)
    const held = this.#perPeer.get(key) ?? 0
    if (held >= this.limits.maxConnectionsPerPeer) {
      this.#refuse(channel, peer, 'SERVER_BUSY', `This process already holds ${held} attach connections, the most one peer may; close one (requests can share a connection)`)
      return
    }
    const connection = new AttachConnection(channel, peer, {
      store: this.#store,
      logger: this.#logger,
      maxPendingReplies: this.limits.maxPendingReplies,
      idleTimeoutMs: this.limits.idleTimeoutMs
    }, (closed) => {
      this.#connections.delete(closed)
      const left = (this.#perPeer.get(key) ?? 1) - 1
      if (left > 0) this.#perPeer.set(key, left)
      else this.#perPeer.delete(key)
    })
    this.#perPeer.set(key, held + 1)
    this.#connections.add(connection)
  }

  /**
   * Answers a connection we will not serve with one error reply, then closes it. Closing right
   * after sending would race with the client: if its first request is still unread in our socket
   * when we close, the kernel makes the client's next recvmsg fail with ECONNRESET before it sees
   * our reply. The native Channel has no shutdown(), so we linger instead: the connection closes
   * when the client's first request arrives (read and dropped, its descriptors closed), when the
   * client hangs up, or after `refusalLingerMs` — whichever comes first. Nothing the client sends
   * is ever handled.
   */
  #refuse (channel: native.Channel, peer: native.PeerCredentials, code: AttachErrorCode, message: string): void {
    this.#logger.warn({ peer, code }, `attach connection refused: ${message}`)
    // Bounded like served connections: a flood of refused peers is closed at once, unanswered.
    if (this.#refused.size >= this.limits.maxConnections) {
      channel.close()
      return
    }
    const finish = (): void => {
      const timer = this.#refused.get(channel)
      if (timer !== undefined) clearTimeout(timer)
      this.#refused.delete(channel)
      channel.close()
    }
    this.#refused.set(channel, setTimeout(finish, this.limits.refusalLingerMs))
    channel.on('message', (_data, fds) => {
      native.OwnedFds.from(fds).closeAll()
      finish()
    })
    channel.on('error', finish)
    channel.on('close', finish)
    try {
      channel.send(encodeReply(errorReply(code, message)))
    } catch {
      finish()
    }
  }
}
