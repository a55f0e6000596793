// The dispatch policies as pure decisions over plain objects: no processes, no channels.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AUTO_PREFETCH, AutoPrefetch, FixedPrefetch, SHORT_RUN_SAMPLES, type LinkView } from '../../../server/pool/dispatch-policy'

const link = (id: string, load: number, capacity = 1, heldKinds: string[] = []): LinkView => ({ id, load, capacity, heldKinds })

/** Teaches the policy that `kind` runs in `ms` (enough samples to count). */
function learn (policy: AutoPrefetch, kind: string, ms: number): void {
  for (let i = 0; i < SHORT_RUN_SAMPLES; i++) policy.observeRun(kind, ms)
}

test('fixed 0: the least loaded worker with a free thread, the first of equals; none when all are busy', () => {
  const policy = new FixedPrefetch(0)
  assert.equal(policy.choose({ kind: 'x' }, [link('a', 1, 2), link('b', 0, 2), link('c', 0, 2)])?.id, 'b')
  assert.equal(policy.choose({ kind: 'x' }, [link('a', 1), link('b', 1)]), null)
  assert.equal(policy.choose({ kind: 'x' }, []), null)
})

test('fixed N: up to N jobs ahead of the threads, whatever the kind', () => {
  const policy = new FixedPrefetch(2)
  assert.equal(policy.choose({ kind: 'slow' }, [link('a', 2, 1, ['slow'])])?.id, 'a')
  assert.equal(policy.choose({ kind: 'slow' }, [link('a', 3, 1, ['slow'])]), null)
})

test('auto: a kind not known to be short waits for a free thread', () => {
  const policy = new AutoPrefetch()
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', 0)])?.id, 'a')
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', 1, 1, ['noop'])]), null)
  // Fewer samples than needed: still not short, however fast.
  for (let i = 0; i < SHORT_RUN_SAMPLES - 1; i++) policy.observeRun('noop', 0.01)
  assert.equal(policy.isShort('noop'), false)
  policy.observeRun('noop', 0.01)
  assert.equal(policy.isShort('noop'), true)
})

test('auto: short jobs go ahead only behind short ones, at most AUTO_PREFETCH beyond the threads', () => {
  const policy = new AutoPrefetch()
  learn(policy, 'noop', 0.05)
  learn(policy, 'sleep', 50)
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', 1, 1, ['noop'])])?.id, 'a')
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', AUTO_PREFETCH, 1, ['noop'])])?.id, 'a')
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', AUTO_PREFETCH + 1, 1, ['noop'])]), null)
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', 1, 1, ['sleep'])]), null, 'never behind a long job')
  assert.equal(policy.choose({ kind: 'sleep' }, [link('a', 1, 1, ['noop'])]), null, 'a long job never goes ahead')
  // Behind a long one on a, ahead behind short ones on b.
  assert.equal(policy.choose({ kind: 'noop' }, [link('a', 1, 1, ['sleep']), link('b', 3, 1, ['noop'])])?.id, 'b')
})

test('auto: a kind that slows down stops counting as short; nonsense run times are ignored', () => {
  const policy = new AutoPrefetch()
  learn(policy, 'k', 0.1)
  assert.equal(policy.isShort('k'), true)
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) policy.observeRun('k', bad)
  assert.equal(policy.isShort('k'), true)
  for (let i = 0; i < 20; i++) policy.observeRun('k', 10)
  assert.equal(policy.isShort('k'), false)
})
