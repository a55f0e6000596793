// The pool (and through it the buffer store) as the `pool` decorator. The app either adopts a
// pool its caller built (tests, embedders: the caller keeps ownership and closes it) or creates
// one from options and owns it. An owned pool closes in onClose, after the listener has stopped
// and every in-flight request has ended: closing frees every buffer, which must not happen under
// a download still streaming from one. (Long polls end early at preClose: see routes/jobs.ts.)
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { createPool, type Pool, type PoolOptions } from '../pool/pool'

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool
  }
}

export interface PoolPluginOptions {
  /** An existing pool; the app uses it and leaves closing it to the caller. */
  pool?: Pool
  /** Options for a pool the app creates (and closes on app.close()). */
  poolOptions?: PoolOptions
  /** How long running jobs may finish when an owned pool closes. */
  closeGraceMs?: number
}

export default fp<PoolPluginOptions>(async function poolPlugin (app, options) {
  const owned = options.pool === undefined
  const pool = options.pool ?? await createPool({
    ...options.poolOptions,
    logger: options.poolOptions?.logger ?? (app.log.child({ component: 'pool' }) as unknown as Logger)
  })
  app.decorate('pool', pool)
  // A worker that cannot start (a kind file that does not load) says why once, here; /readyz
  // keeps answering 503 meanwhile. Whoever awaits whenReady() gets the same message.
  pool.whenReady().catch((err: Error) => { app.log.error({ component: 'pool', err: err.message }, 'the pool\'s workers could not start') })
  if (owned) app.addHook('onClose', async () => { await pool.close({ graceMs: options.closeGraceMs }) })
}, { name: 'memfd-pool/pool' })
