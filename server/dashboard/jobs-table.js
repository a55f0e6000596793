// The jobs table: the newest jobs, with live progress and duration. A job's id links to its
// detail view, and a pipeline step's job to its pipeline's graph.
import { jobHref, pipelineHref } from './buffer-card.js'
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
    const idLink = element('a', { className: 'mono job-link', text: id })
    idLink.href = jobHref(id)
    const cells = {
      id: idLink,
      kind: element('td'),
      state: stateBadge(),
      progress,
      progressText: element('span', { className: 'progress-text' }),
      duration: element('td', { className: 'num' }),
      workerPid: element('td', { className: 'num mono' }),
      errorCode: element('strong', { className: 'error-code' }),
      errorMessage: element('span'),
      pipeline: element('td', { className: 'pipeline-cell' })
    }
    const tr = element('tr', {}, [
      element('td', {}, [cells.id]),
      cells.kind,
      element('td', {}, [cells.state]),
      element('td', { className: 'progress-cell' }, [cells.progress, cells.progressText]),
      cells.duration,
      cells.workerPid,
      element('td', { className: 'error' }, [cells.errorCode, cells.errorMessage]),
      cells.pipeline
    ])
    tr.dataset.jobId = id
    return { tr, cells, pipelineKey: null }
  },
  (row, job) => {
    const { cells, tr } = row
    tr.dataset.state = show(job.state)
    setText(cells.kind, show(job.kind))
    const pipelineKey = job.pipeline ? `${job.pipeline}\n${job.step ?? ''}` : ''
    if (pipelineKey !== row.pipelineKey) {
      row.pipelineKey = pipelineKey
      if (job.pipeline) {
        const a = element('a', { className: 'pipeline-link', text: job.step ? `${job.pipeline} · ${job.step}` : job.pipeline })
        a.href = pipelineHref(job.pipeline)
        a.dataset.pipeline = job.pipeline
        if (job.step) a.dataset.step = job.step
        cells.pipeline.replaceChildren(a)
      } else {
        cells.pipeline.replaceChildren()
      }
    }
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
