/**
 * fork-ipc: one child process started with child_process.fork and
 * `serialization: 'advanced'` (V8 serializer, Buffers supported). The Buffer is
 * sent with child.send — serialized into the IPC pipe (copy) and deserialized in
 * the child (copy) — and the child answers with the first and last byte.
 */
import { fixtureChild } from '../procs'
import { dispatchPayload, type ByteProbe, type DispatchTarget } from '../targets'

interface Reply extends ByteProbe {
  id: number
}

export function createForkIpc (): DispatchTarget<Buffer> {
  const fixture = fixtureChild('fork-ipc-child')
  let nextId = 1
  const pending = new Map<number, { resolve: (p: ByteProbe) => void; reject: (e: Error) => void }>()

  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }

  return {
    name: 'fork-ipc',
    description: "child_process.fork with serialization: 'advanced', Buffer sent with child.send (copied)",
    async setup () {
      const { child } = await fixture.start([], { serialization: 'advanced' })
      child.on('message', (raw: unknown) => {
        const msg = raw as Partial<Reply>
        if (typeof msg.id !== 'number') return
        const p = pending.get(msg.id)
        if (!p) return
        pending.delete(msg.id)
        p.resolve({ first: Number(msg.first), last: Number(msg.last) })
      })
      child.once('exit', (code, signal) => failAll(new Error(`fork-ipc child exited (code ${code}, signal ${signal})`)))
    },
    async prepare (size) {
      return dispatchPayload(size)
    },
    roundTrip (buf) {
      return new Promise<ByteProbe>((resolve, reject) => {
        const c = fixture.child
        if (!c || !c.connected) {
          reject(new Error('fork-ipc: child not running'))
          return
        }
        const id = nextId++
        pending.set(id, { resolve, reject })
        c.send({ id, buf }, (err) => {
          if (err) {
            pending.delete(id)
            reject(err)
          }
        })
      })
    },
    async teardown () {
      await fixture.stop()
      failAll(new Error('fork-ipc: torn down'))
    },
  }
}
