// Finds which node holds a buffer. Ids are random 96-bit names (server/pool/ids.ts), unique
// across the cluster without coordination; the owner is found by asking the nodes that are up
// (in parallel; a peer answers from its own store only). No directory to keep in step: a buffer
// is where its memfd is, and a lost node's buffers are simply not found (docs/CLUSTER.md says
// what this costs with many nodes).
import type { BufferInfo } from '../pool/types'
import type { BufferStore } from '../pool/buffer-store'
import type { NodeEntry } from './node-registry'
import { REPLICA_HEADER, type PeerClient } from './peer-client'

export interface LocatedBuffer {
  node: string
  url: string
  info: BufferInfo
  /** The node holds a copy pulled from the owner (which may be gone). */
  replica: boolean
}

export class BufferLocator {
  readonly #store: BufferStore
  readonly #peers: PeerClient
  readonly #self: () => { name: string, url: string }

  readonly #replicaHere: (id: string) => BufferInfo | null

  constructor (store: BufferStore, peers: PeerClient, self: () => { name: string, url: string }, replicaHere: (id: string) => BufferInfo | null) {
    this.#replicaHere = replicaHere
    this.#store = store
    this.#peers = peers
    this.#self = self
  }

  /** The owner and the owner's view of the buffer, or null when no node that is up has it. */
  async locate (id: string, nodes: NodeEntry[]): Promise<LocatedBuffer | null> {
    const self = this.#self()
    if (this.#store.has(id)) return { node: self.name, url: self.url, info: this.#store.get(id), replica: false }
    const others = nodes.filter((n) => n.state === 'up' && n.name !== self.name)
    const path = `/v1/buffers/${encodeURIComponent(id)}`
    const answers = await Promise.all(others.map(async (node) => {
      try {
        const { status, body, headers } = await this.#peers.json<BufferInfo>(node.url, path)
        return status === 200 && body !== null ? { node: node.name, url: node.url, info: body, replica: headers.get(REPLICA_HEADER) !== null } : null
      } catch {
        return null
      }
    }))
    // The original first; a replica (here or on a peer) only when the owner is gone.
    const original = answers.find((a) => a !== null && !a.replica)
    if (original !== undefined && original !== null) return original
    const here = this.#replicaHere(id)
    if (here !== null) return { node: self.name, url: self.url, info: here, replica: true }
    return answers.find((a) => a !== null) ?? null
  }
}
