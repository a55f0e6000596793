// The pipeline view (#/pipelines/ID): the pipeline as a graph — a box per step, an edge per
// input carrying the buffer's size, existing buffers as source boxes — with live states, the
// pipeline's state, error and results, and a Cancel button while it runs. The pipeline and the
// buffers it reads are fetched once as the view opens; pipeline.*, job.* and buffer.* events
// keep it current after, without a request.
import { getJson } from './api.js'
import { bufferCard, jobHref, link } from './buffer-card.js'
import { BufferWatch } from './buffer-watch.js'
import { cancelButton, noticeLine, requestCancel } from './cancel-control.js'
import { element, replaceKeepingFocus } from './dom.js'
import { humanBytes, humanDuration, integer, show } from './formatting.js'
import { layoutPipeline } from './pipeline-layout.js'
import { isFinished, newerJob, newerStep, stepRank } from './state-rank.js'
import { timeOf } from './state.js'

const SVG_NS = 'http://www.w3.org/2000/svg'

function svg (tag, attributes = {}) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value))
  return node
}

export function createPipelineView (id, root, onChange) {
  const view = { pipeline: null, steps: new Map(), order: [], jobs: new Map(), loadError: null, notice: '', cancelling: false }
  const buffers = new BufferWatch((buffer) => buffer.producedBy && buffer.producedBy.pipeline === id, onChange)
  let layout = { key: null, value: null }
  let drawn = ''

  /** A pipeline object from the server (REST or event): its steps merged one by one, never backwards. */
  function mergePipeline (info) {
    const known = view.pipeline
    // A finished pipeline does not run again: a late `running` copy changes nothing of its own fields.
    if (!known || !isFinished(known.state) || isFinished(info.state)) view.pipeline = Object.assign({}, known, info, { steps: undefined })
    for (const step of Array.isArray(info.steps) ? info.steps : []) mergeStep(step)
  }

  function mergeStep (step) {
    if (!step || typeof step.id !== 'string') return
    if (!view.steps.has(step.id)) view.order.push(step.id)
    view.steps.set(step.id, newerStep(view.steps.get(step.id), step))
  }

  /** Buffers the graph names: the existing ones read, and every output made so far. */
  function edgeBuffers () {
    const ids = []
    for (const step of view.steps.values()) {
      for (const input of step.inputs ?? []) if (typeof input === 'string') ids.push(input)
      ids.push(...outputsOf(step))
    }
    return ids
  }

  function outputsOf (step) {
    if (Array.isArray(step.outputs) && step.outputs.length) return step.outputs
    const job = step.jobId ? view.jobs.get(step.jobId) : null
    return job && Array.isArray(job.outputs) ? job.outputs : []
  }

  /** The step's state as shown: its job's, when the job is further along (job.started says running). */
  function shownStep (step) {
    const job = step.jobId ? view.jobs.get(step.jobId) : null
    if (!job || stepRank(job.state) <= stepRank(step.state)) return step
    return Object.assign({}, step, { state: job.state, error: step.error ?? job.error ?? null })
  }

  function load () {
    getJson(`/v1/pipelines/${encodeURIComponent(id)}`).then(
      (pipeline) => {
        mergePipeline(pipeline)
        view.loadError = null
        buffers.load(edgeBuffers())
        onChange()
      },
      (error) => {
        if (!view.pipeline) view.loadError = error
        onChange()
      }
    )
  }

  function cancel () {
    requestCancel(view, `/v1/pipelines/${encodeURIComponent(id)}/cancel`, (pipeline) => {
      mergePipeline(pipeline)
      return pipeline.state === 'cancelled' ? 'cancelled' : 'cancel requested; running steps are stopping'
    }, onChange)
  }

  function sizeOf (bufferId) {
    const buffer = bufferId ? buffers.get(bufferId) : null
    return buffer && Number.isFinite(Number(buffer.size)) && buffer.size !== undefined ? Number(buffer.size) : null
  }

  function drawGraph (steps) {
    const key = JSON.stringify(steps.map((step) => [step.id, step.inputs]))
    if (layout.key !== key) layout = { key, value: layoutPipeline(steps) }
    const { nodes, edges, width, height } = layout.value
    const byKey = new Map(nodes.map((node) => [node.key, node]))
    const graph = element('div', { className: 'graph' })
    graph.id = 'pipeline-graph'
    graph.style.width = `${width}px`
    graph.style.height = `${height}px`
    graph.setAttribute('role', 'group')
    graph.setAttribute('aria-label', `Pipeline graph: ${steps.length} steps, ${edges.length} edges`)

    const picture = svg('svg', { class: 'graph-edges', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true' })
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' })
    marker.append(svg('path', { d: 'M0,0L10,5L0,10z', class: 'arrow-head' }))
    const defs = svg('defs')
    defs.append(marker)
    picture.append(defs)

    // Each box's edges leave and arrive spread along its side, ordered by where the other end
    // is (top to bottom), so a fan-in's labels and a fan-out's lines do not cross or pile up.
    const centre = (key) => { const node = byKey.get(key); return node.y + node.h / 2 }
    const slots = (end, other) => {
      const byNode = new Map()
      edges.forEach((edge, i) => {
        const list = byNode.get(edge[end]) ?? []
        list.push(i)
        byNode.set(edge[end], list)
      })
      const slot = new Map()
      for (const list of byNode.values()) {
        list.sort((a, b) => centre(edges[a][other]) - centre(edges[b][other]) || edges[a].input - edges[b].input)
        list.forEach((i, nth) => slot.set(i, { nth, count: list.length }))
      }
      return slot
    }
    const outSlot = slots('from', 'to')
    const inSlot = slots('to', 'from')
    const spread = (node, { nth, count }) => node.y + (node.h * (nth + 1)) / (count + 1)
    edges.forEach((edge, i) => {
      const from = byKey.get(edge.from)
      const to = byKey.get(edge.to)
      const x1 = from.x + from.w
      const y1 = spread(from, outSlot.get(i))
      const x2 = to.x
      const y2 = spread(to, inSlot.get(i))
      const mid = (x1 + x2) / 2
      const producer = edge.step ? view.steps.get(edge.step) : null
      const bufferId = edge.bufferId ?? (producer ? outputsOf(producer)[edge.output] ?? null : null)
      const size = sizeOf(bufferId)
      const buffer = bufferId ? buffers.get(bufferId) : null
      const freed = Boolean(buffer && (buffer.deleted || buffer.missing))
      const g = svg('g', { class: 'edge' })
      g.dataset.from = edge.from
      g.dataset.to = edge.to
      g.dataset.input = String(edge.input)
      if (bufferId) g.dataset.bufferId = bufferId
      if (size !== null) g.dataset.size = String(size)
      if (freed) g.dataset.freed = 'true'
      const path = svg('path', { d: `M${x1},${y1}C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: 'edge-line', 'marker-end': 'url(#arrow)' })
      // The label sits just before the arrow: beside the input it describes.
      const label = svg('text', { x: x2 - 10, y: y2 - 5, class: 'edge-label', 'text-anchor': 'end' })
      const never = producer && isFinished(shownStep(producer).state)
      let text = bufferId === null ? (never ? 'not made' : 'not made yet') : size === null ? (freed ? '' : '…') : humanBytes(size)
      if (freed) text = text ? `${text} · freed` : 'freed'
      label.textContent = text
      const title = svg('title')
      title.textContent = `${edge.from.slice(edge.from.indexOf(':') + 1)} → ${edge.to.slice(5)} input ${edge.input}: ${bufferId ?? text}${size === null ? '' : `, ${integer.format(size)} bytes`}`
      g.append(title, path, label)
      picture.append(g)
    })
    graph.append(picture)

    for (const node of nodes) {
      let box
      if (node.type === 'buffer') {
        const size = sizeOf(node.id)
        box = element('div', { className: 'graph-node source-box' }, [
          element('span', { className: 'mono', text: node.id }),
          element('span', { className: 'muted', text: size === null ? 'existing buffer' : `existing buffer · ${humanBytes(size)}` })
        ])
        box.dataset.bufferId = node.id
      } else {
        const step = shownStep(view.steps.get(node.id))
        const badge = element('span', { className: 'badge', text: step.state })
        badge.dataset.state = step.state
        const lines = [
          element('strong', { className: 'step-id', text: step.id }),
          element('span', { className: 'step-kind', text: step.kind }),
          badge
        ]
        if (step.jobId) lines.push(link(jobHref(step.jobId), step.jobId, 'mono step-job'))
        if (step.error) lines.push(element('span', { className: 'error-code', text: show(step.error.code) }))
        box = element('div', { className: 'graph-node step-box' }, lines)
        box.dataset.stepId = step.id
        box.dataset.state = step.state
        if (step.error) {
          box.dataset.errorCode = show(step.error.code)
          box.title = `${step.error.code}: ${step.error.message}`
        }
      }
      box.style.left = `${node.x}px`
      box.style.top = `${node.y}px`
      box.style.width = `${node.w}px`
      box.style.height = `${node.h}px`
      graph.append(box)
    }
    return element('div', { className: 'graph-wrap' }, [graph])
  }

  /** The same steps as a table: what the graph's boxes cannot hold (results, whole error messages). */
  function stepsTable (steps) {
    const body = element('tbody')
    for (const raw of steps) {
      const step = shownStep(raw)
      const badge = element('span', { className: 'badge', text: step.state })
      badge.dataset.state = step.state
      const error = step.error
        ? [element('strong', { className: 'error-code', text: show(step.error.code) }), document.createTextNode(` ${show(step.error.message)}`)]
        : []
      const result = element('td', { className: 'mono step-result', text: step.result ? JSON.stringify(step.result) : '' })
      result.title = result.textContent
      const tr = element('tr', {}, [
        element('td', { className: 'mono', text: step.id }),
        element('td', { text: step.kind }),
        element('td', {}, [badge]),
        element('td', {}, step.jobId ? [link(jobHref(step.jobId), step.jobId, 'mono')] : []),
        result,
        element('td', { className: 'error' }, error)
      ])
      tr.dataset.stepId = step.id
      tr.dataset.state = step.state
      body.append(tr)
    }
    const head = element('thead', {}, [element('tr', {}, ['Step', 'Kind', 'State', 'Job', 'Result', 'Error'].map((name) => {
      const th = element('th', { text: name })
      th.scope = 'col'
      return th
    }))])
    const table = element('table', { className: 'steps' }, [head, body])
    table.id = 'pipeline-steps'
    return element('div', { className: 'table-wrap' }, [table])
  }

  function render () {
    const pipeline = view.pipeline
    if (!pipeline) {
      const text = view.loadError ? `Pipeline ${id}: ${view.loadError.code}: ${view.loadError.message}` : `Loading pipeline ${id}…`
      root.replaceChildren(element('h2', { text: `Pipeline ${id}` }), element('p', { className: view.loadError ? 'load-error' : 'muted', text }))
      root.dataset.state = view.loadError ? 'error' : 'loading'
      return
    }
    root.dataset.state = pipeline.state
    const badge = element('span', { className: 'badge', text: pipeline.state })
    badge.id = 'pipeline-state'
    badge.dataset.state = pipeline.state
    const heading = element('h2', {}, [document.createTextNode('Pipeline '), element('span', { text: pipeline.name })])
    if (pipeline.name !== pipeline.id) heading.append(element('span', { className: 'mono muted', text: ` ${pipeline.id}` }))
    const header = element('div', { className: 'detail-header' }, [heading, badge])
    if (!isFinished(pipeline.state)) header.append(cancelButton('pipeline-cancel', 'Cancel pipeline', view, cancel))
    const notice = noticeLine('pipeline-notice', view)

    const steps = view.order.map((stepId) => view.steps.get(stepId))
    const counts = {}
    for (const step of steps) {
      const state = shownStep(step).state
      counts[state] = (counts[state] ?? 0) + 1
    }
    const created = timeOf(pipeline.createdAt)
    const finished = timeOf(pipeline.finishedAt)
    const facts = element('dl', { className: 'facts' }, [
      element('div', {}, [element('dt', { text: 'Steps' }), element('dd', { text: Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ') || '—' })]),
      element('div', {}, [element('dt', { text: 'Created' }), element('dd', { text: created === null ? '—' : new Date(created).toLocaleTimeString(undefined, { hour12: false }) })]),
      element('div', {}, [element('dt', { text: 'Took' }), element('dd', { text: finished === null || created === null ? 'running' : humanDuration(finished - created) })])
    ])

    const error = pipeline.error && typeof pipeline.error === 'object' ? pipeline.error : null
    const errorBlock = error
      ? element('p', { className: 'error' }, [
        element('strong', { className: 'error-code', text: show(error.code) }),
        document.createTextNode(` in step ${show(error.step)}: ${show(error.message)}`)
      ])
      : element('p', { className: 'muted', text: 'none' })
    errorBlock.id = 'pipeline-error'
    if (error) errorBlock.dataset.step = show(error.step)

    const results = element('ul', { className: 'buffer-cards' })
    results.id = 'pipeline-outputs'
    const outputs = pipeline.outputs && typeof pipeline.outputs === 'object' ? Object.entries(pipeline.outputs) : []
    for (const [stepId, ids] of outputs) {
      for (const bufferId of Array.isArray(ids) ? ids : []) {
        const card = bufferCard(buffers.get(bufferId) ?? { id: bufferId }, 'output')
        card.dataset.step = stepId
        card.prepend(element('p', { className: 'muted', text: `result of step ${stepId}` }))
        results.append(card)
      }
    }
    if (!results.childElementCount) results.append(element('li', { className: 'muted', text: isFinished(pipeline.state) ? 'no results' : 'none yet' }))

    replaceKeepingFocus(
      root, header, notice, facts,
      element('h3', { text: 'Graph' }), drawGraph(steps),
      element('h3', { text: 'Steps' }), stepsTable(steps),
      element('h3', { text: 'Error' }), errorBlock,
      element('h3', { text: 'Results' }), results
    )
  }

  return {
    title: `Pipeline ${id}`,
    open: load,
    refresh: load,
    event (type, data) {
      if (!data || typeof data !== 'object') return false
      if (type === 'pipeline.step') {
        if (data.pipeline !== id) return false
        mergeStep(data.step)
        return true
      }
      if (type.startsWith('pipeline.')) {
        if (data.id !== id) return false
        mergePipeline(data)
        return true
      }
      if (type.startsWith('job.')) {
        // job.progress names only the job: known by the step that ran it.
        const mine = data.pipeline === id || view.jobs.has(data.id)
        if (!mine) return false
        view.jobs.set(data.id, newerJob(view.jobs.get(data.id), data))
        return true
      }
      return buffers.event(type, data)
    },
    flush () {
      const key = JSON.stringify([view.pipeline, [...view.steps], [...view.jobs.values()].map((job) => [job.id, job.state, job.outputs]), view.notice, view.cancelling, view.loadError, [...buffers.buffers]])
      if (key === drawn) return
      drawn = key
      render()
    }
  }
}
