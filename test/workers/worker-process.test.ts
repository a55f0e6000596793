// A real worker process, driven over its channel as the server would drive it (worker-driver.ts):
// the hello → config → ready|fatal handshake, kinds of every module type loaded in the worker
// (never in this process), startup errors that name the file, heartbeats answered while a job
// runs, more than 32 outputs, and dying with the server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../../native'
import type { KindReport, WorkerMessage } from '../../workers/protocol'
import { countFds, memfdDescriptors, settledCount } from '../helpers/proc'
import { FIXTURE_KINDS, WORKER_SCRIPT, WorkerDriver, workerConfig } from './worker-driver'

const MODULES = path.join(FIXTURE_KINDS, 'modules')

function tempFolder (t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-kinds-'))
  t.after(() => fs.rmSync(folder, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, name)), { recursive: true })
    fs.writeFileSync(path.join(folder, name), text)
  }
  return folder
}

function sealed (bytes: Uint8Array): { fd: number, size: number } {
  const fd = native.memfdCreate('worker-test-input')
  native.ftruncate(fd, bytes.length)
  if (bytes.length > 0) native.mapShared(fd, { length: bytes.length, writable: true }).set(bytes)
  return { fd, size: bytes.length }
}

async function startWorker (t: { after: (fn: () => Promise<void>) => void }, env?: Record<string, string>): Promise<WorkerDriver> {
  const worker = new WorkerDriver({ env })
  t.after(async () => await worker.stop())
  return worker
}

test('hello, config, ready: every module type loads in the worker, with top-level await, and runs', async (t) => {
  const pidFile = path.join(tempFolder(t, {}), 'pids')
  const worker = await startWorker(t, { MEMFD_POOL_TEST_PID_FILE: pidFile })
  const hello = await worker.next((m) => m.t === 'hello')
  assert.deepEqual(hello.message, { t: 'hello', pid: worker.child.pid, protocol: 1 })
  const ready = await worker.handshake(workerConfig({ threads: 2, kindsDir: MODULES }))
  assert.equal(ready.t, 'ready', JSON.stringify(ready))
  if (ready.t !== 'ready') return
  assert.equal(ready.threads, 2)
  const names = ready.kinds.map((k) => k.name)
  // Built-in kinds first, then the folder's in file-name order; README.md, package.json and lib/ skipped.
  assert.deepEqual(names, ['noop', 'sleep', 'checksum', 'gzip', 'gunzip', 'sort', 'stats', 'fill', 'concat', 'awaited', 'legacy', 'many-outputs', 'shout', 'whereami'])
  const byName = new Map<string, KindReport>(ready.kinds.map((k) => [k.name, k]))
  assert.deepEqual(byName.get('legacy'), {
    name: 'legacy',
    description: 'Sums the bytes of its input (tests only)',
    inputs: { min: 1, max: 1 },
    outputs: { min: 0, max: 0 },
    params: { type: 'object', properties: { scale: { type: 'integer', minimum: 1, default: 1 } }, additionalProperties: false }
  })
  // A TypeBox schema arrives as plain JSON Schema (no symbols), and the dtype lists its values.
  const sortParams = byName.get('sort')!.params as { properties: { dtype: { enum: string[] } }, required: string[] }
  assert.deepEqual(sortParams.required, ['dtype'])
  assert.deepEqual(sortParams.properties.dtype.enum, ['u8', 'u16', 'u32', 'u64', 'i8', 'i16', 'i32', 'i64', 'f32', 'f64'])
  assert.deepEqual(byName.get('noop')!.outputs, { min: 0, max: 0 })
  assert.deepEqual(byName.get('whereami')!.inputs, { min: 0, max: 0 })

  const awaited = await worker.run('j-awaited', 'awaited')
  assert.deepEqual(awaited.done, { t: 'done', job: 'j-awaited', ok: true, result: { greeting: 'loaded after a top-level await' }, outputs: [], fdCount: 0, runMs: awaited.done.runMs })

  const input = sealed(Buffer.from([1, 2, 3, 250]))
  const legacy = await worker.run('j-legacy', 'legacy', { scale: 2 }, [input])
  native.close(input.fd)
  assert.equal(legacy.done.ok, true)
  if (legacy.done.ok) assert.deepEqual(legacy.done.result, { sum: 512, moduleType: 'commonjs' })

  const shout = await worker.run('j-shout', 'shout', { text: 'hi there' })
  assert.equal(shout.done.ok, true, JSON.stringify(shout.done))
  if (shout.done.ok) assert.deepEqual(shout.done.result, { moduleType: 'esm' })
  assert.equal(shout.fds.length, 1)
  assert.equal(Buffer.from(native.mapShared(shout.fds[0], { length: native.fileSize(shout.fds[0]) })).toString(), 'HI THERE!')
  assert.ok(native.getSeals(shout.fds[0]).includes('write'))
  shout.fds.forEach((fd) => native.close(fd))

  // whereami's top level ran in the worker process only: its main thread and each of its 2 threads.
  const where = await worker.run('j-where', 'whereami')
  assert.equal(where.done.ok, true)
  if (where.done.ok) assert.equal(where.done.result.pid, worker.child.pid)
  const loads = fs.readFileSync(pidFile, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number))
  assert.equal(loads.length, 3, `loaded by the main thread and two job threads: ${JSON.stringify(loads)}`)
  assert.ok(loads.every(([pid]) => pid === worker.child.pid), 'every load in the worker process')
  assert.ok(!loads.some(([pid]) => pid === process.pid), 'never in this (the server\'s) process')
  assert.deepEqual(new Set(loads.map(([, thread]) => thread)).size, 3)
  assert.equal(worker.stderr, '')
})

test('kind files load after the folder\'s; a kind file reusing a name is fatal and names it', async (t) => {
  const folder = tempFolder(t, {
    'extra.mjs': 'export default { name: "extra", run: () => ({ extra: true }) }\n',
    'dup.cjs': 'module.exports = { name: "legacy", run () {} }\n'
  })
  const worker = await startWorker(t)
  const ready = await worker.handshake(workerConfig({ kindsDir: MODULES, kindFiles: [path.join(folder, 'extra.mjs')] }))
  assert.equal(ready.t, 'ready')
  if (ready.t === 'ready') assert.equal(ready.kinds.at(-1)!.name, 'extra')
  const extra = await worker.run('j-extra', 'extra')
  assert.equal(extra.done.ok, true)

  const second = await startWorker(t)
  const fatal = await second.handshake(workerConfig({ kindsDir: MODULES, kindFiles: [path.join(folder, 'dup.cjs')] }))
  assert.equal(fatal.t, 'fatal')
  if (fatal.t === 'fatal') {
    assert.equal(fatal.error.code, 'KIND_LOAD_FAILED')
    assert.match(fatal.error.message, new RegExp(`^${path.join(folder, 'dup.cjs')}: a kind named "legacy" already exists \\(${path.join(MODULES, 'legacy.cjs')}\\)`))
  }
  assert.deepEqual(await second.exited, [1, null])
})

/** Starts a worker on `files` as its kinds folder and returns its fatal message and exit. */
async function startupFailure (t: Parameters<typeof tempFolder>[0] & { after: (fn: () => Promise<void>) => void }, files: Record<string, string>): Promise<{ message: string, folder: string }> {
  const folder = tempFolder(t, files)
  const worker = await startWorker(t)
  const answer = await worker.handshake(workerConfig({ kindsDir: folder }))
  assert.equal(answer.t, 'fatal', JSON.stringify(answer))
  assert.deepEqual(await worker.exited, [1, null], 'a worker that cannot start exits 1')
  assert.ok(worker.channel.closed || await once(worker.channel, 'close'))
  const fatal = answer as Extract<WorkerMessage, { t: 'fatal' }>
  assert.equal(fatal.error.code, 'KIND_LOAD_FAILED')
  return { message: fatal.error.message, folder }
}

test('a file in the kinds folder that is not a kind module is a startup error naming it', async (t) => {
  const { message, folder } = await startupFailure(t, {
    'good.cjs': 'module.exports = { name: "good", run () {} }\n',
    'README.md': 'skipped',
    'package.json': '{}',
    'good.cjs.map': '{}',
    'types.d.ts': 'export {}',
    'data.csv': 'a,b\n1,2\n'
  })
  assert.match(message, new RegExp(`^${path.join(folder, 'data.csv')}: not a kind module`))
})

test('what a build or a package leaves beside kinds is skipped: maps, declarations, README, package.json, dot files, subfolders', async (t) => {
  const folder = tempFolder(t, {
    'probe.js': 'module.exports = { name: "probe", run: () => ({ probed: true }) }\n',
    'probe.js.map': '{}',
    'probe.d.ts': 'export {}\n',
    'README.md': '# kinds\n',
    LICENSE: 'MIT\n',
    'package.json': '{"type":"commonjs"}\n',
    '.eslintrc.json': '{}',
    'helpers/not-a-kind.js': 'module.exports = 42\n',
    'helpers/data.bin': 'x'
  })
  const worker = await startWorker(t)
  const ready = await worker.handshake(workerConfig({ kindsDir: folder }))
  assert.equal(ready.t, 'ready', JSON.stringify(ready))
  if (ready.t === 'ready') assert.equal(ready.kinds.at(-1)!.name, 'probe')
  assert.equal((await worker.run('p', 'probe')).done.ok, true)
})

test('a module that exports no kind is a startup error naming it', async (t) => {
  const { message, folder } = await startupFailure(t, { 'helper.js': 'module.exports = function helper () {}\n' })
  assert.match(message, new RegExp(`^${path.join(folder, 'helper.js')}: not a kind: a kind module exports \\{ name`))
})

test('a module that throws while loading is a startup error naming it and the reason', async (t) => {
  const { message, folder } = await startupFailure(t, { 'boom.mjs': 'await Promise.resolve()\nthrow new Error("no model file")\n' })
  assert.equal(message, `${path.join(folder, 'boom.mjs')}: failed to load: no model file`)
})

test('a module that loads on the main thread but not on a job thread: the same error, from the thread', async (t) => {
  const { message, folder } = await startupFailure(t, {
    'picky.mjs': 'import { isMainThread } from "node:worker_threads"\nif (!isMainThread) throw new Error("no GPU on this thread")\nexport default { name: "picky", run () {} }\n'
  })
  assert.equal(message, `${path.join(folder, 'picky.mjs')}: failed to load: no GPU on this thread`)
})

test('a params schema that does not compile is a startup error naming the file and the reason', async (t) => {
  const { message, folder } = await startupFailure(t, {
    'bad-schema.cjs': 'module.exports = { name: "bad", params: { type: "object", properties: { n: { type: "integr" } } }, run () {} }\n'
  })
  assert.match(message, new RegExp(`^${path.join(folder, 'bad-schema.cjs')}: kind bad: params schema does not compile: .*type`))
})

test('bad input bounds and bad names are startup errors naming the file', async (t) => {
  const bounds = await startupFailure(t, { 'b.cjs': 'module.exports = { name: "b", inputs: { min: 2, max: 1 }, run () {} }\n' })
  assert.match(bounds.message, /b\.cjs: inputs must be \{ min, max \}/)
  const name = await startupFailure(t, { 'n.mjs': 'export default { name: "Bad Name", run () {} }\n' })
  assert.match(name.message, /n\.mjs: kind name "Bad Name" must match/)
})

test('kinds whose reports would not fit in one message are a startup error, not a silent hang', async (t) => {
  // Six schemas of ~60 KiB each (each under the 64 KiB a schema may have): ~360 KiB together.
  const files: Record<string, string> = {}
  for (let i = 0; i < 6; i++) {
    files[`k${i}.cjs`] = `module.exports = { name: "k${i}", params: { type: "object", description: ${JSON.stringify('x'.repeat(60_000))} }, run () {} }\n`
  }
  const { message, folder } = await startupFailure(t, files)
  assert.match(message, new RegExp(`^${folder}: the kinds' reports are \\d+ bytes of JSON, over the worker channel's 262144`))
})

test('a TypeScript kind: loaded where Node strips types, else an error naming the file that says to compile it', async (t) => {
  const files = { 'typed.ts': 'const kind: { name: string, run: () => object } = { name: "typed", run: () => ({ typed: true }) }\nexport default kind\n' }
  const strips = (process.features as { typescript?: unknown }).typescript !== undefined && (process.features as { typescript?: unknown }).typescript !== false
  if (!strips) {
    const { message, folder } = await startupFailure(t, files)
    assert.match(message, new RegExp(`^${path.join(folder, 'typed.ts')}: a TypeScript kind needs a Node that strips types .* this is Node ${process.versions.node}: compile it`))
    return
  }
  const worker = await startWorker(t)
  const ready = await worker.handshake(workerConfig({ kindsDir: tempFolder(t, files) }))
  assert.equal(ready.t, 'ready')
})

test('pings are answered from the main thread while the only job thread is busy', async (t) => {
  const worker = await startWorker(t)
  assert.equal((await worker.handshake(workerConfig({ kindsDir: MODULES }))).t, 'ready')
  // Before ready too: a ping gets its pong whatever the state (checked here after, during a job).
  worker.send({ t: 'run', job: 'long', kind: 'sleep', params: { ms: 5000 }, inputs: [], fdCount: 0, maxOutputBytes: 0 })
  await worker.next((m) => m.t === 'started' && m.job === 'long')
  for (const seq of [1, 2, 3]) {
    const from = worker.received.length
    worker.send({ t: 'ping', seq })
    const pong = await worker.next((m) => m.t === 'pong', from)
    assert.deepEqual(pong.message, { t: 'pong', seq })
  }
  worker.send({ t: 'cancel', job: 'long', reason: 'CANCELLED' })
  const done = await worker.next((m) => m.t === 'done' && m.job === 'long')
  assert.equal(done.message.t === 'done' && !done.message.ok && done.message.error.code, 'CANCELLED')
})

test('a run before ready and a malformed config are refused', async (t) => {
  const worker = await startWorker(t)
  await worker.next((m) => m.t === 'hello')
  const input = sealed(Buffer.from('x'))
  worker.send({ t: 'run', job: 'early', kind: 'noop', params: {}, inputs: [{ id: 'b', generation: 1, size: 1 }], fdCount: 1, maxOutputBytes: 0 }, [input.fd])
  native.close(input.fd)
  const early = await worker.next((m) => m.t === 'done')
  assert.deepEqual(early.message, { t: 'done', job: 'early', ok: false, error: { code: 'PROTOCOL_ERROR', message: 'The worker is not ready yet' }, fdCount: 0 })
  worker.send({ t: 'ping', seq: 7 })
  assert.deepEqual((await worker.next((m) => m.t === 'pong')).message, { t: 'pong', seq: 7 })
  worker.send({ t: 'config', config: { ...workerConfig(), threads: 0 } })
  const fatal = await worker.next((m) => m.t === 'fatal')
  assert.equal(fatal.message.t === 'fatal' && fatal.message.error.code, 'PROTOCOL_ERROR')
  assert.match(JSON.stringify(fatal.message), /threads/)
  assert.deepEqual(await worker.exited, [1, null])
})

test('a job with more than 32 outputs sends them in \'outputs\' messages before its \'done\', and keeps none', async (t) => {
  const worker = await startWorker(t)
  assert.equal((await worker.handshake(workerConfig({ kindsDir: MODULES }))).t, 'ready')
  await worker.run('warm', 'many-outputs', { count: 1 }).then((r) => r.fds.forEach((fd) => native.close(fd)))
  const baseline = countFds(worker.child.pid!)
  const { done, fds, parts } = await worker.run('many', 'many-outputs', { count: 70 })
  assert.equal(done.ok, true, JSON.stringify(done))
  if (!done.ok) return
  assert.equal(parts, 2, 'two messages of 32, then the done with 6')
  assert.equal(done.fdCount, 6)
  assert.equal(done.outputs.length, 70)
  assert.equal(fds.length, 70)
  fds.forEach((fd, i) => {
    assert.equal(native.fileSize(fd), 1)
    assert.equal(native.mapShared(fd, { length: 1 })[0], i, `output ${i} in order`)
    assert.ok(native.getSeals(fd).includes('write'))
    native.close(fd)
  })
  // The worker closes each output right after its send: no event here tells when, so settle.
  assert.deepEqual(await settledCount(() => memfdDescriptors(worker.child.pid!).length, 0), 0, 'the worker closed every output it sent')
  assert.ok(countFds(worker.child.pid!) <= baseline, 'and holds no more descriptors than before')
  // A kind that makes more outputs than it declares fails with a clear code.
  const over = await worker.run('over', 'many-outputs', { count: 101 })
  assert.equal(over.done.ok, false)
})

test('the worker exits when its channel closes, before and after config', async (t) => {
  const early = await startWorker(t)
  await early.next((m) => m.t === 'hello')
  early.channel.close()
  assert.deepEqual(await early.exited, [0, null])

  const late = await startWorker(t)
  assert.equal((await late.handshake(workerConfig({ threads: 2 }))).t, 'ready')
  late.channel.close()
  assert.deepEqual(await late.exited, [0, null])
})

test('a worker dies with its parent even while its channel stays open (PR_SET_PDEATHSIG)', async (t) => {
  // This process keeps the server end of the channel open; a middle process spawns the worker
  // with the other end and is then SIGKILLed. Only the parent-death signal can end the worker.
  const [mine, theirs] = native.socketPair()
  const middle = spawn(process.execPath, ['-e', `
    const { spawn } = require('node:child_process')
    const worker = spawn(process.execPath, [${JSON.stringify(WORKER_SCRIPT)}], { stdio: ['ignore', 'ignore', 'inherit', 3] })
    setInterval(() => {}, 1000)
  `], { stdio: ['ignore', 'ignore', 'inherit', theirs] })
  native.close(theirs)
  const channel = new native.Channel(mine)
  t.after(() => { channel.close(); middle.kill('SIGKILL') })
  const hello = await new Promise<{ pid: number }>((resolve) => channel.once('message', (data, fds) => {
    fds.forEach((fd) => native.close(fd))
    resolve(JSON.parse(data.toString()))
  }))
  assert.ok(fs.existsSync(`/proc/${hello.pid}`))
  const status = fs.readFileSync(`/proc/${hello.pid}/status`, 'utf8')
  assert.equal(Number(/PPid:\s+(\d+)/.exec(status)![1]), middle.pid, 'the worker is the middle process\'s child')
  // The worker is not our child, so no exit event; but it holds the channel's only other end:
  // the channel closes exactly when the worker is gone (without the signal it never would).
  const closed = once(channel, 'close')
  middle.kill('SIGKILL')
  await once(middle, 'exit')
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    closed,
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`worker ${hello.pid} outlived its parent: ${fs.existsSync(`/proc/${hello.pid}/status`) ? fs.readFileSync(`/proc/${hello.pid}/status`, 'utf8').split('\n').filter((l) => /^(State|PPid|Threads)/.test(l)).join('; ') : 'gone'}`)), 10_000) })
  ]).finally(() => clearTimeout(timer))
  const stat = fs.existsSync(`/proc/${hello.pid}/stat`) ? fs.readFileSync(`/proc/${hello.pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone'
  assert.ok(stat === 'gone' || stat === 'Z', `the worker died with its parent (state ${stat})`)
})
