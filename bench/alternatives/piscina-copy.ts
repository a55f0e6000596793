/**
 * piscina-copy: a piscina pool with one worker thread; the Buffer is passed as
 * the task, so it is structured-cloned (copied) into the worker. The worker
 * answers with the first and last byte.
 */
import { Piscina } from 'piscina'
import { fixturePath } from '../procs'
import { dispatchPayload, type ByteProbe, type DispatchTarget } from '../targets'

export function createPiscinaCopy (): DispatchTarget<Buffer> {
  let pool: Piscina | null = null
  return {
    name: 'piscina-copy',
    description: 'piscina 5, 1 worker thread, Buffer passed as the task (structured clone = copy)',
    async setup () {
      pool = new Piscina({ filename: fixturePath('piscina-worker'), minThreads: 1, maxThreads: 1 })
      await pool.run(new Uint8Array(2), { name: 'probe' })
    },
    async prepare (size) {
      return dispatchPayload(size)
    },
    async roundTrip (buf): Promise<ByteProbe> {
      if (!pool) throw new Error('piscina-copy: not set up')
      return (await pool.run(buf, { name: 'probe' })) as ByteProbe
    },
    async teardown () {
      const p = pool
      pool = null
      if (p) await p.destroy()
    },
  }
}
