// The Python package's worker (`python3 -m memfd_pool.worker`) as a real process against the
// worker socket, driven by the test dispatcher: real sealed memfds in, sealed memfds out, the
// test process's descriptor count back at its baseline after every job and after a kill.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import * as native from '../../native'
import { countFds, memfdDescriptors } from '../helpers/proc'
import {
  PYTHON_FIXTURE_KINDS, TestDispatcher, captureStderr, exited, sealedInput, spawnPythonWorker, startWorkerSocket,
  type SocketSetup
} from '../helpers/worker-socket'

let setup: SocketSetup
let child: ChildProcess
let stderr: () => string
let dispatcher: TestDispatcher

before(async () => {
  setup = startWorkerSocket()
  child = spawnPythonWorker(setup.socketPath, ['--concurrency', '2', '--name', 'fixtures', PYTHON_FIXTURE_KINDS])
  stderr = captureStderr(child)
  dispatcher = new TestDispatcher(await setup.nextConnection())
  await dispatcher.ready()
})
after(async () => {
  child.kill('SIGKILL')
  await exited(child)
  setup.close()
})

const sha256 = (bytes: Uint8Array): string => crypto.createHash('sha256').update(bytes).digest('hex')

/** Bytes of an output descriptor, read with pread (no mapping left behind). */
function readAll (fd: number): Buffer {
  const size = native.fileSize(fd)
  const out = Buffer.alloc(size)
  if (size > 0) fs.readSync(fd, out, 0, size, 0)
  return out
}

function assertSealedOutput (fd: number): void {
  assert.ok(fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:memfd-pool-out'), 'an output is a memfd of the worker')
  const seals = native.getSeals(fd)
  for (const seal of ['shrink', 'grow', 'write', 'seal'] as const) assert.ok(seals.includes(seal), `output lacks the ${seal} seal: ${seals.join(',')}`)
}

test('the worker reports its kinds with their bounds and schemas, its concurrency, pid and name', () => {
  const report = dispatcher.report!
  assert.equal(report.threads, 2)
  assert.equal(report.pid, child.pid, 'pid from SO_PEERCRED is the Python process')
  assert.equal(report.helloPid, child.pid)
  assert.equal(report.name, 'fixtures')
  const sha = report.kinds.find((k) => k.name === 'sha256')
  assert.deepEqual(sha, {
    name: 'sha256',
    description: 'sha256 of the input, read through the mapping (no copy).',
    inputs: { min: 1, max: 1 },
    outputs: { min: 0, max: 0 },
    params: { type: 'object', properties: {}, additionalProperties: false }
  })
  assert.deepEqual(dispatcher.connection.acceptedKinds.sort(), report.kinds.map((k) => k.name).sort())
  assert.equal(dispatcher.connection.state, 'accepted')
})

test('no descriptor of an input stays in the worker after its job, even when the kind kept views of it', async () => {
  const input = sealedInput(Buffer.from('kept'), 'kept-input')
  try {
    const { done, outputs } = await dispatcher.run('invert-kept', [input])
    assert.equal(done.ok, true, JSON.stringify(done))
    for (const fd of outputs) native.close(fd)
    assert.deepEqual(memfdDescriptors(child.pid!).filter(([, target]) => target.includes('kept-input')), [])
    // Its mapping is still there: the kept view reads it.
    assert.ok(fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').includes('/memfd:kept-input'))
  } finally {
    input.close()
  }
})

test('a 64 MiB sealed memfd goes in; the worker reads it through a read-only mapping', async () => {
  const bytes = crypto.randomBytes(64 * 1024 * 1024)
  const input = sealedInput(bytes)
  const baseline = countFds()
  try {
    const { done, outputs } = await dispatcher.run('sha256', [input])
    assert.equal(done.ok, true, JSON.stringify(done))
    assert.deepEqual(outputs, [])
    assert.deepEqual(done.ok && done.result, { sha256: sha256(bytes), bytes: bytes.length, readonly: true, pid: child.pid })
    assert.equal(countFds(), baseline, 'the run left no descriptor in this process')
  } finally {
    input.close()
  }
})

test('an output comes back as a sealed memfd with the right bytes', async () => {
  const bytes = crypto.randomBytes(1024 * 1024 + 5)
  const input = sealedInput(bytes)
  const baseline = countFds()
  try {
    const { done, outputs } = await dispatcher.run('invert', [input])
    assert.equal(done.ok, true, JSON.stringify(done))
    assert.equal(outputs.length, 1)
    assert.deepEqual(done.ok && done.outputs, [{ size: bytes.length }])
    assertSealedOutput(outputs[0])
    assert.ok(readAll(outputs[0]).equals(Buffer.from(bytes.map((b) => 255 - b))))
    native.close(outputs[0])
    assert.equal(countFds(), baseline)
  } finally {
    input.close()
  }
})

test('views of inputs and outputs kept alive after the job: outputs still seal, cut short with end(), and the views still read', async () => {
  const bytes = crypto.randomBytes(10_000)
  const input = sealedInput(bytes)
  try {
    for (const shorten of [undefined, 7, 0]) {
      const { done, outputs } = await dispatcher.run('invert-kept', [input], shorten === undefined ? {} : { shorten })
      assert.equal(done.ok, true, `${JSON.stringify(done)}\n${stderr()}`)
      assert.equal(outputs.length, 1)
      assertSealedOutput(outputs[0])
      const expected = Buffer.from(bytes.map((b) => 255 - b)).subarray(0, shorten ?? bytes.length)
      assert.equal(native.fileSize(outputs[0]), expected.length)
      assert.ok(readAll(outputs[0]).equals(expected))
      // Sealed for real: nobody can map it writable any more, not even through a fresh reopen.
      assert.throws(() => native.mapShared(outputs[0], { length: Math.max(1, expected.length), writable: true }), /EPERM|EACCES/)
      native.close(outputs[0])
    }
    // The views kept past their jobs (including over bytes cut off by end()) read without a fault.
    const { done } = await dispatcher.run('check-kept', [])
    assert.equal(done.ok, true, JSON.stringify(done))
    assert.equal(done.ok && done.result.views, 8, 'two from the earlier test, six from this one')
  } finally {
    input.close()
  }
})

test('more outputs than one message carries arrive through "outputs" messages, in order', async () => {
  const baseline = countFds()
  const { done, outputs } = await dispatcher.run('many', [], { n: 70 })
  assert.equal(done.ok, true, JSON.stringify(done))
  assert.equal(outputs.length, 70)
  assert.equal(done.fdCount, 70 - 64, 'done carries what the full outputs messages did not')
  outputs.forEach((fd, i) => {
    assertSealedOutput(fd)
    assert.ok(readAll(fd).equals(Buffer.alloc(i + 1, i)), `output ${i}`)
    native.close(fd)
  })
  assert.equal(countFds(), baseline)
})

test('a kind that raises fails its job with HANDLER_ERROR and sends no descriptor', async () => {
  const { done, outputs, job } = await dispatcher.run('fail', [])
  assert.deepEqual(outputs, [])
  assert.equal(done.ok, false)
  assert.deepEqual(!done.ok && done.error, { code: 'HANDLER_ERROR', message: 'ValueError: this kind always fails' })
  // The discarded output's memfd is gone from the worker too.
  assert.deepEqual(memfdDescriptors(child.pid!).filter(([, target]) => target.includes(`memfd-pool-out:${job}:`)), [])
})

test('cancel reaches a running job as a message; it ends CANCELLED', async () => {
  const { outcome, started, job } = dispatcher.start('hold', [])
  await started
  assert.ok(dispatcher.connection.send({ t: 'cancel', job, reason: 'CANCELLED' }))
  const { done } = await outcome
  assert.equal(done.ok, false)
  assert.equal(!done.ok && done.error.code, 'CANCELLED')
})

test('ping is answered with pong from the worker\'s receiving thread, even while every thread is busy', async () => {
  const a = dispatcher.start('hold', [])
  const b = dispatcher.start('hold', [])
  await Promise.all([a.started, b.started])
  const pong = new Promise<void>((resolve) => dispatcher.connection.on('message', (m) => { if (m.t === 'pong' && m.seq === 41) resolve() }))
  dispatcher.connection.send({ t: 'ping', seq: 41 })
  await pong
  dispatcher.connection.send({ t: 'cancel', job: a.job, reason: 'TIMEOUT' })
  dispatcher.connection.send({ t: 'cancel', job: b.job, reason: 'CANCELLED' })
  const [da, db] = await Promise.all([a.outcome, b.outcome])
  assert.equal(!da.done.ok && da.done.error.code, 'TIMEOUT')
  assert.equal(!db.done.ok && db.done.error.code, 'CANCELLED')
})
