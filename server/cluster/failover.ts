// What the surviving nodes do about a lost one. One of them (whoever takes the lost node's lock
// in Redis first) empties its queue: each waiting job is placed again when every input is still
// on a node that is up, otherwise it fails INPUT_LOST. Its running jobs fail NODE_LOST, or run
// again elsewhere while they have attempts left (maxAttempts). The lock expires on its own, so a
// node that dies mid-way leaves the rest to the next one.
import type { Redis } from 'ioredis'
import type { ClusterJobs } from './cluster-jobs'
import type { NodeEntry } from './node-registry'

export class Failover {
  readonly #redis: Redis
  readonly #jobs: ClusterJobs
  readonly #prefix: string
  readonly #self: string
  readonly #lockMs: number
  /** Active jobs already dealt with, so a node lost for a while is not handled twice. */
  readonly #handled = new Set<string>()

  constructor (redis: Redis, jobs: ClusterJobs, prefix: string, self: string, lockMs: number) {
    this.#redis = redis
    this.#jobs = jobs
    this.#prefix = prefix
    this.#self = self
    this.#lockMs = lockMs
  }

  /** One pass over the lost nodes; returns how many jobs it moved or ended. */
  async sweep (nodes: NodeEntry[]): Promise<number> {
    let count = 0
    for (const lost of nodes.filter((n) => n.state === 'lost' && n.name !== this.#self)) {
      const lock = await this.#redis.set(`${this.#prefix}:failover:${lost.name}`, this.#self, 'PX', this.#lockMs, 'NX')
      if (lock !== 'OK') continue
      count += await this.#jobs.moveWaiting(lost.name, async (data) => { await this.#jobs.replace(data, lost.name, nodes) })
      for (const data of await this.#jobs.activeOn(lost.name)) {
        const key = `${lost.name}/${data.id}/${data.attempt}`
        if (this.#handled.has(key)) continue
        const marked = await this.#redis.set(`${this.#prefix}:failover-job:${key}`, this.#self, 'EX', 24 * 3600, 'NX')
        this.#handled.add(key)
        if (marked !== 'OK') continue
        if (data.attempt < (data.spec.maxAttempts ?? 1)) {
          await this.#jobs.replace({ ...data, attempt: data.attempt + 1 }, lost.name, nodes)
        } else {
          await this.#jobs.finish(data, lost.name, 'NODE_LOST', `Node ${lost.name} was lost while running the job (attempt ${data.attempt} of ${data.spec.maxAttempts ?? 1})`)
        }
        count++
      }
    }
    return count
  }
}
