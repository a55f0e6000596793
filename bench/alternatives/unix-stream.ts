/**
 * unix-stream: one child process listening on a Unix stream socket (a path in
 * os.tmpdir()); the buffer is written to the socket behind an 8-byte length,
 * the child assembles it into one contiguous buffer (copy through the kernel),
 * reads both ends and answers with those two bytes.
 */
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { fixtureChild } from '../procs'
import { dispatchPayload, type ByteProbe, type DispatchTarget } from '../targets'

export function createUnixStream (): DispatchTarget<Buffer> {
  const fixture = fixtureChild('unix-stream-child')
  let socket: net.Socket | undefined
  let socketPath = ''
  let replyBytes: number[] = []
  let waiting: { resolve: (p: ByteProbe) => void; reject: (e: Error) => void } | null = null

  const fail = (err: Error): void => {
    const w = waiting
    waiting = null
    if (w) w.reject(err)
  }

  return {
    name: 'unix-stream',
    description: 'child process, Unix stream socket in os.tmpdir(), length-prefixed write, child reassembles (copied)',
    async setup () {
      socketPath = path.join(os.tmpdir(), `memfd-pool-bench-${process.pid}-${Date.now()}.sock`)
      const { child } = await fixture.start([socketPath])
      child.once('exit', (code, signal) => fail(new Error(`unix-stream child exited (code ${code}, signal ${signal})`)))
      socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(socketPath)
        s.once('connect', () => {
          s.off('error', reject)
          resolve(s)
        })
        s.once('error', reject)
      })
      socket.on('data', (chunk: Buffer) => {
        for (const b of chunk) replyBytes.push(b)
        if (replyBytes.length >= 2 && waiting) {
          const w = waiting
          waiting = null
          const [first, last] = replyBytes
          replyBytes = replyBytes.slice(2)
          w.resolve({ first, last })
        }
      })
      socket.on('error', (err) => fail(err))
      socket.on('close', () => fail(new Error('unix-stream: socket closed')))
    },
    async prepare (size) {
      return dispatchPayload(size)
    },
    roundTrip (buf) {
      return new Promise<ByteProbe>((resolve, reject) => {
        const s = socket
        if (!s || s.destroyed) {
          reject(new Error('unix-stream: not connected'))
          return
        }
        if (waiting) {
          reject(new Error('unix-stream: one round trip at a time'))
          return
        }
        waiting = { resolve, reject }
        const header = Buffer.allocUnsafe(8)
        header.writeBigUInt64LE(BigInt(buf.length), 0)
        s.cork()
        s.write(header)
        s.write(buf)
        s.uncork()
      })
    },
    async teardown () {
      const s = socket
      socket = undefined
      if (s) {
        s.removeAllListeners('close')
        s.destroy()
      }
      await fixture.stop()
      fail(new Error('unix-stream: torn down'))
      if (socketPath) fs.rmSync(socketPath, { force: true })
    },
  }
}
