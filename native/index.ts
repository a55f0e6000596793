// memfd-pool/native — the typed face of the C++ addon: memfd buffers, seals, shared mappings and
// SOCK_SEQPACKET channels that carry descriptors (SCM_RIGHTS). Usable on its own, without the
// server. Linux only.
//
// A descriptor number means something only inside the process that holds it: to give another
// process the same memory, send the descriptor over a Channel; the receiver gets its own number.
import { EventEmitter } from 'node:events'
import { constants as osConstants } from 'node:os'
import path from 'node:path'

/** An Error from a system call, shaped like Node's own (`err.code === 'EBADF'`). */
export interface SystemError extends Error {
  code: string
  errno?: number
  syscall?: string
  /** For ERR_TOO_MANY_DESCRIPTORS: the message's bytes (its descriptors were closed). */
  data?: Buffer
}

export type SealName = 'seal' | 'shrink' | 'grow' | 'write' | 'future-write' | 'exec'

interface Binding {
  memfdCreate (name: string, options?: { hugePages?: boolean }): number
  ftruncate (fd: number, size: number): void
  fileSize (fd: number): number
  allocate (fd: number, offset: number, length: number): void
  addSeals (fd: number, seals: SealName[]): SealName[]
  getSeals (fd: number): SealName[]
  reopenReadOnly (fd: number): number
  reopenReadWrite (fd: number): number
  fileLimit (): FileLimit
  raiseFileLimit (): FileLimit
  dup (fd: number): number
  close (fd: number): void
  accessMode (fd: number): 'r' | 'w' | 'rw'
  mapShared (fd: number, options: MapOptions): Buffer
  release (buffer: Buffer): boolean
  socketPair (): [number, number]
  connectSeqpacket (path: string): number
  setParentDeathSignal (signal: number): number
  NativeChannel: new (fd: number, listener: (type: string, a?: unknown, b?: unknown) => void, options?: ChannelOptions) => NativeChannel
  NativeListener: new (path: string, mode: number, onConnection: (fd: number) => void) => { close (): void, resume (): void }
}

interface NativeChannel {
  send (data: Uint8Array, fds?: readonly number[]): boolean
  close (): void
  peer (): PeerCredentials
  ref (): void
  unref (): void
  pending (): number
}

// The addon is built by `npm install` (node-gyp) into build/Release, two levels above dist/native.
const binding: Binding = require(path.join(__dirname, '..', '..', 'build', 'Release', 'memfd_pool.node'))

/**
 * Creates an anonymous memory file (`memfd_create(2)`) with `MFD_CLOEXEC | MFD_ALLOW_SEALING`,
 * plus `MFD_NOEXEC_SEAL` where the kernel has it (6.3+; older kernels fall back without it,
 * keeping sealing). `hugePages` adds `MFD_HUGETLB`: sizes must then be huge-page multiples, and
 * mapping fails with `ENOMEM` when the system reserves no huge pages. Returns the descriptor;
 * its size is 0 until `ftruncate`.
 */
export function memfdCreate (name: string, options: { hugePages?: boolean } = {}): number {
  return binding.memfdCreate(name, options)
}

/** Sets the file's size (`ftruncate(2)`); sizes are exact up to 2^53. */
export function ftruncate (fd: number, size: number): void { binding.ftruncate(fd, size) }

/** The file's size in bytes (`fstat(2)`). */
export function fileSize (fd: number): number { return binding.fileSize(fd) }

/**
 * Reserves memory for `[offset, offset + length)` now (`fallocate(2)`, extending the size when
 * needed), so a later write through a mapping cannot fail with `SIGBUS` when memory runs short.
 * Fails with `ENOSPC`/`ENOMEM` instead, at a time the caller can handle it.
 */
export function allocate (fd: number, offset: number, length: number): void { binding.allocate(fd, offset, length) }

/**
 * Adds seals (`fcntl(F_ADD_SEALS)`) and returns the seals now in force. `future-write` falls back
 * to `write` on kernels older than 5.1. `write` fails with `EBUSY` while any writable shared
 * mapping exists; `future-write` allows existing ones and forbids new writes and new writable
 * mappings. Fails with `EPERM` once `seal` is set or when the memfd was created without sealing.
 */
export function addSeals (fd: number, seals: readonly SealName[]): SealName[] { return binding.addSeals(fd, [...seals]) }

/** The seals in force (`fcntl(F_GET_SEALS)`); fails with `EINVAL` for a file that is not a memfd/shmem file. */
export function getSeals (fd: number): SealName[] { return binding.getSeals(fd) }

/**
 * A new read-only descriptor for the same memory, opened `O_RDONLY` through `/proc/self/fd/N`.
 * Whoever holds only this descriptor cannot map the memory writable (`EACCES`).
 */
export function reopenReadOnly (fd: number): number { return binding.reopenReadOnly(fd) }

/**
 * A new read-write descriptor for the same memory, opened `O_RDWR` through `/proc/self/fd/N`: an
 * open file description of its own, unlike `dup()`, so status flags its holder sets (`O_APPEND`)
 * or its file offset never reach the original. The inode's permissions decide, not `fd`'s mode: a
 * read-only descriptor of a memfd can be reopened writable this way (seals still apply).
 */
export function reopenReadWrite (fd: number): number { return binding.reopenReadWrite(fd) }

/** The process's open-file limit (`RLIMIT_NOFILE`); `Infinity` for `RLIM_INFINITY`. */
export interface FileLimit { soft: number, hard: number }

/** The open-file limit now in force (`getrlimit(2)`). */
export function fileLimit (): FileLimit { return binding.fileLimit() }

/**
 * Raises the soft open-file limit to the hard one (`setrlimit(2)`; always allowed) and returns
 * the limit now in force. Child processes spawned afterwards inherit it. (The node binary does
 * this at start-up; call it when something may have lowered the limit since.)
 */
export function raiseFileLimit (): FileLimit { return binding.raiseFileLimit() }

/** A duplicate descriptor (`F_DUPFD_CLOEXEC`) for the same open file. */
export function dup (fd: number): number { return binding.dup(fd) }

/** Closes a descriptor. */
export function close (fd: number): void { binding.close(fd) }

/** How the descriptor was opened: `'r'`, `'w'` or `'rw'`. */
export function accessMode (fd: number): 'r' | 'w' | 'rw' { return binding.accessMode(fd) }

export interface MapOptions {
  /** Bytes to map, at most 4 GiB (a Buffer's limit); 0 gives an empty Buffer. */
  length: number
  /** Byte offset into the file; need not be page-aligned. */
  offset?: number
  /** Map `PROT_READ | PROT_WRITE`. Default read-only: writes through the Buffer then crash the process (SIGSEGV). */
  writable?: boolean
  /** `MAP_POPULATE`: fault every page in now rather than on first touch. */
  populate?: boolean
}

const mappings = new WeakSet<Buffer>()

/**
 * Maps a file `MAP_SHARED` and returns a Buffer over the mapping: writes by any process sharing
 * the memory are visible through it. The mapping is removed when the Buffer is garbage
 * collected, or at once with `release()`. A read-only map of a write-sealed memfd falls back to
 * `MAP_PRIVATE` on kernels before 6.7, which refuse a shared one.
 */
export function mapShared (fd: number, options: MapOptions): Buffer {
  const buffer = binding.mapShared(fd, options)
  if (buffer.length > 0) mappings.add(buffer)
  return buffer
}

/**
 * Lets go of the file behind a Buffer returned by `mapShared` now, instead of when the Buffer is
 * collected: the address range is swapped for private zero pages, so the file's pages are no
 * longer referenced (`/proc/PID/maps` stops listing it; `addSeals(['write'])` no longer sees a
 * writable mapping). The Buffer stays valid memory and reads zeros from then on, so code still
 * holding it or its pointer (an async zlib or crypto call) cannot fault; the range is unmapped
 * when the Buffer is collected. Returns false when already released.
 */
export function release (buffer: Buffer): boolean {
  if (!mappings.has(buffer)) throw new TypeError('release() takes a Buffer returned by mapShared()')
  return binding.release(buffer)
}

/** Two connected `SOCK_SEQPACKET` descriptors (close-on-exec, non-blocking). */
export function socketPair (): [number, number] { return binding.socketPair() }

/**
 * Asks the kernel to send `signal` to this process when its parent exits (`prctl(2)`
 * `PR_SET_PDEATHSIG`; 0 clears it). Not kept across execve of a set-user-id program, and not
 * inherited by children. Returns the parent pid read just after: if it is not the parent the
 * caller expects, the parent died before the call and no signal will come.
 */
export function setParentDeathSignal (signal: NodeJS.Signals | number): number {
  const number = typeof signal === 'number' ? signal : osConstants.signals[signal]
  if (number === undefined) throw new RangeError(`unknown signal ${String(signal)}`)
  return binding.setParentDeathSignal(number)
}

export interface PeerCredentials {
  /** 0 when the peer lives in another pid namespace. */
  pid: number
  uid: number
  gid: number
}

export interface ChannelOptions {
  /** Largest message accepted or sent, in bytes (default 64 KiB, at most 1 MiB). */
  maxMessageBytes?: number
  /** Most descriptors accepted or sent in one message (default 16, at most 64; the kernel's cap is 253). */
  maxFds?: number
}

export interface ChannelEvents {
  /** A message; the listener owns `fds` and must close them. */
  message: [data: Buffer, fds: number[]]
  /**
   * A refused message (`ERR_TOO_MANY_DESCRIPTORS` — descriptors lost to MSG_CTRUNC, e.g. at
   * RLIMIT_NOFILE, with the message's bytes in `err.data` — or `ERR_MESSAGE_TOO_LARGE`: every
   * descriptor it carried was already closed, the channel stays open) or a socket failure
   * (followed by 'close').
   */
  error: [err: SystemError]
  /** Every queued message has been sent. */
  drain: []
  /** The channel is closed: by `close()` or because the peer went away. Emitted once. */
  close: []
}

/**
 * A message channel over a `SOCK_SEQPACKET` Unix socket it owns. Each message keeps its
 * descriptors (SCM_RIGHTS) with it; a received message's descriptors arrive close-on-exec
 * (`MSG_CMSG_CLOEXEC`) and belong to the 'message' listener (closed for you if there is none).
 */
export class Channel extends EventEmitter<ChannelEvents> {
  #native: NativeChannel
  #closed = false

  /** Takes ownership of `fd` (closed with the channel, and also when this constructor throws). */
  constructor (fd: number, options: ChannelOptions = {}) {
    super()
    this.#native = new binding.NativeChannel(fd, (type, a, b) => this.#onNative(type, a, b), options)
  }

  #onNative (type: string, a: unknown, b: unknown): void {
    switch (type) {
      case 'message': {
        const fds = b as number[]
        if (this.listenerCount('message') === 0) {
          for (const fd of fds) binding.close(fd)
          return
        }
        this.emit('message', a as Buffer, fds)
        return
      }
      case 'error':
        this.emit('error', a as SystemError)
        return
      case 'drain':
        this.emit('drain')
        return
      case 'close':
        this.#markClosed()
    }
  }

  #markClosed (): void {
    if (this.#closed) return
    this.#closed = true
    this.emit('close')
  }

  /**
   * Sends one message with optional descriptors in one `sendmsg(2)` (`MSG_NOSIGNAL`). The caller
   * keeps its own copies of `fds`. Returns true when sent now, false when queued because the
   * socket is full (sent in order once it drains; 'drain' follows). Throws on a closed channel,
   * `EPIPE` when the peer has gone, `EBADF` for a closed descriptor, or a limit exceeded.
   */
  send (data: Uint8Array | string, fds: readonly number[] = []): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    return this.#native.send(bytes, fds)
  }

  /** The peer's credentials at connect time (`SO_PEERCRED`). */
  peer (): PeerCredentials { return this.#native.peer() }

  /** Messages waiting for the socket to drain. */
  get pending (): number { return this.#native.pending() }

  get closed (): boolean { return this.#closed }

  /** Keep (default) or stop keeping the event loop alive while the channel is open. */
  ref (): this { this.#native.ref(); return this }
  unref (): this { this.#native.unref(); return this }

  /** Closes the socket, dropping queued messages (and closing their descriptor copies). 'close' follows on the next tick. */
  close (): void {
    if (this.#closed) return
    this.#native.close()
    process.nextTick(() => this.#markClosed())
  }
}

export interface ListenOptions {
  /** File mode of the socket (default 0o600). Keep it in a 0700 folder too. */
  mode?: number
  /** Options for every accepted Channel. */
  channel?: ChannelOptions
}

/** First and longest wait before accepting again after the open-file limit stopped it. */
const ACCEPT_RETRY_FIRST_MS = 25
const ACCEPT_RETRY_MAX_MS = 1000

const ERRNO_NAMES: Record<number, string> = { 24: 'EMFILE', 23: 'ENFILE', 105: 'ENOBUFS', 12: 'ENOMEM' }

/**
 * A listening `SOCK_SEQPACKET` socket; emits 'connection' with a Channel per client. When accept
 * fails for want of descriptors (`EMFILE`, `ENFILE`) or memory, it stops polling, emits 'error'
 * (once per episode, `err.code` naming the cause) and tries again after a back-off (25 ms doubling
 * to 1 s), so a server at its open-file limit does not spin on a readable socket; the waiting
 * clients are accepted once descriptors are free again, and 'resumed' is emitted then.
 */
export class SeqpacketServer extends EventEmitter<{ connection: [channel: Channel], error: [err: SystemError], resumed: [] }> {
  readonly path: string
  #native: { close (): void, resume (): void } | null
  #retryMs = 0
  #retryTimer: NodeJS.Timeout | null = null

  constructor (socketPath: string, options: ListenOptions = {}) {
    super()
    this.path = socketPath
    const channelOptions = options.channel ?? {}
    this.#native = new binding.NativeListener(socketPath, options.mode ?? 0o600, (fd) => {
      if (fd < 0) {
        this.#paused(-fd)
        return
      }
      if (this.#retryMs !== 0) {
        this.#retryMs = 0
        this.emit('resumed')
      }
      let channel: Channel
      try {
        channel = new Channel(fd, channelOptions)
      } catch (err) {
        this.emit('error', err as SystemError)
        return
      }
      if (this.listenerCount('connection') === 0) channel.close()
      else this.emit('connection', channel)
    })
  }

  /** True while accepting is stopped by a resource error, waiting to retry. */
  get paused (): boolean { return this.#retryTimer !== null }

  #paused (errno: number): void {
    const first = this.#retryMs === 0
    this.#retryMs = first ? ACCEPT_RETRY_FIRST_MS : Math.min(this.#retryMs * 2, ACCEPT_RETRY_MAX_MS)
    if (first) {
      const code = ERRNO_NAMES[errno] ?? `errno ${errno}`
      const err = new Error(`${code}: cannot accept a connection on ${this.path}; retrying every ${ACCEPT_RETRY_MAX_MS} ms at most`) as SystemError
      err.code = code
      err.errno = -errno
      err.syscall = 'accept4'
      this.emit('error', err)
    }
    // Unref'd: the listener itself keeps the loop alive while open.
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null
      this.#native?.resume()
    }, this.#retryMs).unref()
  }

  /** Stops listening and removes the socket file (only if it is still the one we created). */
  close (): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    this.#native?.close()
    this.#native = null
  }
}

/**
 * Listens on a Unix `SOCK_SEQPACKET` socket at `path`, created with `mode` (default 0o600). A
 * stale socket file left by a dead process is replaced; a live listener or a file that is not a
 * socket gives `EADDRINUSE`.
 */
export function listenSeqpacket (socketPath: string, options: ListenOptions = {}): SeqpacketServer {
  return new SeqpacketServer(socketPath, options)
}

/** Connects to a `SOCK_SEQPACKET` socket at `path`. */
export async function connectSeqpacket (socketPath: string, options: ChannelOptions = {}): Promise<Channel> {
  const fd = binding.connectSeqpacket(socketPath)
  return new Channel(fd, options)
}

export { OwnedFds } from './owned-fds'
