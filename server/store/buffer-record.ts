// What the store keeps per buffer. Private to server/store/: callers see BufferInfo and leases.
import type { BufferLineage, DescriptorHolder } from '../pool/types'

export interface BufferRecord {
  id: string
  name: string
  size: number
  /** The store's one descriptor: read-write while the buffer is writable, O_RDONLY once sealed. */
  fd: number
  /** Bumped whenever the bytes may have changed; (id, generation) keys any cache of contents. */
  generation: number
  sealed: boolean
  createdAt: string
  attachToken: string
  /** The server's own read-only mapping, made on first read (the store writes with pwrite). */
  map: Buffer | null
  leases: number
  deleted: boolean
  /** Other processes holding the buffer, keyed by an object per registration. */
  holders: Map<object, DescriptorHolder>
  /** The job (and pipeline step) that made it; null for uploads and registrations. */
  producedBy: BufferLineage | null
  /** When the ttl deletes it (ISO time); null: never. */
  expiresAt: string | null
  expiryTimer: NodeJS.Timeout | null
}
