// The buffers table: the newest buffers with the descriptor each process holds for them. The
// descriptor map follows buffer.holders events, so a worker's number shows while its job runs.
import { descriptorItems } from './buffer-card.js'
import { element, setBadge, setText, stateBadge } from './dom.js'
import { humanBytes, integer, show } from './formatting.js'
import { dirty, state, timeOf } from './state.js'
import { tableView } from './table-view.js'

const BUFFER_ROWS = 500 // newest buffers shown; the rest are counted in the caption

const view = tableView(
  '#buffers',
  (id) => {
    const cells = {
      id: element('td', { className: 'mono' }),
      name: element('td'),
      size: element('td', { className: 'num' }),
      sealed: element('td'),
      state: stateBadge(),
      descriptors: element('ul', { className: 'descriptors' })
    }
    const tr = element('tr', {}, [
      cells.id,
      cells.name,
      cells.size,
      cells.sealed,
      element('td', {}, [cells.state]),
      element('td', {}, [cells.descriptors])
    ])
    tr.dataset.bufferId = id
    return { tr, cells, descriptorsKey: null }
  },
  (row, buffer) => {
    const { cells, tr } = row
    tr.dataset.sealed = buffer.sealed ? 'true' : 'false'
    tr.dataset.state = show(buffer.state)
    setText(cells.id, show(buffer.id))
    setText(cells.name, show(buffer.name))
    setText(cells.size, humanBytes(buffer.size))
    cells.size.title = `${show(buffer.size)} bytes`
    setText(cells.sealed, buffer.sealed ? 'yes' : 'no')
    setBadge(cells.state, buffer.state)
    const key = JSON.stringify(buffer.descriptors ?? [])
    if (key !== row.descriptorsKey) {
      row.descriptorsKey = key
      cells.descriptors.replaceChildren(...descriptorItems(buffer.descriptors))
    }
  }
)

let shownIds = new Set()

/** The caption counts every live buffer: the pool's count, which includes any a bounded snapshot left out. */
function updateCaption () {
  const total = Math.max(typeof state.pool.buffers === 'number' ? state.pool.buffers : 0, state.buffers.size)
  const caption = document.getElementById('buffers-shown')
  setText(caption, total > shownIds.size ? `(showing the ${integer.format(shownIds.size)} newest of ${integer.format(total)})` : '')
}

export function flushBuffers () {
  if (dirty.bufferOrder) {
    const ids = [...state.buffers.keys()]
    const created = (id) => timeOf(state.buffers.get(id).createdAt) ?? 0
    ids.sort((a, b) => created(b) - created(a) || state.bufferSeq.get(b) - state.bufferSeq.get(a))
    const shown = ids.slice(0, BUFFER_ROWS)
    const nextShown = new Set(shown)
    // Rows that enter or leave the visible window need patching even if their data did not change.
    for (const id of shownIds) if (!nextShown.has(id)) dirty.buffers.add(id)
    for (const id of nextShown) if (!shownIds.has(id)) dirty.buffers.add(id)
    shownIds = nextShown
    view.patch(dirty.buffers, (id) => state.buffers.get(id), (id) => shownIds.has(id))
    view.order(shown)
    dirty.bufferOrder = false
  } else if (dirty.buffers.size) {
    view.patch(dirty.buffers, (id) => state.buffers.get(id), (id) => shownIds.has(id))
  }
  dirty.buffers.clear()
  updateCaption()
}
