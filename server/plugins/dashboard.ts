// The dashboard's static files (server/dashboard/: index.html, style.css and the ES modules
// app.js imports, plain browser JavaScript with no build step) at `/`. They are served from the source tree: compiled code runs from dist/server/plugins/,
// three levels below the package root.
import path from 'node:path'
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'

export const DASHBOARD_DIR = path.join(__dirname, '..', '..', '..', 'server', 'dashboard')

export default fp(async function dashboardPlugin (app) {
  // wildcard: false registers one route per file at startup, so any other path falls through to
  // the JSON 404 handler instead of a filesystem lookup.
  await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/', wildcard: false })
}, { name: 'memfd-pool/dashboard' })
