// `npm run openapi`: writes openapi/openapi.json from the running app's route schemas (the same
// document GET /openapi.json serves). Checked in; test/server/openapi.test.ts fails when it is
// stale. The pool is real but tiny: the document does not depend on it.
import fs from 'node:fs'
import path from 'node:path'
import { buildApp } from '../server/app'

export const OPENAPI_PATH = path.join(__dirname, '..', '..', 'openapi', 'openapi.json')

/** The document as checked in: two-space JSON with a final newline, so diffs stay readable. */
export function formatDocument (document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`
}

async function main (): Promise<void> {
  const app = await buildApp({ pool: { workers: 1, maxMemoryBytes: 16 * 1024 * 1024 } })
  try {
    await app.ready()
    // Let the worker come up, so closing right away does not interrupt its start.
    await app.pool.whenReady()
    fs.writeFileSync(OPENAPI_PATH, formatDocument(app.swagger()))
    process.stdout.write(`wrote ${path.relative(process.cwd(), OPENAPI_PATH)}\n`)
  } finally {
    await app.close()
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
