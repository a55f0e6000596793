/**
 * fork-ipc: one child process started with child_process.fork and
 * `serialization: 'advanced'` (V8 serializer, Buffers supported). The Buffer is
 * sent with child.send — serialized into the IPC pipe (copy) and deserialized in
 * the child (copy) — and the child answers with the first and last byte.
 */
import type { ChildProcess } from 'node:child_process';
import { forkFixture, stopChild } from '../procs';
import { fillDispatchPayload, type ByteProbe, type DispatchTarget } from '../targets';

interface Reply extends ByteProbe {
  id: number;
}

export function createForkIpc(): DispatchTarget<Buffer> {
  let child: ChildProcess | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (p: ByteProbe) => void; reject: (e: Error) => void }>();

  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  return {
    name: 'fork-ipc',
    description: "child_process.fork with serialization: 'advanced', Buffer sent with child.send (copied)",
    async setup() {
      const started = await forkFixture('fork-ipc-child', [], { serialization: 'advanced' });
      child = started.child;
      child.on('message', (raw: unknown) => {
        const msg = raw as Partial<Reply>;
        if (typeof msg.id !== 'number') return;
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        p.resolve({ first: Number(msg.first), last: Number(msg.last) });
      });
      child.once('exit', (code, signal) => failAll(new Error(`fork-ipc child exited (code ${code}, signal ${signal})`)));
    },
    async prepare(size) {
      const buf = Buffer.alloc(size);
      fillDispatchPayload(buf);
      return buf;
    },
    roundTrip(buf) {
      return new Promise<ByteProbe>((resolve, reject) => {
        const c = child;
        if (!c || !c.connected) {
          reject(new Error('fork-ipc: child not running'));
          return;
        }
        const id = nextId++;
        pending.set(id, { resolve, reject });
        c.send({ id, buf }, (err) => {
          if (err) {
            pending.delete(id);
            reject(err);
          }
        });
      });
    },
    async teardown() {
      const c = child;
      child = undefined;
      await stopChild(c);
      failAll(new Error('fork-ipc: torn down'));
    },
  };
}
