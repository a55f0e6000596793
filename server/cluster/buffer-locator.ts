// Finds which node holds a buffer. Ids are random 96-bit names (server/pool/ids.ts), unique
// across the cluster without coordination. The directory in Redis (buffer-directory.ts) names
// the owner in one read, and only the owner is asked; a buffer it has no entry for (or whose
// entry its owner denies: written while Redis was away, not yet repaired) is looked for by
// asking every node that is up, in parallel (a peer answers from its own store only, so no
// request bounces). An entry naming a lost node means the buffer died with that node: unless
// some node that is up holds a replica, it is lost (410 BUFFER_LOST), not merely absent.
import { ApiError } from '../errors'
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

/** Where a buffer is, or why it is nowhere. */
export type Whereabouts =
  | { state: 'found', at: LocatedBuffer }
  /** Its owner (per the directory) is lost and no node that is up has a replica. */
  | { state: 'lost', node: string, lastSeen: string }
  /** Its owner is up by the registry but did not answer, and no node that is up has a replica. */
  | { state: 'unreachable', node: string, url: string, reason: string }
  | { state: 'none' }

/** The sentence BUFFER_LOST and INPUT_LOST give: which node it was on and since when it is lost. */
export function lostMessage (id: string, where: { node: string, lastSeen: string }): string {
  // A node that left cleanly wrote lastSeen 0 (node-registry.ts): no time to name.
  const since = Date.parse(where.lastSeen) <= 0 ? 'which left the cluster' : `lost since ${where.lastSeen}`
  return `Buffer ${id} lived on node ${where.node}, ${since}`
}

export class BufferLocator {
  readonly #store: BufferStore
  readonly #peers: PeerClient
  readonly #self: () => { name: string, url: string }
  readonly #replicaHere: (id: string) => BufferInfo | null
  readonly #owner: (id: string) => Promise<string | null>

  constructor (store: BufferStore, peers: PeerClient, self: () => { name: string, url: string }, replicaHere: (id: string) => BufferInfo | null, owner: (id: string) => Promise<string | null>) {
    this.#replicaHere = replicaHere
    this.#store = store
    this.#peers = peers
    this.#self = self
    this.#owner = owner
  }

  /**
   * The owner and the owner's view of the buffer (or a replica when the owner is gone), or null
   * when no node has it. Throws BUFFER_LOST when it died with a lost node, NODE_UNREACHABLE when
   * its owner does not answer; for the routes, which answer exactly that.
   */
  async locate (id: string, nodes: NodeEntry[]): Promise<LocatedBuffer | null> {
    const where = await this.find(id, nodes)
    if (where.state === 'found') return where.at
    if (where.state === 'lost') throw new ApiError('BUFFER_LOST', lostMessage(id, where))
    if (where.state === 'unreachable') throw new ApiError('NODE_UNREACHABLE', `Buffer ${id} is on node ${where.node} (${where.url}), which did not answer: ${where.reason}`)
    return null
  }

  async find (id: string, nodes: NodeEntry[]): Promise<Whereabouts> {
    const self = this.#self()
    if (this.#store.has(id)) return { state: 'found', at: { node: self.name, url: self.url, info: this.#store.get(id), replica: false } }
    const ownerName = await this.#owner(id)
    const owner = ownerName === null || ownerName === self.name ? undefined : nodes.find((n) => n.name === ownerName)
    let asked: string | null = null
    let unreachable: { node: string, url: string, reason: string } | null = null
    if (owner?.state === 'up') {
      const answer = await this.#ask(owner, id)
      if (answer.kind === 'found' && !answer.at.replica) return { state: 'found', at: answer.at }
      if (answer.kind === 'failed') unreachable = { node: owner.name, url: owner.url, reason: answer.reason }
      asked = owner.name
    }
    const lost = owner?.state === 'lost' ? { node: owner.name, lastSeen: owner.lastSeen } : null
    // The owner is gone (or denies having it): a replica here saves asking anyone.
    const here = lost !== null || unreachable !== null ? this.#replicaHere(id) : null
    if (here !== null) return { state: 'found', at: { node: self.name, url: self.url, info: here, replica: true } }
    const others = nodes.filter((n) => n.state === 'up' && n.name !== self.name && n.name !== asked)
    const answers = await Promise.all(others.map(async (node) => await this.#ask(node, id)))
    const found = answers.flatMap((a) => a.kind === 'found' ? [a.at] : [])
    // The original first; a replica (here or on a peer) only when the owner is gone.
    const original = found.find((a) => !a.replica)
    if (original !== undefined) return { state: 'found', at: original }
    const replicaHere = this.#replicaHere(id)
    if (replicaHere !== null) return { state: 'found', at: { node: self.name, url: self.url, info: replicaHere, replica: true } }
    if (found.length > 0) return { state: 'found', at: found[0] }
    if (lost !== null) return { state: 'lost', ...lost }
    if (unreachable !== null) return { state: 'unreachable', ...unreachable }
    return { state: 'none' }
  }

  /** One node's answer from its own store: the buffer (or its replica), not there, or no answer. */
  async #ask (node: NodeEntry, id: string): Promise<{ kind: 'found', at: LocatedBuffer } | { kind: 'absent' } | { kind: 'failed', reason: string }> {
    try {
      const { status, body, headers } = await this.#peers.json<BufferInfo>(node.url, `/v1/buffers/${encodeURIComponent(id)}`)
      return status === 200 && body !== null ? { kind: 'found', at: { node: node.name, url: node.url, info: body, replica: headers.get(REPLICA_HEADER) !== null } } : { kind: 'absent' }
    } catch (err) {
      return { kind: 'failed', reason: (err as Error).message }
    }
  }
}
