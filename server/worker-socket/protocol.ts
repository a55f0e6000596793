// The worker socket's handshake and the checks on what an external worker sends
// (docs/worker-protocol.md). After the handshake the messages are workers/protocol.ts's, but an
// external worker is a program we did not write: every message is checked here, before the
// engine sees it, and anything that does not parse as the protocol says closes the connection
// with a reason instead of reaching the dispatcher half-formed. Pure functions over values, so
// the rules can be read and tested apart from the socket.
import crypto from 'node:crypto'
import { MAX_RUN_INPUTS, WORKER_CHANNEL, type KindReport, type WorkerMessage } from '../../workers/protocol'

/** The only protocol version there is. */
export const WORKER_PROTOCOL = 1

/** Messages both ways are at most this many bytes, with at most this many descriptors (as for Node workers). */
export const WORKER_SOCKET_LIMITS = {
  maxMessageBytes: WORKER_CHANNEL.maxMessageBytes,
  maxFds: WORKER_CHANNEL.maxFds,
  /** Kinds one worker may declare. */
  maxKinds: 256,
  /** Jobs one worker may run at once (its `threads`). */
  maxThreads: 1024,
  /**
   * Inputs of a job: a 'run' to an external worker carries its inputs in one message, so no more
   * than a message may carry. Node workers take up to MAX_RUN_INPUTS (64) through 'inputs'
   * messages; this protocol does not have them (docs/worker-protocol.md), so a kind declared here
   * with more than 32 is refused, naming the limit.
   */
  maxInputs: WORKER_CHANNEL.maxFds,
  /** Outputs of a job ('outputs' messages carry them past one message's worth). */
  maxOutputs: 1024,
  /** A kind's params schema: JSON size and nesting depth (the same bounds as job params). */
  maxSchemaBytes: 64 * 1024,
  maxSchemaDepth: 32,
  maxDescriptionLength: 1000,
  maxNameLength: 64,
  maxTokenLength: 256,
  maxErrorMessageLength: 2000
} as const

/** Kind names: what a URL, a log line and a shell all take without quoting. */
const KIND_NAME = /^[A-Za-z][A-Za-z0-9_.:-]*$/
/** Error codes a worker reports for a job: UPPER_SNAKE, like the server's own. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/

export const WORKER_SOCKET_ERROR_CODES = {
  BAD_REQUEST: 'The message is not what the protocol expects at this point',
  PROTOCOL_UNSUPPORTED: `The server speaks worker protocol ${WORKER_PROTOCOL}`,
  FORBIDDEN: 'The worker token is missing or wrong',
  PEER_NOT_ALLOWED: 'The peer\'s uid may not use this socket',
  SERVER_BUSY: 'The server has as many external workers as it serves',
  UNEXPECTED_DESCRIPTOR: 'The message carried descriptors it may not carry',
  MESSAGE_TOO_LARGE: `A message is at most ${WORKER_CHANNEL.maxMessageBytes} bytes`,
  HANDSHAKE_TIMEOUT: 'The worker did not complete its handshake in time',
  KIND_REFUSED: 'The server will not take a kind the worker declared',
  PROTOCOL_ERROR: 'The worker broke the protocol',
  SHUTTING_DOWN: 'The server is closing',
  UNRESPONSIVE: 'The worker answered no ping within the heartbeat timeout',
  CANCEL_IGNORED: 'A job was cancelled or timed out and the worker did not end it within the kill grace',
  CHANNEL_LOST: 'A message could not be delivered to the worker'
} as const

export type WorkerSocketErrorCode = keyof typeof WORKER_SOCKET_ERROR_CODES

/** A message refused with a protocol code: the connection answers 'refused' and closes. */
export class WorkerSocketRefusal extends Error {
  readonly code: WorkerSocketErrorCode
  constructor (code: WorkerSocketErrorCode, message: string = WORKER_SOCKET_ERROR_CODES[code]) {
    super(message)
    this.name = 'WorkerSocketRefusal'
    this.code = code
  }
}

export interface HelloMessage { t: 'hello', pid: number, protocol: number, token?: string, name?: string }
export interface ReadyReport { threads: number, kinds: KindReport[] }

/** Server → external worker messages of the handshake (the rest are workers/protocol.ts ServerMessage). */
export type HandshakeReply =
  | { t: 'welcome', worker: string }
  | { t: 'accepted', kinds: string[] }
  | { t: 'refused', error: { code: string, message: string } }

// fatal: invalid UTF-8 is refused rather than replaced.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A peer's string in a message of ours: JSON-quoted and cut short, so no reply grows with it. */
export function quoted (value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
}

function member (object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isCount (value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

/** One message's bytes as a JSON object with a string `t`; throws BAD_REQUEST otherwise. */
export function parseMessage (data: Uint8Array): Record<string, unknown> & { t: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8.decode(data))
  } catch {
    throw new WorkerSocketRefusal('BAD_REQUEST', 'The message is not UTF-8 JSON')
  }
  if (!isObject(parsed)) throw new WorkerSocketRefusal('BAD_REQUEST', 'A message must be a JSON object')
  if (typeof parsed.t !== 'string') throw new WorkerSocketRefusal('BAD_REQUEST', 'A message needs a string "t"')
  return parsed as Record<string, unknown> & { t: string }
}

export function parseHello (message: Record<string, unknown>): HelloMessage {
  if (message.t !== 'hello') throw new WorkerSocketRefusal('BAD_REQUEST', `The first message must be "hello", not ${quoted(String(message.t))}`)
  const protocol = member(message, 'protocol')
  if (protocol !== WORKER_PROTOCOL) throw new WorkerSocketRefusal('PROTOCOL_UNSUPPORTED', `Protocol ${JSON.stringify(protocol) ?? 'missing'} is not supported; this server speaks protocol ${WORKER_PROTOCOL}`)
  const pid = member(message, 'pid')
  if (!isCount(pid, 0, 2 ** 31 - 1)) throw new WorkerSocketRefusal('BAD_REQUEST', '"pid" must be the worker\'s process id (an integer)')
  const hello: HelloMessage = { t: 'hello', pid, protocol }
  const token = member(message, 'token')
  if (token !== undefined && token !== null) {
    if (typeof token !== 'string' || token.length > WORKER_SOCKET_LIMITS.maxTokenLength) throw new WorkerSocketRefusal('BAD_REQUEST', `"token" must be a string of at most ${WORKER_SOCKET_LIMITS.maxTokenLength} characters`)
    hello.token = token
  }
  const name = member(message, 'name')
  if (name !== undefined && name !== null) {
    if (typeof name !== 'string' || name.length > WORKER_SOCKET_LIMITS.maxNameLength) throw new WorkerSocketRefusal('BAD_REQUEST', `"name" must be a string of at most ${WORKER_SOCKET_LIMITS.maxNameLength} characters`)
    hello.name = name
  }
  return hello
}

/** Nesting depth of a JSON value (a scalar is 0), stopping once past `limit`. */
function depthOf (value: unknown, limit: number, depth = 0): number {
  if (depth > limit || typeof value !== 'object' || value === null) return depth
  let deepest = depth
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, depthOf(child, limit, depth + 1))
    if (deepest > limit) break
  }
  return deepest
}

function range (value: unknown, what: string, max: number, fallback: { min: number, max: number } | null, why = ''): { min: number, max: number } {
  if (value === undefined && fallback !== null) return fallback
  if (!isObject(value) || !isCount(value.min, 0, max) || !isCount(value.max, 0, max) || value.min > value.max) {
    throw new WorkerSocketRefusal('BAD_REQUEST', `${what} must be {min, max} with 0 <= min <= max <= ${max}${why}`)
  }
  return { min: value.min, max: value.max }
}

/** One declared kind, checked and normalised (description defaults to '', outputs to {0, 0}). */
export function parseKindReport (value: unknown, index: number): KindReport {
  const at = `kinds[${index}]`
  if (!isObject(value)) throw new WorkerSocketRefusal('BAD_REQUEST', `${at} must be an object`)
  const { name, description, params } = value
  if (typeof name !== 'string' || name.length === 0 || name.length > WORKER_SOCKET_LIMITS.maxNameLength || !KIND_NAME.test(name)) {
    throw new WorkerSocketRefusal('BAD_REQUEST', `${at}.name must be 1-${WORKER_SOCKET_LIMITS.maxNameLength} characters: a letter, then letters, digits, _ . : -`)
  }
  if (description !== undefined && (typeof description !== 'string' || description.length > WORKER_SOCKET_LIMITS.maxDescriptionLength)) {
    throw new WorkerSocketRefusal('BAD_REQUEST', `${at}.description must be a string of at most ${WORKER_SOCKET_LIMITS.maxDescriptionLength} characters`)
  }
  const inputs = range(value.inputs, `${at}.inputs`, WORKER_SOCKET_LIMITS.maxInputs, null,
    ` (an external worker is sent a job's inputs in its one 'run' message, at most ${WORKER_SOCKET_LIMITS.maxFds} descriptors; only the server's own workers take up to ${MAX_RUN_INPUTS})`)
  const outputs = range(value.outputs, `${at}.outputs`, WORKER_SOCKET_LIMITS.maxOutputs, { min: 0, max: 0 })
  if (params !== undefined && params !== null) {
    if (!isObject(params)) throw new WorkerSocketRefusal('BAD_REQUEST', `${at}.params must be a JSON Schema object or null`)
    if (depthOf(params, WORKER_SOCKET_LIMITS.maxSchemaDepth) > WORKER_SOCKET_LIMITS.maxSchemaDepth) {
      throw new WorkerSocketRefusal('BAD_REQUEST', `${at}.params nests deeper than ${WORKER_SOCKET_LIMITS.maxSchemaDepth} levels`)
    }
    if (Buffer.byteLength(JSON.stringify(params)) > WORKER_SOCKET_LIMITS.maxSchemaBytes) {
      throw new WorkerSocketRefusal('BAD_REQUEST', `${at}.params is larger than ${WORKER_SOCKET_LIMITS.maxSchemaBytes} bytes of JSON`)
    }
  }
  return { name, description: description ?? '', inputs, outputs, params: params ?? null }
}

export function parseReady (message: Record<string, unknown>): ReadyReport {
  if (message.t !== 'ready') throw new WorkerSocketRefusal('BAD_REQUEST', `After "welcome" the worker sends "ready", not ${quoted(String(message.t))}`)
  const threads = member(message, 'threads')
  if (!isCount(threads, 1, WORKER_SOCKET_LIMITS.maxThreads)) throw new WorkerSocketRefusal('BAD_REQUEST', `"threads" must be an integer from 1 to ${WORKER_SOCKET_LIMITS.maxThreads}: the jobs it runs at once`)
  const kinds = member(message, 'kinds')
  if (!Array.isArray(kinds) || kinds.length === 0 || kinds.length > WORKER_SOCKET_LIMITS.maxKinds) {
    throw new WorkerSocketRefusal('BAD_REQUEST', `"kinds" must list 1 to ${WORKER_SOCKET_LIMITS.maxKinds} kinds`)
  }
  const reports = kinds.map(parseKindReport)
  const seen = new Set<string>()
  for (const report of reports) {
    if (seen.has(report.name)) throw new WorkerSocketRefusal('BAD_REQUEST', `Kind ${quoted(report.name)} is declared twice`)
    seen.add(report.name)
  }
  return { threads, kinds: reports }
}

/**
 * One message of an accepted worker (not a batch: see splitBatch), checked field by field.
 * Returns the message as the engine may trust it, and how many descriptors it claims.
 * Throws PROTOCOL_ERROR for anything the protocol does not allow.
 */
export function parseWorkerMessage (message: Record<string, unknown> & { t: string }): { message: WorkerMessage, fdCount: number } {
  const job = member(message, 'job')
  const needJob = (): string => {
    if (typeof job !== 'string' || job.length === 0 || job.length > 256) throw new WorkerSocketRefusal('PROTOCOL_ERROR', `"${message.t}" needs a "job" id`)
    return job
  }
  switch (message.t) {
    case 'pong': {
      const seq = member(message, 'seq')
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw new WorkerSocketRefusal('PROTOCOL_ERROR', '"pong" needs the integer "seq" of its ping')
      return { message: { t: 'pong', seq }, fdCount: 0 }
    }
    case 'started': {
      const id = needJob()
      const fds = member(message, 'fds')
      // Display numbers only (the dashboard's descriptor map): anything else is shown as unknown.
      const numbers = Array.isArray(fds) && fds.length <= WORKER_SOCKET_LIMITS.maxInputs ? fds.map((n) => (isCount(n, 0, 2 ** 31 - 1) ? n : -1)) : []
      return { message: { t: 'started', job: id, fds: numbers }, fdCount: 0 }
    }
    case 'progress': {
      const id = needJob()
      const progress = member(message, 'progress')
      if (typeof progress !== 'number' || !Number.isFinite(progress)) throw new WorkerSocketRefusal('PROTOCOL_ERROR', '"progress" must be a finite number from 0 to 1')
      return { message: { t: 'progress', job: id, progress: Math.min(1, Math.max(0, progress)) }, fdCount: 0 }
    }
    case 'outputs': {
      const id = needJob()
      const fdCount = member(message, 'fdCount')
      if (!isCount(fdCount, 1, WORKER_SOCKET_LIMITS.maxFds)) throw new WorkerSocketRefusal('PROTOCOL_ERROR', `"outputs" needs "fdCount" from 1 to ${WORKER_SOCKET_LIMITS.maxFds}`)
      return { message: { t: 'outputs', job: id, fdCount }, fdCount }
    }
    case 'done':
      return parseDone(message, needJob())
    default:
      throw new WorkerSocketRefusal('PROTOCOL_ERROR', `An external worker does not send ${quoted(message.t)}; it sends started, progress, outputs, done, pong or batch`)
  }
}

function parseDone (message: Record<string, unknown>, job: string): { message: WorkerMessage, fdCount: number } {
  const runMs = member(message, 'runMs')
  const timing = typeof runMs === 'number' && Number.isFinite(runMs) && runMs >= 0 ? { runMs } : {}
  const ok = member(message, 'ok')
  if (ok === false) {
    const error = member(message, 'error')
    if (!isObject(error) || typeof error.code !== 'string' || !ERROR_CODE.test(error.code) || typeof error.message !== 'string') {
      throw new WorkerSocketRefusal('PROTOCOL_ERROR', 'A failed "done" needs error {code: UPPER_SNAKE, message: string}')
    }
    if (member(message, 'fdCount') !== undefined && member(message, 'fdCount') !== 0) throw new WorkerSocketRefusal('PROTOCOL_ERROR', 'A failed "done" carries no descriptors (fdCount 0)')
    const text = error.message.length > WORKER_SOCKET_LIMITS.maxErrorMessageLength ? `${error.message.slice(0, WORKER_SOCKET_LIMITS.maxErrorMessageLength)}…` : error.message
    return { message: { t: 'done', job, ok: false, error: { code: error.code, message: text }, fdCount: 0, ...timing }, fdCount: 0 }
  }
  if (ok !== true) throw new WorkerSocketRefusal('PROTOCOL_ERROR', '"done" needs a boolean "ok"')
  const result = member(message, 'result')
  if (result !== undefined && !isObject(result)) throw new WorkerSocketRefusal('PROTOCOL_ERROR', '"done".result must be a JSON object')
  const outputs = member(message, 'outputs') ?? []
  if (!Array.isArray(outputs) || outputs.length > WORKER_SOCKET_LIMITS.maxOutputs || !outputs.every((o) => isObject(o) && isCount(o.size, 0, Number.MAX_SAFE_INTEGER))) {
    throw new WorkerSocketRefusal('PROTOCOL_ERROR', `"done".outputs must list at most ${WORKER_SOCKET_LIMITS.maxOutputs} {size} objects`)
  }
  const fdCount = member(message, 'fdCount') ?? 0
  if (!isCount(fdCount, 0, WORKER_SOCKET_LIMITS.maxFds)) throw new WorkerSocketRefusal('PROTOCOL_ERROR', `"done".fdCount must be an integer from 0 to ${WORKER_SOCKET_LIMITS.maxFds}`)
  return {
    message: { t: 'done', job, ok: true, result: result ?? {}, outputs: outputs.map((o: { size: number }) => ({ size: o.size })), fdCount, ...timing },
    fdCount
  }
}

/** The parts of a batch; a batch inside a batch, or anything but an array, is a protocol error. */
export function batchParts (message: Record<string, unknown>): Array<Record<string, unknown> & { t: string }> {
  const parts = member(message, 'messages')
  if (!Array.isArray(parts) || parts.length === 0) throw new WorkerSocketRefusal('PROTOCOL_ERROR', '"batch" needs a non-empty "messages" array')
  return parts.map((part) => {
    if (!isObject(part) || typeof part.t !== 'string') throw new WorkerSocketRefusal('PROTOCOL_ERROR', 'Every message of a batch is an object with a string "t"')
    if (part.t === 'batch') throw new WorkerSocketRefusal('PROTOCOL_ERROR', 'A batch cannot contain a batch')
    return part as Record<string, unknown> & { t: string }
  })
}

export function encodeReply (reply: HandshakeReply): Buffer {
  return Buffer.from(JSON.stringify(reply), 'utf8')
}

/** Compares secrets in constant time (over digests, so lengths leak nothing either). */
export function secretsEqual (a: string, b: string): boolean {
  const da = crypto.createHash('sha256').update(a).digest()
  const db = crypto.createHash('sha256').update(b).digest()
  return crypto.timingSafeEqual(da, db)
}
