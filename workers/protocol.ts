// Messages between the server and a worker process over their SOCK_SEQPACKET channel (fd 3 in
// the worker). One JSON object per message; descriptors ride along as SCM_RIGHTS and every
// message that carries some says how many (`fdCount`), because the kernel can drop descriptors
// silently while the data still arrives (a receiver at RLIMIT_NOFILE, an LSM denying one).
//
// Descriptor *numbers* in these messages are for display only (the dashboard's descriptor map);
// nobody uses a number from the other side.
import { OwnedFds } from '../native/owned-fds'

/** Limits of the worker channel (both ends construct their Channel with these). */
export const WORKER_CHANNEL = { maxMessageBytes: 256 * 1024, maxFds: 32 } as const

/**
 * Inputs of one run to a worker process of ours: past WORKER_CHANNEL.maxFds they travel in
 * 'inputs' messages ahead of the 'run' (server/schemas/limits.ts MAX_JOB_INPUTS equals this; a
 * test keeps them equal). External workers take at most maxFds (server/worker-socket/protocol.ts).
 */
export const MAX_RUN_INPUTS = 64

export interface InputDescriptor {
  /** Buffer id and generation: the key any worker-side cache must use, never the fd number. */
  id: string
  generation: number
  size: number
}

/**
 * What a worker serves, as it reports it in 'ready' (and what an external worker declares): the
 * server's kind registry is built from these reports alone; no kind module is loaded by the server.
 */
export interface KindReport {
  name: string
  description: string
  /** How many input buffers a job of the kind takes. */
  inputs: { min: number, max: number }
  /** How many output buffers it may produce (pipelines check `{step, output: N}` against max). */
  outputs: { min: number, max: number }
  /** The params as plain JSON Schema (a TypeBox schema serialised), or null: any object. */
  params: Record<string, unknown> | null
}

/**
 * The worker's settings, sent once in 'config' right after its 'hello': every setting a worker
 * obeys comes from the server's settings table (server/config.ts, scope 'worker'), none from
 * environment variables read at import.
 */
export interface WorkerConfig {
  /** piscina threads = jobs run at once. */
  threads: number
  /** Folder of custom kind modules, or null. */
  kindsDir: string | null
  /** Custom kind module files (createPool({ kinds })), loaded after the folder's. */
  kindFiles: string[]
  /** How long a cancelled job's thread may take to stop before it is terminated. */
  cancelGraceMs: number
  /** 'started' is sent only for jobs still running after this long. */
  startedAfterMs: number
  /** Built-in O(1) kinds run on the worker's main thread instead of a piscina thread. */
  inlineKinds: string[]
  /** Input mappings kept between jobs: at most this many, and this many bytes. */
  mappingCache: { entries: number, bytes: number }
  /** Helper threads for a parallel sort (null: the machine's parallelism, at most 8). */
  sortThreads: number | null
}

export type ServerMessage =
  /** The worker's settings, once, answering its 'hello'. */
  | { t: 'config', config: WorkerConfig }
  /** Heartbeat: the worker answers 'pong' with the same seq from its main thread. */
  | { t: 'ping', seq: number }
  /**
   * Input descriptors of a run that has more than fit in one message (WORKER_CHANNEL.maxFds):
   * sent right before its 'run', nothing else between them, each with up to maxFds of them, in
   * order; 'run' carries the rest. 'run'.inputs lists every input; the worker checks the total
   * against it and drops held 'inputs' when anything other than that job's next part arrives.
   */
  | { t: 'inputs', job: string, fdCount: number }
  /** Run a job; its input descriptors (read-only reopens) come with it, in order (see 'inputs'). */
  | { t: 'run', job: string, kind: string, params: Record<string, unknown>, inputs: InputDescriptor[], fdCount: number, maxOutputBytes: number }
  /**
   * Several jobs in one message (one sendmsg, one wake-up of the worker): the runs dispatched to
   * this worker at once. Their descriptors come in order, each run's `fdCount` of them.
   */
  | { t: 'batch', messages: ServerMessage[] }
  /** Stop a job: the kind's AbortSignal fires; the thread is terminated if it will not stop. */
  | { t: 'cancel', job: string, reason: 'CANCELLED' | 'TIMEOUT' }
  /** These buffers were deleted: drop any mapping of them kept between jobs (see input-mappings.ts). */
  | { t: 'forget', buffers: string[] }
  /** Finish running jobs, then exit. */
  | { t: 'shutdown' }

export type WorkerMessage =
  /** First message of a worker process; the server answers with 'config'. */
  | { t: 'hello', pid: number, protocol: 1 }
  /** Config applied and kinds loaded: from now on the worker takes runs. */
  | { t: 'ready', threads: number, kinds: KindReport[] }
  /**
   * The worker cannot start (a kind file that is not a kind, a bad params schema): `error.message`
   * names the file and the reason. The worker exits after sending it; the server does not restart
   * it in a loop but fails its start with this message.
   */
  | { t: 'fatal', error: { code: string, message: string } }
  | { t: 'pong', seq: number }
  /**
   * Output descriptors of a job that has more than fit in one message (WORKER_CHANNEL.maxFds):
   * sent before its 'done', each with up to maxFds of them, in order; 'done' carries the rest.
   * 'done'.outputs lists every output; the server checks the total against it.
   */
  | { t: 'outputs', job: string, fdCount: number }
  /** The job reached a thread; `fds` are the worker's local numbers for its inputs. */
  | { t: 'started', job: string, fds: number[] }
  | { t: 'progress', job: string, progress: number }
  /**
   * Outputs come as sealed memfds with this message, in order. `runMs`: how long the kind ran on
   * its thread (not counting any wait for one); the server's automatic prefetch goes by it.
   */
  | { t: 'done', job: string, ok: true, result: Record<string, unknown>, outputs: Array<{ size: number }>, fdCount: number, runMs?: number }
  | { t: 'done', job: string, ok: false, error: { code: string, message: string }, fdCount: 0, runMs?: number }
  /**
   * Several answers in one message (one sendmsg, one wake-up of the server): the 'done's of the
   * jobs that finished in one turn of the worker's event loop. Their descriptors come in order,
   * each answer's `fdCount` of them.
   */
  | { t: 'batch', messages: WorkerMessage[] }

export function encode (message: ServerMessage | WorkerMessage): Buffer {
  return Buffer.from(JSON.stringify(message))
}

const BATCH_HEAD = Buffer.from('{"t":"batch","messages":[')
const BATCH_TAIL = Buffer.from(']}')
const COMMA = Buffer.from(',')

/**
 * Packs encoded messages, in order, into as few messages as the channel's limits allow: a
 * 'batch' of several, or the message itself when it travels alone. Each message's descriptors go
 * with it, in order. `count` says how many of `entries` each packed message holds.
 */
export function packBatches (entries: ReadonlyArray<{ data: Buffer, fds: readonly number[] }>): Array<{ data: Buffer, fds: number[], count: number }> {
  const packed: Array<{ data: Buffer, fds: number[], count: number }> = []
  let next = 0
  while (next < entries.length) {
    const first = next
    let bytes = BATCH_HEAD.length + BATCH_TAIL.length
    let fdCount = 0
    while (next < entries.length) {
      const entry = entries[next]
      const fits = bytes + entry.data.length + 1 <= WORKER_CHANNEL.maxMessageBytes && fdCount + entry.fds.length <= WORKER_CHANNEL.maxFds
      if (!fits && next > first) break
      bytes += entry.data.length + 1
      fdCount += entry.fds.length
      next++
    }
    const group = entries.slice(first, next)
    const parts: Buffer[] = [BATCH_HEAD]
    group.forEach((entry, i) => { if (i > 0) parts.push(COMMA); parts.push(entry.data) })
    parts.push(BATCH_TAIL)
    packed.push({
      data: group.length === 1 ? group[0].data : Buffer.concat(parts),
      fds: group.flatMap((entry) => entry.fds),
      count: group.length
    })
  }
  return packed
}

/**
 * The parts of a received 'batch', each with its own descriptors (its `fdCount` of them, in
 * order): the inverse of packBatches, used by both ends. When the counts do not add up to the
 * descriptors that came, every descriptor is closed and each part comes with none, so the
 * receiver fails the jobs whose descriptors went missing instead of giving one job another's.
 * Parts that are not messages (no string `t`) and nested batches are dropped, their descriptors
 * closed. `fds` is emptied either way.
 */
export function unpackBatch (messages: unknown, fds: OwnedFds): Array<{ message: WorkerMessage | ServerMessage, fds: OwnedFds }> {
  const parts = Array.isArray(messages) ? messages as unknown[] : []
  const counts = parts.map((part) => {
    const n = (part as { fdCount?: unknown } | null)?.fdCount
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0
  })
  const consistent = counts.reduce((a, b) => a + b, 0) === fds.remaining
  if (!consistent) fds.closeAll()
  const out: Array<{ message: WorkerMessage | ServerMessage, fds: OwnedFds }> = []
  parts.forEach((part, i) => {
    const mine = consistent ? fds.split(counts[i]) : OwnedFds.empty()
    const t = (part as { t?: unknown } | null)?.t
    if (typeof t !== 'string' || t === 'batch') {
      mine.closeAll()
      return
    }
    out.push({ message: part as WorkerMessage | ServerMessage, fds: mine })
  })
  fds.closeAll()
  return out
}

/** Parses a message; null when it is not a JSON object with a string `t`. */
export function decode<T extends { t: string }> (data: Buffer): T | null {
  try {
    const value = JSON.parse(data.toString('utf8')) as unknown
    if (value !== null && typeof value === 'object' && typeof (value as { t?: unknown }).t === 'string') return value as T
  } catch { /* fall through */ }
  return null
}
