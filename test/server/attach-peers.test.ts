// Who may use the attach socket and what it does to the file system: SO_PEERCRED against another
// uid (a real process run with setpriv), connection and queue limits, the socket's folder, stale
// and live socket files, and removal on close.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as native from '../../native'
import { buildApp } from '../../server/app'
import { AttachServer } from '../../server/attach/attach-server'
import type { AttachLogger } from '../../server/attach/attach-connection'
import { BufferStore } from '../../server/store/buffer-store'
import { copyPythonClient, PYTHON_CLIENT, RawClient, run, startAttachApp, tempSocket, until } from '../helpers/attach'

const NOBODY = 65534
const AS_NOBODY = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups']

/** A Python 3 that uid 65534 can run (pyenv shims under /root are out of its reach), or null. */
async function pythonForNobody (): Promise<string | null> {
  if (process.getuid?.() !== 0) return null
  const candidates = ['/usr/bin/python3', '/usr/local/bin/python3']
  const own = await run('python3', ['-c', 'import sys; print(sys.executable)']).catch(() => null)
  if (own !== null && own.code === 0) candidates.push(own.stdout.trim())
  for (const candidate of candidates) {
    const probe = await run('setpriv', [...AS_NOBODY, candidate, '-c', 'import os; print(os.getuid())']).catch(() => null)
    if (probe !== null && probe.code === 0 && probe.stdout.trim() === String(NOBODY)) return candidate
  }
  return null
}

interface LogLine { level: string, obj: object, msg?: string }

function capturingLogger (): AttachLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  return {
    lines,
    info: (obj, msg) => { lines.push({ level: 'info', obj, msg }) },
    warn: (obj, msg) => { lines.push({ level: 'warn', obj, msg }) },
    error: (obj, msg) => { lines.push({ level: 'error', obj, msg }) }
  }
}

function smallStore (): BufferStore {
  return new BufferStore({ maxMemoryBytes: 16 * 1024 * 1024, maxBufferBytes: 16 * 1024 * 1024 })
}

test('a peer of another uid is refused by SO_PEERCRED even where the file modes let it connect', async (t) => {
  const python = await pythonForNobody()
  if (python === null) {
    t.skip('needs root, setpriv and a python3 outside /root to run a peer as uid 65534')
    return
  }
  // Modes wide open on purpose, so that only the server's uid check stands in the way.
  const { app, socketPath, dir } = await startAttachApp({ socketMode: 0o666, folderMode: 0o711 })
  t.after(async () => { await app.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  fs.chmodSync(dir, 0o711)
  const client = copyPythonClient(dir)

  const refused = await run('setpriv', [...AS_NOBODY, python, client, 'ping', '--socket', socketPath])
  assert.equal(refused.code, 1, refused.stderr)
  assert.match(refused.stderr, /^PEER_NOT_ALLOWED: uid 65534 may not use this attach socket/)

  // The same peer with a token and id in hand gets no further.
  const buffer = app.pool.store.create({ size: 16 })
  const attach = await run('setpriv', [...AS_NOBODY, python, client, 'read', '--buffer', buffer.id, '--token', buffer.attachToken, '--socket', socketPath])
  assert.equal(attach.code, 1)
  assert.match(attach.stderr, /^PEER_NOT_ALLOWED/)
  assert.deepEqual(app.pool.store.get(buffer.id).descriptors.map((d) => d.role), ['server'])

  // Our own uid still works on the same socket.
  assert.equal((await run('python3', [PYTHON_CLIENT, 'ping', '--socket', socketPath])).code, 0)
})

test('allowedUids admits another uid; the default modes keep it from even reaching the socket', async (t) => {
  const python = await pythonForNobody()
  if (python === null) {
    t.skip('needs root, setpriv and a python3 outside /root to run a peer as uid 65534')
    return
  }
  const { dir, socketPath } = tempSocket()
  fs.chmodSync(dir, 0o711)
  const client = copyPythonClient(dir)
  const logger = capturingLogger()
  const open = new AttachServer({ store: smallStore(), path: socketPath, allowedUids: [process.getuid?.() ?? 0, NOBODY], socketMode: 0o666, folderMode: 0o711, logger })
  open.start()
  t.after(() => { open.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const allowed = await run('setpriv', [...AS_NOBODY, python, client, 'ping', '--socket', socketPath])
  assert.equal(allowed.code, 0, allowed.stderr)
  assert.equal(JSON.parse(allowed.stdout).pid, process.pid)
  open.close()

  // Default modes: 0600 socket in a 0700 folder. The kernel refuses the connect itself.
  const closed = new AttachServer({ store: smallStore(), path: socketPath, allowedUids: [process.getuid?.() ?? 0, NOBODY], logger })
  closed.start()
  t.after(() => { closed.close() })
  const denied = await run('setpriv', [...AS_NOBODY, python, client, 'ping', '--socket', socketPath])
  assert.equal(denied.code, 3)
  assert.match(denied.stderr, /Permission denied/)
})

test('the refusal is logged; the refused connection is closed after the client\'s first request', async (t) => {
  const { dir, socketPath } = tempSocket()
  const logger = capturingLogger()
  // Nobody is allowed: this very process is refused.
  const server = new AttachServer({ store: smallStore(), path: socketPath, allowedUids: [], logger })
  server.start()
  t.after(() => { server.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const client = await RawClient.connect(socketPath)
  const fdsSent = [fs.openSync('/dev/null', 'r')]
  const { reply, fds } = await client.request({ op: 'ping' }, fdsSent)
  native.close(fdsSent[0])
  assert.equal(fds.length, 0)
  assert.equal(reply.error.code, 'PEER_NOT_ALLOWED')
  assert.equal(await client.next(), null, 'then the server closes the connection')
  assert.ok(logger.lines.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'PEER_NOT_ALLOWED'))
})

test('past maxConnections a client gets SERVER_BUSY; a slot frees when a client leaves', async (t) => {
  const { dir, socketPath } = tempSocket()
  const server = new AttachServer({ store: smallStore(), path: socketPath, limits: { maxConnections: 2 } })
  server.start()
  t.after(() => { server.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const a = await RawClient.connect(socketPath)
  const b = await RawClient.connect(socketPath)
  assert.equal(await a.code({ op: 'ping' }), 'OK')
  assert.equal(await b.code({ op: 'ping' }), 'OK')
  const c = await RawClient.connect(socketPath)
  assert.equal(await c.code({ op: 'ping' }), 'SERVER_BUSY')
  assert.equal(await c.next(), null)
  await a.close()
  await until(() => server.connections === 1, 'the server to see a client leave')
  const d = await RawClient.connect(socketPath)
  assert.equal(await d.code({ op: 'ping' }), 'OK')
  await b.close()
  await d.close()
})

test('64 idle connections of one process do not lock others out: past its share a peer is refused, another process still gets in', async (t) => {
  const { dir, socketPath } = tempSocket()
  const server = new AttachServer({ store: smallStore(), path: socketPath })
  server.start()
  t.after(() => { server.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const mine: RawClient[] = []
  const codes: string[] = []
  for (let i = 0; i < server.limits.maxConnections; i++) {
    const client = await RawClient.connect(socketPath)
    mine.push(client)
    codes.push(await client.code({ op: 'ping' }))
  }
  const share = server.limits.maxConnectionsPerPeer
  assert.deepEqual(codes.slice(0, share), Array(share).fill('OK'))
  assert.deepEqual(new Set(codes.slice(share)), new Set(['SERVER_BUSY']), 'one process gets its share, not every slot')
  assert.equal(server.connections, share)
  // Another process is served while those sit idle.
  const other = await run('python3', [PYTHON_CLIENT, 'ping', '--socket', socketPath])
  assert.equal(other.code, 0, other.stderr)
  assert.equal(JSON.parse(other.stdout).ok, true)
  // A slot of this process's share frees when one of its connections goes.
  await mine[0].close()
  await until(() => server.connections === share - 1, 'the server to see the client leave')
  const again = await RawClient.connect(socketPath)
  assert.equal(await again.code({ op: 'ping' }), 'OK')
  for (const client of [...mine, again]) await client.close()
})

test('an idle connection is closed after idleTimeoutMs, its holder entries with it; one that keeps asking stays', async (t) => {
  const { dir, socketPath } = tempSocket()
  const store = smallStore()
  const info = store.create({ size: 16 })
  store.seal(info.id)
  const server = new AttachServer({ store, path: socketPath, limits: { maxConnections: 2, idleTimeoutMs: 300 } })
  server.start()
  t.after(() => { server.close(); store.closeAll(); fs.rmSync(dir, { recursive: true, force: true }) })
  const idle = await RawClient.connect(socketPath)
  const { reply, fds } = await idle.request({ op: 'attach', buffer: info.id, token: info.attachToken })
  assert.equal(reply.ok, true)
  fds.forEach(native.close)
  assert.equal(store.get(info.id).descriptors.filter((d) => d.role === 'attached').length, 1)
  const busy = await RawClient.connect(socketPath)
  assert.equal(await busy.code({ op: 'ping' }), 'OK')
  const third = await RawClient.connect(socketPath)
  assert.equal(await third.code({ op: 'ping' }), 'SERVER_BUSY', 'both slots taken')
  await third.close()
  // `busy` asks every 50 ms, well inside the timeout; `idle` says nothing and is closed.
  const pacing = { stop: false }
  const asking = (async () => {
    while (!pacing.stop) {
      assert.equal(await busy.code({ op: 'ping' }), 'OK')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  assert.equal(await idle.next(), null, 'the server closed the idle connection')
  assert.deepEqual(store.get(info.id).descriptors.map((d) => d.role), ['server'], 'its holder entry went with it')
  const fresh = await RawClient.connect(socketPath)
  assert.equal(await fresh.code({ op: 'ping' }), 'OK', 'its slot is free again')
  pacing.stop = true
  await asking
  assert.equal(busy.closed, false, 'the connection that kept asking is still open')
  await busy.close()
  await fresh.close()
})

test('a client that never reads its replies is dropped; others are served meanwhile', async (t) => {
  const { app, socketPath, dir } = await startAttachApp()
  t.after(async () => { await app.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const flood = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(${JSON.stringify(socketPath)})
s.settimeout(20)
for n in range(1000000):
    try:
        s.send(b'{"op":"ping"}')
    except (BrokenPipeError, ConnectionResetError):
        print("dropped", n)
        sys.exit(0)
sys.exit(1)
`
  const polite = await RawClient.connect(socketPath)
  const flooding = run('python3', ['-c', flood])
  // Served while the flood goes on.
  for (let i = 0; i < 20; i++) assert.equal(await polite.code({ op: 'ping' }), 'OK')
  const result = await flooding
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /^dropped \d+/)
  assert.equal(await polite.code({ op: 'ping' }), 'OK')
  await polite.close()
})

test('the folder: created 0700 when new, an existing one left as it is, refused when it is a symlink, not ours, or open to swaps', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'memfd-pool-folder-'))
  t.after(() => { fs.rmSync(base, { recursive: true, force: true }) })
  const start = (socketPath: string): AttachServer => {
    const server = new AttachServer({ store: smallStore(), path: socketPath })
    server.start()
    return server
  }

  const nested = path.join(base, 'a', 'b', 'attach.sock')
  const first = start(nested)
  assert.equal(fs.statSync(path.dirname(nested)).mode & 0o777, 0o700)
  assert.equal(fs.statSync(nested).mode & 0o777, 0o600)
  assert.ok(fs.statSync(nested).isSocket())
  first.close()
  assert.equal(fs.existsSync(nested), false, 'close removes the socket file')

  // A folder that exists is the user's, not ours: never chmod'ed (issue 15, item 14).
  const loose = path.join(base, 'loose')
  fs.mkdirSync(loose, { mode: 0o755 })
  fs.chmodSync(loose, 0o755)
  start(path.join(loose, 'attach.sock')).close()
  assert.equal(fs.statSync(loose).mode & 0o7777, 0o755, 'left as it was')

  // A shared temp folder (1777, like /tmp): usable, and still 1777 while serving and after.
  const shared = path.join(base, 'shared')
  fs.mkdirSync(shared)
  fs.chmodSync(shared, 0o1777)
  const logger = capturingLogger()
  const inShared = new AttachServer({ store: smallStore(), path: path.join(shared, 'x.sock'), logger })
  inShared.start()
  assert.equal(fs.statSync(shared).mode & 0o7777, 0o1777, 'a 1777 folder is not made 0700')
  assert.equal(fs.statSync(path.join(shared, 'x.sock')).mode & 0o777, 0o600)
  assert.ok(logger.lines.some((l) => l.level === 'warn' && /open to other users/.test(l.msg ?? '')), 'the open folder is warned about')
  const sharedClient = await RawClient.connect(path.join(shared, 'x.sock'))
  assert.equal(await sharedClient.code({ op: 'ping' }), 'OK')
  await sharedClient.close()
  inShared.close()
  assert.equal(fs.statSync(shared).mode & 0o7777, 0o1777, 'nor after')

  // Writable by others without the sticky bit: anyone could swap the socket file. Refused, unchanged.
  const open = path.join(base, 'open')
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o777)
  assert.throws(() => start(path.join(open, 'attach.sock')), /writable by other users/)
  assert.equal(fs.statSync(open).mode & 0o7777, 0o777)

  const link = path.join(base, 'link')
  fs.symlinkSync(loose, link)
  assert.throws(() => start(path.join(link, 'attach.sock')), /symlink/)

  const file = path.join(base, 'file')
  fs.writeFileSync(file, '')
  assert.throws(() => start(path.join(file, 'attach.sock')), /not a directory/)

  if (process.getuid?.() === 0) {
    const theirs = path.join(base, 'theirs')
    fs.mkdirSync(theirs)
    fs.chownSync(theirs, NOBODY, NOBODY)
    assert.throws(() => start(path.join(theirs, 'attach.sock')), /belongs to uid 65534/)
    assert.equal(fs.statSync(theirs).mode & 0o777, 0o755 & ~process.umask(), 'left as it was')
  }
})

test('the socket file: a stale one is replaced, a live one or a regular file is not', async (t) => {
  const { dir, socketPath } = tempSocket()
  t.after(() => { fs.rmSync(dir, { recursive: true, force: true }) })
  fs.mkdirSync(path.dirname(socketPath), { mode: 0o700 })
  // A socket file nobody listens on: what a crashed server leaves behind.
  const stale = await run('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(${JSON.stringify(socketPath)})`])
  assert.equal(stale.code, 0, stale.stderr)
  assert.ok(fs.statSync(socketPath).isSocket())

  const server = new AttachServer({ store: smallStore(), path: socketPath })
  server.start()
  const client = await RawClient.connect(socketPath)
  assert.equal(await client.code({ op: 'ping' }), 'OK')

  // Said as what it is: which path is taken, and the flag that picks another (issue 15, item 20).
  const rival = new AttachServer({ store: smallStore(), path: socketPath })
  assert.throws(() => { rival.start() }, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EADDRINUSE')
    assert.ok(err.message.includes(`attach socket ${socketPath} is in use`), err.message)
    assert.match(err.message, /--attach-socket/)
    return true
  })
  assert.equal(await client.code({ op: 'ping' }), 'OK', 'the live server is untouched')

  // close() ends every connection and removes the file.
  server.close()
  assert.equal(await client.next(), null)
  assert.equal(fs.existsSync(socketPath), false)

  fs.writeFileSync(socketPath, 'not a socket')
  assert.throws(() => { rival.start() }, { code: 'EADDRINUSE' })
  assert.equal(fs.readFileSync(socketPath, 'utf8'), 'not a socket')
})

test('closing drops the attached holders of open connections', async (t) => {
  const { dir, socketPath } = tempSocket()
  t.after(() => { fs.rmSync(dir, { recursive: true, force: true }) })
  const store = smallStore()
  const info = store.create({ size: 32 })
  const server = new AttachServer({ store, path: socketPath })
  server.start()
  const client = await RawClient.connect(socketPath)
  const { reply, fds } = await client.request({ op: 'attach', buffer: info.id, token: info.attachToken, unsealed: true })
  assert.equal(reply.ok, true)
  fds.forEach(native.close)
  assert.deepEqual(store.get(info.id).descriptors.filter((d) => d.role === 'attached'), [{ pid: process.pid, fd: null, role: 'attached' }])
  server.close()
  assert.deepEqual(store.get(info.id).descriptors.map((d) => d.role), ['server'])
  await client.close()
  store.closeAll()
})

test('an app built without attach serves no socket', async (t) => {
  const app = await buildApp({ pool: { workers: 1, maxMemoryBytes: 1024 * 1024 } })
  t.after(async () => { await app.close() })
  await app.ready()
  await app.pool.whenReady()
  assert.equal(app.pool.stats().attachSocket, null)
  assert.equal(app.hasDecorator('attachServer'), false)
})

test('a second server on the same attach socket says which path is in use and how to pick another', async (t) => {
  const { dir, socketPath } = tempSocket()
  const first = new AttachServer({ store: smallStore(), path: socketPath })
  first.start()
  t.after(() => { first.close(); fs.rmSync(dir, { recursive: true, force: true }) })
  const main = path.join(__dirname, '..', '..', 'server', 'main.js')
  const second = await run(process.execPath, [main, '--port', '0', '--workers', '1', '--max-memory', '16MiB', '--log-level', 'warn', '--attach-socket', socketPath])
  assert.equal(second.code, 1)
  assert.ok(second.stderr.includes(`The attach socket ${socketPath} is in use`), second.stderr)
  assert.match(second.stderr, /--attach-socket PATH/)
  assert.doesNotMatch(second.stderr, /^\s+at /m, 'a sentence, not a stack trace')
  const client = await RawClient.connect(socketPath)
  assert.equal(await client.code({ op: 'ping' }), 'OK', 'the first server is untouched')
  await client.close()
})
