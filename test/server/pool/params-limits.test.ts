// Params that once broke the pool: nested ~20,000 deep for a kind without a params schema (the
// channel encoder overflowed the stack inside dispatch: a 500, a leaked input, a job stuck in the
// table), and 300 KB of params (a run message over the channel's limit marked every worker
// `stopping` for good). Both are refused at submit now, and the pool carries on (issue 15, items
// 5 and 6).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { countFds } from '../../helpers/proc'
import { sealedBuffer, startPool } from '../../helpers/pool'

function nested (depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {}
  for (let i = 1; i < depth; i++) value = { a: value }
  return value
}

test('deep and huge params are INVALID_PARAMS at submit; nothing is queued or held; jobs still run', async (t) => {
  const pool = await startPool({ workers: 2 })
  t.after(() => pool.close())
  const input = sealedBuffer(pool, Buffer.from('input'))
  // 'hold' declares no params schema: only the bounds stand between these and the channel.
  assert.equal(pool.kinds().find((k) => k.name === 'hold')!.params !== null, true)
  const baseline = countFds()
  const jobsBefore = pool.list().length
  assert.throws(() => pool.enqueue({ kind: 'hold', inputs: [input], params: nested(20_000) }), { code: 'INVALID_PARAMS', message: /deeper than 32 levels/ })
  assert.throws(() => pool.enqueue({ kind: 'hold', inputs: [input], params: { blob: 'x'.repeat(300_000) } }), { code: 'INVALID_PARAMS', message: /the limit is 65536 bytes/ })
  assert.equal(pool.list().length, jobsBefore, 'no job entered the table')
  assert.deepEqual(pool.store.get(input).descriptors.map((d) => d.role), ['server'], 'the input is held by nobody else')
  assert.equal(countFds(), baseline, 'no descriptor taken')
  assert.deepEqual(pool.workers().map((w) => w.state), ['ready', 'ready'], 'no worker marked stopping')
  const ok = await pool.submit({ kind: 'checksum', inputs: [input], params: { algorithm: 'sha256' } })
  assert.equal(ok.state, 'succeeded', JSON.stringify(ok.error))
  const justUnder = await pool.submit({ kind: 'noop', params: {} })
  assert.equal(justUnder.state, 'succeeded')
  assert.equal(pool.ready, true)
})
