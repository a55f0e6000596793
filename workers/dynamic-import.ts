// A real `import()` in a project compiled to CommonJS. tsc rewrites `import(x)` into
// `Promise.resolve().then(() => require(x))` under "module": "commonjs", and require() can load
// neither an ES module with top-level await (ERR_REQUIRE_ASYNC_MODULE) nor, on Node 20, any ES
// module at all. Code built by the Function constructor is not seen by tsc, so its import() is
// Node's own: it loads .mjs, .cjs and .js of either module type (the nearest package.json
// "type" decides), and waits for a module's top-level await.
import { pathToFileURL } from 'node:url'

// eslint-disable-next-line no-new-func
const nodeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>

/** The module namespace of the file at absolute path `file` (a CommonJS module's exports are its `default`). */
export async function importFile (file: string): Promise<Record<string, unknown>> {
  return await nodeImport(pathToFileURL(file).href)
}
