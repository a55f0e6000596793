// What crosses the process boundary: zero copy, isolation from hostile kinds, crashes, timeouts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { memfdMappings } from '../../helpers/proc'
import { jobProgressed, jobStarted, sealedBuffer, startPool, workerStarted } from '../../helpers/pool'

test('a running job maps the very memfd in its worker process: /proc/<pid>/maps shows it', async (t) => {
  const pool = await startPool()
  t.after(() => pool.close())
  const size = 64 * 1024 * 1024
  const info = pool.store.create({ size, name: 'zero-copy' })
  pool.store.write(info.id, size - 1, Buffer.from([9]))
  pool.store.seal(info.id)
  const job = pool.enqueue({ kind: 'hold', inputs: [info.id] })
  await jobProgressed(pool, job.id)
  const running = pool.get(job.id)
  const maps = memfdMappings(running.workerPid!, `memfd-pool:${info.id}`)
  assert.equal(maps.length, 1, 'one mapping of the buffer in the worker')
  const [start, end] = maps[0].split(' ')[0].split('-').map((h) => BigInt(`0x${h}`))
  assert.equal(end - start, BigInt(size), 'the whole buffer is mapped, not copied')
  assert.match(maps[0].split(' ')[1], /^r--s$/, 'read-only, shared')
  // The buffer's descriptor map names the server and the worker, each with its own number.
  const holders = pool.store.get(info.id).descriptors
  assert.deepEqual(holders.map((h) => h.role).sort(), ['server', 'worker'])
  assert.equal(holders.find((h) => h.role === 'worker')!.pid, running.workerPid)
  pool.cancel(job.id)
  const done = await pool.wait(job.id, 10_000)
  assert.equal(done.state, 'cancelled')
  assert.deepEqual(pool.store.get(info.id).descriptors.map((h) => h.role), ['server'])
  assert.equal(memfdMappings(running.workerPid!, `memfd-pool:${info.id}`).length, 0, 'unmapped after the job')
})

test('hostile kinds cannot change a sealed input; the server is unaffected', async (t) => {
  const pool = await startPool()
  t.after(() => pool.close())
  const data = crypto.randomBytes(1 << 16)
  const id = sealedBuffer(pool, data)
  const digest = crypto.createHash('sha256').update(data).digest('hex')

  const shrink = await pool.submit({ kind: 'hostile', inputs: [id], params: { how: 'shrink' } })
  assert.equal(shrink.state, 'failed')
  assert.equal(shrink.error!.code, 'HANDLER_ERROR')
  assert.match(shrink.error!.message, /EINVAL|EPERM/)
  const writeFd = await pool.submit({ kind: 'hostile', inputs: [id], params: { how: 'write-fd' } })
  assert.equal(writeFd.error!.code, 'HANDLER_ERROR')
  assert.match(writeFd.error!.message, /EBADF|EPERM/)

  const pid = pool.get(writeFd.id).workerPid
  const replacement = workerStarted(pool)
  const writeView = await pool.submit({ kind: 'hostile', inputs: [id], params: { how: 'write-view' } })
  assert.equal(writeView.state, 'failed')
  assert.equal(writeView.error!.code, 'WORKER_CRASHED', 'SIGSEGV on the read-only mapping killed that worker, not the server')
  assert.match(writeView.error!.message, /SIGSEGV|SIGBUS/)
  assert.notEqual(await replacement, pid)

  const check = await pool.submit({ kind: 'checksum', inputs: [id] })
  assert.equal(check.result!.digest, digest, 'the bytes are unchanged')
})

test('SIGKILL a worker mid-job: WORKER_CRASHED without retries, success with a retry; a replacement starts', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close())
  const first = pool.enqueue({ kind: 'hold' })
  await jobProgressed(pool, first.id)
  const pid = pool.get(first.id).workerPid!
  const replacement = workerStarted(pool)
  process.kill(pid, 'SIGKILL')
  const crashed = await pool.wait(first.id, 10_000)
  assert.equal(crashed.state, 'failed')
  assert.equal(crashed.error!.code, 'WORKER_CRASHED')
  const newPid = await replacement
  assert.notEqual(newPid, pid)
  assert.equal(pool.workers()[0].restarts, 1)

  const retried = pool.enqueue({ kind: 'sleep', params: { ms: 400 }, maxAttempts: 2 })
  await jobStarted(pool, retried.id)
  const again = workerStarted(pool)
  process.kill(newPid, 'SIGKILL')
  await again
  const done = await pool.wait(retried.id, 10_000)
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  assert.equal(done.attempts, 2)
  assert.equal((await pool.submit({ kind: 'noop' })).state, 'succeeded')
})

test('timeout and cancel of running jobs; a kind that ignores its signal loses its thread', async (t) => {
  const pool = await startPool({ workers: 1, threadsPerWorker: 2 })
  t.after(() => pool.close())
  const timed = await pool.submit({ kind: 'sleep', params: { ms: 60_000 }, timeoutMs: 100 })
  assert.equal(timed.state, 'failed')
  assert.equal(timed.error!.code, 'TIMEOUT')

  const sleeping = pool.enqueue({ kind: 'sleep', params: { ms: 60_000 } })
  await jobStarted(pool, sleeping.id)
  pool.cancel(sleeping.id)
  const cancelled = await pool.wait(sleeping.id, 10_000)
  assert.equal(cancelled.state, 'cancelled')
  assert.equal(cancelled.error!.code, 'CANCELLED')
  assert.throws(() => pool.cancel(sleeping.id), { code: 'JOB_FINISHED' })

  // A busy loop never sees its AbortSignal: the worker terminates the thread after its grace.
  const id = sealedBuffer(pool, Buffer.from('x'))
  const pid = pool.workers()[0].pid
  const spin = await pool.submit({ kind: 'hostile', inputs: [id], params: { how: 'spin', ms: 20_000 }, timeoutMs: 200 })
  assert.equal(spin.error!.code, 'TIMEOUT')
  assert.equal(pool.workers()[0].pid, pid, 'the thread was terminated, not the worker process')
  assert.equal((await pool.submit({ kind: 'noop' })).state, 'succeeded')
})

test('queue full and quota refusals', async (t) => {
  const pool = await startPool({ workers: 1, maxQueue: 3, maxMemoryBytes: 1 << 20, maxBufferBytes: 1 << 19 })
  t.after(() => pool.close())
  const blocker = pool.enqueue({ kind: 'sleep', params: { ms: 60_000 } })
  await jobStarted(pool, blocker.id)
  const queued = [0, 1, 2].map(() => pool.enqueue({ kind: 'noop' }))
  assert.throws(() => pool.enqueue({ kind: 'noop' }), { code: 'QUEUE_FULL' })
  assert.equal(pool.stats().queueDepth, 3)
  pool.cancel(queued[0].id)
  assert.equal(pool.get(queued[0].id).state, 'cancelled', 'a queued job is cancelled at once')
  pool.enqueue({ kind: 'noop' })

  assert.throws(() => pool.store.create({ size: (1 << 19) + 1 }), { code: 'PAYLOAD_TOO_LARGE' })
  const a = pool.store.create({ size: 1 << 19 })
  pool.store.create({ size: (1 << 19) - 10 })
  assert.throws(() => pool.store.create({ size: 11 }), { code: 'QUOTA_EXCEEDED' })
  assert.equal(pool.store.bytesInUse, (1 << 20) - 10)
  pool.store.delete(a.id)
  assert.equal(pool.store.create({ size: 11 }).size, 11)
  pool.cancel(blocker.id)
})
