// The numpy examples (examples/python/invert_worker.py, numpy_kinds.py) as real workers: the
// 15-line worker inverts a 64 MiB input into a sealed output; numpy kinds compute on mapped arrays.
// Skipped, saying so, where numpy is not installed (the worker package itself needs nothing).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as native from '../../native'
import { REPO_ROOT } from '../helpers/attach'
import { PYTHON_PACKAGE_SOURCE, TestDispatcher, captureStderr, exited, sealedInput, spawnPythonWorker, startWorkerSocket } from '../helpers/worker-socket'

const numpy = spawnSync('python3', ['-c', 'import numpy']).status === 0
const skip = numpy ? false : 'numpy is not installed for python3 (pip install numpy)'

test('the 15-line numpy worker inverts a 64 MiB input into a sealed output', { skip }, async () => {
  const setup = startWorkerSocket()
  const child = spawn('python3', [path.join(REPO_ROOT, 'examples', 'python', 'invert_worker.py')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE_SOURCE, MEMFD_POOL_WORKER_SOCKET: setup.socketPath }
  })
  const stderr = captureStderr(child)
  const bytes = crypto.randomBytes(64 * 1024 * 1024)
  const input = sealedInput(bytes)
  try {
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    assert.deepEqual(dispatcher.report?.kinds.map((k) => k.name), ['np-invert'])
    const { done, outputs } = await dispatcher.run('np-invert', [input])
    assert.equal(done.ok, true, `${JSON.stringify(done)}\n${stderr()}`)
    assert.equal(outputs.length, 1)
    assert.ok(native.getSeals(outputs[0]).includes('write'))
    const got = Buffer.alloc(bytes.length)
    fs.readSync(outputs[0], got, 0, got.length, 0)
    native.close(outputs[0])
    for (let i = 0; i < bytes.length; i += 4099) assert.equal(got[i], 255 - bytes[i], `byte ${i}`)
    assert.equal(crypto.createHash('sha256').update(got).digest('hex'), crypto.createHash('sha256').update(bytes.map((b) => 255 - b)).digest('hex'))
  } finally {
    child.kill('SIGKILL')
    await exited(child)
    input.close()
    setup.close()
  }
})

test('numpy kinds from a file: moments and a chunked normalize with progress', { skip }, async () => {
  const setup = startWorkerSocket()
  const child = spawnPythonWorker(setup.socketPath, [path.join(REPO_ROOT, 'examples', 'python', 'numpy_kinds.py')])
  const stderr = captureStderr(child)
  const values = new Float32Array(5_000_000)
  for (let i = 0; i < values.length; i++) values[i] = (i % 1000) - 250
  const input = sealedInput(new Uint8Array(values.buffer))
  try {
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    const moments = await dispatcher.run('np-moments', [input], { dtype: 'f32' })
    assert.equal(moments.done.ok, true, `${JSON.stringify(moments.done)}\n${stderr()}`)
    const result = moments.done.ok ? moments.done.result as Record<string, number> : {}
    assert.equal(result.count, values.length)
    assert.equal(result.min, -250)
    assert.equal(result.max, 749)
    assert.ok(Math.abs(result.mean - 249.5) < 1e-6, String(result.mean))

    const normalized = await dispatcher.run('np-normalize', [input], { dtype: 'f32' })
    assert.equal(normalized.done.ok, true, `${JSON.stringify(normalized.done)}\n${stderr()}`)
    assert.equal(native.fileSize(normalized.outputs[0]), values.length * 4)
    const out = Buffer.alloc(values.length * 4)
    fs.readSync(normalized.outputs[0], out, 0, out.length, 0)
    native.close(normalized.outputs[0])
    const floats = new Float32Array(out.buffer, out.byteOffset, values.length)
    for (const i of [0, 250, 999, 4_999_999]) assert.ok(Math.abs(floats[i] - (values[i] + 250) / 999) < 1e-6, `value ${i}`)
  } finally {
    child.kill('SIGKILL')
    await exited(child)
    input.close()
    setup.close()
  }
})
