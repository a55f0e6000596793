// What a node tells its own event stream about the cluster (docs/CLUSTER.md): `cluster.node`
// when its view of a node changes, `job.placed` for each placement it makes. The view is the
// registry's list as the last heartbeat read it: the event stream's snapshot starts from the
// same state the events then change, without a Redis read per subscriber, and a node is
// reported at most once per heartbeat (the list is read once per heartbeat).
import { EventEmitter } from 'node:events'
import type { JobInfo, PoolEvent, PoolEventType } from '../pool/types'
import type { NodeEntry } from './node-registry'
import type { PlacedInput } from './placement'

/** The data of a `job.placed` event. */
export interface JobPlaced {
  /** The cluster job's id. */
  id: string
  kind: string
  /** The node it was placed on. */
  node: string
  /** The node that placed it (the one it was submitted to, or the survivor that moved it). */
  from: string
  /** Its input bytes in total, and those already on the node it was placed on. */
  inputBytes: number
  localBytes: number
}

export interface ClusterView {
  self: string
  nodes: NodeEntry[]
}

/**
 * An entry's figures without its heartbeat's time, keys sorted: what a change is measured on.
 * lastSeen moves on every heartbeat; an event for it alone would be one per node per heartbeat
 * saying nothing.
 */
function figuresOf (entry: NodeEntry): string {
  const { lastSeen: _lastSeen, ...figures } = entry
  return JSON.stringify(figures, Object.keys(figures).sort())
}

export class ClusterEvents extends EventEmitter {
  #self = ''
  #view = new Map<string, { entry: NodeEntry, figures: string }>()

  /** Names this node once it knows its name (at start). */
  setSelf (name: string): void { this.#self = name }

  /** The nodes as the last heartbeat saw them, by name. */
  view (): ClusterView {
    return { self: this.#self, nodes: [...this.#view.values()].map((v) => v.entry) }
  }

  /**
   * Takes a heartbeat's reading of the registry and emits `cluster.node` for every node first
   * seen or whose figures (state included) changed. An entry gone from the registry (a Redis that
   * came back empty) leaves the view without an event: it was not lost, it is not known.
   */
  observe (nodes: NodeEntry[]): void {
    const next = new Map<string, { entry: NodeEntry, figures: string }>()
    const changed: NodeEntry[] = []
    for (const entry of nodes) {
      const figures = figuresOf(entry)
      next.set(entry.name, { entry, figures })
      if (this.#view.get(entry.name)?.figures !== figures) changed.push(entry)
    }
    this.#view = next
    for (const entry of changed) this.#emit('cluster.node', entry)
  }

  /** A job this node placed (submitted here, or moved here from a lost node's queue). */
  placed (job: JobInfo, inputs: PlacedInput[]): void {
    const node = job.node ?? this.#self
    let inputBytes = 0
    let localBytes = 0
    for (const input of inputs) {
      inputBytes += input.size
      if (input.node === node) localBytes += input.size
    }
    const data: JobPlaced = { id: job.id, kind: job.kind, node, from: this.#self, inputBytes, localBytes }
    this.#emit('job.placed', data)
  }

  #emit (type: PoolEventType, data: unknown): void {
    const event: PoolEvent = { type, ts: new Date().toISOString(), data }
    this.emit('event', event)
  }
}
