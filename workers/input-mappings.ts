// The input mappings a worker thread keeps between jobs. A job on a buffer this thread mapped
// before neither maps it again nor faults its pages in again (~21–28 ms per 256 MiB here, more
// than a crc32 over it takes), and V8 is not told of a new multi-GiB external allocation per
// job, which made it collect garbage for ~10 ms at every 256 MiB dispatch.
//
// Keyed by buffer id + generation, never by descriptor number: numbers are reused as soon as
// they are closed, and a cache keyed by them handed out the wrong memory in Ray (ray#16460). An
// (id, generation) pair names bytes that cannot change: inputs are sealed, and the store bumps
// the generation on every write. The job's own descriptor is still received and closed per job
// by the process's main thread; a cached mapping needs no descriptor (mmap(2) keeps the file),
// but a hit is used only when that descriptor names the very file mapped (same device and inode,
// one fstat): a confused or hostile sender can never make a job read another buffer's memory.
//
// Bounded by entries and bytes, least recently used first out. A mapping always leaves with
// native.release() (the file dropped at once, its pages swapped for zeros), never by waiting for the
// garbage collector:
//  - when evicted, once no running job uses it;
//  - when the server says the buffer was deleted ('forget'): a mapping keeps a memfd's memory
//    alive, and the server's quota counts a deleted buffer's bytes as free;
//  - when a job using it does not succeed (cancelled, timed out, failed): a stopped job leaves
//    nothing mapped behind.
import fs from 'node:fs'
import * as native from '../native'

export interface InputRef {
  id: string
  generation: number
  /** This process's descriptor for the job (mapped only on a miss). */
  fd: number
  size: number
}

export interface InputMapping {
  readonly view: Buffer
  /** @internal */ readonly key: string
  /** @internal */ readonly id: string
  /** @internal */ readonly size: number
  /** @internal */ readonly file: string
  /** @internal */ users: number
  /** @internal */ keep: boolean
}

/** Device and inode of the file behind `fd` ('' when fstat fails: then nothing is cached). */
function fileIdentity (fd: number): string {
  try {
    const st = fs.fstatSync(fd)
    return `${st.dev}:${st.ino}`
  } catch {
    return ''
  }
}

/** Ids of deleted buffers remembered, so a 'forget' that overtakes the job's task still counts. */
const FORGOTTEN_KEPT = 4096

export class InputMappings {
  readonly maxEntries: number
  readonly maxBytes: number
  /** Insertion order is recency: the first entry is the least recently used. */
  #entries = new Map<string, InputMapping>()
  #bytes = 0
  #forgotten = new Set<string>()

  constructor (limits: { entries: number, bytes: number }) {
    this.maxEntries = Math.max(0, limits.entries)
    this.maxBytes = Math.max(0, limits.bytes)
  }

  get size (): number { return this.#entries.size }

  /** A read-only view of the input for one job; hand it back with `done()` when the job ends. */
  acquire (input: InputRef): InputMapping {
    // Only a well-formed name may share a mapping; anything else is mapped for this job alone.
    const named = typeof input.id === 'string' && input.id !== '' && Number.isSafeInteger(input.generation)
    const key = named ? `${input.id}:${input.generation}` : ''
    const file = named && input.size > 0 ? fileIdentity(input.fd) : ''
    let entry = named ? this.#entries.get(key) : undefined
    // Not the same file under the same name, or memory detached under us (an ArrayBuffer
    // transferred away): map afresh. Kinds get views of their own, which release() refuses.
    if (entry !== undefined && (entry.file !== file || entry.view.length !== input.size)) {
      entry.keep = false
      if (entry.users === 0) this.#unmap(entry)
      else this.#forget(entry)
      entry = undefined
    }
    if (entry !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
      entry.users++
      return entry
    }
    // PROT_READ over a read-only descriptor: the kind cannot change its input (a write through
    // the view faults and kills this process, never the server).
    const view = input.size === 0 ? Buffer.alloc(0) : native.mapShared(input.fd, { length: input.size })
    const keep = file !== '' && this.maxEntries > 0 && input.size <= this.maxBytes && !this.#forgotten.has(input.id)
    entry = { view, key, id: input.id, size: input.size, file, users: 1, keep }
    if (keep) {
      this.#entries.set(key, entry)
      this.#bytes += entry.size
    }
    return entry
  }

  /** The job using `entry` ended; a job that did not succeed takes the mapping with it. */
  done (entry: InputMapping, succeeded: boolean): void {
    entry.users--
    if (!succeeded) entry.keep = false
    if (entry.users > 0) return
    if (!entry.keep) this.#unmap(entry)
    else this.#evict()
  }

  /** The server deleted these buffers: unmap them now, or as soon as the jobs using them end. */
  forget (ids: readonly string[]): void {
    for (const id of ids) {
      this.#forgotten.delete(id)
      this.#forgotten.add(id)
      if (this.#forgotten.size > FORGOTTEN_KEPT) this.#forgotten.delete(this.#forgotten.values().next().value as string)
    }
    const gone = new Set(ids)
    for (const entry of [...this.#entries.values()]) {
      if (!gone.has(entry.id)) continue
      entry.keep = false
      if (entry.users === 0) this.#unmap(entry)
    }
  }

  /** Unmaps every mapping no job uses (the rest go when their jobs end). */
  clear (): void {
    for (const entry of [...this.#entries.values()]) {
      entry.keep = false
      if (entry.users === 0) this.#unmap(entry)
    }
  }

  #forget (entry: InputMapping): void {
    if (this.#entries.get(entry.key) !== entry) return
    this.#entries.delete(entry.key)
    this.#bytes -= entry.size
  }

  #unmap (entry: InputMapping): void {
    this.#forget(entry)
    if (entry.view.length > 0) native.release(entry.view)
  }

  #evict (): void {
    if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) return
    for (const entry of [...this.#entries.values()]) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) return
      if (entry.users === 0) this.#unmap(entry)
    }
  }
}
