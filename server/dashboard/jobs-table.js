// The jobs table: the newest jobs, with live progress and duration.
import { element, setBadge, setText, stateBadge } from './dom.js'
import { humanDuration, show } from './formatting.js'
import { dirty, state, timeOf } from './state.js'
import { tableView } from './table-view.js'

function jobDuration (job) {
  const started = timeOf(job.startedAt)
  if (started === null) return null
  const finished = timeOf(job.finishedAt)
  return (finished ?? Date.now()) - started
}

const view = tableView(
  '#jobs',
  (id) => {
    const progress = element('progress')
    progress.max = 1
    progress.setAttribute('aria-label', `Progress of job ${id}`)
    const cells = {
      id: element('td', { className: 'mono' }),
      kind: element('td'),
      state: stateBadge(),
      progress,
      progressText: element('span', { className: 'progress-text' }),
      duration: element('td', { className: 'num' }),
      workerPid: element('td', { className: 'num mono' }),
      errorCode: element('strong', { className: 'error-code' }),
      errorMessage: element('span')
    }
    const tr = element('tr', {}, [
      cells.id,
      cells.kind,
      element('td', {}, [cells.state]),
      element('td', { className: 'progress-cell' }, [cells.progress, cells.progressText]),
      cells.duration,
      cells.workerPid,
      element('td', { className: 'error' }, [cells.errorCode, cells.errorMessage])
    ])
    tr.dataset.jobId = id
    return { tr, cells }
  },
  (row, job) => {
    const { cells, tr } = row
    tr.dataset.state = show(job.state)
    setText(cells.id, show(job.id))
    setText(cells.kind, show(job.kind))
    setBadge(cells.state, job.state)
    let fraction = Number(job.progress)
    if (!Number.isFinite(fraction)) fraction = 0
    if (job.state === 'succeeded') fraction = 1
    fraction = Math.min(1, Math.max(0, fraction))
    cells.progress.value = fraction
    setText(cells.progressText, `${Math.round(fraction * 100)}%`)
    setText(cells.duration, humanDuration(jobDuration(job)))
    setText(cells.workerPid, show(job.workerPid))
    const error = job.error && typeof job.error === 'object' ? job.error : null
    setText(cells.errorCode, error ? show(error.code) : '')
    setText(cells.errorMessage, error && error.message ? ` ${error.message}` : '')
  }
)

export function flushJobs () {
  if (dirty.jobs.size) {
    view.patch(dirty.jobs, (id) => state.jobs.get(id))
    dirty.jobs.clear()
  }
  if (dirty.jobOrder) {
    view.order(state.jobOrder)
    dirty.jobOrder = false
  }
}

/** Running jobs' durations grow without events. */
export function tickRunningDurations () {
  for (const [id, row] of view.rows) {
    const job = state.jobs.get(id)
    if (job && job.state === 'running') setText(row.cells.duration, humanDuration(jobDuration(job)))
  }
}
