// Loads a kind module of any type from a project compiled to CommonJS. tsc rewrites `import(x)`
// into `Promise.resolve().then(() => require(x))` under "module": "commonjs", and require() can
// load neither an ES module with top-level await (ERR_REQUIRE_ASYNC_MODULE) nor, on Node 20, any
// ES module at all (ERR_REQUIRE_ESM). Code built by the Function constructor is not seen by tsc,
// so its import() is Node's own: it loads .mjs and .js under "type": "module", and waits for a
// module's top-level await.
//
// CommonJS modules still go through require(): on Node 20 a module loaded by import() inside a
// piscina thread made every later task on that thread ~0.6 ms slower (measured with the bench's
// probe kind: 4 KiB dispatch 1.1–1.3 ms through import(), 0.65–0.85 ms through require()).
import { pathToFileURL } from 'node:url'

// eslint-disable-next-line no-new-func
const nodeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>

const NOT_COMMONJS = new Set(['ERR_REQUIRE_ESM', 'ERR_REQUIRE_ASYNC_MODULE'])

/** The module at absolute path `file`: an ES module's namespace, or `{ default: exports }` of a CommonJS one. */
export async function importFile (file: string): Promise<Record<string, unknown>> {
  if (!file.endsWith('.mjs')) {
    try {
      return { default: require(file) as unknown }
    } catch (err) {
      if (!NOT_COMMONJS.has((err as { code?: string }).code ?? '')) throw err
    }
  }
  return await nodeImport(pathToFileURL(file).href)
}
