/**
 * piscina-transfer: a piscina pool with one worker thread; the buffer's
 * ArrayBuffer is in the transferList, so it moves to the worker without a copy
 * (and is detached here). The worker reads both ends and transfers it back with
 * its answer, so the same memory goes around every repetition.
 */
import { Piscina } from 'piscina'
import { fixturePath } from '../procs'
import { fillDispatchPayload, type ByteProbe, type DispatchTarget } from '../targets'

interface Handle {
  buf: Uint8Array<ArrayBuffer>
}

interface TransferReply extends ByteProbe {
  buf: Uint8Array<ArrayBuffer>
}

export function createPiscinaTransfer (): DispatchTarget<Handle> {
  let pool: Piscina | null = null
  return {
    name: 'piscina-transfer',
    description: 'piscina 5, 1 worker thread, ArrayBuffer transferred to the worker and back (no copy)',
    async setup () {
      pool = new Piscina({ filename: fixturePath('piscina-worker'), minThreads: 1, maxThreads: 1 })
      const warm = new Uint8Array(2)
      await pool.run(warm, { name: 'probeAndReturn', transferList: [warm.buffer] })
    },
    async prepare (size) {
      // A Uint8Array over its own ArrayBuffer: Buffer.allocUnsafe could hand out
      // a slice of the shared pool, which must not be transferred.
      const buf = new Uint8Array(size)
      fillDispatchPayload(buf)
      return { buf }
    },
    async roundTrip (handle): Promise<ByteProbe> {
      if (!pool) throw new Error('piscina-transfer: not set up')
      const reply = (await pool.run(handle.buf, {
        name: 'probeAndReturn',
        transferList: [handle.buf.buffer],
      })) as TransferReply
      handle.buf = reply.buf
      return { first: reply.first, last: reply.last }
    },
    async teardown () {
      const p = pool
      pool = null
      if (p) await p.destroy()
    },
  }
}
