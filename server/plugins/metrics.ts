// Prometheus metrics in a registry of this app's own (not prom-client's global one: tests and
// embedders build many apps in one process). Job counts and durations come from the pool's
// events as they happen; gauges (queue, workers, buffers) are read from the pool at scrape time.
// Process metrics (heap, event loop lag, process_open_fds from /proc/self/fd) are prom-client's
// defaults.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { JobInfo, PoolEvent } from '../pool/types'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
  }
}

const TERMINAL_EVENTS = new Set(['job.succeeded', 'job.failed', 'job.cancelled'])

function seconds (from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null
  const ms = Date.parse(to) - Date.parse(from)
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : null
}

export default fp(async function metricsPlugin (app) {
  const registry = new Registry()
  const registers = [registry]
  const pool = app.pool
  collectDefaultMetrics({ register: registry })

  const jobsFinished = new Counter({
    name: 'memfd_pool_jobs_total',
    help: 'Jobs that reached a final state, by kind and state',
    labelNames: ['kind', 'state'] as const,
    registers
  })
  const jobsQueued = new Counter({
    name: 'memfd_pool_jobs_queued_total',
    help: 'Jobs accepted into the queue, by kind',
    labelNames: ['kind'] as const,
    registers
  })
  const jobDuration = new Histogram({
    name: 'memfd_pool_job_duration_seconds',
    help: 'Time from a job\'s start on a worker to its end, by kind and final state',
    labelNames: ['kind', 'state'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers
  })
  // Gauges read the pool when scraped; they register themselves, the list only keeps them named.
  const gauges: Gauge[] = []
  gauges.push(new Gauge({
    name: 'memfd_pool_queue_depth',
    help: 'Jobs waiting for a worker',
    registers,
    collect () { this.set(pool.stats().queueDepth) }
  }))
  gauges.push(new Gauge({
    name: 'memfd_pool_jobs_running',
    help: 'Jobs running on a worker now',
    registers,
    collect () { this.set(pool.stats().running) }
  }))
  gauges.push(new Gauge({
    name: 'memfd_pool_workers',
    help: 'Worker processes by state',
    labelNames: ['state'] as const,
    registers,
    collect () {
      this.reset()
      for (const state of ['starting', 'ready', 'unresponsive', 'stopping', 'exited']) this.set({ state }, 0)
      for (const worker of pool.workers()) this.inc({ state: worker.state })
    }
  }))
  gauges.push(new Gauge({
    name: 'memfd_pool_buffers',
    help: 'Live buffers',
    registers,
    collect () { this.set(pool.store.count) }
  }))
  gauges.push(new Gauge({
    name: 'memfd_pool_buffer_bytes',
    help: 'Bytes reserved by buffers (deleted ones count until their last reader lets go)',
    registers,
    collect () { this.set(pool.store.bytesInUse) }
  }))
  gauges.push(new Gauge({
    name: 'memfd_pool_quota_bytes',
    help: 'The memory quota for all buffers',
    registers,
    collect () { this.set(pool.stats().quotaBytes) }
  }))

  // Clustered (docs/CLUSTER.md): bytes moved between this node and each peer, both ways.
  const cluster = app.cluster
  if (cluster !== null) {
    const perPeer = (name: string, help: string, read: () => Map<string, number>): Gauge<'peer'> => new Gauge({
      name,
      help,
      labelNames: ['peer'] as const,
      registers,
      collect () {
        this.reset()
        for (const [peer, bytes] of read()) this.set({ peer }, bytes)
      }
    })
    gauges.push(perPeer('memfd_pool_cluster_pulled_bytes', 'Input bytes this node pulled from each peer', () => cluster.started ? cluster.puller.pulledFrom : new Map()))
    gauges.push(perPeer('memfd_pool_cluster_served_bytes', 'Buffer bytes this node sent to each peer', () => cluster.servedTo))
  }

  const onEvent = (event: PoolEvent): void => {
    if (event.type === 'job.queued') {
      const job = event.data as Partial<JobInfo>
      if (typeof job?.kind === 'string') jobsQueued.inc({ kind: job.kind })
      return
    }
    if (!TERMINAL_EVENTS.has(event.type)) return
    const job = event.data as Partial<JobInfo>
    if (typeof job?.kind !== 'string' || typeof job.state !== 'string') return
    jobsFinished.inc({ kind: job.kind, state: job.state })
    const duration = seconds(job.startedAt ?? null, job.finishedAt ?? null)
    if (duration !== null) jobDuration.observe({ kind: job.kind, state: job.state }, duration)
  }
  pool.on('event', onEvent)
  app.addHook('onClose', async () => { pool.off('event', onEvent) })

  app.decorate('metrics', registry)
}, { name: 'memfd-pool/metrics', dependencies: ['memfd-pool/pool'] })
