// Nothing accumulates: after many pipelines — succeeded, failed and cancelled, in parallel — the
// store holds only what the test kept, and the server's descriptor table is back to its baseline.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { countFds, memfdDescriptors } from '../../helpers/proc'
import { sealedBuffer, startPool } from '../../helpers/pool'
import type { PipelineInfo, PipelineSpec } from '../../../server/pipelines'

const PIPELINES = 200

test(`${PIPELINES} pipelines leave no buffer and no descriptor behind`, async (t) => {
  const pool = await startPool({ workers: 2 })
  t.after(() => pool.close({ graceMs: 0 }))
  const input = sealedBuffer(pool, Buffer.from('not gzip, repeated '.repeat(200)))

  const spec = (n: number): PipelineSpec => ({
    steps: [
      { id: 'raw', kind: 'fill', params: { size: 64 * 1024, pattern: 'random', seed: n } },
      { id: 'join', kind: 'concat', inputs: [{ step: 'raw' }, input, { step: 'raw' }] },
      { id: 'zip', kind: 'gzip', inputs: [{ step: 'join' }], params: { level: 1 } },
      { id: 'sum', kind: 'checksum', inputs: [{ step: 'zip' }] },
      // Every third pipeline fails half-way: gunzip of bytes that are not gzip.
      { id: 'bad', kind: n % 3 === 0 ? 'gunzip' : 'gzip', inputs: [{ step: 'join' }] },
      { id: 'after', kind: 'checksum', inputs: [{ step: 'bad' }] }
    ],
    keep: n % 2 === 0 ? ['zip'] : []
  })

  async function runOne (n: number): Promise<PipelineInfo> {
    const started = pool.pipeline(spec(n))
    // Every fifth is cancelled while it runs.
    if (n % 5 === 0) pool.pipelines.cancel(started.id)
    const done = await pool.pipelines.wait(started.id, Infinity)
    for (const ids of Object.values(done.outputs)) for (const id of ids) pool.store.delete(id)
    return done
  }

  async function runMany (from: number, count: number): Promise<PipelineInfo[]> {
    let next = from
    const out: PipelineInfo[] = []
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < from + count) out.push(await runOne(next++))
    }))
    return out
  }

  await runMany(0, 10) // warm-up: workers' threads, lazy handles
  const baselineFds = countFds()
  const baselineMemfds = memfdDescriptors().length
  assert.equal(pool.store.count, 1)

  const results = await runMany(10, PIPELINES)
  const states = new Map<string, number>()
  for (const p of results) states.set(p.state, (states.get(p.state) ?? 0) + 1)
  t.diagnostic(`states: ${JSON.stringify(Object.fromEntries(states))}`)
  assert.ok((states.get('succeeded') ?? 0) > 0 && (states.get('failed') ?? 0) > 0 && (states.get('cancelled') ?? 0) > 0)
  for (const p of results.filter((r) => r.state === 'failed')) {
    assert.equal(p.error?.step, 'bad')
    assert.equal(p.steps.find((s) => s.id === 'after')?.error?.code, 'UPSTREAM_FAILED')
  }
  assert.equal(pool.store.count, 1, 'only the input is left')
  assert.equal(pool.store.bytesInUse, pool.store.get(input).size, 'every intermediate was freed, not only hidden')
  assert.equal(memfdDescriptors().length, baselineMemfds)
  assert.equal(countFds(), baselineFds)
  assert.equal(pool.stats().running + pool.stats().queueDepth, 0)
})
