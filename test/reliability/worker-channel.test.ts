// Hostile input on the worker channel, both ways: a worker that lies to the server, and a
// server (this test) that sends a real worker garbage. Nothing crashes, nothing leaks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import * as native from '../../native'
import { decode, encode, WORKER_CHANNEL, type WorkerMessage } from '../../workers/protocol'
import { countFds, memfdDescriptors } from '../helpers/proc'
import { startPool } from '../helpers/pool'

test('a hostile worker: every lie fails its job with a code, and the server keeps no descriptor', async (t) => {
  const pool = await startPool({ workers: 1, maxMemoryBytes: 1024 ** 3, workerScript: path.join(__dirname, '..', 'fixtures', 'hostile-worker.js') })
  t.after(() => pool.close())
  const baseline = countFds()
  const expected: Record<string, string> = {
    garbage: 'HANDLER_ERROR',
    'wrong-count': 'PROTOCOL_ERROR',
    'pipe-output': 'NOT_A_MEMFD',
    'unsealed-output': 'NOT_SEALED',
    'huge-output': 'PAYLOAD_TOO_LARGE',
    'too-many': 'PROTOCOL_ERROR',
    'foreign-job': 'HANDLER_ERROR'
  }
  for (const [how, code] of Object.entries(expected)) {
    const job = await pool.submit({ kind: 'hold', params: { how } })
    assert.equal(job.state, 'failed', how)
    assert.equal(job.error!.code, code, `${how}: ${job.error!.message}`)
    assert.deepEqual(job.outputs, [])
    assert.equal(countFds(), baseline, `${how}: no descriptor kept`)
  }
  const fine = await pool.submit({ kind: 'hold', params: { how: 'fine' } })
  assert.equal(fine.state, 'succeeded')
  assert.equal(memfdDescriptors().length, 1, 'only the one adopted output')
  assert.equal(pool.store.count, 1)
})

test('a real worker sent garbage, lying counts, too many and wrong-kind descriptors answers or ignores, and stays well', async (t) => {
  const [mine, theirs] = native.socketPair()
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'workers', 'worker-process.js')], {
    stdio: ['ignore', 'ignore', 'pipe', theirs]
  })
  native.close(theirs)
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += d })
  const channel = new native.Channel(mine, { ...WORKER_CHANNEL, maxFds: 64 })
  t.after(() => { channel.close(); child.kill('SIGKILL') })
  const replies: WorkerMessage[] = []
  const waiters: Array<() => void> = []
  channel.on('message', (data, fds) => {
    for (const fd of fds) native.close(fd)
    const message = decode<WorkerMessage>(data)!
    // Answers that finish in one turn while other jobs wait for the thread come as one batch.
    if (message.t === 'batch') replies.push(...message.messages)
    else replies.push(message)
    waiters.splice(0).forEach((w) => w())
  })
  type Done = Extract<WorkerMessage, { t: 'done' }>
  const codeOf = (m: Done): string | undefined => m.ok ? undefined : m.error.code
  async function reply (predicate: (m: WorkerMessage) => boolean): Promise<Done> {
    for (;;) {
      const found = replies.find(predicate)
      if (found) return found as Done
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  await new Promise<void>((resolve) => { const check = (): void => { replies.some((m) => m.t === 'hello') ? resolve() : waiters.push(check) }; check() })
  channel.send(encode({ t: 'config', config: { threads: 1, kindsDir: null, kindFiles: [], cancelGraceMs: 300, startedAfterMs: 2, inlineKinds: ['noop'], mappingCache: { entries: 16, bytes: 1024 ** 3 }, sortThreads: null } }))
  await new Promise<void>((resolve) => { const check = (): void => { replies.some((m) => m.t === 'ready') ? resolve() : waiters.push(check) }; check() })
  const memfd = native.memfdCreate('input')
  native.ftruncate(memfd, 16)
  native.addSeals(memfd, ['shrink', 'grow', 'write'])
  const devnull = fs.openSync('/dev/null', 'r')
  const run = (job: string, fdCount: number, inputs = 1): Buffer => encode({ t: 'run', job, kind: 'checksum', params: {}, inputs: Array.from({ length: inputs }, () => ({ id: 'b', generation: 1, size: 16 })), fdCount, maxOutputBytes: 0 })

  channel.send(run('warm-up', 1), [memfd])
  await reply((m) => m.t === 'done' && m.job === 'warm-up')
  const baseline = countFds(child.pid!)

  channel.send(Buffer.from('{not json'), [memfd])
  channel.send(Buffer.from(JSON.stringify({ t: 42 })))
  channel.send(encode({ t: 'cancel', job: 'nobody', reason: 'CANCELLED' }))
  channel.send(run('lying-count', 2), [memfd])
  channel.send(run('too-many', 40), new Array(40).fill(memfd))
  channel.send(run('wrong-kind', 1), [devnull])
  channel.send(run('good', 1), [memfd])

  const lying = await reply((m) => m.t === 'done' && m.job === 'lying-count')
  assert.equal(codeOf(lying), 'PROTOCOL_ERROR')
  const tooMany = await reply((m) => m.t === 'done' && m.job === 'too-many')
  assert.equal(codeOf(tooMany), 'RESOURCE_EXHAUSTED')
  const wrongKind = await reply((m) => m.t === 'done' && m.job === 'wrong-kind')
  assert.equal(wrongKind.ok, false, 'mapping /dev/null as an input fails the job, not the worker')
  const good = await reply((m) => m.t === 'done' && m.job === 'good')
  assert.equal(good.ok, true)
  assert.equal(countFds(child.pid!), baseline, 'the worker closed everything it received')
  assert.match(stderr, /malformed message/)
  assert.equal(child.exitCode, null, 'still running')
  native.close(memfd)
  fs.closeSync(devnull)
  channel.send(encode({ t: 'shutdown' }))
  const [code] = await once(child, 'exit')
  assert.equal(code, 0)
})
