// Issue 15 item 18: a client that sends /v1/events a frame over the 4 KiB cap is closed with 1009,
// and the server logs one warning line naming the cause, not an error with a stack trace (the
// client is at fault, not the server). Other subscribers are unaffected.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { openEvents } from '../helpers/event-stream'
import { startApp } from '../helpers/server-app'

interface LogLine { level: number, msg: string, [key: string]: unknown }

test('a client frame over the limit: closed with 1009, one warning line, no stack, no error', async (t) => {
  const lines: LogLine[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)) } })
  const app = await startApp({ logger })
  t.after(() => app.close())
  const bystander = await openEvents(app, '?topics=buffers')
  const offender = await openEvents(app, '?topics=pool')
  t.after(() => { bystander.close(); offender.close() })
  await bystander.nextOf('snapshot')
  await offender.nextOf('snapshot')

  offender.socket.send('x'.repeat(5000))
  const closed = await offender.closed
  assert.equal(closed.code, 1009)

  // The bystander still gets events.
  const buffer = app.pool.store.create({ size: 1 })
  await bystander.nextOf('buffer.created', buffer.id)

  const warnings = lines.filter((l) => l.level === 40 && /event stream/.test(l.msg))
  assert.equal(warnings.length, 1, JSON.stringify(lines))
  assert.match(warnings[0].msg, /Max payload size exceeded/)
  assert.equal(warnings[0].code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
  for (const line of lines) {
    assert.ok(line.level < 50, `no error line: ${JSON.stringify(line)}`)
    assert.ok(!JSON.stringify(line).includes('"stack"'), `no stack: ${JSON.stringify(line)}`)
  }
})
