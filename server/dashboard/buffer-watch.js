// The buffers one detail view shows, kept current: taken from the page's live state when the
// view opens (asked of the server only when the snapshot left old buffers out), then changed by
// buffer.* events (holders while a job runs, deletion). A deleted buffer stays here with its
// size, so an intermediate a pipeline has freed still says how large it was.
import { getJson } from './api.js'
import { state } from './state.js'

export class BufferWatch {
  /** id → Buffer, plus {deleted, reason} once deleted or {missing} if the server had none. */
  buffers = new Map()
  /** Ids asked of the server (once each). */
  #asked = new Set()
  #onChange

  /** accepts(buffer): also keep a new buffer this view did not know of (an output as it is made). */
  constructor (accepts, onChange) {
    this.accepts = accepts
    this.#onChange = onChange
  }

  get (id) {
    return this.buffers.get(id) ?? null
  }

  /**
   * Learns the ids not yet known: from the page's state, which holds every live buffer when the
   * snapshot was complete (absent there means deleted: no request, no 404 in the console); else
   * from the server, where a 404 marks it gone.
   */
  load (ids) {
    for (const id of ids) {
      if (this.#asked.has(id) || this.buffers.has(id)) continue
      this.#asked.add(id)
      const live = state.buffers.get(id)
      if (live) {
        this.buffers.set(id, Object.assign({}, live))
        continue
      }
      if (state.buffersComplete) {
        this.buffers.set(id, { id, missing: true })
        continue
      }
      getJson(`/v1/buffers/${encodeURIComponent(id)}`).then(
        (buffer) => {
          const known = this.buffers.get(id)
          // An event came first: it is the newer word (a deletion above all).
          this.buffers.set(id, known ? Object.assign({}, buffer, known) : buffer)
          this.#onChange()
        },
        (error) => {
          if (!this.buffers.has(id)) this.buffers.set(id, { id, missing: true, status: error.code })
          this.#onChange()
        }
      )
    }
  }

  /** Applies one event; true when it changed a buffer of this view. */
  event (type, data) {
    const id = data && typeof data.id === 'string' ? data.id : null
    if (id === null || !type.startsWith('buffer.')) return false
    const known = this.buffers.get(id)
    switch (type) {
      case 'buffer.created':
      case 'buffer.sealed':
        if (!known && !this.accepts(data)) return false
        // A buffer made after the view looked (its event was on the way) is no longer missing.
        this.buffers.set(id, Object.assign({}, known, data, { missing: false }, type === 'buffer.sealed' ? { sealed: true } : {}))
        return true
      case 'buffer.holders':
        if (!known || !Array.isArray(data.descriptors)) return false
        this.buffers.set(id, Object.assign({}, known, { descriptors: data.descriptors }))
        return true
      case 'buffer.deleted':
        if (!known) return false
        this.buffers.set(id, Object.assign({}, known, { deleted: true, reason: data.reason ?? null, descriptors: [] }))
        return true
      default:
        return false
    }
  }
}
