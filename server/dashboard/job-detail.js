// The job detail view (#/jobs/ID): everything the server says about one job — kind, state,
// params, result, error, attempts, timings, worker — and its input and output buffers with size,
// lineage, descriptor map and a download link; a Cancel button while it has not finished. The
// job and its buffers are fetched once as the view opens; events keep them current after.
import { getJson } from './api.js'
import { bufferCard, link, pipelineHref } from './buffer-card.js'
import { BufferWatch } from './buffer-watch.js'
import { cancelButton, noticeLine, requestCancel } from './cancel-control.js'
import { element, replaceKeepingFocus } from './dom.js'
import { humanDuration, show } from './formatting.js'
import { isFinished, newerJob } from './state-rank.js'
import { timeOf } from './state.js'

function since (from, to) {
  const a = timeOf(from)
  const b = timeOf(to)
  return a === null || b === null ? null : b - a
}

function time (iso) {
  const t = timeOf(iso)
  if (t === null) return '—'
  const node = document.createElement('time')
  node.dateTime = iso
  node.textContent = new Date(t).toLocaleTimeString(undefined, { hour12: false }) + `.${String(t % 1000).padStart(3, '0')}`
  return node
}

function json (value) {
  return element('pre', { className: 'json', text: value === null || value === undefined ? '—' : JSON.stringify(value, null, 2) })
}

export function createJobDetail (id, root, onChange) {
  const view = { job: null, loaded: false, loadError: null, notice: '', cancelling: false }
  const buffers = new BufferWatch((buffer) => buffer.producedBy && buffer.producedBy.job === id, onChange)
  let drawn = ''

  function load () {
    getJson(`/v1/jobs/${encodeURIComponent(id)}`).then(
      (job) => {
        view.job = newerJob(view.job, job)
        view.loaded = true
        view.loadError = null
        buffers.load([...(view.job.inputs ?? []), ...(view.job.outputs ?? [])])
        onChange()
      },
      (error) => {
        if (!view.loaded) view.loadError = error
        onChange()
      }
    )
  }

  function cancel () {
    requestCancel(view, `/v1/jobs/${encodeURIComponent(id)}/cancel`, (job) => {
      view.job = newerJob(view.job, job)
      return job.state === 'cancelled' ? 'cancelled' : 'cancel requested; the job stops at its next checkpoint'
    }, onChange)
  }

  function render () {
    const job = view.job
    if (!view.loaded) {
      const text = view.loadError ? `Job ${id}: ${view.loadError.code}: ${view.loadError.message}` : `Loading job ${id}…`
      root.replaceChildren(element('h2', { text: `Job ${id}` }), element('p', { className: view.loadError ? 'load-error' : 'muted', text }))
      root.dataset.state = view.loadError ? 'error' : 'loading'
      return
    }
    root.dataset.state = job.state
    const header = element('div', { className: 'detail-header' }, [
      element('h2', {}, [document.createTextNode('Job '), element('span', { className: 'mono', text: job.id })]),
      element('span', { className: 'badge', text: job.state })
    ])
    header.lastChild.dataset.state = job.state
    header.lastChild.id = 'job-state'
    if (!isFinished(job.state)) header.append(cancelButton('job-cancel', 'Cancel job', view, cancel))
    const notice = noticeLine('job-notice', view)

    const facts = element('dl', { className: 'facts' })
    const fact = (key, term, ...value) => {
      const dd = element('dd', {}, value)
      dd.dataset.field = key
      facts.append(element('div', {}, [element('dt', { text: term }), dd]))
    }
    fact('kind', 'Kind', document.createTextNode(show(job.kind)))
    if (job.pipeline) {
      fact('pipeline', 'Pipeline', link(pipelineHref(job.pipeline), job.pipeline, 'mono'), document.createTextNode(job.step ? ` · step ${job.step}` : ''))
    }
    fact('attempts', 'Attempts', document.createTextNode(`${show(job.attempts)} of ${show(job.maxAttempts)}`))
    fact('timeout', 'Timeout', document.createTextNode(job.timeoutMs ? humanDuration(job.timeoutMs) : 'none'))
    fact('workerPid', 'Worker PID', document.createTextNode(show(job.workerPid)))
    fact('progress', 'Progress', document.createTextNode(`${Math.round((job.state === 'succeeded' ? 1 : Number(job.progress) || 0) * 100)}%`))
    fact('queuedAt', 'Queued', time(job.queuedAt))
    fact('startedAt', 'Started', time(job.startedAt), document.createTextNode(job.startedAt ? ` (waited ${humanDuration(since(job.queuedAt, job.startedAt))})` : ''))
    fact('finishedAt', 'Finished', time(job.finishedAt), document.createTextNode(job.finishedAt
      ? ` (ran ${humanDuration(since(job.startedAt ?? job.queuedAt, job.finishedAt))}, ${humanDuration(since(job.queuedAt, job.finishedAt))} in all)`
      : ''))

    const error = job.error && typeof job.error === 'object' ? job.error : null
    const errorBlock = error
      ? element('p', { className: 'error' }, [element('strong', { className: 'error-code', text: show(error.code) }), document.createTextNode(` ${show(error.message)}`)])
      : element('p', { className: 'muted', text: 'none' })
    errorBlock.id = 'job-error'

    const params = json(job.params ?? null)
    params.id = 'job-params'
    const result = json(job.result ?? null)
    result.id = 'job-result'

    const list = (ids, role) => {
      const ul = element('ul', { className: 'buffer-cards' })
      ul.id = `job-${role}s`
      if (!ids.length) ul.append(element('li', { className: 'muted', text: role === 'input' ? 'no inputs' : isFinished(job.state) ? 'no outputs' : 'none yet' }))
      for (const bufferId of ids) ul.append(bufferCard(buffers.get(bufferId) ?? { id: bufferId }, role))
      return ul
    }

    replaceKeepingFocus(
      root, header, notice, facts,
      element('h3', { text: 'Params' }), params,
      element('h3', { text: 'Result' }), result,
      element('h3', { text: 'Error' }), errorBlock,
      element('h3', { text: 'Inputs' }), list(job.inputs ?? [], 'input'),
      element('h3', { text: 'Outputs' }), list(job.outputs ?? [], 'output')
    )
  }

  return {
    title: `Job ${id}`,
    open: load,
    /** After a reconnect the events in between are lost: ask again. */
    refresh: load,
    event (type, data) {
      if (type.startsWith('job.') && data && data.id === id) {
        // Kept even before the view's own request is answered: the answer may be the older word.
        view.job = newerJob(view.job, data)
        if (view.loaded) buffers.load(view.job.outputs ?? [])
        return true
      }
      return buffers.event(type, data)
    },
    flush () {
      // Redrawn only when what it shows changed, so a button keeps focus between events.
      const key = JSON.stringify([view, [...buffers.buffers]])
      if (key === drawn) return
      drawn = key
      render()
    }
  }
}
