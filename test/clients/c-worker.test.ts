// examples/c/worker.c, compiled here with cc, as a real process against the worker socket: the
// input memfd arrives by SCM_RIGHTS under a number of the worker's own, is mapped and hashed;
// with params.output it returns a sealed output; batches, ping and shutdown work.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import * as native from '../../native'
import { encode, packBatches, type WorkerMessage } from '../../workers/protocol'
import { run } from '../helpers/attach'
import { countFds } from '../helpers/proc'
import { C_WORKER_SOURCE, TestDispatcher, captureStderr, exited, sealedInput, startWorkerSocket, type SocketSetup } from '../helpers/worker-socket'

let setup: SocketSetup
let child: ChildProcess
let stderr: () => string
let dispatcher: TestDispatcher
const lines: string[] = []
const lineWaiters: Array<() => void> = []

/** The worker's stdout line for `job` (printed before it answers, read here in its own time). */
async function lineFor (job: string): Promise<string> {
  for (;;) {
    const line = lines.find((l) => l.startsWith(`job ${job}:`))
    if (line !== undefined) return line
    await new Promise<void>((resolve) => lineWaiters.push(resolve))
  }
}
let baseline: number

function fnv1a64 (bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n)
  return h.toString(16).padStart(16, '0')
}

before(async () => {
  setup = startWorkerSocket()
  const binary = path.join(setup.dir, 'c-worker')
  const cc = await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, C_WORKER_SOURCE])
  assert.equal(cc.code, 0, cc.stderr)
  baseline = countFds()
  child = spawn(binary, ['--kind', 'c-fnv1a64', setup.socketPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  stderr = captureStderr(child)
  readline.createInterface({ input: child.stdout! }).on('line', (line) => { lines.push(line); for (const wake of lineWaiters.splice(0)) wake() })
  dispatcher = new TestDispatcher(await setup.nextConnection())
  await dispatcher.ready()
})
after(async () => {
  child.kill('SIGKILL')
  await exited(child)
  setup.close()
})

test('the C worker declares its kind; its pid comes from SO_PEERCRED', () => {
  assert.equal(dispatcher.report?.pid, child.pid)
  assert.equal(dispatcher.report?.name, 'c-worker')
  assert.deepEqual(dispatcher.report?.kinds.map((k) => [k.name, k.inputs, k.outputs]), [['c-fnv1a64', { min: 1, max: 1 }, { min: 0, max: 1 }]])
})

test('a sealed memfd arrives under the worker\'s own descriptor number, is mapped and hashed', async () => {
  const bytes = crypto.randomBytes(1024 * 1024 + 3)
  const input = sealedInput(bytes, 'c-input')
  try {
    const { done, started, outputs } = await dispatcher.run('c-fnv1a64', [input])
    assert.equal(done.ok, true, `${JSON.stringify(done)}\n${stderr()}`)
    assert.deepEqual(outputs, [])
    const result = done.ok ? done.result as { fnv1a64: string, bytes: number, fd: number } : null
    assert.equal(result?.fnv1a64, fnv1a64(bytes))
    assert.equal(result?.bytes, bytes.length)
    assert.deepEqual(started?.fds, [result?.fd], 'started reports the same local number')
    assert.notEqual(result?.fd, input.readOnly, 'the number is the worker\'s, not this process\'s')
    assert.equal(await lineFor(done.job), `job ${done.job}: input fd ${result?.fd} -> /memfd:c-input (deleted) size ${bytes.length} fnv1a64 ${fnv1a64(bytes)}`)
  } finally {
    input.close()
  }
})

test('with params.output the worker returns a sealed memfd of the inverted bytes', async () => {
  const bytes = crypto.randomBytes(100_001)
  const input = sealedInput(bytes)
  try {
    const { done, outputs } = await dispatcher.run('c-fnv1a64', [input], { output: true })
    assert.equal(done.ok, true, JSON.stringify(done))
    assert.equal(outputs.length, 1)
    const seals = native.getSeals(outputs[0])
    for (const seal of ['shrink', 'grow', 'write', 'seal'] as const) assert.ok(seals.includes(seal), seals.join(','))
    const got = Buffer.alloc(native.fileSize(outputs[0]))
    fs.readSync(outputs[0], got, 0, got.length, 0)
    assert.ok(got.equals(Buffer.from(bytes.map((b) => 255 - b))))
    native.close(outputs[0])
  } finally {
    input.close()
  }
})

test('a batch of runs is answered run by run, each with its own input', async () => {
  const a = sealedInput(Buffer.from('first'))
  const b = sealedInput(Buffer.from('second!'))
  try {
    const answers = Promise.all(['ba', 'bb'].map(async (job) => await new Promise<{ job: string, hash: unknown }>((resolve) => {
      const onMessage = (m: WorkerMessage): void => {
        if (m.t === 'done' && m.job === job) { dispatcher.connection.off('message', onMessage); resolve({ job, hash: m.ok ? m.result.fnv1a64 : m.error }) }
      }
      dispatcher.connection.on('message', onMessage)
    })))
    const runs = [[a, 'ba'], [b, 'bb']].map(([input, job]) => {
      const i = input as ReturnType<typeof sealedInput>
      return { data: encode({ t: 'run', job: job as string, kind: 'c-fnv1a64', params: {}, inputs: [{ id: job as string, generation: 1, size: i.size }], fdCount: 1, maxOutputBytes: 0 }), fds: [i.readOnly] }
    })
    const [batch] = packBatches(runs)
    assert.equal(batch.count, 2)
    assert.ok(dispatcher.connection.send(batch.data, batch.fds))
    assert.deepEqual(await answers, [{ job: 'ba', hash: fnv1a64(Buffer.from('first')) }, { job: 'bb', hash: fnv1a64(Buffer.from('second!')) }])
  } finally {
    a.close()
    b.close()
  }
})

test('ping → pong; shutdown → exit 0, with no descriptor left in this process', async () => {
  const pong = new Promise<number>((resolve) => dispatcher.connection.on('message', (m) => { if (m.t === 'pong') resolve(m.seq) }))
  dispatcher.connection.send({ t: 'ping', seq: 77 })
  assert.equal(await pong, 77)
  dispatcher.connection.send({ t: 'shutdown' })
  assert.deepEqual(await exited(child), { code: 0, signal: null }, stderr())
  assert.equal(await dispatcher.closed, null)
  assert.equal(countFds(), baseline)
})
