// Finds the job kinds a pool offers: the built-in ones plus every module in a custom folder
// (`--kinds DIR`). Loaded by the server (names and params schemas, to validate jobs before they
// are queued) and by each worker thread (to run them), so both see the same set.
import fs from 'node:fs'
import path from 'node:path'
import type { JobKind } from './kind-api'
import { builtinKinds } from './kinds'

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

function asKind (value: unknown, file: string): JobKind {
  const mod = value as { default?: unknown, kind?: unknown }
  const candidate = (mod?.default ?? mod?.kind ?? mod) as Partial<JobKind>
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.run !== 'function' || typeof candidate.name !== 'string') {
    throw new Error(`${file}: a kind module exports { name, params?, run(ctx) } (as default, "kind" or the module itself)`)
  }
  if (!NAME.test(candidate.name)) throw new Error(`${file}: kind name ${JSON.stringify(candidate.name)} must match ${NAME}`)
  return candidate as JobKind
}

/** Built-in kinds plus the `.js`/`.cjs` modules in `dir` (sorted by file name). Throws on a bad module or a duplicate name. */
export function loadKinds (dir?: string | null): Map<string, JobKind> {
  const kinds = new Map<string, JobKind>()
  for (const kind of builtinKinds) kinds.set(kind.name, kind)
  if (dir) {
    const absolute = path.resolve(dir)
    for (const file of fs.readdirSync(absolute).filter((f) => /\.c?js$/.test(f)).sort()) {
      const full = path.join(absolute, file)
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const kind = asKind(require(full), full)
      if (kinds.has(kind.name)) throw new Error(`${full}: a kind named ${JSON.stringify(kind.name)} already exists`)
      kinds.set(kind.name, kind)
    }
  }
  return kinds
}
