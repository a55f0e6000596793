// The few REST requests the page makes, all from the detail views (a job, a pipeline) when they
// open and when a button is pressed; the list view lives on the event stream alone.
//
// With a token (the page was opened as /?token=…), every request carries it as
// `Authorization: Bearer`, the header the server checks on /v1. The token is never put in a
// request URL: a URL lands in the browser's history, in server and proxy logs and in Referer
// headers, and the server accepts `?token=` only where a browser cannot send a header at all
// (the WebSocket handshake of /v1/events, server/plugins/auth.ts). So a download with a token is
// fetched with the header and handed to the browser as a blob URL (downloadBuffer below).

const session = { token: null }

export function setToken (token) {
  session.token = token || null
}

export function hasToken () {
  return session.token !== null
}

function headers () {
  return session.token === null ? {} : { authorization: `Bearer ${session.token}` }
}

/** A refused request: the server's `{error: {code, message}}` when it sent one. */
export class RequestError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

async function refusal (response) {
  let code = `HTTP_${response.status}`
  let message = response.statusText || 'request failed'
  try {
    const body = await response.json()
    if (body && body.error) {
      code = String(body.error.code ?? code)
      message = String(body.error.message ?? message)
    }
  } catch { /* not JSON: the status says enough */ }
  return new RequestError(response.status, code, message)
}

async function send (method, path) {
  let response
  try {
    // No body, so no content type: the server refuses form-like bodies on POST (origin guard).
    response = await fetch(path, { method, headers: headers(), cache: 'no-store' })
  } catch (error) {
    throw new RequestError(0, 'NETWORK_ERROR', String(error && error.message ? error.message : error))
  }
  if (!response.ok) throw await refusal(response)
  return await response.json()
}

export const getJson = (path) => send('GET', path)
export const postJson = (path) => send('POST', path)

export function contentPath (bufferId) {
  return `/v1/buffers/${encodeURIComponent(bufferId)}/content`
}

/**
 * Saves a buffer's bytes as a file. Without a token the link's own href does it (the browser
 * streams it to disk, nothing held here). With one, the bytes are fetched with the header into a
 * Blob (held in this page's memory until saved) and saved through a temporary blob: URL.
 */
export async function downloadBuffer (bufferId, fileName) {
  let response
  try {
    response = await fetch(contentPath(bufferId), { headers: headers(), cache: 'no-store' })
  } catch (error) {
    throw new RequestError(0, 'NETWORK_ERROR', String(error && error.message ? error.message : error))
  }
  if (!response.ok) throw await refusal(response)
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = fileName
  document.body.append(link)
  link.click()
  link.remove()
  // Chromium reads a blob: URL when the download actually starts, after this task; revoked at
  // once, the save can fail. A minute is ample, and frees the bytes after.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
