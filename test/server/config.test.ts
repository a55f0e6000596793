// Configuration: flags over MEMFD_POOL_* variables over defaults that fit the machine; sizes with
// suffixes; clear errors for anything else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ConfigError, MAX_BUFFER_LIMIT, SETTINGS, helpText, parseConfig, parseSize } from '../../server/config'

const README = path.join(__dirname, '..', '..', '..', 'README.md')

const GiB = 1024 ** 3
const MACHINE = { cores: 6, totalMemoryBytes: 16 * GiB }

test('defaults: 127.0.0.1:8080, one worker per core, half the memory, one buffer up to 4 GiB', () => {
  const config = parseConfig([], {}, MACHINE)
  assert.equal(config.host, '127.0.0.1')
  assert.equal(config.port, 8080)
  assert.equal(config.workers, 6)
  assert.equal(config.maxMemoryBytes, 8 * GiB)
  assert.equal(config.maxBufferBytes, 4 * GiB)
  assert.equal(config.token, undefined)
  assert.equal(config.metricsAuth, false)
  assert.equal(config.graceMs, 10_000)
  assert.equal(config.logLevel, 'info')
  assert.equal(config.help, false)
  // A small machine: the buffer maximum follows the quota down.
  assert.equal(parseConfig([], {}, { cores: 1, totalMemoryBytes: 2 * GiB }).maxBufferBytes, GiB)
})

test('sizes: plain bytes, binary and decimal suffixes, fractions', () => {
  assert.equal(parseSize('4096'), 4096)
  assert.equal(parseSize('64MiB'), 64 * 1024 ** 2)
  assert.equal(parseSize('64M'), 64 * 1024 ** 2)
  assert.equal(parseSize('1GiB'), GiB)
  assert.equal(parseSize('1g'), GiB)
  assert.equal(parseSize('512k'), 512 * 1024)
  assert.equal(parseSize('100MB'), 100_000_000)
  assert.equal(parseSize('1.5GiB'), 1.5 * GiB)
  assert.equal(parseSize(' 2 TiB '), 2 * 1024 ** 4)
  for (const bad of ['', 'lots', '-1', '1XB', '1e9', '0x10']) assert.throws(() => parseSize(bad), ConfigError, bad)
})

test('every flag, in both --flag value and --flag=value forms', () => {
  const config = parseConfig([
    '--port', '9000', '--host=0.0.0.0', '--workers', '3', '--threads-per-worker', '2', '--max-memory', '2GiB',
    '--max-buffer=256MiB', '--max-queue', '50', '--prefetch', '4', '--output-ttl-ms', '60000', '--kinds', 'my-kinds', '--attach-socket', '/tmp/a.sock',
    '--token', 'abc', '--metrics-auth', '--grace-ms', '0', '--log-level', 'debug',
    '--kind-file', 'a.mjs,b.cjs', '--kind-file=c.js', '--heartbeat-interval', '500', '--heartbeat-timeout', '4000',
    '--cancel-grace', '250', '--started-after=0', '--inline-kinds', 'noop', '--mapping-cache-entries', '0',
    '--mapping-cache-bytes', '1GiB', '--sort-threads', '3', '--allowed-hosts', 'pool.example,10.0.0.5:8080',
    '--allowed-hosts=other.example', '--body-timeout', '5000'
  ], {}, MACHINE)
  assert.deepEqual(config, {
    host: '0.0.0.0',
    port: 9000,
    workers: 3,
    threadsPerWorker: 2,
    maxMemoryBytes: 2 * GiB,
    maxBufferBytes: 256 * 1024 ** 2,
    maxQueue: 50,
    prefetch: 4,
    outputTtlMs: 60_000,
    kindsDir: path.resolve('my-kinds'),
    attachSocket: '/tmp/a.sock',
    token: 'abc',
    metricsAuth: true,
    graceMs: 0,
    logLevel: 'debug',
    kindFiles: ['a.mjs', 'b.cjs', 'c.js'].map((f) => path.resolve(f)),
    heartbeatIntervalMs: 500,
    heartbeatTimeoutMs: 4000,
    cancelGraceMs: 250,
    startedAfterMs: 0,
    inlineKinds: ['noop'],
    mappingCacheEntries: 0,
    mappingCacheBytes: GiB,
    sortThreads: 3,
    allowedHosts: ['pool.example', '10.0.0.5:8080', 'other.example'],
    bodyTimeoutMs: 5000,
    help: false
  })
})

test('worker settings come from the variables workers used to read, now read by the server', () => {
  const config = parseConfig([], {
    MEMFD_POOL_CANCEL_GRACE_MS: '300',
    MEMFD_POOL_STARTED_AFTER_MS: '5',
    MEMFD_POOL_INLINE_KINDS: 'none',
    MEMFD_POOL_MAPPING_CACHE_ENTRIES: '2',
    MEMFD_POOL_MAPPING_CACHE_BYTES: '64MiB',
    MEMFD_POOL_SORT_THREADS: '2',
    MEMFD_POOL_KINDS: 'kinds',
    MEMFD_POOL_KIND_FILES: 'x.mjs',
    MEMFD_POOL_ALLOWED_HOSTS: 'a.example,b.example',
    MEMFD_POOL_HEARTBEAT_TIMEOUT: '20000',
    MEMFD_POOL_BODY_TIMEOUT: '1000'
  }, MACHINE)
  assert.equal(config.cancelGraceMs, 300)
  assert.equal(config.startedAfterMs, 5)
  assert.deepEqual(config.inlineKinds, [])
  assert.equal(config.mappingCacheEntries, 2)
  assert.equal(config.mappingCacheBytes, 64 * 1024 ** 2)
  assert.equal(config.sortThreads, 2)
  assert.equal(config.kindsDir, path.resolve('kinds'))
  assert.deepEqual(config.kindFiles, [path.resolve('x.mjs')])
  assert.deepEqual(config.allowedHosts, ['a.example', 'b.example'])
  assert.equal(config.heartbeatTimeoutMs, 20000)
  assert.equal(config.bodyTimeoutMs, 1000)
  // The kinds folder has one name: the worker's old MEMFD_POOL_KINDS_DIR is not a setting.
  assert.equal(parseConfig([], { MEMFD_POOL_KINDS_DIR: 'elsewhere' }, MACHINE).kindsDir, undefined)
  assert.deepEqual(parseConfig(['--inline-kinds='], {}, MACHINE).inlineKinds, [])
  // Unset worker settings stay unset: the pool's defaults apply.
  const plain = parseConfig([], {}, MACHINE)
  for (const key of ['cancelGraceMs', 'startedAfterMs', 'inlineKinds', 'mappingCacheEntries', 'mappingCacheBytes', 'sortThreads', 'kindFiles', 'heartbeatTimeoutMs'] as const) {
    assert.equal(plain[key], undefined, key)
  }
})

test('every setting has a scope; the ones workers obey say so', () => {
  const scopes = Object.fromEntries(SETTINGS.map((s) => [s.flag, s.scope]))
  for (const setting of SETTINGS) assert.ok(['server', 'worker', 'both'].includes(setting.scope), setting.flag)
  for (const flag of ['--kinds', '--kind-file', '--cancel-grace', '--started-after', '--inline-kinds', '--mapping-cache-entries', '--mapping-cache-bytes', '--sort-threads']) {
    assert.equal(scopes[flag], 'worker', flag)
  }
  assert.equal(scopes['--threads-per-worker'], 'both')
  assert.equal(scopes['--heartbeat-timeout'], 'server')
  assert.equal(new Set(SETTINGS.map((s) => s.flag)).size, SETTINGS.length, 'no flag twice')
  assert.equal(new Set(SETTINGS.map((s) => s.env)).size, SETTINGS.length, 'no variable twice')
})

test('the README\'s settings table lists every setting with its variable, scope and default, and nothing else', () => {
  const text = fs.readFileSync(README, 'utf8')
  const rows = text.split('\n').filter((line) => /^\| `--/.test(line))
  const cells = (row: string): string[] => row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim())
  assert.equal(rows.length, SETTINGS.length, `README rows: ${rows.map((r) => cells(r)[0]).join(' ')}`)
  SETTINGS.forEach((setting, i) => {
    const [flag, variable, scope, , defaultText] = cells(rows[i])
    const usage = `${setting.flag}${setting.arg === undefined ? '' : ` ${setting.arg}`}`.replace(/\|/g, '\\|')
    assert.equal(flag, `\`${usage}\``, `row ${i + 1}: the table's order is the settings table's`)
    assert.ok(variable.startsWith(`\`${setting.env}\``), `${setting.flag}: variable ${variable}`)
    assert.equal(scope, setting.scope, `${setting.flag}: scope`)
    assert.equal(defaultText.replace(/`/g, ''), setting.defaultText.replace(/\|/g, '\\|'), `${setting.flag}: default`)
  })
})

test('environment variables, and flags winning over them', () => {
  const env = {
    MEMFD_POOL_PORT: '7000',
    MEMFD_POOL_WORKERS: '2',
    MEMFD_POOL_MAX_MEMORY: '1GiB',
    MEMFD_POOL_TOKEN: 'from-env',
    MEMFD_POOL_METRICS_AUTH: 'true',
    MEMFD_POOL_LOG_LEVEL: 'warn'
  }
  const fromEnv = parseConfig([], env, MACHINE)
  assert.equal(fromEnv.port, 7000)
  assert.equal(fromEnv.workers, 2)
  assert.equal(fromEnv.maxMemoryBytes, GiB)
  assert.equal(fromEnv.maxBufferBytes, GiB)
  assert.equal(fromEnv.token, 'from-env')
  assert.equal(fromEnv.metricsAuth, true)
  assert.equal(fromEnv.logLevel, 'warn')
  const overridden = parseConfig(['--port', '7001', '--token', 'from-flag', '--metrics-auth=false'], env, MACHINE)
  assert.equal(overridden.port, 7001)
  assert.equal(overridden.token, 'from-flag')
  assert.equal(overridden.metricsAuth, false)
})

test('PORT and HOST are read when the MEMFD_POOL_ ones are absent; empty variables are ignored', () => {
  assert.equal(parseConfig([], { PORT: '3000', HOST: '::1' }, MACHINE).port, 3000)
  assert.equal(parseConfig([], { PORT: '3000', HOST: '::1' }, MACHINE).host, '::1')
  assert.equal(parseConfig([], { PORT: '3000', MEMFD_POOL_PORT: '3001' }, MACHINE).port, 3001)
  assert.equal(parseConfig([], { MEMFD_POOL_TOKEN: '' }, MACHINE).token, undefined)
  assert.equal(parseConfig(['--token', ''], {}, MACHINE).token, undefined)
  assert.equal(parseConfig([], { MEMFD_POOL_PREFETCH: 'auto' }, MACHINE).prefetch, 'auto')
  assert.equal(parseConfig([], { MEMFD_POOL_PREFETCH: '0' }, MACHINE).prefetch, 0)
  assert.equal(parseConfig([], {}, MACHINE).prefetch, undefined)
})

test('refusals name the flag or variable', () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--bogus'], {}, /unknown option --bogus/],
    [['stray'], {}, /unexpected argument "stray"/],
    [['--port'], {}, /--port needs a value/],
    [['--port', '70000'], {}, /--port: 70000 is outside 0\.\.65535/],
    [['--workers', '0'], {}, /--workers: 0 is outside/],
    [['--workers', 'two'], {}, /--workers: "two" is not a whole number/],
    [['--max-memory', 'lots'], {}, /--max-memory: "lots" is not a size/],
    [[], { MEMFD_POOL_MAX_QUEUE: '-5' }, /MEMFD_POOL_MAX_QUEUE: "-5" is not a whole number/],
    [['--log-level', 'loud'], {}, /--log-level: "loud" is not one of/],
    [['--prefetch', 'eager'], {}, /--prefetch: "eager" is not a whole number/],
    [['--metrics-auth=maybe'], {}, /--metrics-auth: "maybe" is not a boolean/],
    [['--max-buffer', '8GiB'], {}, /cannot exceed 4294967296 bytes/],
    [['--max-memory', '1GiB', '--max-buffer', '2GiB'], {}, /--max-buffer \(2147483648\) cannot exceed --max-memory \(1073741824\)/],
    [['--inline-kinds', 'noop,sort'], {}, /--inline-kinds: "sort" cannot run inline; allowed: noop \(or none\)/],
    [['--sort-threads', '9'], {}, /--sort-threads: 9 is outside 1\.\.8/],
    [['--heartbeat-timeout', '0'], {}, /--heartbeat-timeout: 0 is outside/],
    [['--allowed-hosts', 'a,,b'], {}, /--allowed-hosts: "a,,b" is not a comma-separated list of host names/],
    [[], { MEMFD_POOL_BODY_TIMEOUT: 'soon' }, /MEMFD_POOL_BODY_TIMEOUT: "soon" is not a whole number/]
  ]
  for (const [argv, env, message] of cases) {
    assert.throws(() => parseConfig(argv, env, { cores: 4, totalMemoryBytes: 64 * GiB }), (err: Error) => {
      assert.ok(err instanceof ConfigError, argv.join(' '))
      assert.match(err.message, message)
      return true
    })
  }
  assert.equal(MAX_BUFFER_LIMIT, 4 * GiB)
})

test('--help is recognised and the help text lists every flag with its variable', () => {
  assert.equal(parseConfig(['--help'], {}, MACHINE).help, true)
  assert.equal(parseConfig(['-h'], {}, MACHINE).help, true)
  const text = helpText()
  for (const setting of SETTINGS) {
    assert.ok(text.includes(setting.flag), setting.flag)
    assert.ok(text.includes(setting.env), setting.env)
    if (setting.scope === 'worker') assert.match(text, new RegExp(`${setting.env} .*for the workers\\)`), setting.flag)
  }
})
