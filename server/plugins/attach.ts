// The attach socket as part of the app: serves the pool's buffer store while the app runs, reports
// its path in GET /v1/pool (pool.attachSocket), and removes the socket file when the app closes.
import fp from 'fastify-plugin'
import { AttachServer, type AttachLimits } from '../attach/attach-server'
import type { AttachLogger } from '../attach/attach-connection'

declare module 'fastify' {
  interface FastifyInstance {
    attachServer: AttachServer
  }
}

export interface AttachPluginOptions {
  /** The socket's path (the CLI defaults it; see server/attach/socket-folder.ts). */
  path: string
  /** Peer uids allowed besides none: default this process's own uid only. */
  allowedUids?: number[]
  limits?: Partial<AttachLimits>
  /** Test-only widening of the socket's mode (default 0o600), e.g. to let another uid reach it. */
  socketMode?: number
  /** Test-only widening of the folder's mode (default 0o700). */
  folderMode?: number
}

export default fp<AttachPluginOptions>(async function attachPlugin (app, options) {
  const server = new AttachServer({
    store: app.pool.store,
    path: options.path,
    allowedUids: options.allowedUids,
    limits: options.limits,
    socketMode: options.socketMode,
    folderMode: options.folderMode,
    logger: app.log.child({ component: 'attach' }) as unknown as AttachLogger
  })
  server.start()
  app.decorate('attachServer', server)
  app.pool.attachSocket = server.path
  // onClose hooks run in reverse order of registration: the socket closes (dropping every holder
  // entry and lease) before the pool plugin frees the buffers.
  app.addHook('onClose', async () => {
    server.close()
    if (app.pool.attachSocket === server.path) app.pool.attachSocket = null
  })
}, { name: 'memfd-pool/attach', dependencies: ['memfd-pool/pool'] })
