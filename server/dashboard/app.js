// memfd-pool dashboard: one WebSocket to /v1/events (connection.js), the pool's state kept in
// Maps (state.js), the DOM patched in batches (render.js and the views it calls). Plain browser
// ES modules on purpose: no build step, nothing fetched from outside, no REST polling: the list
// lives on the snapshot and the events that follow it. A detail view (a job, a pipeline:
// detail-view.js) asks the server once as it opens, then follows the same events.
import { setToken } from './api.js'
import { flushCharts } from './charts.js'
import { EventConnection } from './connection.js'
import { detailEvent, showRoute, streamSnapshot } from './detail-view.js'
import { tickRunningDurations } from './jobs-table.js'
import { flushOverview } from './overview.js'
import { cancelFlush, flush, scheduleFlush } from './render.js'
import { applyEvent, applySnapshot } from './state.js'

const token = new URLSearchParams(location.search).get('token')
setToken(token)

const connection = new EventConnection({
  token,
  onSnapshot (data, clockOffset) {
    applySnapshot(data, clockOffset)
    streamSnapshot()
    flush()
  },
  onEvent (type, data) {
    const forDetail = detailEvent(type, data)
    if (applyEvent(type, data) || forDetail) scheduleFlush()
  }
})

const ticker = { timer: 0 }

function tick () {
  tickRunningDurations()
  flushCharts() // the window slides even when no stats arrive
}

function start () {
  if (!ticker.timer) ticker.timer = setInterval(tick, 1000)
  connection.start()
}

// Leaving the page (or entering the back/forward cache) closes the socket and stops every timer.
function stop () {
  clearInterval(ticker.timer)
  ticker.timer = 0
  cancelFlush()
  connection.stop()
}

addEventListener('pagehide', stop)
addEventListener('pageshow', (event) => {
  if (event.persisted) start()
})

addEventListener('hashchange', () => showRoute(scheduleFlush))

showRoute(scheduleFlush)
flushOverview()
flushCharts()
start()
