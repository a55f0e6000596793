// A worker that dies while the server is at RLIMIT_NOFILE: the server logs, retries with backoff
// and carries on (issue 15, item 7). In a child process, which this test can let run out of
// descriptors without harming itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'

test('socketpair() failing with EMFILE on a restart is retried, never a crash; the worker comes back', async () => {
  // A low limit makes exhausting it quick.
  const child = spawn('prlimit', ['--nofile=512:512', process.execPath, path.join(__dirname, '..', '..', 'fixtures', 'fd-limit-restart.js')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const [code] = await once(child, 'exit')
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'OK\n')
})
