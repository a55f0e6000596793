// The package as a dependency (issue 15 item 21): `npm pack` holds what a dependent needs to run
// and rebuild the addon — compiled server, native and worker code, the dashboard's files, the
// addon's sources and binding.gyp, the API documents, the README — and no tests, benchmarks,
// scripts or source maps (661 files before the "files" list, ~190 after).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'

const ROOT = path.join(__dirname, '..', '..', '..')

test('npm pack --dry-run lists only what a dependent needs', () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const output = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const files = (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0].files.map((file) => file.path)
  for (const needed of ['package.json', 'README.md', 'binding.gyp', 'native/src/addon.cc', 'dist/server/index.js', 'dist/server/index.d.ts',
    'dist/server/main.js', 'dist/native/index.js', 'dist/workers/worker-process.js', 'server/dashboard/index.html', 'openapi/openapi.json']) {
    assert.ok(files.includes(needed), `${needed} is packed`)
  }
  const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|native\/src\/[^/]+\.(cc|h)|dist\/(server|native|workers)\/.+\.(js|d\.ts)|server\/dashboard\/.+|openapi\/.+|docs\/attach-protocol\.md)$/
  assert.deepEqual(files.filter((file) => !allowed.test(file)), [], 'nothing else is packed')
  assert.ok(files.length < 400, `${files.length} files`)
})
