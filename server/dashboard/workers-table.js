// The workers table: one row per worker slot, in slot order (w0, w1, … w10), then the external
// workers (x0, x1, …: processes on the worker socket), each marked "external" with its name.
import { element, setBadge, setText, stateBadge } from './dom.js'
import { integer, show } from './formatting.js'
import { dirty, state } from './state.js'
import { tableView } from './table-view.js'

const view = tableView(
  '#workers',
  (id) => {
    const cells = {
      id: element('span', { className: 'mono' }),
      origin: element('span', { className: 'worker-origin' }),
      pid: element('td', { className: 'mono' }),
      state: stateBadge(),
      threads: element('td', { className: 'num' }),
      running: element('td', { className: 'num' }),
      jobsDone: element('td', { className: 'num' }),
      restarts: element('td', { className: 'num' })
    }
    const tr = element('tr', {}, [
      element('td', {}, [cells.id, cells.origin]),
      cells.pid,
      element('td', {}, [cells.state]),
      cells.threads,
      cells.running,
      cells.jobsDone,
      cells.restarts
    ])
    tr.dataset.workerId = id
    return { tr, cells }
  },
  (row, worker) => {
    const { cells, tr } = row
    tr.dataset.pid = show(worker.pid)
    tr.dataset.state = show(worker.state)
    setText(cells.id, show(worker.id))
    tr.dataset.external = worker.external ? 'true' : 'false'
    setText(cells.origin, worker.external ? ` external${worker.name ? ` · ${worker.name}` : ''}` : '')
    setText(cells.pid, show(worker.pid))
    let label = worker.state
    if (worker.state === 'exited') {
      if (worker.exitSignal) label = `exited (${worker.exitSignal})`
      else if (worker.exitCode !== null && worker.exitCode !== undefined) label = `exited (code ${worker.exitCode})`
    }
    setBadge(cells.state, worker.state, label)
    setText(cells.threads, show(worker.threads))
    setText(cells.running, show(worker.running))
    setText(cells.jobsDone, worker.jobsDone === undefined ? '—' : integer.format(worker.jobsDone))
    setText(cells.restarts, show(worker.restarts))
  }
)

const byNaturalOrder = new Intl.Collator('en', { numeric: true }).compare

export function flushWorkers () {
  if (dirty.workers.size) {
    view.patch(dirty.workers, (id) => state.workers.get(id))
    dirty.workers.clear()
  }
  if (dirty.workerOrder) {
    view.order([...state.workers.keys()].sort(byNaturalOrder))
    dirty.workerOrder = false
  }
}
