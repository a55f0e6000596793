// Which view the page shows, from the URL's hash, so that a detail view survives a reload and
// needs no server route: `#/jobs/ID` a job, `#/pipelines/ID` a pipeline, anything else the
// list. The list stays live underneath; a detail view gets the events before the list's state
// does (for its own objects) and is redrawn in the same batch as the tables.
import { createJobDetail } from './job-detail.js'
import { createPipelineView } from './pipeline-view.js'

const LIST_TITLE = 'memfd-pool dashboard'

/** The route a hash names: {view: 'list'} | {view: 'job' | 'pipeline', id}. */
export function parseRoute (hash) {
  const match = /^#\/(jobs|pipelines)\/([^/?#]+)$/.exec(hash)
  if (!match) return { view: 'list' }
  let id
  try {
    id = decodeURIComponent(match[2])
  } catch {
    return { view: 'list' }
  }
  return { view: match[1] === 'jobs' ? 'job' : 'pipeline', id }
}

const current = { route: null, detail: null, opened: false, streamLive: false }

/** Shows what the hash names; `onChange` asks for a redraw (a fetch answered, a button pressed). */
export function showRoute (onChange) {
  const route = parseRoute(location.hash)
  if (current.route && route.view === current.route.view && route.id === current.route.id) return
  current.route = route
  const list = document.getElementById('list-view')
  const detailView = document.getElementById('detail-view')
  const root = document.getElementById('detail-root')
  if (route.view === 'list') {
    current.detail = null
    current.opened = false
    root.replaceChildren()
    detailView.hidden = true
    list.hidden = false
    document.title = LIST_TITLE
    return
  }
  current.detail = route.view === 'job' ? createJobDetail(route.id, root, onChange) : createPipelineView(route.id, root, onChange)
  delete root.dataset.state
  list.hidden = true
  detailView.hidden = false
  document.title = `${current.detail.title} · memfd-pool`
  // Before the stream's first snapshot, events are not arriving yet: a request now could miss
  // a change made between its answer and the snapshot. So the view asks once the stream is live.
  current.opened = current.streamLive
  if (current.opened) current.detail.open()
  current.detail.flush()
  scrollTo(0, 0)
}

/** One event for the open detail view; true when it changed what the view shows. */
export function detailEvent (type, data) {
  return current.detail ? current.detail.event(type, data) : false
}

/**
 * A snapshot arrived: the stream is live. The first lets a view opened with the page ask the
 * server; a later one means events may have been missed, and the open view asks again.
 */
export function streamSnapshot () {
  current.streamLive = true
  if (!current.detail) return
  if (current.opened) {
    current.detail.refresh()
  } else {
    current.opened = true
    current.detail.open()
  }
}

export function flushDetail () {
  if (current.detail) current.detail.flush()
}
