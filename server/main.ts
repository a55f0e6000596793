// `npm start`: reads the configuration, builds the app, listens, and shuts down gracefully on
// SIGTERM/SIGINT (stop accepting, let running jobs finish for --grace-ms, cancel the rest, stop
// the workers, exit 0). A second signal exits at once.
import { constants as osConstants } from 'node:os'
import pino from 'pino'
import { buildApp } from './app'
import { defaultAttachSocketPath } from './attach/socket-folder'
import { ConfigError, helpText, parseConfig, type ServerConfig } from './config'

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

async function main (): Promise<void> {
  const config = readConfig()
  if (config.help) {
    process.stdout.write(helpText())
    return
  }
  const logger = pino({ level: config.logLevel, name: 'memfd-pool' })
  const app = await buildApp({
    pool: {
      workers: config.workers,
      threadsPerWorker: config.threadsPerWorker,
      maxMemoryBytes: config.maxMemoryBytes,
      maxBufferBytes: config.maxBufferBytes,
      maxQueue: config.maxQueue,
      prefetch: config.prefetch,
      outputTtlMs: config.outputTtlMs,
      kindsDir: config.kindsDir
    },
    token: config.token,
    metricsAuth: config.metricsAuth,
    graceMs: config.graceMs,
    attach: {
      path: config.attachSocket ?? defaultAttachSocketPath(),
      allowedUids: [process.getuid?.() ?? 0, ...(config.attachAllowUids ?? [])]
    },
    logger
  })

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
}

main().catch((err: unknown) => {
  // A system error (EADDRINUSE on the attach socket, EACCES on its folder) is the user's to fix:
  // say what failed, without a stack trace. Anything else is a bug: show where.
  const e = err as { code?: unknown, message?: string, stack?: string }
  const text = typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.message : e?.stack ?? String(err)
  process.stderr.write(`memfd-pool: ${text}\n`)
  process.exit(1)
})
