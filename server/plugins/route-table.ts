// Which methods each registered path answers, for the 405 + Allow answer of a wrong method on an
// existing path (RFC 9110 §15.5.6), and which media types a route's body may have, for a 415
// that says what to send. Collected with the onRoute hook, so it must be registered before any
// route. Wildcard routes (the API docs' assets) do not make every path "exist".
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: RouteTable
  }
}

interface RoutePattern { pattern: RegExp, methods: Set<string> }

export class RouteTable {
  readonly #byUrl = new Map<string, RoutePattern>()

  add (url: string, methods: string | string[]): void {
    if (url.includes('*')) return
    let entry = this.#byUrl.get(url)
    if (entry === undefined) {
      const source = url.split('/').map((part) => part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('/')
      entry = { pattern: new RegExp(`^${source}$`), methods: new Set() }
      this.#byUrl.set(url, entry)
    }
    for (const method of Array.isArray(methods) ? methods : [methods]) entry.methods.add(method.toUpperCase())
  }

  /** The methods some route serves on this concrete path, sorted; empty when no route matches it. */
  methodsFor (path: string): string[] {
    const methods = new Set<string>()
    for (const { pattern, methods: served } of this.#byUrl.values()) {
      if (pattern.test(path)) for (const method of served) methods.add(method)
    }
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods].sort()
  }
}

export function allowedMethods (app: FastifyInstance, path: string): string[] {
  return app.hasDecorator('routeTable') ? app.routeTable.methodsFor(path) : []
}

/** The media types the matched route takes as a body: its `content` map, or JSON. */
export function acceptedMediaTypes (request: FastifyRequest): string[] {
  const body = (request.routeOptions.schema as { body?: { content?: Record<string, unknown> } } | undefined)?.body
  return body?.content !== undefined ? Object.keys(body.content) : ['application/json']
}

export default fp(async function routeTablePlugin (app) {
  const table = new RouteTable()
  app.decorate('routeTable', table)
  app.addHook('onRoute', (route) => { table.add(route.url, route.method) })
}, { name: 'memfd-pool/route-table' })
