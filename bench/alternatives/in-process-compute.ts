/**
 * in-process: sha256 (node:crypto) and crc32 (zlib.crc32) over a Buffer on the
 * main thread — the reference a pool job should come close to.
 */
import * as crypto from 'node:crypto'
import * as zlib from 'node:zlib'
import { fillComputePayload, type ComputeTarget } from '../targets'

type Crc32 = (data: Uint8Array | string, value?: number) => number

/** zlib.crc32 exists from Node 20.15/22.2; @types/node 20 may not declare it. */
function getCrc32 (): Crc32 {
  const fn = (zlib as unknown as { crc32?: Crc32 }).crc32
  if (typeof fn !== 'function') throw new Error('zlib.crc32 is not available in this Node version')
  return fn
}

export function hexCrc32 (value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0')
}

export function createInProcessCompute (): ComputeTarget<Buffer> {
  return {
    name: 'in-process',
    description: 'main thread, node:crypto sha256 / zlib.crc32 over a Buffer',
    async setup () {
      getCrc32()
    },
    async prepare (size) {
      const buf = Buffer.allocUnsafeSlow(size)
      fillComputePayload(buf)
      return buf
    },
    async run (buf, algorithm) {
      if (algorithm === 'sha256') return crypto.createHash('sha256').update(buf).digest('hex')
      return hexCrc32(getCrc32()(buf))
    },
    async teardown () {},
  }
}
