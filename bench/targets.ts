/**
 * Plug-in slots for the benchmark harness.
 *
 * Each section of bench/run.ts measures every target registered in its list
 * (see bench/registry.ts). The alternatives (piscina, child_process IPC, a Unix
 * stream socket, in-process compute, bare HTTP servers) are registered today;
 * this project's pool is added later by implementing these interfaces and
 * appending entries to the lists — nothing else in the harness has to change.
 *
 * Conventions shared by all targets:
 *  - `setup()` is called once before the section and is not timed.
 *  - `teardown()` is always called (also after a failure) and must stop every
 *    thread, process, socket or server the target started. It must be safe to
 *    call after a failed or partial `setup()`.
 *  - Anything prepared per size/request (`prepare`) is outside the timed part.
 */

/** What the worker reports back after a dispatch: the first and last byte it read. */
export interface ByteProbe {
  first: number
  last: number
}

/**
 * Section 1, "dispatch": the round trip "hand a buffer of `size` bytes to a
 * worker, the worker reads its first and last byte, replies".
 *
 * `prepare(size)` runs outside the timing and returns an opaque handle that is
 * then passed to `roundTrip` once per repetition (the same handle every time):
 * a copying alternative allocates and fills a Buffer there; the pool creates,
 * fills and seals a memfd there. The contents must be produced with
 * `fillDispatchPayload` (or at least have the same first and last byte) so the
 * harness can check the probe against `expectedProbe(size)`.
 *
 * `release(handle)` (optional) frees what `prepare` allocated, once the size is
 * done, so large sizes do not pile up in memory.
 */
export interface DispatchTarget<H = unknown> {
  name: string
  /** One line: what is measured, shown in the report and saved in the results. */
  description: string
  setup(): Promise<void>
  prepare(size: number): Promise<H>
  roundTrip(handle: H): Promise<ByteProbe>
  release?(handle: H): Promise<void>
  teardown(): Promise<void>
}

/**
 * Section 2, "latency/throughput": one no-op task. `runOne` resolves when the
 * task has completed (the reply arrived). The harness calls it one at a time for
 * latency, and keeps 64 calls in flight for throughput.
 */
export interface TaskTarget {
  name: string
  description: string
  /** Worker threads/processes used, reported next to the numbers. */
  workers: number
  setup(): Promise<void>
  runOne(): Promise<void>
  teardown(): Promise<void>
}

export type ComputeAlgorithm = 'sha256' | 'crc32'

/**
 * Section 3, "compute": hash a buffer of `size` bytes. `prepare` (untimed)
 * creates the data with `fillComputePayload`, so all targets hash the same
 * bytes; `run` returns the digest as lowercase hex (crc32 as 8 hex digits) and
 * the harness checks that every target agrees.
 */
export interface ComputeTarget<H = unknown> {
  name: string
  description: string
  setup(): Promise<void>
  prepare(size: number): Promise<H>
  run(handle: H, algorithm: ComputeAlgorithm): Promise<string>
  release?(handle: H): Promise<void>
  teardown(): Promise<void>
}

/** A request autocannon will repeat against an HTTP target. */
export interface HttpRequestSpec {
  url: string
  method?: 'GET' | 'POST' | 'PUT'
  headers?: Record<string, string>
  body?: string
  /** The server's process id: the harness reads its CPU time (and its children's) around each round. */
  serverPid?: number
}

/**
 * Section 4a, "http": request rate under autocannon (programmatic). `setup`
 * starts the server (preferably in its own process) and returns the request to
 * repeat; the harness treats any non-2xx answer as an error.
 */
export interface HttpTarget {
  name: string
  description: string
  setup(): Promise<HttpRequestSpec>
  teardown(): Promise<void>
}

/** Where and how to send one upload body. */
export interface UploadRequestSpec {
  url: string
  method: 'POST' | 'PUT'
  headers?: Record<string, string>
}

/**
 * Section 4b, "upload": stream `size` bytes to the target in one request and
 * wait for its answer. `prepare(size)` runs before each upload, untimed (the
 * pool creates its buffer there and returns its `PUT content` URL); `verify`
 * (optional) checks the 2xx response body and throws if the server did not
 * receive every byte; `finish` (optional, untimed) frees what `prepare` made.
 */
export interface UploadTarget {
  name: string
  description: string
  setup(): Promise<void>
  prepare(size: number): Promise<UploadRequestSpec>
  verify?(responseBody: string, size: number): void
  finish?(req: UploadRequestSpec): Promise<void>
  teardown(): Promise<void>
}

// ---------------------------------------------------------------------------
// Payload helpers shared by the harness and every target.

/** Byte every dispatch payload starts with. */
export const DISPATCH_FIRST_BYTE = 0xa5
/** Filler between the first and the last byte. */
export const DISPATCH_FILL_BYTE = 0x5a

/** Last byte of a dispatch payload of `size` bytes (depends on the size, so a stale buffer is caught). */
export function dispatchLastByte (size: number): number {
  return (size % 251) + 1
}

export function expectedProbe (size: number): ByteProbe {
  return { first: DISPATCH_FIRST_BYTE, last: dispatchLastByte(size) }
}

/** Fills a dispatch payload in place: every byte touched, first/last marked. */
export function fillDispatchPayload (buf: Uint8Array): void {
  buf.fill(DISPATCH_FILL_BYTE)
  buf[0] = DISPATCH_FIRST_BYTE
  buf[buf.length - 1] = dispatchLastByte(buf.length)
}

/** A new Buffer of `size` bytes holding the dispatch payload: `prepare` of the copying targets. */
export function dispatchPayload (size: number): Buffer {
  const buf = Buffer.alloc(size)
  fillDispatchPayload(buf)
  return buf
}

/**
 * Fills a compute payload in place with a deterministic, non-repeating-looking
 * pattern (a 64 KiB block from a fixed xorshift generator, repeated). Every
 * target must use this so their digests can be compared.
 */
export function fillComputePayload (buf: Uint8Array): void {
  const block = new Uint8Array(Math.min(buf.length, 64 * 1024))
  let x = 0x9e3779b9
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    block[i] = x & 0xff
  }
  for (let off = 0; off < buf.length; off += block.length) {
    buf.set(block.subarray(0, Math.min(block.length, buf.length - off)), off)
  }
}
