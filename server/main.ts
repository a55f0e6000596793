// `npm start`: reads the configuration, builds the app, listens, and shuts down gracefully on
// SIGTERM/SIGINT (stop accepting, let running jobs finish for --grace-ms, cancel the rest, stop
// the workers, exit 0). A second signal exits at once.
import { constants as osConstants } from 'node:os'
import pino from 'pino'
import { buildApp } from './app'
import { defaultAttachSocketPath } from './attach/socket-folder'
import { defaultWorkerSocketPath } from './worker-socket/worker-socket-server'
import { WORKER_DEFAULTS } from '../workers/worker-settings'
import { ConfigError, helpText, parseConfig, type ServerConfig } from './config'
import type { AppOptions } from './app'
import type { PoolOptions } from './pool/pool'

/** Beyond the grace period, how long closing may take before we give up and exit 1. */
const CLOSE_MARGIN_MS = 15_000

function readConfig (): ServerConfig {
  try {
    return parseConfig(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`memfd-pool: ${err.message}\nRun with --help to see the options.\n`)
    process.exit(2)
  }
}

/**
 * The pool options a configuration gives, worker-scoped settings gathered in `worker` (the pool
 * sends them to each worker in its 'config' message). Unset settings stay undefined: the pool's
 * defaults apply. Typed here as well as by PoolOptions, so the names the settings table maps to
 * are checked in one place.
 */
export interface ConfiguredPoolOptions {
  workers: number
  threadsPerWorker?: number
  maxMemoryBytes: number
  maxBufferBytes: number
  maxQueue?: number
  prefetch?: number | 'auto'
  outputTtlMs?: number
  kindsDir?: string
  kinds?: string[]
  heartbeatIntervalMs?: number
  heartbeatTimeoutMs?: number
  kindWaitMs?: number
  worker: {
    cancelGraceMs?: number
    startedAfterMs?: number
    inlineKinds?: string[]
    mappingCache?: { entries: number, bytes: number }
    sortThreads?: number | null
  }
}

function defined<T extends Record<string, unknown>> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

export function poolOptionsFromConfig (config: ServerConfig): ConfiguredPoolOptions {
  const mappingCache = config.mappingCacheEntries === undefined && config.mappingCacheBytes === undefined
    ? undefined
    : { entries: config.mappingCacheEntries ?? WORKER_DEFAULTS.mappingCache.entries, bytes: config.mappingCacheBytes ?? WORKER_DEFAULTS.mappingCache.bytes }
  return defined({
    workers: config.workers,
    threadsPerWorker: config.threadsPerWorker,
    maxMemoryBytes: config.maxMemoryBytes,
    maxBufferBytes: config.maxBufferBytes,
    maxQueue: config.maxQueue,
    prefetch: config.prefetch,
    outputTtlMs: config.outputTtlMs,
    kindsDir: config.kindsDir,
    kinds: config.kindFiles,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    kindWaitMs: config.kindWaitMs,
    worker: defined({
      cancelGraceMs: config.cancelGraceMs,
      startedAfterMs: config.startedAfterMs,
      inlineKinds: config.inlineKinds,
      mappingCache,
      sortThreads: config.sortThreads
    })
  })
}

/** The app options a configuration gives (everything but the logger). */
export function appOptionsFromConfig (config: ServerConfig): Omit<AppOptions, 'pool' | 'logger'> & { pool: ConfiguredPoolOptions, allowedHosts?: string[], bodyTimeoutMs?: number } {
  const attachPath = config.attachSocket ?? defaultAttachSocketPath()
  const allowedUids = [process.getuid?.() ?? 0, ...(config.attachAllowUids ?? [])]
  return defined({
    pool: poolOptionsFromConfig(config),
    token: config.token,
    metricsAuth: config.metricsAuth,
    graceMs: config.graceMs,
    events: config.maxSubscribers === undefined ? undefined : { maxSubscribers: config.maxSubscribers },
    allowedHosts: config.allowedHosts,
    bodyTimeoutMs: config.bodyTimeoutMs,
    // The cluster token defaults to the server's own: the nodes then reach each other's /v1 with
    // the token every client uses, and one secret is enough (docs/CLUSTER.md).
    cluster: config.cluster === undefined
      ? undefined
      : defined({ redisUrl: config.cluster, nodeName: config.nodeName, advertise: config.advertise, token: config.clusterToken ?? config.token, lostAfterMs: config.nodeLostMs }),
    attach: { path: attachPath, allowedUids },
    workerSocket: defined({
      path: config.workerSocket ?? defaultWorkerSocketPath(attachPath),
      allowedUids,
      token: config.workerToken
    })
  })
}

async function main (): Promise<void> {
  const config = readConfig()
  if (config.help) {
    process.stdout.write(helpText())
    return
  }
  const logger = pino({ level: config.logLevel, name: 'memfd-pool' })
  const options = appOptionsFromConfig(config)
  // Until every branch of the reshape has landed, PoolOptions and AppOptions may lack some of the
  // names above (heartbeat, worker, kinds, allowedHosts, bodyTimeoutMs): passed as values, not
  // literals, so the compiler checks the shared names' types and lets the new ones through.
  const pool: PoolOptions = options.pool
  const app = await buildApp({ ...options, pool, logger })

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(128 + osConstants.signals[signal])
    }
    stopping = true
    logger.info({ signal, graceMs: config.graceMs }, 'shutting down: no new requests; running jobs get the grace period')
    const deadline = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting')
      process.exit(1)
    }, config.graceMs + CLOSE_MARGIN_MS)
    deadline.unref()
    app.close().then(() => {
      logger.info('stopped')
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  let address: string
  try {
    address = await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    logger.error({ err }, `cannot listen on ${config.host}:${config.port}`)
    await app.close()
    process.exit(1)
  }
  process.stdout.write(`memfd-pool listening on ${address}  (dashboard ${address}/, API docs ${address}/docs)\n`)
  // A worker that cannot start (a kind file that is not a kind, a bad params schema) fails the
  // pool's start with a message naming the file: say it and exit 1 rather than serve without it.
  // Then one more line once the workers can take jobs (until then jobs answer 503 NOT_READY):
  // what a script or a test that starts the server waits for.
  app.pool.whenReady().then(() => {
    if (stopping) return
    process.stdout.write(`memfd-pool ready: ${app.pool.workers().length} worker(s), kinds ${app.pool.kinds().map((k) => k.name).join(', ')}\n`)
  }, (err: unknown) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`memfd-pool: the workers cannot start: ${(err as Error)?.message ?? String(err)}\n`)
    app.close().finally(() => process.exit(1))
  })
}

if (require.main === module) {
  main().catch((err: unknown) => {
    // A system error (EADDRINUSE on the attach socket, EACCES on its folder) and a kind that
    // cannot load (KIND_LOAD_FAILED: the worker's message names the file) are the user's to fix:
    // say what failed, without a stack trace. Anything else is a bug: show where.
    const e = err as { code?: unknown, message?: string, stack?: string }
    const userError = typeof e?.code === 'string' && (/^E[A-Z]+$/.test(e.code) || e.code === 'KIND_LOAD_FAILED')
    const text = userError ? e.message : e?.stack ?? String(err)
    process.stderr.write(`memfd-pool: ${text}\n`)
    process.exit(1)
  })
}
