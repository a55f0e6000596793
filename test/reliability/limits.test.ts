// Limits under pressure: a worker at its open-file limit fails the job instead of hanging;
// concurrent creates never pass the quota; deleting an input under a running job is safe.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { countFds } from '../helpers/proc'
import { jobProgressed, sealedBuffer, startPool } from '../helpers/pool'

test('a worker at RLIMIT_NOFILE fails the job RESOURCE_EXHAUSTED, not a hang; it recovers when the limit rises', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close())
  const input = sealedBuffer(pool, Buffer.from('limits'))
  assert.equal((await pool.submit({ kind: 'checksum', inputs: [input] })).state, 'succeeded')
  const pid = pool.workerPids()[0]
  // No room for one more descriptor: a new one takes the lowest free number, so a limit at that
  // number leaves none. The job's input cannot be received (MSG_CTRUNC).
  const used = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number))
  let lowestFree = 0
  while (used.has(lowestFree)) lowestFree++
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${lowestFree}:4096`])
  const starved = await pool.submit({ kind: 'checksum', inputs: [input], timeoutMs: 20_000 })
  assert.equal(starved.state, 'failed')
  assert.equal(starved.error!.code, 'RESOURCE_EXHAUSTED', starved.error!.message)
  execFileSync('prlimit', [`--pid=${pid}`, '--nofile=4096:4096'])
  const ok = await pool.submit({ kind: 'checksum', inputs: [input] })
  assert.equal(ok.state, 'succeeded')
  assert.equal(pool.workerPids()[0], pid, 'the same worker, still alive')
})

test('the server at its own open-file limit: sealing fails RESOURCE_EXHAUSTED and changes nothing; it works once there is room', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close())
  const id = pool.store.create({ size: 4096 }).id
  pool.store.write(id, 0, Buffer.from('room'))
  // Sealing swaps the store's descriptor for a read-only reopen: it needs one free descriptor.
  // Lower this process's soft limit a little above what it uses, then take every free slot.
  const fdsBefore = countFds()
  const [soft, hard] = execFileSync('prlimit', [`--pid=${process.pid}`, '--nofile', '--noheadings', '--raw', '--output=SOFT,HARD'], { encoding: 'utf8' }).trim().split(/\s+/)
  execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${countFds() + 32}:${hard}`])
  const fillers: number[] = []
  try {
    for (;;) fillers.push(fs.openSync('/dev/null', 'r'))
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'EMFILE')
  }
  let refusal: unknown
  try {
    pool.store.seal(id)
  } catch (err) {
    refusal = err
  } finally {
    for (const fd of fillers) fs.closeSync(fd)
    execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${soft}:${hard}`])
  }
  assert.equal((refusal as { code?: string } | undefined)?.code, 'RESOURCE_EXHAUSTED', String(refusal))
  assert.equal(pool.store.get(id).sealed, false, 'still unsealed, still writable')
  assert.equal(countFds(), fdsBefore, 'no descriptor left behind by the refusal')
  pool.store.write(id, 4, Buffer.from('!'))
  const sealed = pool.store.seal(id)
  assert.equal(sealed.sealed, true)
  assert.equal(countFds(), fdsBefore, 'the writable descriptor was swapped for the read-only one, not added to')
  const job = await pool.submit({ kind: 'checksum', inputs: [id], params: { algorithm: 'sha256', length: 5 } })
  assert.equal(job.result!.digest, crypto.createHash('sha256').update('room!').digest('hex'))
})

test('concurrent creates never pass the quota together', async (t) => {
  const pool = await startPool({ workers: 1, maxMemoryBytes: 10 * 1024 * 1024 })
  t.after(() => pool.close())
  const results = await Promise.allSettled(Array.from({ length: 50 }, async () => pool.store.create({ size: 1024 * 1024 })))
  const made = results.filter((r) => r.status === 'fulfilled').length
  const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'QUOTA_EXCEEDED').length
  assert.equal(made, 10)
  assert.equal(refused, 40)
  assert.equal(pool.store.bytesInUse, 10 * 1024 * 1024)
})

test('deleting an input while a job reads it: the job still sees every byte, the memory goes after', async (t) => {
  const pool = await startPool({ workers: 1 })
  t.after(() => pool.close())
  const data = crypto.randomBytes(8 * 1024 * 1024)
  const id = sealedBuffer(pool, data, 'doomed')
  const fdsBefore = countFds()
  const holding = pool.enqueue({ kind: 'hold', inputs: [id] })
  const checking = pool.enqueue({ kind: 'checksum', inputs: [id] })
  await jobProgressed(pool, holding.id)
  pool.store.delete(id)
  assert.throws(() => pool.store.get(id), { code: 'NOT_FOUND' }, 'hidden at once')
  assert.equal(pool.store.bytesInUse, data.length, 'but its memory is still held by the jobs')
  pool.cancel(holding.id)
  const checked = await pool.wait(checking.id, 20_000)
  assert.equal(checked.result!.digest, crypto.createHash('sha256').update(data).digest('hex'))
  await pool.wait(holding.id, 20_000)
  assert.equal(pool.store.bytesInUse, 0, 'freed when the last job let go')
  assert.equal(countFds(), fdsBefore - 1, 'its descriptor is closed')
})
