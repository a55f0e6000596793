// A worker link driven by hand: a fake transport (no process) and real memfds for outputs. The
// handshake, outputs over 32 in 'outputs' messages (issue 15 item 9), a send that fails for one
// message or for the channel (item 6), and the heartbeat (item 10).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import * as native from '../../../native'
import { OwnedFds } from '../../../native/owned-fds'
import { BufferStore } from '../../../server/pool/buffer-store'
import { JobTable, type JobRecord } from '../../../server/pool/job-table'
import { WorkerLink, type JobOutcome, type LinkHost } from '../../../server/pool/worker-link'
import { buildWorkerConfig } from '../../../server/pool/worker-config'
import { decode, type ServerMessage, type WorkerMessage } from '../../../workers/protocol'
import { countFds } from '../../helpers/proc'

interface Harness {
  link: WorkerLink
  store: BufferStore
  sent: ServerMessage[]
  ended: Array<{ record: JobRecord, outcome: JobOutcome }>
  failed: Array<{ record: JobRecord, code: string, message: string }>
  events: string[]
  /** Makes the next send throw an error with this code (or the one `after` sends later). */
  failNextSend: (code: string, after?: number) => void
  /** Resolves when the host hears the worker is unresponsive. */
  unresponsive: Promise<void>
}

const table = new JobTable(1000)
const job = (kind = 'k'): JobRecord => table.create({ kind, inputs: [], params: {}, maxAttempts: 1, timeoutMs: null }, [])

function harness (options: { heartbeatIntervalMs?: number, heartbeatTimeoutMs?: number, refuse?: string, answerPings?: number } = {}): Harness {
  const store = new BufferStore({ maxMemoryBytes: 1 << 30, maxBufferBytes: 1 << 30 })
  const sent: ServerMessage[] = []
  const ended: Harness['ended'] = []
  const failed: Harness['failed'] = []
  const events: string[] = []
  let failCode: string | null = null
  let failSkip = 0
  let answered = 0
  let onUnresponsive = (): void => {}
  const unresponsive = new Promise<void>((resolve) => { onUnresponsive = resolve })
  const host: LinkHost = {
    store,
    config: () => buildWorkerConfig({ threads: 2, kindsDir: null, kindFiles: [] }),
    ready: () => options.refuse ?? null,
    started: () => events.push('started'),
    failed: (_link, message) => events.push(`failed: ${message}`),
    unresponsive: () => { events.push('unresponsive'); onUnresponsive() },
    lost: () => events.push('lost'),
    jobSent: () => {},
    jobFailed: (record, error) => failed.push({ record, ...error }),
    jobEnded: (record, outcome) => ended.push({ record, outcome }),
    jobProgress: () => {},
    changed: () => {},
    maxOutputBytes: () => store.available,
    maxOutputs: () => 100,
    log: () => {}
  }
  const link = new WorkerLink('w0', {
    pid: 4242,
    send: (data) => {
      if (failCode !== null && failSkip > 0) failSkip--
      else if (failCode !== null) {
        const code = failCode
        failCode = null
        throw Object.assign(new Error(`send failed (${code})`), { code })
      }
      const message = decode<ServerMessage>(data)!
      if (message.t === 'batch') sent.push(...message.messages)
      else sent.push(message)
      // A worker that answers its first `answerPings` pings, then falls silent.
      if (message.t === 'ping' && answered < (options.answerPings ?? 0)) {
        answered++
        queueMicrotask(() => link.handle({ t: 'pong', seq: message.seq }, OwnedFds.empty()))
      }
    }
  }, host, { capacity: 1, heartbeatIntervalMs: options.heartbeatIntervalMs ?? 0, heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 1000 })
  return { link, store, sent, ended, failed, events, unresponsive, failNextSend: (code, after = 0) => { failCode = code; failSkip = after } }
}

const kinds = [{ name: 'k', description: '', inputs: { min: 0, max: 1 }, outputs: { min: 0, max: 100 }, params: null }]

function ready (h: Harness): void {
  h.link.handle({ t: 'hello', pid: 4242, protocol: 1 }, OwnedFds.empty())
  h.link.handle({ t: 'ready', threads: 2, kinds }, OwnedFds.empty())
}

function sealedByte (value: number): number {
  const fd = native.memfdCreate('link-test-output')
  native.ftruncate(fd, 1)
  fs.writeSync(fd, Buffer.from([value]), 0, 1, 0)
  native.addSeals(fd, ['shrink', 'grow', 'write', 'seal'])
  return fd
}

test('handshake: hello gets the config, ready makes the link take jobs at the reported thread count', () => {
  const h = harness()
  assert.equal(h.link.accepting, false)
  h.link.handle({ t: 'hello', pid: 4242, protocol: 1 }, OwnedFds.empty())
  assert.equal(h.sent[0].t, 'config')
  assert.equal((h.sent[0] as Extract<ServerMessage, { t: 'config' }>).config.threads, 2)
  assert.equal(h.link.accepting, false, 'not before ready')
  h.link.handle({ t: 'ready', threads: 3, kinds }, OwnedFds.empty())
  assert.equal(h.link.accepting, true)
  assert.equal(h.link.capacity, 3)
  assert.equal(h.link.serves('k'), true)
  assert.equal(h.link.serves('other'), false)
  assert.deepEqual(h.events, ['started'])
})

test('handshake: fatal, a refused report and an unknown protocol each fail the link with the reason', () => {
  const fatal = harness()
  fatal.link.handle({ t: 'hello', pid: 4242, protocol: 1 }, OwnedFds.empty())
  fatal.link.handle({ t: 'fatal', error: { code: 'KIND_LOAD_FAILED', message: '/kinds/bad.js: not a kind' } }, OwnedFds.empty())
  assert.match(fatal.events[0], /failed: .*could not start: \/kinds\/bad\.js: not a kind/)
  assert.equal(fatal.link.state, 'failed')
  const refused = harness({ refuse: 'kind k differs from what w1 reported' })
  ready(refused)
  assert.match(refused.events[0], /refused: kind k differs from what w1 reported/)
  assert.equal(refused.link.accepting, false)
  const future = harness()
  future.link.handle({ t: 'hello', pid: 4242, protocol: 2 } as unknown as WorkerMessage, OwnedFds.empty())
  assert.match(future.events[0], /speaks protocol 2; this server speaks 1/)
})

test('100 outputs: three outputs messages of 32 then done with 4, adopted in order; nothing leaks', () => {
  const h = harness()
  ready(h)
  const before = countFds()
  const record = job()
  assert.deepEqual(h.link.start([record]), [])
  const fds = Array.from({ length: 100 }, (_, i) => sealedByte(i))
  for (let i = 0; i < 96; i += 32) h.link.handle({ t: 'outputs', job: record.info.id, fdCount: 32 }, OwnedFds.from(fds.slice(i, i + 32)))
  h.link.handle({ t: 'done', job: record.info.id, ok: true, result: {}, outputs: fds.map(() => ({ size: 1 })), fdCount: 4 }, OwnedFds.from(fds.slice(96)))
  const { outcome } = h.ended[0]
  assert.equal(outcome.ok, true, JSON.stringify(outcome))
  if (!outcome.ok) return
  assert.equal(outcome.outputs.length, 100)
  outcome.outputs.forEach((id, i) => {
    const lease = h.store.acquire(id)
    assert.equal(lease.view(0, 1)[0], i, `output ${i} in its place`)
    lease.release()
  })
  // The store keeps one read-only descriptor per output; every received one was closed.
  assert.equal(countFds(), before + 100)
  h.store.closeAll()
  assert.equal(countFds(), before)
})

test('outputs that do not add up fail the job with PROTOCOL_ERROR and close every descriptor', () => {
  const h = harness()
  ready(h)
  const before = countFds()
  const cases: Array<(id: string) => void> = [
    // An outputs message whose fdCount lies.
    (id) => {
      h.link.handle({ t: 'outputs', job: id, fdCount: 5 }, OwnedFds.from([sealedByte(1), sealedByte(2)]))
      h.link.handle({ t: 'done', job: id, ok: true, result: {}, outputs: [{ size: 1 }, { size: 1 }], fdCount: 0 }, OwnedFds.empty())
    },
    // Fewer descriptors than outputs listed.
    (id) => {
      h.link.handle({ t: 'outputs', job: id, fdCount: 1 }, OwnedFds.from([sealedByte(1)]))
      h.link.handle({ t: 'done', job: id, ok: true, result: {}, outputs: [{ size: 1 }, { size: 1 }, { size: 1 }], fdCount: 1 }, OwnedFds.from([sealedByte(2)]))
    },
    // More than the kind's bound, ahead of done.
    (id) => {
      for (let i = 0; i < 4; i++) h.link.handle({ t: 'outputs', job: id, fdCount: 32 }, OwnedFds.from(Array.from({ length: 32 }, () => sealedByte(0))))
      h.link.handle({ t: 'done', job: id, ok: true, result: {}, outputs: [], fdCount: 0 }, OwnedFds.empty())
    }
  ]
  for (const play of cases) {
    const record = job()
    h.link.start([record])
    play(record.info.id)
    const { outcome } = h.ended.at(-1)!
    assert.equal(outcome.ok, false)
    if (!outcome.ok) assert.equal(outcome.error.code, 'PROTOCOL_ERROR', outcome.error.message)
    h.link.release(record)
    assert.equal(countFds(), before, 'no descriptor kept')
  }
  // Outputs for a job the link does not hold, and a job released with outputs pending.
  h.link.handle({ t: 'outputs', job: 'job_unknown', fdCount: 1 }, OwnedFds.from([sealedByte(1)]))
  const record = job()
  h.link.start([record])
  h.link.handle({ t: 'outputs', job: record.info.id, fdCount: 1 }, OwnedFds.from([sealedByte(1)]))
  h.link.release(record)
  assert.equal(countFds(), before)
  assert.equal(h.store.count, 0)
})

test('a message the channel refuses fails only its job, with a code; the worker keeps taking jobs', () => {
  const h = harness()
  ready(h)
  const [tooBig, next] = [job(), job()]
  h.failNextSend('ERR_MESSAGE_TOO_LARGE')
  assert.deepEqual(h.link.start([tooBig]), [])
  assert.equal(h.failed.length, 1)
  assert.equal(h.failed[0].record, tooBig)
  assert.equal(h.failed[0].code, 'PROTOCOL_ERROR')
  assert.match(h.failed[0].message, /could not be sent to worker w0: send failed \(ERR_MESSAGE_TOO_LARGE\)/)
  assert.equal(h.link.accepting, true, 'the worker is not marked as going away')
  h.failNextSend('EMFILE')
  h.link.start([job()])
  assert.equal(h.failed[1].code, 'RESOURCE_EXHAUSTED')
  assert.deepEqual(h.link.start([next]), [])
  assert.equal(h.link.load, 1)
  assert.equal(h.sent.at(-1)?.t, 'run')
  assert.deepEqual(h.events, ['started'], 'not lost')
})

test('a channel that is gone gives the jobs back and the link is lost (its worker is replaced)', () => {
  const h = harness()
  ready(h)
  const jobs = [job(), job()]
  h.failNextSend('EPIPE')
  assert.deepEqual(h.link.start(jobs), jobs)
  assert.equal(h.link.accepting, false)
  assert.equal(h.link.load, 0)
  assert.deepEqual(h.events, ['started', 'lost'])
  assert.equal(h.failed.length, 0)
})

test('heartbeat: pings while the worker answers; silence past the timeout makes it unresponsive', async () => {
  const h = harness({ heartbeatIntervalMs: 10, heartbeatTimeoutMs: 100, answerPings: 3 })
  const readyAt = Date.now()
  ready(h)
  // The link's timer does not hold the process open (a pool must not keep a program alive).
  const keepAlive = setInterval(() => {}, 1000)
  await h.unresponsive
  clearInterval(keepAlive)
  assert.ok(Date.now() - readyAt >= 100, 'not before the timeout')
  assert.equal(h.link.state, 'unresponsive')
  assert.equal(h.link.accepting, false)
  const pings = h.sent.filter((m) => m.t === 'ping').map((m) => (m as Extract<ServerMessage, { t: 'ping' }>).seq)
  assert.ok(pings.length > 3, 'it kept pinging after the last answer')
  assert.deepEqual(pings, pings.map((_, i) => i + 1), 'sequence numbers count up')
  h.link.close()
})

test('64 inputs: an inputs message of 32 then the run with 32, nothing between; a part that fails stops the rest; nothing leaks', () => {
  const h = harness()
  ready(h)
  const ids = Array.from({ length: 64 }, (_, i) => {
    const info = h.store.create({ size: 1 })
    h.store.write(info.id, 0, Buffer.from([i]))
    return h.store.seal(info.id).id
  })
  const big = (): JobRecord => table.create({ kind: 'k', inputs: ids, params: {}, maxAttempts: 1, timeoutMs: null }, ids.map((id) => h.store.acquire(id)))
  const baseline = countFds()

  const [before, whole, after] = [job(), big(), job()]
  assert.deepEqual(h.link.start([before, whole, after]), [])
  assert.deepEqual(h.sent.map((m) => m.t === 'inputs' || m.t === 'run' ? `${m.t} ${m.job === whole.info.id ? 'big' : 'small'} ${m.fdCount}` : m.t).slice(1),
    ['run small 0', 'inputs big 32', 'run big 32', 'run small 0'])
  const run = h.sent.find((m) => m.t === 'run' && m.job === whole.info.id) as Extract<ServerMessage, { t: 'run' }>
  assert.deepEqual(run.inputs.map((i) => i.id), ids, 'the run lists every input, in order')
  assert.equal(h.link.load, 3)
  assert.equal(countFds(), baseline, 'every dup closed after its send')

  // The run part refused (after its inputs part went): the job fails alone, the next one goes.
  const [broken, next] = [big(), job()]
  h.sent.length = 0
  h.failNextSend('EMFILE', 1)
  assert.deepEqual(h.link.start([broken, next]), [])
  assert.deepEqual(h.failed.map((f) => [f.record, f.code]), [[broken, 'RESOURCE_EXHAUSTED']])
  assert.deepEqual(h.sent.map((m) => m.t), ['inputs', 'run'], 'its inputs part, then the next job: the worker drops the part')
  assert.equal((h.sent[1] as { job: string }).job, next.info.id)
  assert.equal(countFds(), baseline)

  // The channel gone between the parts: this job and the rest come back, the link is lost.
  const [lostJob, rest] = [big(), job()]
  h.failNextSend('EPIPE', 1)
  assert.deepEqual(h.link.start([lostJob, rest]), [lostJob, rest])
  assert.deepEqual(h.events, ['started', 'lost'])
  assert.equal(countFds(), baseline)
  for (const record of [whole, broken, lostJob]) for (const lease of record.leases) lease.release()
})
