// Finds the job kinds a worker serves: the built-in ones, then every module in the custom folder
// (`--kinds DIR`), then the files named one by one (`createPool({ kinds: [file] })`). Runs only
// inside worker processes (their main thread, for the 'ready' report, and each piscina thread, to
// run jobs): the server learns kinds from the workers' reports and never loads a custom module,
// so user code never runs in the control plane.
//
// Modules load with Node's own import(): `.mjs`, `.cjs`, `.js` of either module type, top-level
// await. Every failure is a KindLoadError naming the file and the reason; the worker reports it
// as 'fatal' and the pool does not start, rather than serve a different set of kinds than asked.
import fs from 'node:fs'
import path from 'node:path'
import { MAX_RUN_INPUTS, type KindReport } from './protocol'
import { importFile } from './dynamic-import'
import type { JobKind } from './kind-api'
import { builtinKinds } from './kinds'

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

/**
 * How many inputs (and outputs) a kind may declare at most, and what an undeclared one gets. A
 * job's input descriptors travel with its 'run' ('inputs' messages ahead of it past one message's
 * worth), up to MAX_RUN_INPUTS (the registry checks the same bound); an undeclared kind takes up to 16.
 */
export const MAX_INPUTS = MAX_RUN_INPUTS
export const MAX_OUTPUTS = 1024
const DEFAULT_INPUTS = { min: 0, max: 16 }
const DEFAULT_OUTPUTS = { min: 0, max: MAX_OUTPUTS }
/** A params schema travels in the 'ready' message and in GET /v1/kinds: keep it small. */
const MAX_SCHEMA_BYTES = 64 * 1024

/** Extensions loaded as kind modules. TypeScript ones only where this Node strips types. */
const CODE = /\.(?:m|c)?js$/
const TYPESCRIPT = /\.(?:m|c)?ts$/
/**
 * Files a kinds folder may hold besides kinds, skipped without a word: what a package or an
 * editor leaves next to the modules. Anything else that is not a kind stops the worker, so a
 * typo'd extension (`resize.jss`) or a kind that exports the wrong thing is never silently ignored.
 * Subfolders are never entered: helper modules a kind imports belong there.
 */
const NOT_KINDS = [
  /^\./, // .gitignore, .eslintrc, editor swap files
  /^package(?:-lock)?\.json$/,
  /^(?:readme|license|licence|changelog|notice)(?:\..*)?$/i,
  /\.(?:md|markdown|txt)$/i,
  /\.(?:m|c)?js\.map$/,
  /\.d\.(?:m|c)?ts$/,
  /\.tsbuildinfo$/,
  /~$/
]

/** A kind module that cannot be used: `file` and `reason` say which and why. */
export class KindLoadError extends Error {
  readonly code = 'KIND_LOAD_FAILED'
  readonly file: string
  readonly reason: string
  constructor (file: string, reason: string) {
    super(`${file}: ${reason}`)
    this.name = 'KindLoadError'
    this.file = file
    this.reason = reason
  }
}

export interface KindSources {
  /** Folder of kind modules (its files in name order), or null. */
  kindsDir: string | null
  /** Module files loaded after the folder's, in this order. */
  kindFiles: readonly string[]
}

/** Whether this Node can load a .ts file itself (type stripping: Node 22.6+, by default from 23.6). */
export function canStripTypes (): boolean {
  const features = process.features as { typescript?: unknown }
  return features.typescript === 'strip' || features.typescript === 'transform'
}

function looksLikeKind (value: unknown): value is JobKind {
  const candidate = value as Partial<JobKind> | null
  return candidate !== null && typeof candidate === 'object' && typeof candidate.run === 'function' && typeof candidate.name === 'string'
}

/**
 * The kind a module exports: `export default {…}`, `export const kind = {…}`, `module.exports =
 * {…}`, `exports.kind = {…}`, or a CommonJS build of an ES module (`exports.default = {…}`).
 */
function kindOf (namespace: Record<string, unknown>): JobKind | null {
  const main = namespace.default as Record<string, unknown> | undefined
  const candidates = [main, namespace.kind, main?.kind, main?.default, namespace]
  return (candidates.find(looksLikeKind) as JobKind | undefined) ?? null
}

function checkBounds (file: string, what: 'inputs' | 'outputs', value: unknown, limit: number): { min: number, max: number } | undefined {
  if (value === undefined) return undefined
  const bounds = value as { min?: unknown, max?: unknown } | null
  const ok = bounds !== null && typeof bounds === 'object' && Number.isSafeInteger(bounds.min) && Number.isSafeInteger(bounds.max) &&
    (bounds.min as number) >= 0 && (bounds.min as number) <= (bounds.max as number) && (bounds.max as number) <= limit
  if (!ok) throw new KindLoadError(file, `${what} must be { min, max }: whole numbers with 0 <= min <= max <= ${limit}; got ${JSON.stringify(value)}`)
  return { min: bounds.min as number, max: bounds.max as number }
}

/**
 * Rewrites `anyOf` lists of constants (TypeBox's `Type.Union` of `Type.Literal`s) as `enum`: the
 * same values accepted, but a validator then reports one error listing the allowed values
 * (Ajv's `params.allowedValues`) instead of one "must be equal to constant" per literal.
 */
function constantsAsEnum (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(constantsAsEnum)
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(node)) out[key] = key === 'const' || key === 'enum' || key === 'default' || key === 'examples' ? value : constantsAsEnum(value)
  const branches = out.anyOf
  if (!Array.isArray(branches) || branches.length === 0 || 'enum' in out || 'type' in out) return out
  const literal = (b: unknown): b is { const: unknown, type?: unknown } =>
    b !== null && typeof b === 'object' && 'const' in b && Object.keys(b).every((k) => k === 'const' || k === 'type')
  if (!branches.every(literal)) return out
  const types = new Set(branches.map((b) => b.type))
  if (types.size !== 1) return out
  const { anyOf: _, ...rest } = out
  const type = [...types][0]
  return { ...(type === undefined ? {} : { type }), enum: branches.map((b) => b.const), ...rest }
}

let compiler: { compile: (schema: object) => unknown } | null = null

/**
 * Ajv, the validator Fastify uses and the server validates params with. `strict: false`: a
 * keyword Ajv does not know (`x-unit`, an annotation) is allowed, as in Fastify; a schema that is
 * not valid JSON Schema (a wrong `type`, a `required` that is not a list) still fails to compile.
 */
function ajv (): { compile: (schema: object) => unknown } {
  if (compiler !== null) return compiler
  const Ajv = require('ajv').default as new (options: object) => { compile: (schema: object) => unknown }
  const instance = new Ajv({ strict: false, allErrors: false, logger: false, useDefaults: true })
  try { (require('ajv-formats').default as (ajv: unknown) => void)(instance) } catch { /* formats then stay unchecked */ }
  compiler = instance
  return instance
}

/**
 * The params schema as plain JSON Schema (a TypeBox schema is one, with symbol keys that JSON
 * drops), checked to compile. Throws a KindLoadError naming the file otherwise.
 */
export function paramsSchema (file: string, kind: JobKind): Record<string, unknown> | null {
  if (kind.params === undefined || kind.params === null) return null
  let text: string
  try {
    text = JSON.stringify(kind.params)
  } catch (err) {
    throw new KindLoadError(file, `kind ${kind.name}: params schema is not JSON (${(err as Error).message})`)
  }
  const schema = text === undefined ? undefined : constantsAsEnum(JSON.parse(text))
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new KindLoadError(file, `kind ${kind.name}: params must be a JSON Schema object (TypeBox or plain), got ${text ?? typeof kind.params}`)
  }
  if (Buffer.byteLength(text) > MAX_SCHEMA_BYTES) {
    throw new KindLoadError(file, `kind ${kind.name}: params schema is ${Buffer.byteLength(text)} bytes of JSON; at most ${MAX_SCHEMA_BYTES}`)
  }
  try {
    ajv().compile(schema)
  } catch (err) {
    throw new KindLoadError(file, `kind ${kind.name}: params schema does not compile: ${(err as Error).message}`)
  }
  return schema as Record<string, unknown>
}

/** What the worker reports for `kind` in 'ready' (built-in kinds are reported too). */
export function kindReport (kind: JobKind, file = `built-in kind ${kind.name}`): KindReport {
  return {
    name: kind.name,
    description: typeof kind.description === 'string' ? kind.description : '',
    inputs: checkBounds(file, 'inputs', kind.inputs, MAX_INPUTS) ?? { ...DEFAULT_INPUTS },
    outputs: checkBounds(file, 'outputs', kind.outputs, MAX_OUTPUTS) ?? { ...DEFAULT_OUTPUTS },
    params: paramsSchema(file, kind)
  }
}

/** The files of a kinds folder to load, in name order; throws on one that is neither a kind module nor a known support file. */
export function kindFilesIn (dir: string): string[] {
  const absolute = path.resolve(dir)
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(absolute, { withFileTypes: true })
  } catch (err) {
    throw new KindLoadError(absolute, `cannot read the kinds folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const files: string[] = []
  for (const entry of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
    const full = path.join(absolute, entry.name)
    if (entry.isDirectory() || NOT_KINDS.some((pattern) => pattern.test(entry.name))) continue
    if (!CODE.test(entry.name) && !TYPESCRIPT.test(entry.name)) {
      throw new KindLoadError(full, 'not a kind module: a kinds folder holds .js, .mjs and .cjs modules (.ts where Node strips types); ' +
        'README/*.md, package.json, *.map and *.d.ts are skipped; put other files in a subfolder')
    }
    files.push(full)
  }
  return files
}

/** Loads one kind module; throws a KindLoadError naming it. */
export async function loadKindFile (file: string): Promise<{ kind: JobKind, report: KindReport }> {
  const full = path.resolve(file)
  if (TYPESCRIPT.test(full) && !canStripTypes()) {
    throw new KindLoadError(full, `a TypeScript kind needs a Node that strips types (22.6+ with --experimental-strip-types, 23.6+ by default); this is Node ${process.versions.node}: compile it to .js or .mjs and load that`)
  }
  if (!CODE.test(full) && !TYPESCRIPT.test(full)) {
    throw new KindLoadError(full, 'a kind module is a .js, .mjs or .cjs file (.ts where Node strips types)')
  }
  let namespace: Record<string, unknown>
  try {
    namespace = await importFile(full)
  } catch (err) {
    const e = err as { code?: unknown, message?: unknown }
    const reason = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(err)
    throw new KindLoadError(full, `failed to load${typeof e?.code === 'string' ? ` (${e.code})` : ''}: ${reason}`)
  }
  const kind = kindOf(namespace)
  if (kind === null) {
    throw new KindLoadError(full, 'not a kind: a kind module exports { name, description?, inputs?, outputs?, params?, run(ctx) } ' +
      '(as its default export, as "kind", or as module.exports)')
  }
  if (!NAME.test(kind.name)) throw new KindLoadError(full, `kind name ${JSON.stringify(kind.name)} must match ${String(NAME)}`)
  return { kind, report: kindReport(kind, full) }
}

export interface LoadedKinds {
  kinds: Map<string, JobKind>
  /** In load order: built-in kinds first. */
  reports: KindReport[]
}

/** Built-in kinds, then the folder's modules (name order), then `kindFiles`. Throws a KindLoadError on the first bad one. */
export async function loadKindModules (sources: KindSources): Promise<LoadedKinds> {
  const kinds = new Map<string, JobKind>()
  const reports: KindReport[] = []
  const where = new Map<string, string>()
  for (const kind of builtinKinds) {
    kinds.set(kind.name, kind)
    reports.push(kindReport(kind))
    where.set(kind.name, 'a built-in kind')
  }
  const files = [...(sources.kindsDir !== null ? kindFilesIn(sources.kindsDir) : []), ...sources.kindFiles.map((file) => path.resolve(file))]
  for (const file of files) {
    const { kind, report } = await loadKindFile(file)
    const previous = where.get(kind.name)
    if (previous !== undefined) throw new KindLoadError(file, `a kind named ${JSON.stringify(kind.name)} already exists (${previous})`)
    kinds.set(kind.name, kind)
    reports.push(report)
    where.set(kind.name, file)
  }
  return { kinds, reports }
}

/**
 * @deprecated The server's synchronous loading (CommonJS only), kept until the engine reshape
 * removes server/pool/pool.ts's use of it: kinds are to load in workers only (loadKindModules).
 */
export function loadKinds (dir?: string | null): Map<string, JobKind> {
  const kinds = new Map<string, JobKind>()
  for (const kind of builtinKinds) kinds.set(kind.name, kind)
  if (dir) {
    const absolute = path.resolve(dir)
    for (const file of fs.readdirSync(absolute).filter((f) => /\.c?js$/.test(f)).sort()) {
      const full = path.join(absolute, file)
      const kind = kindOf({ default: require(full) })
      if (kind === null) throw new Error(`${full}: a kind module exports { name, params?, run(ctx) } (as default, "kind" or the module itself)`)
      if (!NAME.test(kind.name)) throw new Error(`${full}: kind name ${JSON.stringify(kind.name)} must match ${String(NAME)}`)
      if (kinds.has(kind.name)) throw new Error(`${full}: a kind named ${JSON.stringify(kind.name)} already exists`)
      kinds.set(kind.name, kind)
    }
  }
  return kinds
}
