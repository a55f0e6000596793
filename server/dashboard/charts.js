// The two charts (queue depth, throughput) over the last five minutes, as SVG paths.
import { setText } from './dom.js'
import { plainNumber } from './formatting.js'
import { HISTORY_MS, state } from './state.js'

const SVG_NS = 'http://www.w3.org/2000/svg'
const CHART_W = 300
const CHART_H = 60
const CHART_GAP_MS = 5000 // samples further apart than this are not joined by a line

function chartParts (svg) {
  if (!svg.firstChild) {
    const area = document.createElementNS(SVG_NS, 'path')
    area.setAttribute('class', 'chart-area')
    const line = document.createElementNS(SVG_NS, 'path')
    line.setAttribute('class', 'chart-line')
    line.setAttribute('vector-effect', 'non-scaling-stroke')
    svg.append(area, line)
  }
  return { area: svg.firstChild, line: svg.lastChild }
}

function drawChart (id, field, title, unit) {
  const svg = document.getElementById(`${id}-chart`)
  const { area, line } = chartParts(svg)
  const now = Date.now()
  const samples = state.history.filter((s) => s.t >= now - HISTORY_MS)
  const peak = samples.reduce((max, s) => Math.max(max, s[field]), 0)
  const scale = peak > 0 ? peak : 1
  const x = (t) => (((t - (now - HISTORY_MS)) / HISTORY_MS) * CHART_W).toFixed(1)
  const y = (v) => (CHART_H - 2 - (v / scale) * (CHART_H - 6)).toFixed(1)

  // One segment per run of samples without a gap (a restart or a hidden tab leaves one).
  let linePath = ''
  let areaPath = ''
  let segment = []
  const closeSegment = () => {
    if (!segment.length) return
    const points = segment.map((s) => `${x(s.t)},${y(s[field])}`)
    if (points.length === 1) points.push(`${(Number(x(segment[0].t)) + 1).toFixed(1)},${y(segment[0][field])}`)
    linePath += `M${points.join('L')}`
    const first = x(segment[0].t)
    const last = points[points.length - 1].split(',')[0]
    areaPath += `M${first},${CHART_H}L${points.join('L')}L${last},${CHART_H}Z`
    segment = []
  }
  for (let i = 0; i < samples.length; i++) {
    if (i > 0 && samples[i].t - samples[i - 1].t > CHART_GAP_MS) closeSegment()
    segment.push(samples[i])
  }
  closeSegment()
  line.setAttribute('d', linePath || 'M0,0')
  area.setAttribute('d', areaPath || 'M0,0')
  svg.dataset.samples = String(samples.length)

  const digits = field === 'throughput' && peak < 100 ? 1 : 0
  setText(document.getElementById(`${id}-peak`), `peak ${plainNumber(peak, digits)}`)
  const current = samples.length ? samples[samples.length - 1][field] : null
  svg.setAttribute(
    'aria-label',
    current === null
      ? `${title} over the last 5 minutes: no samples yet`
      : `${title} over the last 5 minutes: now ${plainNumber(current, digits)} ${unit}, peak ${plainNumber(peak, digits)} ${unit}`
  )
}

export function flushCharts () {
  drawChart('queue-depth', 'queueDepth', 'Queue depth', 'jobs')
  drawChart('throughput', 'throughput', 'Throughput', 'jobs/s')
}
