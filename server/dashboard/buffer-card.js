// One buffer as the detail views show it: id, name, exact size, sealed, expiry, lineage (the job,
// pipeline and step that made it, as links), the descriptor map (which process holds it under
// which number) and a download link. A deleted buffer keeps its size and says why it went.
import { downloadBuffer, contentPath, hasToken } from './api.js'
import { element } from './dom.js'
import { humanBytes, integer, show } from './formatting.js'
import { asArray } from './state.js'

const ROLE_ORDER = { server: 0, worker: 1, attached: 2 }

/** The descriptor map's items, servers first (also used by the buffers table). */
export function descriptorItems (descriptors) {
  const list = asArray(descriptors)
    .slice()
    .sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3) || (a.pid ?? 0) - (b.pid ?? 0))
  if (!list.length) return [element('li', { className: 'none', text: 'no process holds a descriptor' })]
  return list.map((d) => {
    const item = element('li', { text: `${show(d.role)} pid ${show(d.pid)} → fd ${show(d.fd)}` })
    item.dataset.role = show(d.role)
    item.dataset.pid = show(d.pid)
    item.dataset.fd = show(d.fd)
    return item
  })
}

export function link (href, text, className) {
  const a = element('a', { text, className })
  a.href = href
  return a
}

export const jobHref = (id) => `#/jobs/${encodeURIComponent(id)}`
export const pipelineHref = (id) => `#/pipelines/${encodeURIComponent(id)}`

/** Where the bytes came from, as links. */
export function lineage (producedBy) {
  if (!producedBy || typeof producedBy !== 'object' || !producedBy.job) {
    return element('span', { className: 'muted', text: 'uploaded or registered (no job made it)' })
  }
  const parts = [document.createTextNode('output of job '), link(jobHref(producedBy.job), producedBy.job, 'mono lineage-job')]
  if (producedBy.pipeline) {
    parts.push(document.createTextNode(', pipeline '), link(pipelineHref(producedBy.pipeline), producedBy.pipeline, 'mono lineage-pipeline'))
    if (producedBy.step) parts.push(document.createTextNode(', step '), element('span', { className: 'mono lineage-step', text: producedBy.step }))
  }
  return element('span', {}, parts)
}

/** A link that saves the bytes; with a token it fetches them with the header (api.js says why). */
export function downloadLink (buffer, onError) {
  const a = link(contentPath(buffer.id), 'download', 'download')
  const fileName = `${buffer.name && buffer.name !== buffer.id ? buffer.name : buffer.id}.bin`.replace(/[/\\]/g, '_')
  a.download = fileName
  a.dataset.bufferId = buffer.id
  if (hasToken()) {
    a.addEventListener('click', (event) => {
      event.preventDefault()
      downloadBuffer(buffer.id, fileName).catch((error) => onError(`${error.code}: ${error.message}`))
    })
  }
  return a
}

/**
 * A card for one buffer. `buffer` is {id} at least; {deleted, reason} once gone; {missing} when
 * the server no longer had it as the view opened.
 */
export function bufferCard (buffer, role) {
  const card = element('li', { className: 'buffer-card' })
  card.dataset.bufferId = buffer.id
  card.dataset.role = role
  const status = element('span', { className: 'buffer-status', text: '' })
  status.setAttribute('role', 'status')
  const title = element('p', { className: 'buffer-title' }, [element('span', { className: 'mono', text: buffer.id })])
  if (buffer.name && buffer.name !== buffer.id) title.append(element('span', { className: 'muted', text: ` · ${buffer.name}` }))
  card.append(title)

  const size = Number(buffer.size)
  const facts = element('dl', { className: 'facts' })
  const fact = (term, ...value) => facts.append(element('div', {}, [element('dt', { text: term }), element('dd', {}, value)]))
  const sizeText = element('span', { className: 'buffer-size', text: Number.isFinite(size) ? `${humanBytes(size)} (${integer.format(size)} bytes)` : 'unknown' })
  if (Number.isFinite(size)) card.dataset.size = String(size)
  fact('Size', sizeText)
  if (buffer.deleted || buffer.missing) {
    card.dataset.deleted = 'true'
    fact('State', element('span', { className: 'badge', text: buffer.deleted ? `deleted${buffer.reason ? ` (${buffer.reason})` : ''}` : 'gone' }))
    card.append(facts)
    return card
  }
  fact('Sealed', document.createTextNode(buffer.sealed ? 'yes' : 'no'))
  if (buffer.expiresAt) fact('Expires', document.createTextNode(new Date(buffer.expiresAt).toLocaleString()))
  fact('Made by', lineage(buffer.producedBy))
  const map = element('ul', { className: 'descriptors' }, descriptorItems(buffer.descriptors))
  fact('Descriptor map', map)
  card.append(facts)
  if (buffer.sealed) card.append(element('p', {}, [downloadLink(buffer, (text) => { status.textContent = text }), status]))
  return card
}
