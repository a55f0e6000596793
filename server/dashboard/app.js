// memfd-pool dashboard: one WebSocket to /v1/events, state kept in Maps, the DOM patched in
// batches. Plain browser JavaScript on purpose — no build step, nothing fetched from outside.
//
// Everything that came from the server is put into the page with textContent or dataset, never as
// HTML, so a buffer named "<img onerror=…>" is shown as those characters.

const JOB_ROWS = 200; // newest jobs kept on the page
const BUFFER_ROWS = 500; // newest buffers shown; the rest are counted in the caption
const EXITED_WORKER_ROWS = 20; // exited workers kept until their slot restarts or a snapshot
const HISTORY_MS = 5 * 60 * 1000; // the charts' window
const CHART_GAP_MS = 5000; // samples further apart than this are not joined by a line
const FLUSH_DELAY_MS = 50; // events arriving within this time are drawn together
const BUSY_FLUSH_DELAY_MS = 250; // ...and within this time when the last batch was large
const BUSY_BATCH = 50; // changed rows that make a batch large
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
const DESCRIPTOR_REFRESH_MS = 2000;
const WORKER_REFRESH_MS = 1000;

const token = new URLSearchParams(location.search).get('token');

// ---------------------------------------------------------------- state

const state = {
  pool: {},
  workers: new Map(), // id → Worker (plus exitCode/exitSignal once exited)
  exitedWorkers: [], // ids of exited workers, oldest first
  buffers: new Map(), // id → Buffer
  bufferSeq: new Map(), // id → arrival number, breaks createdAt ties
  jobs: new Map(), // id → Job, only the JOB_ROWS newest
  jobOrder: [], // ids, newest first, same members as jobs
  jobKey: new Map(), // id → {time, seq} used to order jobs
  history: [], // {t, queueDepth, throughput} from pool.stats, local receipt time
};
let arrivalSeq = 0;

const dirty = {
  workers: new Set(),
  workerOrder: false,
  buffers: new Set(),
  bufferOrder: false,
  jobs: new Set(),
  jobOrder: false,
  pool: false,
  charts: false,
};

function idOf(value) {
  return value === undefined || value === null ? null : String(value);
}

function timeOf(iso) {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : t;
}

function applySnapshot(data) {
  for (const id of state.workers.keys()) dirty.workers.add(id);
  for (const id of state.buffers.keys()) dirty.buffers.add(id);
  for (const id of state.jobs.keys()) dirty.jobs.add(id);
  state.workers.clear();
  state.exitedWorkers = [];
  state.buffers.clear();
  state.bufferSeq.clear();
  state.jobs.clear();
  state.jobOrder = [];
  state.jobKey.clear();

  for (const worker of asArray(data.workers)) upsertWorker(worker, 'worker.started');
  for (const buffer of asArray(data.buffers)) upsertBuffer(buffer);

  // The server sends jobs newest first; sort anyway (stable), then number them oldest first so
  // that jobs queued in the same millisecond keep the server's order.
  const jobs = asArray(data.jobs)
    .filter((job) => idOf(job && job.id) !== null)
    .sort((a, b) => (timeOf(b.queuedAt) ?? 0) - (timeOf(a.queuedAt) ?? 0))
    .slice(0, JOB_ROWS);
  for (let i = jobs.length - 1; i >= 0; i--) upsertJob(jobs[i], null);

  state.pool = Object.assign({}, data.pool);
  dirty.workerOrder = dirty.bufferOrder = dirty.jobOrder = true;
  dirty.pool = dirty.charts = true;
}

function asArray(value) {
  return Array.isArray(value) ? value : [];
}

function upsertWorker(data, type) {
  const id = idOf(data && (data.id ?? data.pid));
  if (id === null) return;
  const previous = state.workers.get(id);
  const worker = Object.assign({}, previous, data);
  if (type === 'worker.exited') {
    // The process is gone whatever state the object still carries.
    worker.state = 'exited';
    worker.exitCode = data.code ?? null;
    worker.exitSignal = data.signal ?? null;
    worker.running = 0;
    state.exitedWorkers = state.exitedWorkers.filter((other) => other !== id);
    state.exitedWorkers.push(id);
    while (state.exitedWorkers.length > EXITED_WORKER_ROWS) {
      const oldest = state.exitedWorkers.shift();
      state.workers.delete(oldest);
      dirty.workers.add(oldest);
      dirty.workerOrder = true;
    }
  } else {
    // A slot that restarts keeps its id and gets a new pid: the row follows the new process.
    worker.state = data.state ?? 'running';
    worker.exitCode = null;
    worker.exitSignal = null;
    state.exitedWorkers = state.exitedWorkers.filter((other) => other !== id);
  }
  if (!previous) dirty.workerOrder = true;
  state.workers.set(id, worker);
  dirty.workers.add(id);
}

function upsertBuffer(data) {
  const id = idOf(data && data.id);
  if (id === null) return;
  const previous = state.buffers.get(id);
  if (!previous) {
    state.bufferSeq.set(id, ++arrivalSeq);
    dirty.bufferOrder = true;
  }
  state.buffers.set(id, Object.assign({}, previous, data));
  dirty.buffers.add(id);
}

function removeBuffer(data) {
  const id = idOf(data && data.id);
  if (id === null || !state.buffers.has(id)) return;
  state.buffers.delete(id);
  state.bufferSeq.delete(id);
  dirty.buffers.add(id);
  dirty.bufferOrder = true;
}

const JOB_STATE_BY_EVENT = {
  'job.queued': 'queued',
  'job.started': 'running',
  'job.succeeded': 'succeeded',
  'job.failed': 'failed',
  'job.cancelled': 'cancelled',
};

// Later (queued later, or seen later within the same millisecond) sorts first.
function isNewer(a, b) {
  if (a.time !== b.time) return a.time > b.time;
  return a.seq > b.seq;
}

function upsertJob(data, type) {
  const id = idOf(data && data.id);
  if (id === null) return;
  let job = state.jobs.get(id);
  if (job) {
    Object.assign(job, data);
  } else {
    // A progress event may carry only {id, progress}; without the job itself there is nothing to show.
    if (data.kind === undefined && data.state === undefined && data.queuedAt === undefined) return;
    const key = { time: timeOf(data.queuedAt) ?? Date.now(), seq: ++arrivalSeq };
    const order = state.jobOrder;
    let at = 0;
    while (at < order.length && isNewer(state.jobKey.get(order[at]), key)) at++;
    if (at >= JOB_ROWS) return; // older than every job on the page
    job = Object.assign({}, data);
    order.splice(at, 0, id);
    state.jobs.set(id, job);
    state.jobKey.set(id, key);
    if (order.length > JOB_ROWS) {
      const evicted = order.pop();
      state.jobs.delete(evicted);
      state.jobKey.delete(evicted);
      dirty.jobs.add(evicted);
    }
    dirty.jobOrder = true;
  }
  if (data.state === undefined && type && JOB_STATE_BY_EVENT[type]) job.state = JOB_STATE_BY_EVENT[type];
  dirty.jobs.add(id);
}

function applyPoolStats(stats) {
  Object.assign(state.pool, stats);
  const now = Date.now();
  state.history.push({
    t: now,
    queueDepth: Number(stats.queueDepth) || 0,
    throughput: Number(stats.throughput) || 0,
  });
  while (state.history.length && state.history[0].t < now - HISTORY_MS) state.history.shift();
  dirty.pool = dirty.charts = true;
}

// Descriptor holdings change when workers map inputs or drop them, which no buffer event reports;
// after such events the buffer list is re-read (at most every DESCRIPTOR_REFRESH_MS) and only the
// descriptor maps are taken from it, so an answer that raced a delete cannot resurrect a buffer.
let descriptorsStale = false;
// Likewise a worker's running and jobs-done counts change with every job it runs, and only
// worker.started/exited are events: while jobs move, the worker list is re-read about once a
// second and only those counters are taken from it.
let workersStale = false;

function handleEvent(type, data) {
  switch (type) {
    case 'buffer.created':
    case 'buffer.sealed':
      upsertBuffer(type === 'buffer.sealed' ? Object.assign({ sealed: true }, data) : data);
      break;
    case 'buffer.deleted':
      removeBuffer(data);
      break;
    case 'job.queued':
      upsertJob(data, type);
      break;
    case 'job.progress': {
      upsertJob(data, type);
      // A worker registers its descriptors for a job's inputs just after job.started; a refresh
      // that ran in between missed them, so a running job with inputs keeps the map stale.
      const job = state.jobs.get(idOf(data.id));
      if (job && asArray(job.inputs).length) descriptorsStale = true;
      break;
    }
    case 'job.started':
    case 'job.succeeded':
    case 'job.failed':
    case 'job.cancelled':
      upsertJob(data, type);
      workersStale = true;
      if (asArray(data.inputs).length || asArray(data.outputs).length) descriptorsStale = true;
      break;
    case 'worker.started':
    case 'worker.exited':
      upsertWorker(data, type);
      descriptorsStale = true;
      break;
    case 'pool.stats':
      applyPoolStats(data);
      break;
    default:
      return; // an event type this page does not know yet
  }
  scheduleFlush();
}

// ---------------------------------------------------------------- formatting

const integer = new Intl.NumberFormat('en');

function plainNumber(value, fractionDigits) {
  return new Intl.NumberFormat('en', { maximumFractionDigits: fractionDigits, useGrouping: false }).format(value);
}

function humanBytes(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function humanDuration(ms) {
  if (ms === null || !Number.isFinite(ms)) return '—';
  const clamped = Math.max(0, ms);
  if (clamped < 1000) return `${Math.round(clamped)} ms`;
  if (clamped < 60_000) return `${(clamped / 1000).toFixed(1)} s`;
  const seconds = Math.floor(clamped / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')} min`;
}

function jobDuration(job) {
  const started = timeOf(job.startedAt);
  if (started === null) return null;
  const finished = timeOf(job.finishedAt);
  return (finished ?? Date.now()) - started;
}

function show(value) {
  return value === undefined || value === null || value === '' ? '—' : String(value);
}

// ---------------------------------------------------------------- DOM helpers

function element(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  for (const child of children) node.append(child);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function stateBadge() {
  return element('span', { className: 'badge' });
}

function setBadge(badge, value, label = value) {
  const text = show(label);
  setText(badge, text);
  badge.dataset.state = show(value);
}

// Put the rows of tbody in the order of ids, moving only rows that are out of place.
function reorder(tbody, ids, rows) {
  let cursor = tbody.firstElementChild;
  for (const id of ids) {
    const row = rows.get(id);
    if (!row) continue;
    if (row.tr === cursor) cursor = cursor.nextElementSibling;
    else tbody.insertBefore(row.tr, cursor);
  }
}

// One table: rows keyed by id, built once by `create` and refreshed by `update`.
function tableView(selector, create, update) {
  const tbody = document.querySelector(`${selector} tbody`);
  const rows = new Map();
  return {
    rows,
    tbody,
    // Refresh the rows of ids whose data changed; a missing item removes its row.
    patch(ids, lookup, visible = () => true) {
      for (const id of ids) {
        const item = lookup(id);
        let row = rows.get(id);
        if (!item || !visible(id)) {
          if (row) {
            row.tr.remove();
            rows.delete(id);
          }
          continue;
        }
        if (!row) {
          row = create(id);
          rows.set(id, row);
        }
        update(row, item);
      }
    },
    order(ids) {
      reorder(tbody, ids, rows);
    },
  };
}

// ---------------------------------------------------------------- workers table

const workersView = tableView(
  '#workers',
  (id) => {
    const cells = {
      id: element('td', { className: 'mono' }),
      pid: element('td', { className: 'mono' }),
      state: stateBadge(),
      threads: element('td', { className: 'num' }),
      running: element('td', { className: 'num' }),
      jobsDone: element('td', { className: 'num' }),
      restarts: element('td', { className: 'num' }),
    };
    const tr = element('tr', {}, [
      cells.id,
      cells.pid,
      element('td', {}, [cells.state]),
      cells.threads,
      cells.running,
      cells.jobsDone,
      cells.restarts,
    ]);
    tr.dataset.workerId = id;
    return { tr, cells };
  },
  (row, worker) => {
    const { cells, tr } = row;
    tr.dataset.pid = show(worker.pid);
    tr.dataset.state = show(worker.state);
    setText(cells.id, show(worker.id));
    setText(cells.pid, show(worker.pid));
    let label = worker.state;
    if (worker.state === 'exited') {
      if (worker.exitSignal) label = `exited (${worker.exitSignal})`;
      else if (worker.exitCode !== null && worker.exitCode !== undefined) label = `exited (code ${worker.exitCode})`;
    }
    setBadge(cells.state, worker.state, label);
    setText(cells.threads, show(worker.threads));
    setText(cells.running, show(worker.running));
    setText(cells.jobsDone, worker.jobsDone === undefined ? '—' : integer.format(worker.jobsDone));
    setText(cells.restarts, show(worker.restarts));
  },
);

const byNaturalOrder = new Intl.Collator('en', { numeric: true }).compare;

function flushWorkers() {
  if (dirty.workers.size) {
    workersView.patch(dirty.workers, (id) => state.workers.get(id));
    dirty.workers.clear();
  }
  if (dirty.workerOrder) {
    workersView.order([...state.workers.keys()].sort(byNaturalOrder));
    dirty.workerOrder = false;
  }
}

// ---------------------------------------------------------------- buffers table

const ROLE_ORDER = { server: 0, worker: 1, attached: 2 };

function descriptorItems(descriptors) {
  const list = asArray(descriptors)
    .slice()
    .sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3) || (a.pid ?? 0) - (b.pid ?? 0));
  if (!list.length) return [element('li', { className: 'none', text: 'no process holds a descriptor' })];
  return list.map((d) => {
    const item = element('li', { text: `${show(d.role)} pid ${show(d.pid)} → fd ${show(d.fd)}` });
    item.dataset.role = show(d.role);
    item.dataset.pid = show(d.pid);
    item.dataset.fd = show(d.fd);
    return item;
  });
}

const buffersView = tableView(
  '#buffers',
  (id) => {
    const cells = {
      id: element('td', { className: 'mono' }),
      name: element('td'),
      size: element('td', { className: 'num' }),
      sealed: element('td'),
      state: stateBadge(),
      descriptors: element('ul', { className: 'descriptors' }),
    };
    const tr = element('tr', {}, [
      cells.id,
      cells.name,
      cells.size,
      cells.sealed,
      element('td', {}, [cells.state]),
      element('td', {}, [cells.descriptors]),
    ]);
    tr.dataset.bufferId = id;
    return { tr, cells, descriptorsKey: null };
  },
  (row, buffer) => {
    const { cells, tr } = row;
    tr.dataset.sealed = buffer.sealed ? 'true' : 'false';
    tr.dataset.state = show(buffer.state);
    setText(cells.id, show(buffer.id));
    setText(cells.name, show(buffer.name));
    setText(cells.size, humanBytes(buffer.size));
    cells.size.title = `${show(buffer.size)} bytes`;
    setText(cells.sealed, buffer.sealed ? 'yes' : 'no');
    setBadge(cells.state, buffer.state);
    const key = JSON.stringify(buffer.descriptors ?? []);
    if (key !== row.descriptorsKey) {
      row.descriptorsKey = key;
      cells.descriptors.replaceChildren(...descriptorItems(buffer.descriptors));
    }
  },
);

let shownBufferIds = new Set();

function flushBuffers() {
  if (dirty.bufferOrder) {
    const ids = [...state.buffers.keys()];
    const created = (id) => timeOf(state.buffers.get(id).createdAt) ?? 0;
    ids.sort((a, b) => created(b) - created(a) || state.bufferSeq.get(b) - state.bufferSeq.get(a));
    const shown = ids.slice(0, BUFFER_ROWS);
    const nextShown = new Set(shown);
    // Rows that enter or leave the visible window need patching even if their data did not change.
    for (const id of shownBufferIds) if (!nextShown.has(id)) dirty.buffers.add(id);
    for (const id of nextShown) if (!shownBufferIds.has(id)) dirty.buffers.add(id);
    shownBufferIds = nextShown;
    buffersView.patch(dirty.buffers, (id) => state.buffers.get(id), (id) => shownBufferIds.has(id));
    buffersView.order(shown);
    const caption = document.getElementById('buffers-shown');
    setText(caption, ids.length > BUFFER_ROWS ? `(showing the ${BUFFER_ROWS} newest of ${integer.format(ids.length)})` : '');
    dirty.bufferOrder = false;
  } else if (dirty.buffers.size) {
    buffersView.patch(dirty.buffers, (id) => state.buffers.get(id), (id) => shownBufferIds.has(id));
  }
  dirty.buffers.clear();
}

// ---------------------------------------------------------------- jobs table

const jobsView = tableView(
  '#jobs',
  (id) => {
    const progress = element('progress');
    progress.max = 1;
    progress.setAttribute('aria-label', `Progress of job ${id}`);
    const cells = {
      id: element('td', { className: 'mono' }),
      kind: element('td'),
      state: stateBadge(),
      progress,
      progressText: element('span', { className: 'progress-text' }),
      duration: element('td', { className: 'num' }),
      workerPid: element('td', { className: 'num mono' }),
      errorCode: element('strong', { className: 'error-code' }),
      errorMessage: element('span'),
    };
    const tr = element('tr', {}, [
      cells.id,
      cells.kind,
      element('td', {}, [cells.state]),
      element('td', { className: 'progress-cell' }, [cells.progress, cells.progressText]),
      cells.duration,
      cells.workerPid,
      element('td', { className: 'error' }, [cells.errorCode, cells.errorMessage]),
    ]);
    tr.dataset.jobId = id;
    return { tr, cells };
  },
  (row, job) => {
    const { cells, tr } = row;
    tr.dataset.state = show(job.state);
    setText(cells.id, show(job.id));
    setText(cells.kind, show(job.kind));
    setBadge(cells.state, job.state);
    let fraction = Number(job.progress);
    if (!Number.isFinite(fraction)) fraction = 0;
    if (job.state === 'succeeded') fraction = 1;
    fraction = Math.min(1, Math.max(0, fraction));
    cells.progress.value = fraction;
    setText(cells.progressText, `${Math.round(fraction * 100)}%`);
    setText(cells.duration, humanDuration(jobDuration(job)));
    setText(cells.workerPid, show(job.workerPid));
    const error = job.error && typeof job.error === 'object' ? job.error : null;
    setText(cells.errorCode, error ? show(error.code) : '');
    setText(cells.errorMessage, error && error.message ? ` ${error.message}` : '');
  },
);

function flushJobs() {
  if (dirty.jobs.size) {
    jobsView.patch(dirty.jobs, (id) => state.jobs.get(id));
    dirty.jobs.clear();
  }
  if (dirty.jobOrder) {
    jobsView.order(state.jobOrder);
    dirty.jobOrder = false;
  }
}

// Running jobs' durations grow without events.
function tickRunningDurations() {
  for (const [id, row] of jobsView.rows) {
    const job = state.jobs.get(id);
    if (job && job.state === 'running') setText(row.cells.duration, humanDuration(jobDuration(job)));
  }
}

// ---------------------------------------------------------------- pool figures and charts

function flushPool() {
  const pool = state.pool;
  const queueDepth = Number(pool.queueDepth) || 0;
  const throughput = Number(pool.throughput) || 0;
  const queueEl = document.getElementById('queue-depth');
  queueEl.dataset.value = String(queueDepth);
  setText(queueEl, plainNumber(queueDepth, 0));
  const throughputEl = document.getElementById('throughput');
  throughputEl.dataset.value = String(throughput);
  setText(throughputEl, plainNumber(throughput, throughput < 100 ? 1 : 0));

  const used = Number(pool.bytesInUse) || 0;
  const quota = Number(pool.quotaBytes) || 0;
  const meter = document.getElementById('memory');
  const percent = quota > 0 ? ` (${((used / quota) * 100).toFixed(1)}%)` : '';
  const text = `${humanBytes(used)} of ${quota > 0 ? humanBytes(quota) : 'no quota'}${percent}`;
  meter.max = quota > 0 ? quota : 1;
  meter.low = meter.max * 0.7;
  meter.high = meter.max * 0.9;
  meter.value = quota > 0 ? used : 0;
  meter.dataset.bytesInUse = String(used);
  meter.dataset.quotaBytes = String(quota);
  setText(meter, text);
  setText(document.getElementById('memory-text'), text);

  const workerCount = typeof pool.workers === 'number'
    ? pool.workers
    : [...state.workers.values()].filter((w) => w.state !== 'exited').length;
  setText(document.getElementById('worker-count'), integer.format(workerCount));
  setText(document.getElementById('running-count'), integer.format(Number(pool.running) || 0));
  setText(document.getElementById('jobs-done'), integer.format(Number(pool.jobsDone) || 0));
  const bufferCount = typeof pool.buffers === 'number' ? pool.buffers : state.buffers.size;
  setText(document.getElementById('buffer-count'), integer.format(bufferCount));
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART_W = 300;
const CHART_H = 60;

function chartParts(svg) {
  if (!svg.firstChild) {
    const area = document.createElementNS(SVG_NS, 'path');
    area.setAttribute('class', 'chart-area');
    const line = document.createElementNS(SVG_NS, 'path');
    line.setAttribute('class', 'chart-line');
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(area, line);
  }
  return { area: svg.firstChild, line: svg.lastChild };
}

function drawChart(id, field, title, unit) {
  const svg = document.getElementById(`${id}-chart`);
  const { area, line } = chartParts(svg);
  const now = Date.now();
  const samples = state.history;
  const peak = samples.reduce((max, s) => Math.max(max, s[field]), 0);
  const scale = peak > 0 ? peak : 1;
  const x = (t) => (((t - (now - HISTORY_MS)) / HISTORY_MS) * CHART_W).toFixed(1);
  const y = (v) => (CHART_H - 2 - (v / scale) * (CHART_H - 6)).toFixed(1);

  // One segment per run of samples without a gap (a restart or a hidden tab leaves one).
  let linePath = '';
  let areaPath = '';
  let segment = [];
  const closeSegment = () => {
    if (!segment.length) return;
    const points = segment.map((s) => `${x(s.t)},${y(s[field])}`);
    if (points.length === 1) points.push(`${(Number(x(segment[0].t)) + 1).toFixed(1)},${y(segment[0][field])}`);
    linePath += `M${points.join('L')}`;
    const first = x(segment[0].t);
    const last = points[points.length - 1].split(',')[0];
    areaPath += `M${first},${CHART_H}L${points.join('L')}L${last},${CHART_H}Z`;
    segment = [];
  };
  for (let i = 0; i < samples.length; i++) {
    if (i > 0 && samples[i].t - samples[i - 1].t > CHART_GAP_MS) closeSegment();
    segment.push(samples[i]);
  }
  closeSegment();
  line.setAttribute('d', linePath || 'M0,0');
  area.setAttribute('d', areaPath || 'M0,0');

  const digits = field === 'throughput' && peak < 100 ? 1 : 0;
  setText(document.getElementById(`${id}-peak`), `peak ${plainNumber(peak, digits)}`);
  const current = samples.length ? samples[samples.length - 1][field] : null;
  svg.setAttribute(
    'aria-label',
    current === null
      ? `${title} over the last 5 minutes: no samples yet`
      : `${title} over the last 5 minutes: now ${plainNumber(current, digits)} ${unit}, peak ${plainNumber(peak, digits)} ${unit}`,
  );
}

function flushCharts() {
  drawChart('queue-depth', 'queueDepth', 'Queue depth', 'jobs');
  drawChart('throughput', 'throughput', 'Throughput', 'jobs/s');
}

// ---------------------------------------------------------------- batching

let flushTimer = 0;
let lastBatchSize = 0;

// Under thousands of jobs a second, redrawing the tables 20 times a second costs the browser more
// in layout than anyone can read; large batches slow the redraw rate instead.
function scheduleFlush() {
  if (!flushTimer) flushTimer = setTimeout(flush, lastBatchSize > BUSY_BATCH ? BUSY_FLUSH_DELAY_MS : FLUSH_DELAY_MS);
}

function flush() {
  flushTimer = 0;
  lastBatchSize = dirty.jobs.size + dirty.buffers.size + dirty.workers.size;
  flushWorkers();
  flushBuffers();
  flushJobs();
  if (dirty.pool) {
    flushPool();
    dirty.pool = false;
  }
  if (dirty.charts) {
    flushCharts();
    dirty.charts = false;
  }
}

// ---------------------------------------------------------------- connection

const connectionEl = document.getElementById('connection');
const connectionDetailEl = document.getElementById('connection-detail');

function setConnection(status, detail = '') {
  if (connectionEl.dataset.state !== status) {
    connectionEl.dataset.state = status;
    connectionEl.textContent = status;
    document.documentElement.dataset.connection = status;
  }
  setText(connectionDetailEl, detail);
}

function eventsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}://${location.host}/v1/events${query}`;
}

function authorizedFetch(path) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, { headers, cache: 'no-store' });
}

let socket = null;
let live = false;
let everLive = false;
let retryTimer = 0;
let retryDelay = RETRY_FIRST_MS;
let lastResync = 0;
let stopped = false;

function connect() {
  retryTimer = 0;
  if (stopped) return;
  setConnection(everLive ? 'reconnecting' : 'connecting');
  const ws = new WebSocket(eventsUrl());
  socket = ws;
  ws.addEventListener('message', (event) => {
    if (socket === ws) onMessage(ws, event.data);
  });
  // 'error' is always followed by 'close', which is where reconnecting happens.
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    socket = null;
    live = false;
    // 1008 (policy violation) and the 4000s are the server refusing us, e.g. a wrong token.
    const refused = event.code === 1008 || event.code >= 4000;
    scheduleReconnect(retryDelay, refused ? `refused by the server: ${event.reason || event.code}` : '');
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  });
}

function scheduleReconnect(delay, reason = '') {
  if (stopped || retryTimer) return;
  // Jitter keeps many open dashboards from reconnecting in step after a server restart.
  const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
  const retry = wait >= 1000 ? `retrying in ${Math.round(wait / 1000)} s` : '';
  setConnection(everLive ? 'reconnecting' : 'connecting', [reason, retry].filter(Boolean).join('; '));
  retryTimer = setTimeout(connect, wait);
}

function dropSocket() {
  const ws = socket;
  socket = null;
  live = false;
  if (ws) ws.close(1000, 'resync');
}

function onMessage(ws, raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    return; // not JSON: nothing this page can use
  }
  if (!message || typeof message.type !== 'string') return;
  if (message.type === 'snapshot') {
    applySnapshot(message.data || {});
    live = everLive = true;
    retryDelay = RETRY_FIRST_MS;
    setConnection('live');
    flush();
    return;
  }
  if (!live) return; // events before the snapshot have nothing to apply to
  if (message.type === 'lagged') {
    // The server dropped events for us: the state here is stale. A new connection brings a fresh
    // snapshot; a browser that keeps lagging under load waits a moment between resyncs.
    const now = Date.now();
    const delay = now - lastResync < 5000 ? 1000 : 0;
    lastResync = now;
    dropSocket();
    scheduleReconnect(delay);
    return;
  }
  handleEvent(message.type, message.data || {});
}

let refreshing = false;
let lastRefresh = 0;
let refreshPausedUntil = 0;

async function refreshDescriptors() {
  const now = Date.now();
  if (!descriptorsStale || !live || refreshing || now - lastRefresh < DESCRIPTOR_REFRESH_MS) return;
  if (now < refreshPausedUntil || state.buffers.size === 0) return;
  descriptorsStale = false;
  refreshing = true;
  lastRefresh = now;
  try {
    const response = await authorizedFetch('/v1/buffers');
    if (!response.ok) {
      refreshPausedUntil = Date.now() + 30_000; // do not keep asking a server that refuses
      return;
    }
    const body = await response.json();
    for (const buffer of asArray(body && body.buffers)) {
      const id = idOf(buffer && buffer.id);
      const known = id === null ? null : state.buffers.get(id);
      if (known && Array.isArray(buffer.descriptors)) {
        known.descriptors = buffer.descriptors;
        dirty.buffers.add(id);
      }
    }
    scheduleFlush();
  } catch {
    // The server went away mid-request; the socket's close handler takes care of reconnecting.
  } finally {
    refreshing = false;
  }
}

let refreshingWorkers = false;
let lastWorkersRefresh = 0;
let workersPausedUntil = 0;

async function refreshWorkerCounters() {
  const now = Date.now();
  if (!workersStale || !live || refreshingWorkers || now - lastWorkersRefresh < WORKER_REFRESH_MS) return;
  if (now < workersPausedUntil) return;
  workersStale = false;
  refreshingWorkers = true;
  lastWorkersRefresh = now;
  try {
    const response = await authorizedFetch('/v1/workers');
    if (!response.ok) {
      workersPausedUntil = Date.now() + 30_000;
      return;
    }
    const body = await response.json();
    for (const worker of asArray(body && body.workers)) {
      const id = idOf(worker && worker.id);
      const known = id === null ? null : state.workers.get(id);
      // Same process only: the socket's worker events decide which processes exist.
      if (known && known.pid === worker.pid && known.state !== 'exited') {
        known.running = worker.running;
        known.jobsDone = worker.jobsDone;
        dirty.workers.add(id);
      }
    }
    scheduleFlush();
  } catch {
    // The server went away mid-request; the socket's close handler takes care of reconnecting.
  } finally {
    refreshingWorkers = false;
  }
}

// ---------------------------------------------------------------- lifecycle

let tickTimer = 0;

function tick() {
  tickRunningDurations();
  flushCharts(); // the window slides even when no stats arrive
  refreshDescriptors();
  refreshWorkerCounters();
}

function start() {
  stopped = false;
  if (!tickTimer) tickTimer = setInterval(tick, 1000);
  if (!socket && !retryTimer) connect();
}

// Leaving the page (or entering the back/forward cache) closes the socket and stops every timer.
function stop() {
  stopped = true;
  clearInterval(tickTimer);
  tickTimer = 0;
  clearTimeout(retryTimer);
  retryTimer = 0;
  clearTimeout(flushTimer);
  flushTimer = 0;
  dropSocket();
}

addEventListener('pagehide', stop);
addEventListener('pageshow', (event) => {
  if (event.persisted) start();
});

flushPool();
flushCharts();
start();
