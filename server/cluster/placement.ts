// Where work runs: on the node holding the largest share of its input bytes, among the nodes up,
// serving every kind it needs (one for a job, each step's for a pipeline) and not full; with no
// inputs (or none of their bytes on a candidate), on the least loaded. A pure function of what
// the registry and the buffer lookups say, so it is tested without Redis.
import type { NodeEntry } from './node-registry'

export interface PlacedInput {
  id: string
  node: string
  size: number
}

export function isFull (node: NodeEntry): boolean {
  return node.queued >= node.maxQueue
}

function load (node: NodeEntry): number {
  return (node.queued + node.running) / Math.max(1, node.workers)
}

/** The chosen node for work needing all of `kinds`, or null when every node serving them is full. */
export function placeByBytes (nodes: NodeEntry[], kinds: readonly string[], inputs: PlacedInput[]): NodeEntry | null {
  const candidates = nodes.filter((n) => n.state === 'up' && kinds.every((k) => n.kinds.includes(k)) && !isFull(n))
  if (candidates.length === 0) return null
  const bytes = new Map<string, number>()
  for (const input of inputs) bytes.set(input.node, (bytes.get(input.node) ?? 0) + input.size)
  return candidates.reduce((best, n) => {
    const nb = bytes.get(n.name) ?? 0
    const bb = bytes.get(best.name) ?? 0
    if (nb !== bb) return nb > bb ? n : best
    if (load(n) !== load(best)) return load(n) < load(best) ? n : best
    return n.name < best.name ? n : best
  })
}

/** A job's node: the one kind it runs. */
export function placeJob (nodes: NodeEntry[], kind: string, inputs: PlacedInput[]): NodeEntry | null {
  return placeByBytes(nodes, [kind], inputs)
}
