// A Python worker's life as a process: killed mid-job it closes its connection with nothing left
// in the server; a new one serves again; shutdown lets a running job finish, then it exits 0; a
// wrong token or a kinds file with no kind stops it with the reason and an exit status.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as native from '../../native'
import { countFds } from '../helpers/proc'
import {
  PYTHON_FIXTURE_KINDS, TestDispatcher, captureStderr, exited, sealedInput, spawnPythonWorker, startWorkerSocket
} from '../helpers/worker-socket'

test('a worker killed mid-job closes with no reason; nothing stays in the server; a new worker serves again', async () => {
  const baseline = countFds()
  const setup = startWorkerSocket()
  const input = sealedInput(crypto.randomBytes(64 * 1024 * 1024))
  try {
    const first = spawnPythonWorker(setup.socketPath, [PYTHON_FIXTURE_KINDS])
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    const held = dispatcher.start('hold', [input], { ignoreCancel: true })
    held.outcome.catch(() => {})
    await held.started
    first.kill('SIGKILL')
    assert.equal(await dispatcher.closed, null, 'a crash is a close without a reason')
    await assert.rejects(held.outcome, /closed before answering/)
    assert.equal((await exited(first)).signal, 'SIGKILL')
    assert.equal(setup.server.connections, 0)

    const second = spawnPythonWorker(setup.socketPath, [PYTHON_FIXTURE_KINDS])
    try {
      const again = new TestDispatcher(await setup.nextConnection())
      await again.ready()
      assert.equal(again.report?.pid, second.pid)
      const { done } = await again.run('sha256', [input])
      assert.equal(done.ok && done.result.bytes, 64 * 1024 * 1024)
    } finally {
      second.kill('SIGKILL')
      await exited(second)
    }
  } finally {
    input.close()
    setup.close()
  }
  assert.equal(countFds(), baseline, 'no descriptor of the jobs or connections is left in this process')
})

test('shutdown: the running job finishes and is answered, then the worker exits 0', async () => {
  const setup = startWorkerSocket()
  try {
    const child = spawnPythonWorker(setup.socketPath, [PYTHON_FIXTURE_KINDS])
    const stderr = captureStderr(child)
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    const held = dispatcher.start('hold', [])
    await held.started
    dispatcher.connection.send({ t: 'shutdown' })
    // A run sent after shutdown is refused, not run.
    const late = dispatcher.start('sha256', [])
    dispatcher.connection.send({ t: 'cancel', job: held.job, reason: 'CANCELLED' })
    const [lateOutcome, heldOutcome] = await Promise.all([late.outcome, held.outcome])
    assert.equal(!lateOutcome.done.ok && lateOutcome.done.error.code, 'SHUTTING_DOWN')
    assert.equal(!heldOutcome.done.ok && heldOutcome.done.error.code, 'CANCELLED')
    assert.deepEqual(await exited(child), { code: 0, signal: null }, stderr())
    assert.equal(await dispatcher.closed, null)
  } finally {
    setup.close()
  }
})

test('without ctypes: kept views still let outputs seal (by a copy) and inputs stay read-only', async () => {
  const setup = startWorkerSocket()
  const child = spawnPythonWorker(setup.socketPath, [path.join(path.dirname(PYTHON_FIXTURE_KINDS), 'kinds_without_ctypes.py')])
  const stderr = captureStderr(child)
  const bytes = crypto.randomBytes(5000)
  const input = sealedInput(bytes)
  try {
    const dispatcher = new TestDispatcher(await setup.nextConnection())
    await dispatcher.ready()
    for (const shorten of [5000, 10]) {
      const { done, outputs } = await dispatcher.run('invert-kept', [input], { shorten })
      assert.deepEqual(done.ok && done.result, { readonly: true }, `${JSON.stringify(done)}\n${stderr()}`)
      assert.equal(outputs.length, 1)
      for (const seal of ['shrink', 'grow', 'write', 'seal'] as const) assert.ok(native.getSeals(outputs[0]).includes(seal))
      const got = Buffer.alloc(native.fileSize(outputs[0]))
      fs.readSync(outputs[0], got, 0, got.length, 0)
      native.close(outputs[0])
      assert.ok(got.equals(Buffer.from(bytes.map((b) => 255 - b)).subarray(0, shorten)))
    }
  } finally {
    child.kill('SIGKILL')
    await exited(child)
    input.close()
    setup.close()
  }
})

test('a wrong token: exit 1 with FORBIDDEN on stderr', async () => {
  const setup = startWorkerSocket({ token: 'right' })
  try {
    const child = spawnPythonWorker(setup.socketPath, [PYTHON_FIXTURE_KINDS], { MEMFD_POOL_WORKER_TOKEN: 'wrong' })
    const stderr = captureStderr(child)
    assert.equal((await exited(child)).code, 1)
    assert.match(stderr(), /^FORBIDDEN: Wrong worker token/m)
  } finally {
    setup.close()
  }
})

test('a kinds file that defines no kind: exit 2 naming the file', async () => {
  const setup = startWorkerSocket()
  const empty = path.join(setup.dir, 'empty_kinds.py')
  fs.writeFileSync(empty, 'X = 1\n')
  try {
    const child = spawnPythonWorker(setup.socketPath, [empty])
    const stderr = captureStderr(child)
    assert.equal((await exited(child)).code, 2)
    assert.match(stderr(), /empty_kinds\.py defines no kind/)
  } finally {
    setup.close()
  }
})
