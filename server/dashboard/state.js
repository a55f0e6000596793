// What the page knows about the pool, kept in Maps and changed only by the event stream: a
// snapshot replaces it, each event updates it. Nothing here touches the DOM; what changed is
// marked in `dirty` for the views (tables, charts, overview) to redraw in one batch.
//
// The page never polls REST: descriptor holders come as buffer.holders, worker counters as
// worker.updated (issue 11), a cluster's nodes as the snapshot's `cluster` and cluster.node.

export const JOB_ROWS = 200 // newest jobs kept on the page
export const EXITED_WORKER_ROWS = 20 // exited workers kept until their slot restarts or a snapshot
export const HISTORY_MS = 5 * 60 * 1000 // the charts' window
export const PLACEMENT_ROWS = 10 // newest job.placed kept for the cluster panel

export const state = {
  pool: {},
  workers: new Map(), // id → Worker (plus exitCode/exitSignal once exited)
  exitedWorkers: [], // ids of exited workers, oldest first
  buffers: new Map(), // id → Buffer
  // The snapshot listed every live buffer (it leaves old ones out past its bounds): then a buffer
  // missing here is gone, and a detail view need not ask the server (and log its 404).
  buffersComplete: false,
  bufferSeq: new Map(), // id → arrival number, breaks createdAt ties
  jobs: new Map(), // id → Job, only the JOB_ROWS newest
  jobOrder: [], // ids, newest first, same members as jobs
  jobKey: new Map(), // id → {time, seq} used to order jobs
  history: [], // {t, queueDepth, throughput} from pool.stats, in local time
  // null on a server without --cluster; else {self, nodes: Map name → registry entry}
  cluster: null,
  placements: [], // job.placed data, newest first, at most PLACEMENT_ROWS
  arrivalSeq: 0
}

export const dirty = {
  workers: new Set(),
  workerOrder: false,
  buffers: new Set(),
  bufferOrder: false,
  jobs: new Set(),
  jobOrder: false,
  pool: false,
  charts: false,
  cluster: false, // the panel itself: shown or not, its totals, its node order
  clusterNodes: new Set(),
  placements: false
}

export function idOf (value) {
  return value === undefined || value === null ? null : String(value)
}

export function timeOf (iso) {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN
  return Number.isNaN(t) ? null : t
}

export function asArray (value) {
  return Array.isArray(value) ? value : []
}

/**
 * Replaces everything with a snapshot. `clockOffset` (local time minus the server's) places the
 * server's history samples on this page's clock.
 */
export function applySnapshot (data, clockOffset) {
  for (const id of state.workers.keys()) dirty.workers.add(id)
  for (const id of state.buffers.keys()) dirty.buffers.add(id)
  for (const id of state.jobs.keys()) dirty.jobs.add(id)
  state.workers.clear()
  state.exitedWorkers = []
  state.buffers.clear()
  state.bufferSeq.clear()
  state.jobs.clear()
  state.jobOrder = []
  state.jobKey.clear()

  for (const worker of asArray(data.workers)) upsertWorker(worker, 'worker.started')
  for (const buffer of asArray(data.buffers)) upsertBuffer(buffer)
  state.buffersComplete = Array.isArray(data.buffers) && !(data.truncated && data.truncated.buffers)

  // The server sends jobs newest first; sort anyway (stable), then number them oldest first so
  // that jobs queued in the same millisecond keep the server's order.
  const jobs = asArray(data.jobs)
    .filter((job) => idOf(job && job.id) !== null)
    .sort((a, b) => (timeOf(b.queuedAt) ?? 0) - (timeOf(a.queuedAt) ?? 0))
    .slice(0, JOB_ROWS)
  for (let i = jobs.length - 1; i >= 0; i--) upsertJob(jobs[i], null)

  // The counters of the last minutes, kept by the server: the charts open with the recent past.
  if (Array.isArray(data.history)) {
    state.history = data.history
      .map((s) => ({ t: (timeOf(s && s.ts) ?? NaN) + clockOffset, queueDepth: Number(s.queueDepth) || 0, throughput: Number(s.throughput) || 0 }))
      .filter((s) => Number.isFinite(s.t))
  }

  applyClusterSnapshot(data.cluster)

  state.pool = Object.assign({}, data.pool)
  dirty.workerOrder = dirty.bufferOrder = dirty.jobOrder = true
  dirty.pool = dirty.charts = true
}

function applyClusterSnapshot (cluster) {
  if (state.cluster) for (const name of state.cluster.nodes.keys()) dirty.clusterNodes.add(name)
  if (!cluster || typeof cluster !== 'object') {
    state.cluster = null
    state.placements = []
  } else {
    state.cluster = { self: idOf(cluster.self), nodes: new Map() }
    for (const node of asArray(cluster.nodes)) upsertNode(node)
  }
  // Placements are not in the snapshot: those seen before a reconnect stay, being true still.
  dirty.cluster = dirty.placements = true
}

/** cluster.node: a node's whole registry entry, as this server's last heartbeat saw it. */
function upsertNode (data) {
  const name = idOf(data && data.name)
  if (name === null) return
  // Only a clustered server sends cluster.node, and its snapshot says so; if not, it is clustered all the same.
  state.cluster ??= { self: null, nodes: new Map() }
  state.cluster.nodes.set(name, Object.assign({}, data))
  dirty.clusterNodes.add(name)
  dirty.cluster = true // totals and the count of nodes up
}

function addPlacement (data) {
  if (idOf(data && data.id) === null) return
  state.placements.unshift(Object.assign({}, data))
  if (state.placements.length > PLACEMENT_ROWS) state.placements.length = PLACEMENT_ROWS
  dirty.placements = true
}

function upsertWorker (data, type) {
  const id = idOf(data && (data.id ?? data.pid))
  if (id === null) return
  const previous = state.workers.get(id)
  // Counters of a process already gone (its exit arrived first) must not bring its row back.
  if (type === 'worker.updated' && previous && previous.state === 'exited' && previous.pid === data.pid) return
  const worker = Object.assign({}, previous, data)
  if (type === 'worker.exited') {
    // The process is gone whatever state the object still carries.
    worker.state = 'exited'
    worker.exitCode = data.code ?? null
    worker.exitSignal = data.signal ?? null
    worker.running = 0
    state.exitedWorkers = state.exitedWorkers.filter((other) => other !== id)
    state.exitedWorkers.push(id)
    while (state.exitedWorkers.length > EXITED_WORKER_ROWS) {
      const oldest = state.exitedWorkers.shift()
      state.workers.delete(oldest)
      dirty.workers.add(oldest)
      dirty.workerOrder = true
    }
  } else {
    // A slot that restarts keeps its id and gets a new pid: the row follows the new process.
    worker.state = data.state ?? 'running'
    worker.exitCode = null
    worker.exitSignal = null
    state.exitedWorkers = state.exitedWorkers.filter((other) => other !== id)
  }
  if (!previous) dirty.workerOrder = true
  state.workers.set(id, worker)
  dirty.workers.add(id)
}

function upsertBuffer (data) {
  const id = idOf(data && data.id)
  if (id === null) return
  const previous = state.buffers.get(id)
  if (!previous) {
    state.bufferSeq.set(id, ++state.arrivalSeq)
    dirty.bufferOrder = true
  }
  state.buffers.set(id, Object.assign({}, previous, data))
  dirty.buffers.add(id)
}

/** buffer.holders: only for a buffer on the page (an older one a bounded snapshot left out is not). */
function setHolders (data) {
  const id = idOf(data && data.id)
  const known = id === null ? undefined : state.buffers.get(id)
  if (!known || !Array.isArray(data.descriptors)) return
  known.descriptors = data.descriptors
  dirty.buffers.add(id)
}

function removeBuffer (data) {
  const id = idOf(data && data.id)
  if (id === null || !state.buffers.has(id)) return
  state.buffers.delete(id)
  state.bufferSeq.delete(id)
  dirty.buffers.add(id)
  dirty.bufferOrder = true
}

const JOB_STATE_BY_EVENT = {
  'job.queued': 'queued',
  'job.started': 'running',
  'job.succeeded': 'succeeded',
  'job.failed': 'failed',
  'job.cancelled': 'cancelled'
}

// Later (queued later, or seen later within the same millisecond) sorts first.
function isNewer (a, b) {
  if (a.time !== b.time) return a.time > b.time
  return a.seq > b.seq
}

function upsertJob (data, type) {
  const id = idOf(data && data.id)
  if (id === null) return
  let job = state.jobs.get(id)
  if (job) {
    Object.assign(job, data)
  } else {
    // A progress event may carry only {id, progress}; without the job itself there is nothing to show.
    if (data.kind === undefined && data.state === undefined && data.queuedAt === undefined) return
    const key = { time: timeOf(data.queuedAt) ?? Date.now(), seq: ++state.arrivalSeq }
    const order = state.jobOrder
    let at = 0
    while (at < order.length && isNewer(state.jobKey.get(order[at]), key)) at++
    if (at >= JOB_ROWS) return // older than every job on the page
    job = Object.assign({}, data)
    order.splice(at, 0, id)
    state.jobs.set(id, job)
    state.jobKey.set(id, key)
    if (order.length > JOB_ROWS) {
      const evicted = order.pop()
      state.jobs.delete(evicted)
      state.jobKey.delete(evicted)
      dirty.jobs.add(evicted)
    }
    dirty.jobOrder = true
  }
  if (data.state === undefined && type && JOB_STATE_BY_EVENT[type]) job.state = JOB_STATE_BY_EVENT[type]
  dirty.jobs.add(id)
}

function applyPoolStats (stats) {
  Object.assign(state.pool, stats)
  const now = Date.now()
  state.history.push({
    t: now,
    queueDepth: Number(stats.queueDepth) || 0,
    throughput: Number(stats.throughput) || 0
  })
  while (state.history.length && state.history[0].t < now - HISTORY_MS) state.history.shift()
  dirty.pool = dirty.charts = true
}

/** Applies one event; false for a type this page does not know (a newer server's). */
export function applyEvent (type, data) {
  switch (type) {
    case 'buffer.created':
      upsertBuffer(data)
      return true
    case 'buffer.sealed':
      upsertBuffer(Object.assign({ sealed: true }, data))
      return true
    case 'buffer.holders':
      setHolders(data)
      return true
    case 'buffer.deleted':
      removeBuffer(data)
      return true
    case 'job.queued':
    case 'job.progress':
    case 'job.started':
    case 'job.succeeded':
    case 'job.failed':
    case 'job.cancelled':
      upsertJob(data, type)
      return true
    case 'worker.started':
    case 'worker.updated':
    case 'worker.exited':
      upsertWorker(data, type)
      return true
    case 'pool.stats':
      applyPoolStats(data)
      return true
    case 'cluster.node':
      upsertNode(data)
      return true
    case 'job.placed':
      addPlacement(data)
      return true
    default:
      return false
  }
}
