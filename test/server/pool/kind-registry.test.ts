// The kind registry from workers' reports alone: TypeBox and plain JSON Schema validated alike
// (Ajv), every kind's params bounded in depth and size, and a worker that reports a kind
// differently refused whole. No processes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { KindRegistry } from '../../../server/pool/kind-registry'
import { PARAMS_MAX_BYTES, PARAMS_MAX_DEPTH } from '../../../server/pool/params-bounds'
import type { KindReport } from '../../../workers/protocol'

const typebox = Type.Object({ level: Type.Integer({ minimum: 0, maximum: 9, default: 6 }), mode: Type.Optional(Type.Union([Type.Literal('a'), Type.Literal('b')])) }, { additionalProperties: false })
const plain = { type: 'object', properties: { level: { type: 'integer', minimum: 0, maximum: 9, default: 6 }, mode: { enum: ['a', 'b'] } }, additionalProperties: false }

const report = (name: string, params: Record<string, unknown> | null, extra: Partial<KindReport> = {}): KindReport => ({
  name, description: `${name} kind`, inputs: { min: 0, max: 2 }, outputs: { min: 0, max: 1 }, params, ...extra
})

/** A kind report as it arrives over the channel: JSON, so a TypeBox schema loses its symbols. */
const overTheWire = (r: KindReport): KindReport => JSON.parse(JSON.stringify(r)) as KindReport

function nested (depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {}
  for (let i = 1; i < depth; i++) value = { a: value }
  return value
}

test('a TypeBox schema and a plain JSON Schema validate the same way, defaults filled in', () => {
  const registry = new KindRegistry()
  assert.equal(registry.register('w0', [overTheWire(report('tb', typebox as unknown as Record<string, unknown>)), report('js', plain)]), null)
  for (const kind of ['tb', 'js']) {
    assert.deepEqual(registry.validate(kind, {}), { level: 6 }, kind)
    assert.deepEqual(registry.validate(kind, { level: 2, mode: 'b' }), { level: 2, mode: 'b' }, kind)
    assert.throws(() => registry.validate(kind, { level: 10 }), { code: 'INVALID_PARAMS', message: `params.level: must be <= 9 (kind ${kind})` })
    assert.throws(() => registry.validate(kind, { level: '2' }), { code: 'INVALID_PARAMS', message: /params\.level: must be integer/ }, 'no coercion')
    assert.throws(() => registry.validate(kind, { extra: 1 }), { code: 'INVALID_PARAMS', message: /must NOT have additional properties \(extra\)/ })
  }
  const given = { level: 3 }
  registry.validate('js', given)
  assert.deepEqual(given, { level: 3 }, 'the caller\'s object is not changed')
})

test('params must be an object; an unknown kind is UNKNOWN_KIND naming the library call', () => {
  const registry = new KindRegistry()
  assert.equal(registry.empty, true)
  registry.register('w0', [report('free', null)])
  assert.equal(registry.empty, false)
  for (const bad of [null, [], 'x', 5]) assert.throws(() => registry.validate('free', bad), { code: 'INVALID_PARAMS', message: 'params must be an object' })
  assert.deepEqual(registry.validate('free', { anything: [1, { b: true }] }), { anything: [1, { b: true }] })
  assert.throws(() => registry.validate('nope', {}), { code: 'UNKNOWN_KIND', message: 'No job kind "nope"; pool.kinds() lists them' })
})

test('every kind bounds params: depth and JSON size, without recursion (20,000 levels, a cycle)', () => {
  const registry = new KindRegistry()
  registry.register('w0', [report('free', null), report('js', plain)])
  assert.deepEqual(registry.validate('free', nested(PARAMS_MAX_DEPTH)), nested(PARAMS_MAX_DEPTH))
  for (const kind of ['free', 'js']) {
    assert.throws(() => registry.validate(kind, nested(PARAMS_MAX_DEPTH + 1)), { code: 'INVALID_PARAMS', message: /deeper than 32 levels/ })
    assert.throws(() => registry.validate(kind, nested(20_000)), { code: 'INVALID_PARAMS', message: /deeper than 32 levels/ })
  }
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  assert.throws(() => registry.validate('free', cycle), { code: 'INVALID_PARAMS', message: /deeper than/ })
  const big = { s: 'x'.repeat(PARAMS_MAX_BYTES) }
  assert.throws(() => registry.validate('free', big), { code: 'INVALID_PARAMS', message: /bytes of JSON; the limit is 65536 bytes/ })
  const wide = { a: new Array(PARAMS_MAX_BYTES).fill(0) }
  assert.throws(() => registry.validate('free', wide), { code: 'INVALID_PARAMS', message: /the limit is 65536/ })
  assert.throws(() => registry.validate('free', { n: 10n }), { code: 'INVALID_PARAMS', message: /plain JSON/ })
  const fits = { s: 'x'.repeat(PARAMS_MAX_BYTES - 100) }
  assert.deepEqual(registry.validate('free', fits), fits)
})

test('a worker reporting a kind differently from the live workers is refused whole', () => {
  const registry = new KindRegistry()
  assert.equal(registry.register('w0', [report('k', plain), report('other', null)]), null)
  assert.equal(registry.register('w1', [report('k', plain), report('other', null)]), null, 'the same contract in any key order')
  const differentSchema = { ...plain, properties: { level: { type: 'string' } } }
  const refusal = registry.register('w2', [report('fresh', null), report('k', differentSchema)])
  assert.match(refusal ?? '', /kind k differs from what w0, w1 reported/)
  assert.equal(registry.has('fresh'), false, 'nothing of a refused report is registered')
  assert.match(registry.register('w2', [report('k', plain, { inputs: { min: 0, max: 3 } })]) ?? '', /kind k differs/)
  assert.match(registry.register('w2', [report('k', plain, { outputs: { min: 0, max: 2 } })]) ?? '', /kind k differs/)
  // A description is not part of the contract.
  assert.equal(registry.register('w2', [report('k', plain, { description: 'other words' })]), null)
  assert.deepEqual(registry.list().find((k) => k.name === 'k')?.servedBy, ['w0', 'w1', 'w2'])
  // Once nobody serves it, a kind may come back different (the kinds folder changed).
  for (const id of ['w0', 'w1', 'w2']) registry.unregister(id)
  assert.equal(registry.has('k'), true, 'still known: jobs may queue while its workers restart')
  assert.equal(registry.register('w0', [report('k', differentSchema)]), null)
  assert.throws(() => registry.validate('k', { level: 1 }), { code: 'INVALID_PARAMS', message: /must be string/ })
})

test('malformed reports are refused with the reason', () => {
  const registry = new KindRegistry()
  const cases: Array<[unknown, RegExp]> = [
    [null, /lists no kinds/],
    [[report('Bad Name', null)], /must match/],
    [[report('k', null), report('k', null)], /reported twice/],
    [[report('k', null, { inputs: { min: 0, max: 65 } })], /inputs must be/],
    [[report('k', null, { inputs: { min: 2, max: 1 } })], /inputs must be/],
    [[report('k', null, { outputs: { min: 0, max: 5000 } })], /outputs must be/],
    [[{ ...report('k', null), params: 'yes' }], /params must be a JSON Schema object or null/],
    [[report('k', { type: 'no-such-type' })], /kind k: its params schema does not compile/]
  ]
  for (const [reports, reason] of cases) assert.match(registry.register('w0', reports) ?? '', reason)
  assert.equal(registry.empty, true)
})

test('list(): what pool.kinds() shows, with who serves each kind', () => {
  const registry = new KindRegistry()
  registry.register('w1', [report('free', null)])
  registry.register('w0', [report('free', null)])
  assert.deepEqual(registry.list(), [{ name: 'free', description: 'free kind', inputs: { min: 0, max: 2 }, outputs: { min: 0, max: 1 }, params: { type: 'object' }, servedBy: ['w0', 'w1'] }])
  assert.equal(registry.maxOutputs('free'), 1)
  assert.deepEqual(registry.inputs('free'), { min: 0, max: 2 })
})

test('drop forgets only a kind nobody serves: then it is unknown, and may be reported anew with another schema', () => {
  const registry = new KindRegistry()
  assert.equal(registry.register('x0', [report('ext', { type: 'object', properties: { v: { type: 'integer' } } })]), null)
  assert.equal(registry.served('ext'), true)
  assert.equal(registry.drop('ext'), false, 'x0 still serves it')
  registry.unregister('x0')
  assert.equal(registry.served('ext'), false)
  assert.equal(registry.has('ext'), true, 'unregistering alone keeps it known (a restarting worker)')
  assert.equal(registry.drop('ext'), true)
  assert.equal(registry.has('ext'), false)
  assert.throws(() => registry.validate('ext', {}), { code: 'UNKNOWN_KIND' })
  assert.equal(registry.register('x1', [report('ext', { type: 'object', properties: { v: { type: 'string' } } })]), null)
  assert.deepEqual(registry.list().find((k) => k.name === 'ext')?.servedBy, ['x1'])
})
