// Draws what changed, in batches: events arriving close together are drawn together.
import { flushBuffers } from './buffers-table.js'
import { flushCharts } from './charts.js'
import { flushCluster } from './cluster-panel.js'
import { flushDetail } from './detail-view.js'
import { flushJobs } from './jobs-table.js'
import { flushOverview } from './overview.js'
import { dirty } from './state.js'
import { flushWorkers } from './workers-table.js'

const FLUSH_DELAY_MS = 50 // events arriving within this time are drawn together
const BUSY_FLUSH_DELAY_MS = 250 // ...and within this time when the last batch was large
const BUSY_BATCH = 50 // changed rows that make a batch large

const batch = { timer: 0, lastSize: 0 }

/** Draws everything marked dirty now. */
export function flush () {
  clearTimeout(batch.timer)
  batch.timer = 0
  batch.lastSize = dirty.jobs.size + dirty.buffers.size + dirty.workers.size
  flushDetail()
  flushWorkers()
  flushBuffers()
  flushJobs()
  flushCluster()
  if (dirty.pool) {
    flushOverview()
    dirty.pool = false
  }
  if (dirty.charts) {
    flushCharts()
    dirty.charts = false
  }
}

// Under thousands of jobs a second, redrawing the tables 20 times a second costs the browser more
// in layout than anyone can read; large batches slow the redraw rate instead.
export function scheduleFlush () {
  if (!batch.timer) batch.timer = setTimeout(flush, batch.lastSize > BUSY_BATCH ? BUSY_FLUSH_DELAY_MS : FLUSH_DELAY_MS)
}

export function cancelFlush () {
  clearTimeout(batch.timer)
  batch.timer = 0
}
