// One source per contract: the library's types are the REST schemas (server/pool/types.ts is
// Static<> of them), and the library's JobSpec check is the REST body schema, so both refuse the
// same specs with the same limits (the REST API capped timeoutMs at 24 h while the library took
// anything).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { jobSpecProblem } from '../../server/schemas/job-spec-check'
import { SubmitJobBody } from '../../server/schemas/job'
import { MAX_ATTEMPTS, MAX_JOB_INPUTS, MAX_TIMEOUT_MS } from '../../server/schemas/limits'
import type { JobSpec } from '../../server/pool/types'

test('the REST body schema carries the named limits', () => {
  assert.equal(SubmitJobBody.properties.timeoutMs.maximum, MAX_TIMEOUT_MS)
  assert.equal(MAX_TIMEOUT_MS, 24 * 3600 * 1000)
  assert.equal(SubmitJobBody.properties.maxAttempts.maximum, MAX_ATTEMPTS)
  assert.equal(SubmitJobBody.properties.inputs.maxItems, MAX_JOB_INPUTS)
})

test('jobSpecProblem accepts what POST /v1/jobs accepts and names the field of what it refuses', () => {
  const good: JobSpec = { kind: 'noop', inputs: ['b_1'], params: { a: 1 }, timeoutMs: MAX_TIMEOUT_MS, maxAttempts: 2 }
  assert.equal(jobSpecProblem(good), null)
  assert.equal(jobSpecProblem({ kind: 'noop' }), null)
  const refused: Array<[unknown, RegExp]> = [
    [{ kind: 'noop', timeoutMs: MAX_TIMEOUT_MS + 1 }, /^spec\.timeoutMs must be <= 86400000$/],
    [{ kind: 'noop', timeoutMs: '5' }, /^spec\.timeoutMs must be integer$/],
    [{ kind: 'noop', maxAttempts: MAX_ATTEMPTS + 1 }, /^spec\.maxAttempts/],
    [{ kind: 'noop', inputs: Array.from({ length: MAX_JOB_INPUTS + 1 }, (_, i) => `b_${i}`) }, /^spec\.inputs/],
    [{ kind: 'noop', inputs: 'b_1' }, /^spec\.inputs must be array$/],
    [{ kind: 'noop', extra: 1 }, /^spec\.extra is not allowed$/],
    [{}, /^spec\.kind is required$/],
    [null, /^spec must be object$/]
  ]
  for (const [spec, message] of refused) assert.match(jobSpecProblem(spec) ?? 'accepted', message, JSON.stringify(spec))
})
