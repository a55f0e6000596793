/**
 * memfd-pool, HTTP section: the real app in its own process (bench/fixtures/pool-server), default
 * pool (2 workers × 1 thread on this machine). Request rate: `POST /v1/jobs?wait=10000` with a
 * no-op job on one sealed 4 KiB input — each request validates, queues, passes one descriptor to a
 * worker process and waits for the answer. Upload: `PUT /v1/buffers/:id/content` of a buffer made
 * (untimed) by `POST /v1/buffers` and deleted (untimed) after; the body is streamed into the
 * shared mapping as it arrives.
 */
import type { ChildProcess } from 'node:child_process';
import type { PoolOptions } from '../../server/pool/pool';
import { forkFixture, stopChild } from '../procs';
import type { HttpTarget, UploadRequestSpec, UploadTarget } from '../targets';

async function startPoolServer(pool?: PoolOptions): Promise<{ child: ChildProcess; base: string; input: string }> {
  const started = await forkFixture('pool-server', pool ? [JSON.stringify(pool)] : [], {}, 30_000);
  return {
    child: started.child,
    base: `http://127.0.0.1:${Number(started.ready.port)}`,
    input: String(started.ready.input),
  };
}

/** `prefetch` > 0: the same app with that pool option (off by default), shown next to the default. */
export function createPoolHttp(prefetch = 0): HttpTarget {
  let child: ChildProcess | undefined;
  return {
    name: prefetch > 0 ? `memfd-pool prefetch ${prefetch}` : 'memfd-pool',
    description:
      'memfd-pool app, own process, default pool (2 workers × 1 thread here): POST /v1/jobs?wait=10000 {kind: noop, one 4 KiB input}' +
      (prefetch > 0 ? `, pool option prefetch ${prefetch} (default 0)` : ''),
    async setup() {
      const server = await startPoolServer(prefetch > 0 ? { prefetch } : undefined);
      child = server.child;
      return {
        url: `${server.base}/v1/jobs?wait=10000`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'noop', inputs: [server.input] }),
      };
    },
    async teardown() {
      const c = child;
      child = undefined;
      await stopChild(c, 15_000);
    },
  };
}

export function createPoolUpload(): UploadTarget {
  let child: ChildProcess | undefined;
  let base = '';
  return {
    name: 'memfd-pool',
    description: 'memfd-pool app, own process: PUT /v1/buffers/:id/content into a fresh buffer (streamed into the shared mapping)',
    async setup() {
      const server = await startPoolServer();
      child = server.child;
      base = server.base;
    },
    async prepare(size): Promise<UploadRequestSpec> {
      const res = await fetch(`${base}/v1/buffers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ size, name: 'bench-upload' }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || typeof body.id !== 'string') throw new Error(`POST /v1/buffers: HTTP ${res.status}`);
      return { url: `${base}/v1/buffers/${body.id}/content`, method: 'PUT' };
    },
    verify(body, size) {
      const written = (JSON.parse(body) as { written?: unknown }).written;
      if (written !== size) throw new Error(`memfd-pool wrote ${String(written)} bytes, expected ${size}`);
    },
    async finish(req) {
      const res = await fetch(req.url.replace(/\/content$/, ''), { method: 'DELETE' });
      await res.arrayBuffer();
      if (res.status >= 300) throw new Error(`DELETE buffer: HTTP ${res.status}`);
    },
    async teardown() {
      const c = child;
      child = undefined;
      await stopChild(c, 15_000);
    },
  };
}
