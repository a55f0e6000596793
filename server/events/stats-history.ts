// The last few minutes of the pool's counters (queue depth, throughput), one sample per
// pool.stats event, so that a dashboard opened now draws its charts with the recent past instead
// of an empty window. 300 samples of three fields: ~20 KB of JSON in each snapshot.
import type { PoolStats } from '../pool/types'

export interface StatsSample {
  ts: string
  queueDepth: number
  throughput: number
}

/** As long as the dashboard's charts look back (5 minutes at one sample a second). */
export const HISTORY_SAMPLES = 300

export class StatsHistory {
  readonly #samples: StatsSample[] = []
  readonly #capacity: number

  constructor (capacity = HISTORY_SAMPLES) {
    this.#capacity = capacity
  }

  add (ts: string, stats: PoolStats): void {
    this.#samples.push({ ts, queueDepth: stats.queueDepth, throughput: stats.throughput })
    if (this.#samples.length > this.#capacity) this.#samples.splice(0, this.#samples.length - this.#capacity)
  }

  /** Oldest first. */
  samples (): StatsSample[] { return this.#samples.slice() }
}
