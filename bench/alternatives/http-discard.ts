/**
 * http-discard: bare node:http server in its own process that reads and
 * discards the request body and answers with the byte count.
 */
import type { ChildProcess } from 'node:child_process';
import { forkFixture, stopChild } from '../procs';
import type { UploadTarget } from '../targets';

export function createHttpDiscard(): UploadTarget {
  let child: ChildProcess | undefined;
  let url = '';
  return {
    name: 'http-discard',
    description: 'bare node:http server, own process, reads and discards the body',
    async setup() {
      const started = await forkFixture('http-discard');
      child = started.child;
      url = `http://127.0.0.1:${Number(started.ready.port)}/upload`;
    },
    async prepare() {
      return { url, method: 'PUT' };
    },
    verify(body, size) {
      const got = (JSON.parse(body) as { bytes?: unknown }).bytes;
      if (got !== size) throw new Error(`http-discard received ${String(got)} bytes, expected ${size}`);
    },
    async teardown() {
      const c = child;
      child = undefined;
      await stopChild(c);
    },
  };
}
