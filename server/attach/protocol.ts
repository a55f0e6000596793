// The attach socket's messages (docs/attach-protocol.md): limits, error codes, and the parsing
// of one request. Pure functions over bytes, so the rules can be read (and tested) apart from
// the socket that carries them.
import { MAX_TTL_MS } from '../schemas/limits'

/** Requests and replies are at most this many bytes of JSON. */
export const MAX_MESSAGE_BYTES = 64 * 1024

/**
 * Room for descriptors when receiving a request. A request may carry at most one, but the room is
 * larger so that a client's extras arrive in our table, where we close them and answer
 * TOO_MANY_DESCRIPTORS, instead of being cut off (MSG_CTRUNC; answered the same way).
 */
export const RECEIVE_FDS_ROOM = 16

/** Ids and tokens are short URL-safe strings; anything longer cannot name a buffer. */
const MAX_ID_LENGTH = 256

/** As POST /v1/buffers (server/schemas/buffer.ts): keeps every reply well under the limit. */
export const MAX_NAME_LENGTH = 200

export const ATTACH_ERROR_CODES = {
  BAD_REQUEST: 'The request is not a JSON object with the members its op needs',
  UNKNOWN_OP: 'The op is not ping, attach or register',
  NOT_FOUND: 'No live buffer has that id',
  FORBIDDEN: 'The attach token is wrong',
  BUFFER_SEALED: 'The buffer is sealed: only read-only access is possible',
  BUFFER_NOT_SEALED: 'The buffer is not sealed: attach it "r" with "unsealed": true, or "rw"',
  NOT_A_MEMFD: 'The descriptor is not a memfd',
  NOT_SEALED: 'The memfd lacks the shrink, grow and write seals',
  PAYLOAD_TOO_LARGE: 'The memfd is larger than the per-buffer maximum',
  QUOTA_EXCEEDED: 'The memfd does not fit in the remaining quota',
  TOO_MANY_BUFFERS: 'The server holds as many buffers as its open-file limit allows',
  RESOURCE_EXHAUSTED: 'The server is at its open-file limit; retry later',
  TOO_MANY_DESCRIPTORS: 'A request carries at most one descriptor',
  MESSAGE_TOO_LARGE: `A request is at most ${MAX_MESSAGE_BYTES} bytes`,
  UNEXPECTED_DESCRIPTOR: 'Only register carries a descriptor',
  PEER_NOT_ALLOWED: 'The peer\'s uid may not use this socket',
  SERVER_BUSY: 'The server has as many connections as it serves',
  INTERNAL_ERROR: 'The server failed to handle the request'
} as const

export type AttachErrorCode = keyof typeof ATTACH_ERROR_CODES

export function isAttachErrorCode (code: unknown): code is AttachErrorCode {
  return typeof code === 'string' && Object.hasOwn(ATTACH_ERROR_CODES, code)
}

/** A request refused with a protocol code; the connection answers it and stays usable. */
export class AttachRefusal extends Error {
  readonly code: AttachErrorCode
  constructor (code: AttachErrorCode, message: string = ATTACH_ERROR_CODES[code]) {
    super(message)
    this.name = 'AttachRefusal'
    this.code = code
  }
}

export type AttachMode = 'r' | 'rw'

export type AttachRequest =
  | { op: 'ping' }
  | { op: 'attach', buffer: string, token: string, mode: AttachMode, unsealed: boolean }
  | { op: 'register', name?: string, ttlMs?: number }

export interface BufferSummary { id: string, size: number, sealed: boolean }

export type AttachReply =
  | { ok: true, pid: number }
  | { ok: true, buffer: object, warning?: string }
  | { ok: false, error: { code: AttachErrorCode, message: string } }

// fatal: invalid UTF-8 is refused rather than replaced; ignoreBOM: a BOM stays in the text, where
// JSON.parse refuses it (the spec says requests have none).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A client's string in a message: JSON-quoted and cut short, so no reply can grow with it. */
export function quoted (value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
}

function member (object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

function requireString (object: Record<string, unknown>, key: string): string {
  const value = member(object, key)
  if (typeof value !== 'string') throw new AttachRefusal('BAD_REQUEST', `"${key}" must be a string`)
  if (value.length > MAX_ID_LENGTH) throw new AttachRefusal('BAD_REQUEST', `"${key}" is longer than ${MAX_ID_LENGTH} characters`)
  return value
}

/** Parses one request message. Throws AttachRefusal (BAD_REQUEST, UNKNOWN_OP). */
export function parseRequest (data: Uint8Array): AttachRequest {
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8.decode(data))
  } catch {
    throw new AttachRefusal('BAD_REQUEST', 'The request is not UTF-8 JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AttachRefusal('BAD_REQUEST', 'The request must be a JSON object')
  }
  const object = parsed as Record<string, unknown>
  const op = member(object, 'op')
  if (typeof op !== 'string') throw new AttachRefusal('BAD_REQUEST', '"op" must be a string')
  switch (op) {
    case 'ping':
      return { op }
    case 'attach': {
      const buffer = requireString(object, 'buffer')
      const token = requireString(object, 'token')
      const given = member(object, 'mode')
      const mode = given === undefined ? 'r' : given
      if (mode !== 'r' && mode !== 'rw') throw new AttachRefusal('BAD_REQUEST', '"mode" must be "r" or "rw"')
      const unsealed = member(object, 'unsealed') ?? false
      if (typeof unsealed !== 'boolean') throw new AttachRefusal('BAD_REQUEST', '"unsealed" must be a boolean')
      return { op, buffer, token, mode, unsealed }
    }
    case 'register': {
      const name = member(object, 'name')
      const ttlMs = member(object, 'ttlMs')
      if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > MAX_TTL_MS)) {
        throw new AttachRefusal('BAD_REQUEST', `"ttlMs" must be an integer from 1 to ${MAX_TTL_MS}`)
      }
      const lifetime = ttlMs === undefined ? {} : { ttlMs: ttlMs as number }
      if (name === undefined) return { op, ...lifetime }
      if (typeof name !== 'string') throw new AttachRefusal('BAD_REQUEST', '"name" must be a string')
      if (name.length > MAX_NAME_LENGTH) throw new AttachRefusal('BAD_REQUEST', `"name" is longer than ${MAX_NAME_LENGTH} characters`)
      return { op, name, ...lifetime }
    }
    default:
      throw new AttachRefusal('UNKNOWN_OP', `Unknown op ${quoted(op)}: use ping, attach or register`)
  }
}

export function errorReply (code: AttachErrorCode, message: string): AttachReply {
  return { ok: false, error: { code, message } }
}

/** A reply as the bytes of one message. */
export function encodeReply (reply: AttachReply): Buffer {
  return Buffer.from(JSON.stringify(reply), 'utf8')
}
