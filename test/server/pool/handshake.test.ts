// The worker handshake seen from the pool, with a real process speaking the protocol as written
// (test/fixtures/protocol-worker.ts): hello → config → ready with the kinds it serves; 'fatal'
// fails the start without a restart loop; a worker whose kinds disagree is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createPool, type Pool, type PoolOptions } from '../../../server/pool/pool'
import type { PoolEvent, WorkerInfo } from '../../../server/pool/types'
import { PROTOCOL_WORKER } from '../../helpers/pool'

function logLines (): { lines: string[], logger: NonNullable<PoolOptions['logger']> } {
  const lines: string[] = []
  const sink = (o: object, m?: string): void => { lines.push(`${m ?? ''} ${JSON.stringify(o)}`) }
  return { lines, logger: { info: sink, warn: sink, error: sink } }
}

/** Resolves once `count` worker.exited events have come. */
function exits (pool: Pool, count: number): Promise<WorkerInfo[]> {
  const seen: WorkerInfo[] = []
  return new Promise((resolve) => {
    const listener = (event: PoolEvent): void => {
      if (event.type !== 'worker.exited') return
      seen.push(event.data as WorkerInfo)
      if (seen.length === count) { pool.off('event', listener); resolve(seen) }
    }
    pool.on('event', listener)
  })
}

test('hello → config → ready: the registry holds what the workers reported, validated with Ajv', async (t) => {
  const pool = await createPool({ workers: 2, workerScript: PROTOCOL_WORKER, threadsPerWorker: 3 })
  t.after(() => pool.close())
  assert.throws(() => pool.enqueue({ kind: 'echo' }), { code: 'NOT_READY', message: /No worker has reported its kinds yet/ })
  await pool.whenReady()
  assert.deepEqual(pool.workers().map((w) => [w.state, w.threads]), [['ready', 3], ['ready', 3]], 'threads as the worker reported them')
  const echo = pool.kinds().find((k) => k.name === 'echo')!
  assert.deepEqual(echo.servedBy, ['w0', 'w1'])
  assert.deepEqual(echo.outputs, { min: 0, max: 0 })
  assert.deepEqual(pool.kinds().map((k) => k.name).sort(), ['echo', 'outputs'], 'no built-in kind the worker did not report')
  assert.throws(() => pool.enqueue({ kind: 'checksum' }), { code: 'UNKNOWN_KIND', message: /pool\.kinds\(\) lists them/ })
  assert.throws(() => pool.enqueue({ kind: 'echo', params: { delayMs: -1 } }), { code: 'INVALID_PARAMS', message: 'params.delayMs: must be >= 0 (kind echo)' })
  const done = await pool.submit({ kind: 'echo', params: { tag: 'x' } })
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error))
  assert.deepEqual(done.result, { params: { tag: 'x', delayMs: 0 } }, 'the schema\'s default filled in before the job left')
})

test('fatal: whenReady rejects with the worker\'s message, and the worker is not restarted', async (t) => {
  const { lines, logger } = logLines()
  const pool = await createPool({ workers: 2, workerScript: PROTOCOL_WORKER, logger, workerEnv: { MEMFD_POOL_TEST_FATAL: '/kinds/broken.js: a kind module exports { name, run(ctx) }' } })
  t.after(() => pool.close())
  const exited = exits(pool, 2)
  await assert.rejects(pool.whenReady(), { message: /could not start: \/kinds\/broken\.js: a kind module exports/ })
  await exited
  assert.deepEqual(pool.workers().map((w) => [w.state, w.restarts]), [['exited', 0], ['exited', 0]], 'no restart loop')
  assert.equal(pool.ready, false)
  await assert.rejects(pool.whenReady(), /broken\.js/, 'later calls reject too')
  assert.ok(lines.some((l) => l.includes('broken.js')), 'logged')
})

test('a worker reporting a kind differently from the others is refused with a log line and not used', async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-variant-'))
  const { lines, logger } = logLines()
  const pool = await createPool({ workers: 2, workerScript: PROTOCOL_WORKER, logger, workerEnv: { MEMFD_POOL_TEST_VARIANT_AFTER: path.join(folder, 'first') } })
  t.after(async () => { await pool.close(); fs.rmSync(folder, { recursive: true }) })
  const exited = exits(pool, 1)
  await assert.rejects(pool.whenReady(), { message: /refused: kind echo differs from what w[01] reported/ })
  const [gone] = await exited
  assert.ok(lines.some((l) => /refused: kind echo differs/.test(l)), 'a clear log line')
  const serving = pool.workers().filter((w) => w.state === 'ready')
  assert.equal(serving.length, 1)
  assert.notEqual(serving[0].id, gone.id)
  assert.deepEqual(pool.kinds().find((k) => k.name === 'echo')!.servedBy, [serving[0].id])
  assert.equal(pool.workers().find((w) => w.id === gone.id)!.restarts, 0, 'not restarted')
  // The pool still runs jobs on the worker that was accepted (whichever reported first).
  const done = await pool.submit({ kind: 'echo' })
  assert.equal(done.state, 'succeeded')
  assert.equal(done.workerPid, serving[0].pid)
})
