import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'

test('examples/seed: a printed number fails in another process; SCM_RIGHTS gives the same bytes', () => {
  const script = path.join(__dirname, '..', '..', 'examples', 'seed', 'seed.js')
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8' })
  const wrong = out.split('\n').find((l) => l.includes('wrong way'))!
  const right = out.split('\n').find((l) => l.includes('right way'))!
  assert.ok(wrong, out)
  assert.ok(!wrong.includes('hello from the parent'), `the printed number must not reach the buffer: ${wrong}`)
  assert.match(right, /mapped: "hello from the parent, through shared memory"/)
})
