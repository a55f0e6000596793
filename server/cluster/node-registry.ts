// Which nodes make up the cluster: each writes its own entry into one Redis hash on every
// heartbeat; a reader calls an entry whose heartbeat is older than lostAfterMs `lost`. Entries
// are kept after a node is lost (the directory says it was there), and a node that stops cleanly
// writes lastSeen 0 so that it is lost at once and its queued jobs move without waiting.
import type { Redis } from 'ioredis'

/** What a node says about itself on each heartbeat. */
export interface NodeReport {
  name: string
  url: string
  workers: number
  kinds: string[]
  memoryInUse: number
  maxMemory: number
  /** Buffers it owns (replicas not counted), as in the buffer directory. */
  buffers?: number
  /** Jobs in its local pool's queue plus running, and its queue's bound: placement's load figures. */
  queued: number
  running: number
  maxQueue: number
  /** Input bytes it pulled from its peers, and buffer bytes it sent them, since it started. */
  pulledBytes: number
  servedBytes: number
}

export interface NodeEntry extends NodeReport {
  state: 'up' | 'lost'
  lastSeen: string
}

export class NodeRegistry {
  readonly #redis: Redis
  readonly #key: string
  readonly #lostAfterMs: number

  constructor (redis: Redis, prefix: string, lostAfterMs: number) {
    this.#redis = redis
    this.#key = `${prefix}:nodes`
    this.#lostAfterMs = lostAfterMs
  }

  async beat (report: NodeReport, at: number = Date.now()): Promise<void> {
    await this.#redis.hset(this.#key, report.name, JSON.stringify({ ...report, lastSeen: at }))
  }

  /** Says this node has left: lost from now on, so the others re-place its queued jobs. */
  async leave (report: NodeReport): Promise<void> {
    await this.beat(report, 0)
  }

  async list (now: number = Date.now()): Promise<NodeEntry[]> {
    const raw = await this.#redis.hgetall(this.#key)
    const nodes: NodeEntry[] = []
    for (const text of Object.values(raw)) {
      let parsed: NodeReport & { lastSeen: number }
      try { parsed = JSON.parse(text) } catch { continue }
      nodes.push({
        ...parsed,
        // A node of an older version reports no byte totals.
        pulledBytes: parsed.pulledBytes ?? 0,
        servedBytes: parsed.servedBytes ?? 0,
        state: now - parsed.lastSeen > this.#lostAfterMs ? 'lost' : 'up',
        lastSeen: new Date(parsed.lastSeen).toISOString()
      })
    }
    return nodes.sort((a, b) => a.name.localeCompare(b.name))
  }
}
