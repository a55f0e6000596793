// The server's configuration from command-line flags and MEMFD_POOL_* environment variables
// (flags win), with defaults that run on any Linux machine with nothing else installed. One
// table describes every setting: the parser, the --help text and the README all follow it (a
// test checks the README's table against this one). Its `scope` says who obeys a setting: the
// server, the worker processes (it reaches them in their 'config' message, never through their
// environment), or both.
import { constants as bufferConstants } from 'node:buffer'
import os from 'node:os'
import path from 'node:path'
import { INLINE_CAPABLE_KINDS, MAX_SORT_THREADS, WORKER_DEFAULTS } from '../workers/worker-settings'
import { MAX_TTL_MS } from './schemas/limits'

export interface ServerConfig {
  host: string
  port: number
  workers: number
  /** undefined: the pool's default. */
  threadsPerWorker?: number
  maxMemoryBytes: number
  maxBufferBytes: number
  /** undefined: the pool's default. */
  maxQueue?: number
  /** undefined: the pool's default ('auto'). */
  prefetch?: number | 'auto'
  /** Job outputs expire this long after they are made, unless the job says; undefined: never. */
  outputTtlMs?: number
  /** Custom kind folder: loaded by the workers only. */
  kindsDir?: string
  /** Custom kind module files, loaded by the workers after the folder's. */
  kindFiles?: string[]
  /** undefined: the pool's default. */
  heartbeatIntervalMs?: number
  /** undefined: the pool's default. */
  heartbeatTimeoutMs?: number
  /** Worker-scoped settings; undefined: the pool's default. */
  cancelGraceMs?: number
  startedAfterMs?: number
  inlineKinds?: string[]
  mappingCacheEntries?: number
  mappingCacheBytes?: number
  sortThreads?: number
  /** Host headers accepted besides the listening address, localhost, 127.0.0.1 and [::1]. */
  allowedHosts?: string[]
  /** undefined: the app's default. */
  bodyTimeoutMs?: number
  attachSocket?: string
  /** Uids allowed on the attach socket besides the server's own. */
  attachAllowUids?: number[]
  /** undefined: beside the attach socket (worker.sock). */
  workerSocket?: string
  workerToken?: string
  /** undefined: the pool's default. */
  kindWaitMs?: number
  token?: string
  /** undefined: the event hub's default (100). */
  maxSubscribers?: number
  /** Join the cluster coordinated by this Redis (redis://HOST:PORT[/DB]); undefined: a single host. */
  cluster?: string
  /** This node's name in the cluster; undefined: host name and port. */
  nodeName?: string
  /** The HTTP base URL other nodes use; undefined: from --host and the listening port. */
  advertise?: string
  /** The secret nodes present to each other; undefined: the server's --token. */
  clusterToken?: string
  /** A node whose heartbeat is this old is lost; undefined: the cluster's default. */
  nodeLostMs?: number
  metricsAuth: boolean
  graceMs: number
  logLevel: string
  help: boolean
}

/** A bad flag or variable: main.ts prints the message and exits 2. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** One Buffer (and so one server-side mapping) can be at most this long on Node 20: 4 GiB. */
export const MAX_BUFFER_LIMIT = Math.min(bufferConstants.MAX_LENGTH, 4 * 1024 ** 3)

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  ki: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4
}

/** "64MiB", "1GiB", "512k", "1.5G" (binary), "100MB" (decimal), "4096": bytes as an integer. */
export function parseSize (text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const unit = match === null ? undefined : UNITS[match[2].toLowerCase()]
  if (match === null || unit === undefined) {
    throw new ConfigError(`"${text}" is not a size (examples: 1048576, 64MiB, 1GiB, 512k)`)
  }
  const bytes = Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(`"${text}" is too large`)
  return bytes
}

function parseInteger (text: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`"${text}" is not a whole number`)
  const value = Number(text)
  if (value < min || value > max) throw new ConfigError(`${value} is outside ${min}..${max}`)
  return value
}

/** "1000" or "1000,1001": user ids. */
function parseUidList (text: string): number[] {
  return text.split(',').map((part) => parseInteger(part, 0, 0xfffffffe))
}

/** "a,b" or "a" (repeatable): a list of non-empty items. */
function parseList (what: string): (text: string) => string[] {
  return (text) => {
    const items = text.split(',').map((item) => item.trim())
    if (items.some((item) => item === '')) throw new ConfigError(`"${text}" is not a comma-separated list of ${what}`)
    return items
  }
}

/** Paths, resolved against the current folder now (a worker's folder may differ). */
function parsePaths (text: string): string[] {
  return parseList('paths')(text).map((item) => path.resolve(item))
}

/** "noop", "" or "none": which inline-capable built-in kinds run on a worker's main thread. */
function parseInlineKinds (text: string): string[] {
  const trimmed = text.trim()
  if (trimmed === '' || trimmed === 'none') return []
  const names = parseList('kind names')(trimmed)
  const wrong = names.find((name) => !INLINE_CAPABLE_KINDS.includes(name))
  if (wrong !== undefined) throw new ConfigError(`"${wrong}" cannot run inline; allowed: ${INLINE_CAPABLE_KINDS.join(', ')} (or none)`)
  return names
}

/** redis://HOST:PORT[/DB] (or rediss://), checked now so a typo fails at start, not at the first job. */
function parseRedisUrl (text: string): string {
  let url: URL
  try { url = new URL(text) } catch { throw new ConfigError(`"${text}" is not a URL (redis://HOST:PORT[/DB])`) }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(`"${text}" is not a redis:// URL`)
  if (url.hostname === '') throw new ConfigError(`"${text}" names no host`)
  const db = url.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw new ConfigError(`"${text}": the database must be a number (redis://HOST:PORT/DB)`)
  return text
}

/** Node names become Redis keys and BullMQ queue names: no colons, spaces or slashes. */
function parseNodeName (text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text)) throw new ConfigError(`"${text}" is not a node name (letters, digits, . _ -; at most 63)`)
  return text
}

function parseHttpUrl (text: string): string {
  let url: URL
  try { url = new URL(text) } catch { throw new ConfigError(`"${text}" is not a URL (http://HOST:PORT)`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`"${text}" is not an http:// URL`)
  return text.replace(/\/+$/, '')
}

function parseBoolean (text: string): boolean {
  const lower = text.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on', ''].includes(lower)) return true
  if (['0', 'false', 'no', 'off'].includes(lower)) return false
  throw new ConfigError(`"${text}" is not a boolean (true/false, 1/0)`)
}

type Settable = Exclude<keyof ServerConfig, 'help'>

/** Who obeys a setting: the server process, the worker processes (through their 'config'), or both. */
export type Scope = 'server' | 'worker' | 'both'

export interface Setting {
  flag: string
  env: string
  /** Also read from these variables, after `env`. */
  fallbackEnv?: string[]
  /** Placeholder shown in --help; absent for switches. */
  arg?: string
  key: Settable
  scope: Scope
  description: string
  /** The default as --help and the README show it. */
  defaultText: string
  parse: (text: string) => unknown
}

export const SETTINGS: Setting[] = [
  { flag: '--port', env: 'MEMFD_POOL_PORT', fallbackEnv: ['PORT'], arg: 'N', key: 'port', scope: 'server', description: 'TCP port (0 picks a free one)', defaultText: '8080', parse: (t) => parseInteger(t, 0, 65535) },
  { flag: '--host', env: 'MEMFD_POOL_HOST', fallbackEnv: ['HOST'], arg: 'ADDR', key: 'host', scope: 'server', description: 'Address to listen on', defaultText: '127.0.0.1', parse: (t) => t },
  { flag: '--allowed-hosts', env: 'MEMFD_POOL_ALLOWED_HOSTS', arg: 'HOST[,HOST…]', key: 'allowedHosts', scope: 'server', description: 'Host headers accepted besides the listening address, localhost, 127.0.0.1 and [::1] (repeatable; guards against DNS rebinding)', defaultText: 'none', parse: parseList('host names') },
  { flag: '--workers', env: 'MEMFD_POOL_WORKERS', arg: 'N', key: 'workers', scope: 'server', description: 'Worker processes', defaultText: 'one per core', parse: (t) => parseInteger(t, 1, 1024) },
  { flag: '--threads-per-worker', env: 'MEMFD_POOL_THREADS_PER_WORKER', arg: 'N', key: 'threadsPerWorker', scope: 'both', description: 'Job threads in each worker process', defaultText: '1', parse: (t) => parseInteger(t, 1, 256) },
  { flag: '--max-memory', env: 'MEMFD_POOL_MAX_MEMORY', arg: 'SIZE', key: 'maxMemoryBytes', scope: 'server', description: 'Memory quota for all buffers together', defaultText: 'half of physical memory', parse: parseSize },
  { flag: '--max-buffer', env: 'MEMFD_POOL_MAX_BUFFER', arg: 'SIZE', key: 'maxBufferBytes', scope: 'server', description: 'Largest single buffer (at most 4GiB: one Node Buffer maps it)', defaultText: 'min(quota, 4GiB)', parse: parseSize },
  { flag: '--max-queue', env: 'MEMFD_POOL_MAX_QUEUE', arg: 'N', key: 'maxQueue', scope: 'server', description: 'Queued jobs before POST /v1/jobs answers 429', defaultText: '10000', parse: (t) => parseInteger(t, 1) },
  { flag: '--prefetch', env: 'MEMFD_POOL_PREFETCH', arg: 'auto|N', key: 'prefetch', scope: 'server', description: 'Jobs sent to a worker ahead of a free thread: auto (short jobs only), N (any job), 0 (never)', defaultText: 'auto', parse: (t) => t === 'auto' ? 'auto' : parseInteger(t, 0, 1024) },
  { flag: '--output-ttl-ms', env: 'MEMFD_POOL_OUTPUT_TTL_MS', arg: 'MS', key: 'outputTtlMs', scope: 'server', description: 'Job outputs are deleted this long after they are made, unless a job or pipeline sets outputTtlMs', defaultText: 'never', parse: (t) => parseInteger(t, 1, MAX_TTL_MS) },
  { flag: '--kinds', env: 'MEMFD_POOL_KINDS', arg: 'DIR', key: 'kindsDir', scope: 'worker', description: 'Folder of custom job kind modules (.js, .mjs, .cjs), loaded by the workers only', defaultText: 'built-in kinds only', parse: (t) => path.resolve(t) },
  { flag: '--kind-file', env: 'MEMFD_POOL_KIND_FILES', arg: 'FILE[,FILE…]', key: 'kindFiles', scope: 'worker', description: 'A custom kind module file, loaded after the folder\'s (repeatable)', defaultText: 'none', parse: parsePaths },
  { flag: '--heartbeat-interval', env: 'MEMFD_POOL_HEARTBEAT_INTERVAL', arg: 'MS', key: 'heartbeatIntervalMs', scope: 'server', description: 'How often the server pings each worker', defaultText: '1000', parse: (t) => parseInteger(t, 1) },
  { flag: '--heartbeat-timeout', env: 'MEMFD_POOL_HEARTBEAT_TIMEOUT', arg: 'MS', key: 'heartbeatTimeoutMs', scope: 'server', description: 'A worker that answers no ping for this long is hung: killed and replaced, its jobs retried or failed', defaultText: '10000', parse: (t) => parseInteger(t, 1) },
  { flag: '--cancel-grace', env: 'MEMFD_POOL_CANCEL_GRACE_MS', arg: 'MS', key: 'cancelGraceMs', scope: 'worker', description: 'How long a cancelled or timed-out job may take to stop before its thread is terminated', defaultText: String(WORKER_DEFAULTS.cancelGraceMs), parse: (t) => parseInteger(t, 0) },
  { flag: '--started-after', env: 'MEMFD_POOL_STARTED_AFTER_MS', arg: 'MS', key: 'startedAfterMs', scope: 'worker', description: 'A job reports \'started\' (and its descriptors) only once it has run this long', defaultText: String(WORKER_DEFAULTS.startedAfterMs), parse: (t) => parseInteger(t, 0) },
  { flag: '--inline-kinds', env: 'MEMFD_POOL_INLINE_KINDS', arg: 'KIND[,KIND…]|none', key: 'inlineKinds', scope: 'worker', description: `Built-in O(1) kinds run on a worker's main thread instead of a job thread (allowed: ${INLINE_CAPABLE_KINDS.join(', ')})`, defaultText: WORKER_DEFAULTS.inlineKinds.join(','), parse: parseInlineKinds },
  { flag: '--mapping-cache-entries', env: 'MEMFD_POOL_MAPPING_CACHE_ENTRIES', arg: 'N', key: 'mappingCacheEntries', scope: 'worker', description: 'Input mappings each job thread keeps between jobs (0: none)', defaultText: String(WORKER_DEFAULTS.mappingCache.entries), parse: (t) => parseInteger(t, 0, 1_000_000) },
  { flag: '--mapping-cache-bytes', env: 'MEMFD_POOL_MAPPING_CACHE_BYTES', arg: 'SIZE', key: 'mappingCacheBytes', scope: 'worker', description: 'Bytes of input mappings each job thread keeps between jobs', defaultText: '8GiB', parse: parseSize },
  { flag: '--sort-threads', env: 'MEMFD_POOL_SORT_THREADS', arg: 'N', key: 'sortThreads', scope: 'worker', description: `Threads a large sort uses (at most ${MAX_SORT_THREADS})`, defaultText: `one per core, at most ${MAX_SORT_THREADS}`, parse: (t) => parseInteger(t, 1, MAX_SORT_THREADS) },
  { flag: '--body-timeout', env: 'MEMFD_POOL_BODY_TIMEOUT', arg: 'MS', key: 'bodyTimeoutMs', scope: 'server', description: 'An upload body idle this long is aborted (408) and its reservation released', defaultText: '30000', parse: (t) => parseInteger(t, 1) },
  { flag: '--attach-socket', env: 'MEMFD_POOL_ATTACH_SOCKET', arg: 'PATH', key: 'attachSocket', scope: 'server', description: 'Unix socket where local processes attach buffers', defaultText: 'under $XDG_RUNTIME_DIR or ./run/', parse: (t) => path.resolve(t) },
  { flag: '--attach-allow-uid', env: 'MEMFD_POOL_ATTACH_ALLOW_UID', arg: 'UID[,UID…]', key: 'attachAllowUids', scope: 'server', description: 'Another uid allowed on the attach socket (repeatable; the path must also let it in)', defaultText: 'only the server\'s own uid', parse: parseUidList },
  { flag: '--worker-socket', env: 'MEMFD_POOL_WORKER_SOCKET', arg: 'PATH', key: 'workerSocket', scope: 'server', description: 'Unix socket where external workers (Python, C, any language) connect; same uid checks as the attach socket', defaultText: 'worker.sock beside the attach socket', parse: (t) => path.resolve(t) },
  { flag: '--worker-token', env: 'MEMFD_POOL_WORKER_TOKEN', arg: 'SECRET', key: 'workerToken', scope: 'server', description: 'An external worker must send this in its hello', defaultText: 'none', parse: (t) => t },
  { flag: '--kind-wait', env: 'MEMFD_POOL_KIND_WAIT', arg: 'MS', key: 'kindWaitMs', scope: 'server', description: 'When the last worker serving a kind leaves, its queued jobs wait this long for another, then fail NO_WORKER', defaultText: '30000', parse: (t) => parseInteger(t, 0) },
  { flag: '--token', env: 'MEMFD_POOL_TOKEN', arg: 'SECRET', key: 'token', scope: 'server', description: 'Require "Authorization: Bearer SECRET" on /v1', defaultText: 'none (no auth)', parse: (t) => t },
  { flag: '--cluster', env: 'MEMFD_POOL_CLUSTER', arg: 'redis://HOST:PORT[/DB]', key: 'cluster', scope: 'server', description: 'Join the cluster coordinated by this Redis (docs/CLUSTER.md): jobs are placed where their input bytes are', defaultText: 'none (one host, no Redis)', parse: parseRedisUrl },
  { flag: '--node-name', env: 'MEMFD_POOL_NODE_NAME', arg: 'NAME', key: 'nodeName', scope: 'server', description: 'This node\'s name in the cluster (letters, digits, . _ -)', defaultText: 'host name and port', parse: parseNodeName },
  { flag: '--advertise', env: 'MEMFD_POOL_ADVERTISE', arg: 'URL', key: 'advertise', scope: 'server', description: 'The HTTP base URL other nodes reach this one at', defaultText: 'from --host and the port', parse: parseHttpUrl },
  { flag: '--cluster-token', env: 'MEMFD_POOL_CLUSTER_TOKEN', arg: 'SECRET', key: 'clusterToken', scope: 'server', description: 'The bearer token nodes send each other (and accepted on /v1 like --token)', defaultText: 'the --token', parse: (t) => t },
  { flag: '--node-lost-after', env: 'MEMFD_POOL_NODE_LOST_AFTER', arg: 'MS', key: 'nodeLostMs', scope: 'server', description: 'A node whose heartbeat is this old is lost: its queued jobs are placed again or fail INPUT_LOST', defaultText: '5000', parse: (t) => parseInteger(t, 100) },
  { flag: '--max-subscribers', env: 'MEMFD_POOL_MAX_SUBSCRIBERS', arg: 'N', key: 'maxSubscribers', scope: 'server', description: 'Event stream (/v1/events) subscribers at once; one more is closed with 1013', defaultText: '100', parse: (t) => parseInteger(t, 0, 100_000) },
  { flag: '--metrics-auth', env: 'MEMFD_POOL_METRICS_AUTH', key: 'metricsAuth', scope: 'server', description: 'Require the token on /metrics too', defaultText: 'off', parse: parseBoolean },
  { flag: '--grace-ms', env: 'MEMFD_POOL_GRACE_MS', arg: 'MS', key: 'graceMs', scope: 'server', description: 'On SIGTERM/SIGINT, how long running jobs may finish', defaultText: '10000', parse: (t) => parseInteger(t, 0) },
  { flag: '--log-level', env: 'MEMFD_POOL_LOG_LEVEL', arg: 'LEVEL', key: 'logLevel', scope: 'server', description: LOG_LEVELS.join('|'), defaultText: 'info', parse: (t) => { if (!LOG_LEVELS.includes(t)) throw new ConfigError(`"${t}" is not one of ${LOG_LEVELS.join(', ')}`); return t } }
]

export interface Machine {
  cores: number
  totalMemoryBytes: number
}

const THIS_MACHINE: Machine = { cores: os.availableParallelism(), totalMemoryBytes: os.totalmem() }

export function defaults (machine: Machine): Omit<ServerConfig, 'maxBufferBytes'> {
  return {
    host: '127.0.0.1',
    port: 8080,
    workers: Math.max(1, machine.cores),
    maxMemoryBytes: Math.floor(machine.totalMemoryBytes / 2),
    metricsAuth: false,
    graceMs: 10_000,
    logLevel: 'info',
    help: false
  }
}

function settingFor (flag: string): Setting {
  const setting = SETTINGS.find((s) => s.flag === flag)
  if (setting === undefined) throw new ConfigError(`unknown option ${flag}`)
  return setting
}

function apply (target: Partial<ServerConfig>, setting: Setting, text: string, source: string): void {
  try {
    const record = target as Record<string, unknown>
    const value = setting.parse(text)
    const previous = record[setting.key]
    // A list-valued flag given twice adds up (--attach-allow-uid 1000 --attach-allow-uid 1001).
    record[setting.key] = Array.isArray(previous) && Array.isArray(value) ? [...previous, ...value] : value
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${source}: ${err.message}`)
    throw err
  }
}

/** Reads flags (`--flag value` or `--flag=value`) over environment variables over defaults. */
export function parseConfig (argv: string[], env: NodeJS.ProcessEnv = process.env, machine: Machine = THIS_MACHINE): ServerConfig {
  const fromEnv: Partial<ServerConfig> = {}
  for (const setting of SETTINGS) {
    const name = [setting.env, ...(setting.fallbackEnv ?? [])].find((n) => env[n] !== undefined && env[n] !== '')
    if (name !== undefined) apply(fromEnv, setting, env[name] as string, name)
  }

  const fromFlags: Partial<ServerConfig> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') {
      fromFlags.help = true
      continue
    }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}`)
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const setting = settingFor(flag)
    let value: string
    if (eq !== -1) {
      value = arg.slice(eq + 1)
    } else if (setting.arg === undefined) {
      value = 'true'
    } else {
      if (i + 1 >= argv.length) throw new ConfigError(`${flag} needs a value (${setting.arg})`)
      value = argv[++i]
    }
    apply(fromFlags, setting, value, flag)
  }

  const merged = { ...defaults(machine), ...fromEnv, ...fromFlags }
  const config: ServerConfig = { ...merged, maxBufferBytes: merged.maxBufferBytes ?? Math.min(merged.maxMemoryBytes, MAX_BUFFER_LIMIT) }
  if (config.maxMemoryBytes < 1) throw new ConfigError('--max-memory must be at least 1 byte')
  if (config.maxBufferBytes > MAX_BUFFER_LIMIT) {
    throw new ConfigError(`--max-buffer cannot exceed ${MAX_BUFFER_LIMIT} bytes (4GiB): the server maps each buffer as one Node Buffer`)
  }
  if (config.maxBufferBytes > config.maxMemoryBytes) {
    throw new ConfigError(`--max-buffer (${config.maxBufferBytes}) cannot exceed --max-memory (${config.maxMemoryBytes})`)
  }
  if (config.token === '') delete config.token
  if (config.clusterToken === '') delete config.clusterToken
  if (config.cluster === undefined && (config.nodeName !== undefined || config.advertise !== undefined || config.clusterToken !== undefined)) {
    throw new ConfigError('--node-name, --advertise and --cluster-token need --cluster')
  }
  return config
}

export function helpText (): string {
  const rows = SETTINGS.map((s) => [`${s.flag}${s.arg === undefined ? '' : ` ${s.arg}`}`, s.env, `${s.description} (default: ${s.defaultText}${s.scope === 'server' ? '' : `; ${s.scope === 'worker' ? 'for the workers' : 'server and workers'}`})`])
  const width = Math.max(...rows.map((r) => r[0].length))
  const envWidth = Math.max(...rows.map((r) => r[1].length))
  return [
    'Usage: npm start -- [options]      (or: node dist/server/main.js [options])',
    '',
    'Serves the memfd-pool REST API, dashboard and docs. Each option can also be set with its',
    'environment variable; options win. Sizes accept suffixes: 64MiB, 1GiB, 512k (binary), 100MB (decimal).',
    'Settings marked "for the workers" reach the worker processes in their start-up message; no worker',
    'reads an environment variable.',
    '',
    ...rows.map(([flag, envName, text]) => `  ${flag.padEnd(width)}  ${envName.padEnd(envWidth)}  ${text}`),
    `  ${'--help'.padEnd(width)}  ${''.padEnd(envWidth)}  Show this help`,
    '',
    'SIGTERM/SIGINT stop accepting requests, let running jobs finish for --grace-ms, cancel the rest,',
    'stop the workers and exit 0; a second signal exits at once.',
    ''
  ].join('\n')
}
