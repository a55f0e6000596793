// What every upload shares: how long its body may stay idle (AppOptions.bodyTimeoutMs), and a
// signal that a shutdown aborts, so a stalled upload neither holds its quota reservation for
// minutes nor keeps the server from exiting within its grace period.
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    uploads: UploadLimits
  }
}

export interface UploadLimits {
  /** An upload receiving no byte for this long is aborted with 408. */
  bodyTimeoutMs: number
  /** Aborted when the app starts closing: every upload still arriving ends at once. */
  signal: AbortSignal
}

export const DEFAULT_BODY_TIMEOUT_MS = 30_000

export default fp<{ bodyTimeoutMs?: number }>(async function uploadsPlugin (app, options) {
  const closing = new AbortController()
  app.decorate('uploads', { bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS, signal: closing.signal })
  app.addHook('preClose', (done) => { closing.abort(); done() })
}, { name: 'memfd-pool/uploads' })
