/**
 * http-discard: bare node:http server in its own process that reads and
 * discards the request body and answers with the byte count.
 */
import { fixtureChild, serverBase } from '../procs'
import type { UploadTarget } from '../targets'

export function createHttpDiscard (): UploadTarget {
  const server = fixtureChild('http-discard')
  let url = ''
  return {
    name: 'http-discard',
    description: 'bare node:http server, own process, reads and discards the body',
    async setup () {
      const { ready } = await server.start()
      url = `${serverBase(ready)}/upload`
    },
    async prepare () {
      return { url, method: 'PUT' }
    },
    verify (body, size) {
      const got = (JSON.parse(body) as { bytes?: unknown }).bytes
      if (got !== size) throw new Error(`http-discard received ${String(got)} bytes, expected ${size}`)
    },
    async teardown () {
      await server.stop()
    },
  }
}
