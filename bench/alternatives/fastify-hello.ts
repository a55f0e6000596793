/**
 * fastify-hello: bare Fastify 5 with one GET route answering {"hello":"world"},
 * in its own process (so the load generator does not share its event loop).
 */
import type { ChildProcess } from 'node:child_process';
import { forkFixture, stopChild } from '../procs';
import type { HttpTarget } from '../targets';

export function createFastifyHello(): HttpTarget {
  let child: ChildProcess | undefined;
  return {
    name: 'fastify-hello',
    description: 'bare Fastify 5, GET / -> {"hello":"world"}, no logger, own process',
    async setup() {
      const started = await forkFixture('fastify-hello');
      child = started.child;
      return { url: `http://127.0.0.1:${Number(started.ready.port)}/`, method: 'GET' };
    },
    async teardown() {
      const c = child;
      child = undefined;
      await stopChild(c);
    },
  };
}
