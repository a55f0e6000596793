// The cluster's settings: --cluster and MEMFD_POOL_CLUSTER, the node's name and URL, the cluster
// token (defaulting to --token), and what without --cluster stays exactly as before.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, helpText, parseConfig } from '../../../server/config'
import { appOptionsFromConfig } from '../../../server/main'

const MACHINE = { cores: 2, totalMemoryBytes: 4 * 1024 ** 3 }

test('--cluster, --node-name, --advertise, --cluster-token, --node-lost-after reach the app options', () => {
  const config = parseConfig(['--cluster', 'redis://127.0.0.1:6400/2', '--node-name', 'n1.a_b-c', '--advertise', 'http://10.0.0.5:8080/', '--cluster-token', 's3', '--node-lost-after', '2500'], {}, MACHINE)
  const options = appOptionsFromConfig(config)
  assert.deepEqual(options.cluster, { redisUrl: 'redis://127.0.0.1:6400/2', nodeName: 'n1.a_b-c', advertise: 'http://10.0.0.5:8080', token: 's3', lostAfterMs: 2500 })
})

test('MEMFD_POOL_CLUSTER and MEMFD_POOL_CLUSTER_TOKEN; the flag wins; the cluster token defaults to --token', () => {
  const env = { MEMFD_POOL_CLUSTER: 'redis://r:1', MEMFD_POOL_TOKEN: 'api' }
  assert.deepEqual(appOptionsFromConfig(parseConfig([], env, MACHINE)).cluster, { redisUrl: 'redis://r:1', token: 'api' })
  assert.equal(appOptionsFromConfig(parseConfig(['--cluster', 'redis://other:2'], env, MACHINE)).cluster?.redisUrl, 'redis://other:2')
  assert.equal(appOptionsFromConfig(parseConfig([], { ...env, MEMFD_POOL_CLUSTER_TOKEN: 'nodes' }, MACHINE)).cluster?.token, 'nodes')
})

test('without --cluster there are no cluster options at all', () => {
  assert.equal(appOptionsFromConfig(parseConfig([], {}, MACHINE)).cluster, undefined)
})

test('bad values are refused naming the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--cluster', 'http://127.0.0.1:6379'], /--cluster: .*not a redis:\/\/ URL/],
    [['--cluster', 'nonsense'], /--cluster: .*not a URL/],
    [['--cluster', 'redis://h:1/x'], /--cluster: .*database must be a number/],
    [['--cluster', 'redis://h:1', '--node-name', 'a:b'], /--node-name: .*not a node name/],
    [['--cluster', 'redis://h:1', '--advertise', 'ftp://x'], /--advertise: .*not an http/],
    [['--cluster', 'redis://h:1', '--node-lost-after', '5'], /--node-lost-after: 5 is outside/],
    [['--node-name', 'a'], /need --cluster/]
  ]
  for (const [argv, message] of cases) {
    assert.throws(() => parseConfig(argv, {}, MACHINE), (err: unknown) => err instanceof ConfigError && message.test(err.message), argv.join(' '))
  }
})

test('--help lists the cluster options with their variables', () => {
  const help = helpText()
  for (const name of ['--cluster redis://HOST:PORT[/DB]', 'MEMFD_POOL_CLUSTER', '--node-name NAME', '--advertise URL', '--cluster-token SECRET', 'MEMFD_POOL_CLUSTER_TOKEN', '--node-lost-after MS']) {
    assert.ok(help.includes(name), name)
  }
})
