// The cluster panel, shown only on a clustered server: one row per node of the registry as this
// server's last heartbeat saw it (up or lost, workers, load, memory against its quota, bytes it
// pulled from and served to its peers), the totals of bytes moved between nodes, and the latest
// placements this server made. Fed by the snapshot's `cluster`, cluster.node and job.placed:
// nothing here asks the server anything.
import { element, setBadge, setText, stateBadge } from './dom.js'
import { humanBytes, integer, show } from './formatting.js'
import { dirty, state } from './state.js'
import { tableView } from './table-view.js'

const count = (value) => (typeof value === 'number' ? integer.format(value) : '—')
const bytesOf = (value) => (typeof value === 'number' ? humanBytes(value) : '—')

const view = tableView(
  '#cluster-nodes',
  (name) => {
    const meter = element('meter')
    meter.min = 0
    const cells = {
      name: element('span', { className: 'mono' }),
      self: element('span', { className: 'node-self' }),
      state: stateBadge(),
      workers: element('td', { className: 'num' }),
      queued: element('td', { className: 'num' }),
      running: element('td', { className: 'num' }),
      meter,
      memory: element('span', { className: 'memory-text' }),
      pulled: element('td', { className: 'num' }),
      served: element('td', { className: 'num' })
    }
    const tr = element('tr', {}, [
      element('td', {}, [cells.name, cells.self]),
      element('td', {}, [cells.state]),
      cells.workers,
      cells.queued,
      cells.running,
      element('td', { className: 'memory-cell' }, [cells.meter, cells.memory]),
      cells.pulled,
      cells.served
    ])
    tr.dataset.node = name
    return { tr, cells }
  },
  (row, node) => {
    const { cells, tr } = row
    const self = state.cluster && state.cluster.self === node.name
    tr.dataset.state = show(node.state)
    tr.dataset.self = self ? 'true' : 'false'
    // The figures as numbers, for tests and for anyone reading the DOM.
    for (const key of ['workers', 'queued', 'running', 'memoryInUse', 'maxMemory', 'pulledBytes', 'servedBytes']) {
      tr.dataset[key] = show(node[key])
    }
    setText(cells.name, show(node.name))
    cells.name.title = show(node.url)
    setText(cells.self, self ? ' this node' : '')
    const seen = Date.parse(node.lastSeen)
    // lastSeen 0 is a node that left cleanly: there is no time worth showing.
    const label = node.state === 'lost' && seen > 0 ? `lost (last seen ${new Date(seen).toLocaleTimeString()})` : node.state
    setBadge(cells.state, node.state, label)
    setText(cells.workers, count(node.workers))
    setText(cells.queued, count(node.queued))
    setText(cells.running, count(node.running))
    const used = Number(node.memoryInUse) || 0
    const quota = Number(node.maxMemory) || 0
    cells.meter.max = quota > 0 ? quota : 1
    cells.meter.low = cells.meter.max * 0.7
    cells.meter.high = cells.meter.max * 0.9
    cells.meter.value = quota > 0 ? used : 0
    setText(cells.memory, `${humanBytes(used)} of ${quota > 0 ? humanBytes(quota) : 'no quota'}`)
    setText(cells.pulled, bytesOf(node.pulledBytes))
    setText(cells.served, bytesOf(node.servedBytes))
  }
)

const byNaturalOrder = new Intl.Collator('en', { numeric: true }).compare

function flushSummary (cluster) {
  const nodes = [...cluster.nodes.values()]
  const up = nodes.filter((n) => n.state === 'up').length
  // Every pulled byte crossed from one node to another once; served counts proxied reads too.
  const pulled = nodes.reduce((sum, n) => sum + (Number(n.pulledBytes) || 0), 0)
  const served = nodes.reduce((sum, n) => sum + (Number(n.servedBytes) || 0), 0)
  setText(document.getElementById('cluster-self'), show(cluster.self))
  setText(document.getElementById('cluster-up'), integer.format(up))
  setText(document.getElementById('cluster-total'), integer.format(nodes.length))
  const pulledEl = document.getElementById('cluster-pulled')
  pulledEl.dataset.bytes = String(pulled)
  setText(pulledEl, humanBytes(pulled))
  const servedEl = document.getElementById('cluster-served')
  servedEl.dataset.bytes = String(served)
  setText(servedEl, humanBytes(served))
}

function flushPlacements () {
  const list = document.getElementById('cluster-placements')
  const items = state.placements.map((p) => {
    const li = element('li', {}, [
      element('span', { className: 'mono', text: show(p.id) }),
      ` ${show(p.kind)} → `,
      element('strong', { className: 'mono', text: show(p.node) }),
      element('span', { className: 'placement-detail', text: ` · ${bytesOf(p.localBytes)} of ${bytesOf(p.inputBytes)} already there · placed by ${show(p.from)}` })
    ])
    li.dataset.jobId = show(p.id)
    li.dataset.node = show(p.node)
    return li
  })
  if (items.length === 0) items.push(element('li', { className: 'none', text: 'none yet' }))
  list.replaceChildren(...items)
}

export function flushCluster () {
  const cluster = state.cluster
  if (dirty.clusterNodes.size) {
    view.patch(dirty.clusterNodes, (name) => cluster && cluster.nodes.get(name))
    dirty.clusterNodes.clear()
  }
  if (dirty.cluster) {
    document.getElementById('cluster-panel').hidden = cluster === null
    if (cluster) {
      view.order([...cluster.nodes.keys()].sort(byNaturalOrder))
      flushSummary(cluster)
    }
    dirty.cluster = false
  }
  if (dirty.placements) {
    flushPlacements()
    dirty.placements = false
  }
}
