// Copies a buffer from the node that owns it into a new local memfd: ranged GETs of
// PULL_CHUNK_BYTES written straight into the shared memory, the sha256 of the bytes compared
// with the one the owner reports, then sealed and kept as a replica. Concurrent pulls of one id
// share one transfer; bytes in flight are bounded; a pull that finds the quota full frees
// replicas first and fails QUOTA_EXCEEDED only when none is left to free.
import crypto from 'node:crypto'
import { PoolError } from '../pool/pool-error'
import type { BufferStore } from '../pool/buffer-store'
import { ByteBudget } from './byte-budget'
import { PULL_BYTES_IN_FLIGHT, PULL_CHUNK_BYTES } from './cluster-options'
import type { PeerClient } from './peer-client'
import { ReplicaTable } from './replica-table'

/** A pull that failed for a reason the job reports (PULL_FAILED, INPUT_LOST). */
export class PullError extends Error {
  readonly code: 'PULL_FAILED' | 'INPUT_LOST'
  constructor (code: 'PULL_FAILED' | 'INPUT_LOST', message: string) {
    super(message)
    this.code = code
  }
}

export interface PullResult {
  local: string
  /** Bytes that crossed the network for this call (0 when a replica was already here). */
  pulled: number
}

export class InputPuller {
  readonly #store: BufferStore
  readonly #peers: PeerClient
  readonly replicas: ReplicaTable
  readonly #budget = new ByteBudget(PULL_BYTES_IN_FLIGHT)
  readonly #inFlight = new Map<string, Promise<string>>()
  /** Bytes this node pulled, by the peer they came from (for GET /v1/cluster and /metrics). */
  readonly pulledFrom = new Map<string, number>()

  constructor (store: BufferStore, peers: PeerClient) {
    this.#store = store
    this.#peers = peers
    this.replicas = new ReplicaTable(store)
  }

  async pull (owner: { name: string, url: string }, id: string): Promise<PullResult> {
    const have = this.replicas.lookup(id)
    if (have !== null) return { local: have, pulled: 0 }
    const running = this.#inFlight.get(id)
    if (running !== undefined) return { local: await running, pulled: 0 }
    const transfer = this.#transfer(owner, id)
    this.#inFlight.set(id, transfer)
    try {
      const local = await transfer
      return { local, pulled: this.#store.get(local).size }
    } finally {
      this.#inFlight.delete(id)
    }
  }

  #create (size: number, id: string): string {
    for (;;) {
      try {
        return this.#store.create({ size, name: `replica of ${id}` }).id
      } catch (err) {
        if (!(err instanceof PoolError) || err.code !== 'QUOTA_EXCEEDED' || !this.replicas.evictOne()) throw err
      }
    }
  }

  async #transfer (owner: { name: string, url: string }, id: string): Promise<string> {
    const path = `/v1/cluster/buffers/${encodeURIComponent(id)}/digest`
    let digest: { size: number, sha256: string }
    try {
      const { status, body } = await this.#peers.json<{ size: number, sha256: string }>(owner.url, path)
      if (status === 404) throw new PullError('INPUT_LOST', `Buffer ${id} is no longer on node ${owner.name}`)
      if (status !== 200 || body === null) throw new PullError('PULL_FAILED', `Node ${owner.name} answered ${status} for the digest of ${id}`)
      digest = body
    } catch (err) {
      if (err instanceof PullError) throw err
      throw new PullError('PULL_FAILED', `Node ${owner.name} (${owner.url}) did not answer for ${id}: ${(err as Error).message}`)
    }
    const local = this.#create(digest.size, id)
    this.replicas.pulling(local)
    try {
      const hash = crypto.createHash('sha256')
      for (let at = 0; at < digest.size; at += PULL_CHUNK_BYTES) {
        const end = Math.min(digest.size, at + PULL_CHUNK_BYTES)
        await this.#budget.take(end - at)
        try {
          const response = await this.#peers.get(owner.url, `/v1/buffers/${encodeURIComponent(id)}/content`, { range: `bytes=${at}-${end - 1}` })
          const bytes = new Uint8Array(await response.arrayBuffer())
          if (response.status !== 206 && !(response.status === 200 && at === 0 && bytes.length === digest.size)) {
            throw new PullError(response.status === 404 ? 'INPUT_LOST' : 'PULL_FAILED', `Node ${owner.name} answered ${response.status} for bytes ${at}-${end - 1} of ${id}`)
          }
          if (bytes.length !== end - at && response.status === 206) throw new PullError('PULL_FAILED', `Node ${owner.name} sent ${bytes.length} bytes for a ${end - at}-byte range of ${id}`)
          hash.update(bytes)
          this.#store.write(local, at, bytes)
          this.pulledFrom.set(owner.name, (this.pulledFrom.get(owner.name) ?? 0) + bytes.length)
          if (response.status === 200) break
        } finally {
          this.#budget.give(end - at)
        }
      }
      const sha256 = hash.digest('hex')
      if (sha256 !== digest.sha256) throw new PullError('PULL_FAILED', `The copy of ${id} from node ${owner.name} has sha256 ${sha256}, the owner reports ${digest.sha256}`)
      this.#store.seal(local)
    } catch (err) {
      this.#store.delete(local)
      this.replicas.pullFailed(local)
      if (err instanceof PullError || err instanceof PoolError) throw err
      throw new PullError('PULL_FAILED', `Pulling ${id} from node ${owner.name} failed: ${(err as Error).message}`)
    }
    this.replicas.add(id, local)
    return local
  }
}
