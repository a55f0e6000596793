// The one WebSocket to /v1/events: connects, reconnects with a jittered backoff, resyncs (a new
// connection, so a fresh snapshot) when the server says this page lagged, and shows the
// connection's state in the header. It is the page's only source of data: no REST requests.
import { setText } from './dom.js'

const RETRY_FIRST_MS = 250
const RETRY_MAX_MS = 5000
/** Close codes that are the server refusing us (a wrong token, too many subscribers): said as such. */
const REFUSALS = new Set([1008, 1013])

export class EventConnection {
  #token
  #onSnapshot
  #onEvent
  #socket = null
  #live = false
  #everLive = false
  #retryTimer = 0
  #retryDelay = RETRY_FIRST_MS
  #lastResync = 0
  #stopped = true

  /**
   * onSnapshot(data, clockOffset) replaces the page's state; onEvent(type, data) applies one event.
   * clockOffset is this page's clock minus the server's, measured at the snapshot.
   */
  constructor ({ token, onSnapshot, onEvent }) {
    this.#token = token
    this.#onSnapshot = onSnapshot
    this.#onEvent = onEvent
  }

  start () {
    this.#stopped = false
    if (!this.#socket && !this.#retryTimer) this.#connect()
  }

  /** Leaving the page (or entering the back/forward cache): close, and do not come back. */
  stop () {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    this.#retryTimer = 0
    this.#drop()
  }

  #url () {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const query = this.#token ? `?token=${encodeURIComponent(this.#token)}` : ''
    return `${scheme}://${location.host}/v1/events${query}`
  }

  #setStatus (status, detail = '') {
    const el = document.getElementById('connection')
    if (el.dataset.state !== status) {
      el.dataset.state = status
      el.textContent = status
      document.documentElement.dataset.connection = status
    }
    setText(document.getElementById('connection-detail'), detail)
  }

  #connect () {
    this.#retryTimer = 0
    if (this.#stopped) return
    this.#setStatus(this.#everLive ? 'reconnecting' : 'connecting')
    const ws = new WebSocket(this.#url())
    this.#socket = ws
    ws.addEventListener('message', (event) => {
      if (this.#socket === ws) this.#onMessage(event.data)
    })
    // 'error' is always followed by 'close', which is where reconnecting happens.
    ws.addEventListener('close', (event) => {
      if (this.#socket !== ws) return
      this.#socket = null
      this.#live = false
      const refused = REFUSALS.has(event.code) || event.code >= 4000
      this.#scheduleReconnect(this.#retryDelay, refused ? `refused by the server: ${event.reason || event.code}` : '')
      this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS)
    })
  }

  #scheduleReconnect (delay, reason = '') {
    if (this.#stopped || this.#retryTimer) return
    // Jitter keeps many open dashboards from reconnecting in step after a server restart.
    const wait = Math.round(delay * (0.8 + Math.random() * 0.4))
    const retry = wait >= 1000 ? `retrying in ${Math.round(wait / 1000)} s` : ''
    this.#setStatus(this.#everLive ? 'reconnecting' : 'connecting', [reason, retry].filter(Boolean).join('; '))
    this.#retryTimer = setTimeout(() => this.#connect(), wait)
  }

  #drop () {
    const ws = this.#socket
    this.#socket = null
    this.#live = false
    if (ws) ws.close(1000, 'resync')
  }

  #onMessage (raw) {
    let message
    try {
      message = JSON.parse(raw)
    } catch {
      return // not JSON: nothing this page can use
    }
    if (!message || typeof message.type !== 'string') return
    if (message.type === 'snapshot') {
      const sent = Date.parse(message.ts)
      this.#onSnapshot(message.data || {}, Number.isNaN(sent) ? 0 : Date.now() - sent)
      this.#live = this.#everLive = true
      this.#retryDelay = RETRY_FIRST_MS
      this.#setStatus('live')
      return
    }
    if (!this.#live) return // events before the snapshot have nothing to apply to
    if (message.type === 'lagged') {
      // The server dropped events for us: the state here is stale. A new connection brings a fresh
      // snapshot; a browser that keeps lagging under load waits a moment between resyncs.
      const now = Date.now()
      const delay = now - this.#lastResync < 5000 ? 1000 : 0
      this.#lastResync = now
      this.#drop()
      this.#scheduleReconnect(delay)
      return
    }
    this.#onEvent(message.type, message.data || {})
  }
}
