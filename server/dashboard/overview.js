// The overview cards' figures: queue depth, throughput, memory against the quota, counters.
import { setText } from './dom.js'
import { humanBytes, integer, plainNumber } from './formatting.js'
import { state } from './state.js'

export function flushOverview () {
  const pool = state.pool
  const queueDepth = Number(pool.queueDepth) || 0
  const throughput = Number(pool.throughput) || 0
  const queueEl = document.getElementById('queue-depth')
  queueEl.dataset.value = String(queueDepth)
  setText(queueEl, plainNumber(queueDepth, 0))
  const throughputEl = document.getElementById('throughput')
  throughputEl.dataset.value = String(throughput)
  setText(throughputEl, plainNumber(throughput, throughput < 100 ? 1 : 0))

  const used = Number(pool.bytesInUse) || 0
  const quota = Number(pool.quotaBytes) || 0
  const meter = document.getElementById('memory')
  const percent = quota > 0 ? ` (${((used / quota) * 100).toFixed(1)}%)` : ''
  const text = `${humanBytes(used)} of ${quota > 0 ? humanBytes(quota) : 'no quota'}${percent}`
  meter.max = quota > 0 ? quota : 1
  meter.low = meter.max * 0.7
  meter.high = meter.max * 0.9
  meter.value = quota > 0 ? used : 0
  meter.dataset.bytesInUse = String(used)
  meter.dataset.quotaBytes = String(quota)
  setText(meter, text)
  setText(document.getElementById('memory-text'), text)

  const workerCount = typeof pool.workers === 'number'
    ? pool.workers
    : [...state.workers.values()].filter((w) => w.state !== 'exited').length
  setText(document.getElementById('worker-count'), integer.format(workerCount))
  setText(document.getElementById('running-count'), integer.format(Number(pool.running) || 0))
  setText(document.getElementById('jobs-done'), integer.format(Number(pool.jobsDone) || 0))
  const bufferCount = typeof pool.buffers === 'number' ? pool.buffers : state.buffers.size
  setText(document.getElementById('buffer-count'), integer.format(bufferCount))
}
