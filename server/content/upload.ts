// Copies a request body into a buffer chunk by chunk as it arrives: one pwrite per socket read
// (BufferStore.write), so an upload of any size costs the heap nothing but the chunk in flight. Counts
// the bytes itself, because the octet-stream parser hands the raw stream over unread and
// Fastify's bodyLimit does not apply.
import type { IncomingMessage } from 'node:http'
import { ApiError } from '../errors'
import type { BufferStore } from '../pool/buffer-store'

export interface UploadTarget {
  store: BufferStore
  id: string
  /** Where the first byte goes. */
  offset: number
  /** Bytes the body may have: the buffer's remaining space from `offset`. */
  limit: number
  /** Abort with 408 when no byte arrives for this long (0: never). */
  idleTimeoutMs?: number
  /** Abort with 503 POOL_CLOSED when this fires (the server is shutting down). */
  signal?: AbortSignal
}

/** Refuses before reading when the headers already say the body cannot fit or cannot be stored raw. */
export function checkUploadHeaders (request: IncomingMessage, limit: number): void {
  const encoding = request.headers['content-encoding']
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported; send the bytes as they should be stored`)
  }
  const declared = declaredLength(request)
  if (declared !== null && declared > limit) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `The body (${declared} bytes) is larger than the ${limit} bytes left in the buffer`)
  }
}

/** The Content-Length header as a number, or null (chunked). Node's parser already rejected malformed ones. */
export function declaredLength (request: IncomingMessage): number | null {
  const header = request.headers['content-length']
  return header === undefined ? null : Number(header)
}

/**
 * Writes the body into the buffer; resolves with the byte count at the end of the body. Rejects
 * with PAYLOAD_TOO_LARGE as soon as the body passes `limit` (what was written stays written),
 * and with the stream's error when the client goes away. Never destroys the request: a refusal
 * still has to reach the client (the error handler drains the rest and closes the connection).
 */
export function streamIntoBuffer (request: IncomingMessage, target: UploadTarget): Promise<number> {
  const { store, id, offset, limit, idleTimeoutMs = 0, signal } = target
  return new Promise((resolve, reject) => {
    let written = 0
    let idle: NodeJS.Timeout | undefined
    const armIdleTimer = (): void => {
      if (idleTimeoutMs <= 0) return
      clearTimeout(idle)
      idle = setTimeout(() => {
        request.pause()
        finish(new ApiError('REQUEST_TIMEOUT', `No byte of the body arrived for ${idleTimeoutMs} ms (${written} received); the upload was aborted`))
      }, idleTimeoutMs)
    }
    const onAbort = (): void => {
      request.pause()
      finish(new ApiError('POOL_CLOSED', `The server is shutting down; the upload was aborted after ${written} bytes`))
    }
    const finish = (err: Error | null): void => {
      clearTimeout(idle)
      signal?.removeEventListener('abort', onAbort)
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
      request.off('close', onClose)
      if (err === null) resolve(written)
      else reject(err)
    }
    const onData = (chunk: Buffer): void => {
      if (written + chunk.length > limit) {
        request.pause()
        finish(new ApiError('PAYLOAD_TOO_LARGE', `The body is larger than the ${limit} bytes left in the buffer`))
        return
      }
      try {
        store.write(id, offset + written, chunk)
      } catch (err) {
        request.pause()
        finish(err as Error)
        return
      }
      written += chunk.length
      armIdleTimer()
    }
    const onEnd = (): void => { finish(null) }
    const onError = (err: Error): void => { finish(new ApiError('BAD_REQUEST', `The body could not be read: ${err.message}`)) }
    const onClose = (): void => {
      // Nobody is left to answer; a 4xx keeps the log honest (the client did this).
      if (!request.complete) finish(new ApiError('BAD_REQUEST', 'The client closed the connection before the body ended'))
    }
    if (signal?.aborted === true) {
      onAbort()
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
    request.on('close', onClose)
    armIdleTimer()
  })
}
