// `pip install ./clients/python` as a user does it (into a temporary target, not this machine's
// Python), then a worker that imports the installed package — from a folder where the source tree
// is not on the path — serves a job on the worker socket.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { REPO_ROOT, run } from '../helpers/attach'
import { TestDispatcher, captureStderr, exited, sealedInput, startWorkerSocket } from '../helpers/worker-socket'

const pip = spawnSync('python3', ['-m', 'pip', '--version']).status === 0
const skip = pip ? false : 'pip is not available for python3'

test('pip installs the package; the installed worker CLI serves a kind', { skip, timeout: 300_000 }, async () => {
  const setup = startWorkerSocket()
  const target = path.join(setup.dir, 'site')
  const installed = await run('python3', ['-m', 'pip', 'install', '--quiet', '--no-deps', '--target', target, path.join(REPO_ROOT, 'clients', 'python')], { timeoutMs: 240_000 })
  assert.equal(installed.code, 0, installed.stderr)
  assert.ok(fs.existsSync(path.join(target, 'memfd_pool', 'worker', '__main__.py')))
  const kinds = path.join(setup.dir, 'my_kinds.py')
  fs.writeFileSync(kinds, [
    'import hashlib',
    'from memfd_pool import kind',
    '',
    '@kind("md5", inputs=1)',
    'def md5(ctx):',
    '    return {"md5": hashlib.md5(ctx.inputs[0]).hexdigest()}',
    ''
  ].join('\n'))
  // cwd is the temporary folder and PYTHONPATH only the install target: the source tree is not seen.
  const child = spawn('python3', ['-m', 'memfd_pool.worker', '--socket', setup.socketPath, kinds], {
    cwd: setup.dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONPATH: target }
  })
  const stderr = captureStderr(child)
  const bytes = crypto.randomBytes(12345)
  const input = sealedInput(bytes)
  try {
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    const { done } = await dispatcher.run('md5', [input])
    assert.deepEqual(done.ok && done.result, { md5: crypto.createHash('md5').update(bytes).digest('hex') }, stderr())
  } finally {
    child.kill('SIGKILL')
    await exited(child)
    input.close()
    setup.close()
  }
})
