// The attach socket with its example clients as real processes: Python reads and registers, C reads,
// a Python rw attachment writes bytes REST then serves, and the buffer lists attached holders.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import type { FastifyInstance } from 'fastify'
import request from 'supertest'
import * as native from '../../native'
import { C_CLIENT_SOURCE, PYTHON_CLIENT, RawClient, run, attachAppPerFile, sha256, until } from '../helpers/attach'
import { binaryParser } from '../helpers/server-app'

let app: FastifyInstance
let socketPath: string
let dir: string

attachAppPerFile((started) => { ({ app, socketPath, dir } = started) })

async function upload (bytes: Buffer): Promise<{ id: string, attachToken: string, size: number }> {
  const res = await request(app.server).post('/v1/buffers').set('content-type', 'application/octet-stream').send(bytes).expect(201)
  return res.body
}

async function content (id: string): Promise<Buffer> {
  const res = await request(app.server).get(`/v1/buffers/${id}/content`).buffer(true).parse(binaryParser).expect(200)
  return res.body as Buffer
}

async function python (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await run('python3', [PYTHON_CLIENT, ...args, '--socket', socketPath])
}

/** The pattern `attach.py register --size N` fills: byte i is (i * 31 + 7) mod 256. */
function pattern (size: number): Buffer {
  const out = Buffer.alloc(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff
  return out
}

function fnv1a64 (bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n)
  return h.toString(16).padStart(16, '0')
}

test('GET /v1/pool reports the attach socket path', async () => {
  const res = await request(app.server).get('/v1/pool').expect(200)
  assert.equal(res.body.attachSocket, socketPath)
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600)
  assert.equal(fs.statSync(path.dirname(socketPath)).mode & 0o777, 0o700)
})

test('attach.py ping answers with the server pid', async () => {
  const { code, stdout, stderr } = await python(['ping'])
  assert.equal(code, 0, stderr)
  assert.deepEqual(JSON.parse(stdout), { ok: true, pid: process.pid })
})

test('attach.py read maps the same bytes that GET content streams', async () => {
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 123)
  const buffer = await upload(bytes)
  const { code, stdout, stderr } = await python(['read', '--buffer', buffer.id, '--token', buffer.attachToken])
  assert.equal(code, 0, stderr)
  const rest = await content(buffer.id)
  assert.equal(stdout.trim(), `sha256 ${sha256(rest)} size ${bytes.length}`)
  assert.equal(sha256(rest), sha256(bytes))
})

test('attach.py read of an empty buffer', async () => {
  const buffer = await upload(Buffer.alloc(0))
  const { code, stdout, stderr } = await python(['read', '--buffer', buffer.id, '--token', buffer.attachToken])
  assert.equal(code, 0, stderr)
  assert.equal(stdout.trim(), `sha256 ${sha256(Buffer.alloc(0))} size 0`)
})

test('attach.py register hands over a sealed memfd; a checksum job and GET content see its bytes', async () => {
  const size = 200_000
  const { code, stdout, stderr } = await python(['register', '--size', String(size), '--name', 'from-python'])
  assert.equal(code, 0, stderr)
  const reply = JSON.parse(stdout)
  assert.equal(reply.ok, true)
  const buffer = reply.buffer
  assert.equal(buffer.name, 'from-python')
  assert.equal(buffer.size, size)
  assert.equal(buffer.sealed, true)
  assert.deepEqual(buffer.descriptors.map((d: { role: string }) => d.role), ['server'])
  // The same Buffer object REST serves.
  const got = await request(app.server).get(`/v1/buffers/${buffer.id}`).expect(200)
  assert.deepEqual(got.body, buffer)

  const expected = sha256(pattern(size))
  const job = await request(app.server).post('/v1/jobs?wait=10000')
    .send({ kind: 'checksum', inputs: [buffer.id], params: { algorithm: 'sha256' } })
  assert.equal(job.body.state, 'succeeded', JSON.stringify(job.body))
  assert.equal(job.body.result.digest, expected)
  assert.equal(sha256(await content(buffer.id)), expected)

  // Registered buffers attach like any other.
  const again = await python(['read', '--buffer', buffer.id, '--token', buffer.attachToken])
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.trim(), `sha256 ${expected} size ${size}`)
})

test('attach.py register --file: the file\'s bytes become a buffer', async () => {
  const file = path.join(dir, 'input.bin')
  const bytes = crypto.randomBytes(70_001)
  fs.writeFileSync(file, bytes)
  const { code, stdout, stderr } = await python(['register', '--file', file])
  assert.equal(code, 0, stderr)
  const buffer = JSON.parse(stdout).buffer
  assert.equal(sha256(await content(buffer.id)), sha256(bytes))
})

test('the C client, compiled here, attaches and reads the bytes', async () => {
  const binary = path.join(dir, 'attach-c')
  const cc = await run('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, C_CLIENT_SOURCE])
  assert.equal(cc.code, 0, cc.stderr)

  const bytes = crypto.randomBytes(1024 * 1024 + 7)
  const buffer = await upload(bytes)
  const hashed = await run(binary, [socketPath, buffer.id, buffer.attachToken])
  assert.equal(hashed.code, 0, hashed.stderr)
  assert.equal(hashed.stdout.trim(), `fnv1a64 ${fnv1a64(bytes)} size ${bytes.length}`)

  const dumped = await run(binary, ['--dump', socketPath, buffer.id, buffer.attachToken])
  assert.equal(dumped.code, 0, dumped.stderr)
  assert.ok(dumped.stdoutBytes.equals(await content(buffer.id)))

  const refused = await run(binary, [socketPath, buffer.id, 'wrong-token'])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /FORBIDDEN/)

  // A buffer not sealed yet: refused unless asked for with --unsealed.
  const writable = (await request(app.server).post('/v1/buffers').send({ size: 100 }).expect(201)).body
  const notSealed = await run(binary, [socketPath, writable.id, writable.attachToken])
  assert.equal(notSealed.code, 1)
  assert.match(notSealed.stderr, /BUFFER_NOT_SEALED/)
  const asked = await run(binary, ['--unsealed', socketPath, writable.id, writable.attachToken])
  assert.equal(asked.code, 0, asked.stderr)
  assert.equal(asked.stdout.trim(), `fnv1a64 ${fnv1a64(Buffer.alloc(100))} size 100`)
})

test('attach.py read of an unsealed buffer needs --unsealed and prints the server\'s warning', async () => {
  const writable = (await request(app.server).post('/v1/buffers').send({ size: 50 }).expect(201)).body
  const refused = await python(['read', '--buffer', writable.id, '--token', writable.attachToken])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /BUFFER_NOT_SEALED/)
  const asked = await python(['read', '--unsealed', '--buffer', writable.id, '--token', writable.attachToken])
  assert.equal(asked.code, 0, asked.stderr)
  assert.equal(asked.stdout.trim(), `sha256 ${sha256(Buffer.alloc(50))} size 50`)
  assert.match(asked.stderr, /warning: The buffer is not sealed/)
})

test('rw on an unsealed buffer: bytes written through the mapping are what GET content returns', async () => {
  const created = await request(app.server).post('/v1/buffers').send({ size: 4096, name: 'rw' }).expect(201)
  const { id, attachToken } = created.body
  const script = `
import mmap, os, sys
sys.path.insert(0, ${JSON.stringify(path.dirname(PYTHON_CLIENT))})
from attach import AttachClient
with AttachClient.connect(${JSON.stringify(socketPath)}) as c:
    info, fd = c.attach(${JSON.stringify(id)}, ${JSON.stringify(attachToken)}, "rw")
try:
    m = mmap.mmap(fd, info["size"], flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    m[100:117] = b"hello from python"
    m.close()
    try:
        os.ftruncate(fd, 0)
        print("resized")
    except PermissionError:
        print("size is sealed")
finally:
    os.close(fd)
`
  const { code, stdout, stderr } = await run('python3', ['-c', script])
  assert.equal(code, 0, stderr)
  // A descriptor handed out can no longer resize the buffer under the server's mapping (SIGBUS).
  assert.equal(stdout.trim(), 'size is sealed')
  const bytes = await content(id)
  assert.equal(bytes.length, 4096)
  assert.equal(bytes.subarray(100, 117).toString(), 'hello from python')
  assert.ok(bytes.subarray(0, 100).every((b) => b === 0))

  await request(app.server).post(`/v1/buffers/${id}/seal`).expect(200)
  const sealed = await run('python3', ['-c', script])
  assert.equal(sealed.code, 1)
  assert.match(sealed.stderr, /BUFFER_SEALED/)
})

test('attach r gives a read-only descriptor for the same memory', async () => {
  const bytes = crypto.randomBytes(10_000)
  const buffer = await upload(bytes)
  const client = await RawClient.connect(socketPath)
  const { reply, fds } = await client.request({ op: 'attach', buffer: buffer.id, token: buffer.attachToken })
  assert.deepEqual(reply, { ok: true, buffer: { id: buffer.id, size: bytes.length, sealed: true } })
  assert.equal(fds.length, 1)
  assert.equal(native.accessMode(fds[0]), 'r')
  assert.equal(native.fileSize(fds[0]), bytes.length)
  const view = native.mapShared(fds[0], { length: bytes.length })
  assert.ok(view.equals(bytes))
  native.release(view)
  native.close(fds[0])
  await client.close()
})

test('descriptors lists an attached process while its connection is open', async () => {
  const buffer = await upload(crypto.randomBytes(4096))
  const script = `
import os, sys
sys.path.insert(0, ${JSON.stringify(path.dirname(PYTHON_CLIENT))})
from attach import AttachClient
c = AttachClient.connect(${JSON.stringify(socketPath)})
for _ in range(3):
    info, fd = c.attach(${JSON.stringify(buffer.id)}, ${JSON.stringify(buffer.attachToken)})
    os.close(fd)
print(os.getpid(), flush=True)
sys.stdin.readline()
c.close()
`
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] })
  const [line] = await once(readline.createInterface({ input: child.stdout }), 'line') as [string]
  const pythonPid = Number(line)

  const holders = async (): Promise<Array<{ pid: number, fd: number | null, role: string }>> =>
    (await request(app.server).get(`/v1/buffers/${buffer.id}`).expect(200)).body.descriptors
  // Three attachments on one connection are one holder entry; its number is the client's own secret.
  assert.deepEqual((await holders()).filter((d) => d.role === 'attached'), [{ pid: pythonPid, fd: null, role: 'attached' }])

  child.stdin.end('\n')
  await once(child, 'exit')
  // The server learns of the close on its next poll of the socket: wait for that, then look.
  await until(() => app.attachServer.connections === 0, 'the server to see the client leave')
  assert.deepEqual((await holders()).filter((d) => d.role === 'attached'), [], 'the holder entry goes with the connection')
})
