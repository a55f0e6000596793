/**
 * fastify-hello: bare Fastify 5 with one GET route answering {"hello":"world"},
 * in its own process (so the load generator does not share its event loop).
 */
import { fixtureChild, serverBase } from '../procs'
import type { HttpTarget } from '../targets'

export function createFastifyHello (): HttpTarget {
  const server = fixtureChild('fastify-hello')
  return {
    name: 'fastify-hello',
    description: 'bare Fastify 5, GET / -> {"hello":"world"}, no logger, own process',
    async setup () {
      const { ready } = await server.start()
      return { url: `${serverBase(ready)}/`, method: 'GET', serverPid: server.child?.pid }
    },
    async teardown () {
      await server.stop()
    },
  }
}
