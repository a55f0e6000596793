// The worker socket as part of the app (docs/worker-protocol.md): external workers in any
// language connect there and serve kinds; each welcomed one is handed to the pool, which checks
// its kinds and dispatches to it like to its own workers. The path is reported in GET /v1/pool
// (workerSocket). On close the socket stops listening first; the connections are the pool's, and
// it ends them when it closes (shutdown, then a disconnect after the kill grace), so a job
// running on an external worker is never requeued by the app's own shutdown.
import fp from 'fastify-plugin'
import type { WorkerSocketLogger } from '../worker-socket/external-worker-connection'
import { WorkerSocketServer, type WorkerSocketTimings } from '../worker-socket/worker-socket-server'

declare module 'fastify' {
  interface FastifyInstance {
    workerSocketServer: WorkerSocketServer
  }
}

export interface WorkerSocketPluginOptions {
  /** The socket's path (the CLI defaults it to worker.sock beside the attach socket). */
  path: string
  /** Peer uids allowed: default this process's own uid only. */
  allowedUids?: number[]
  /** When set, an external worker's hello must carry it. */
  token?: string | null
  /** External workers connected at once (default 64). */
  maxConnections?: number
  timings?: Partial<WorkerSocketTimings>
  /** Test-only widening of the socket's mode (default 0o600). */
  socketMode?: number
  /** Test-only widening of the folder's mode (default 0o700). */
  folderMode?: number
}

export default fp<WorkerSocketPluginOptions>(async function workerSocketPlugin (app, options) {
  const server = new WorkerSocketServer({
    path: options.path,
    allowedUids: options.allowedUids,
    token: options.token ?? null,
    maxConnections: options.maxConnections,
    timings: options.timings,
    socketMode: options.socketMode,
    folderMode: options.folderMode,
    logger: app.log.child({ component: 'worker-socket' }) as unknown as WorkerSocketLogger
  })
  server.on('connection', (connection) => app.pool.addExternalWorker(connection))
  server.start()
  app.decorate('workerSocketServer', server)
  app.pool.workerSocket = server.path
  // Runs before the pool plugin's close (reverse order of registration): no new worker comes in
  // while the pool winds down the ones it has.
  app.addHook('onClose', async () => {
    server.stopListening()
    if (app.pool.workerSocket === server.path) app.pool.workerSocket = null
  })
}, { name: 'memfd-pool/worker-socket', dependencies: ['memfd-pool/pool'] })
