// Which node owns each buffer, in Redis: one hash `PREFIX:buffer-owner` (id → node name) that any
// node reads in one round trip, and per node a set `PREFIX:node-buffers:NAME` of the ids it owns
// (so that it can rewrite or drop its own entries without scanning the hash). A node writes only
// its own buffers, those its store creates (uploads, job outputs); replicas it pulled are not
// entries (their original's owner is). An entry whose node is lost says the buffer died with it
// (410 BUFFER_LOST); the registry says which nodes are lost, so nothing is rewritten when one is.
//
// Writes never hold up or fail the local operation: store events are queued and sent in one
// pipeline on the next turn of the event loop. While Redis is away nothing is sent and the
// directory is marked stale; once Redis is ready again the node rewrites its own set from its
// store (a resync), which also drops what an earlier process of the same name left: its memfds
// died with it.
import type { Redis } from 'ioredis'
import type { BufferStore } from '../pool/buffer-store'

type Change = { op: 'add' | 'remove', id: string }

/** Ids per command in a resync: a store may hold hundreds of thousands, too many for one call's arguments. */
const IDS_PER_COMMAND = 1000

function chunks (ids: string[]): string[][] {
  const out: string[][] = []
  for (let i = 0; i < ids.length; i += IDS_PER_COMMAND) out.push(ids.slice(i, i + IDS_PER_COMMAND))
  return out
}

export class BufferDirectory {
  readonly #redis: Redis
  readonly #store: BufferStore
  readonly #self: string
  readonly #ownerKey: string
  readonly #prefix: string
  /** True for local ids that are replicas (or being pulled as one): not this node's to list. */
  readonly #isReplica: (local: string) => boolean
  #queue: Change[] = []
  #flushing = false
  /** Some change was not written (Redis away, a failed pipeline): a resync is owed. */
  #stale = true
  #resyncing: Promise<void> | null = null
  readonly #onCreated = (info: { id: string }): void => { this.#change('add', info.id) }
  readonly #onDeleted = (event: { id: string }): void => { this.#change('remove', event.id) }

  constructor (redis: Redis, store: BufferStore, prefix: string, self: string, isReplica: (local: string) => boolean) {
    this.#redis = redis
    this.#store = store
    this.#prefix = prefix
    this.#self = self
    this.#ownerKey = `${prefix}:buffer-owner`
    this.#isReplica = isReplica
    store.on('buffer.created', this.#onCreated)
    store.on('buffer.deleted', this.#onDeleted)
  }

  #setKey (node: string): string { return `${this.#prefix}:node-buffers:${node}` }

  /** True while some local change may be missing from Redis (until the next resync). */
  get stale (): boolean { return this.#stale }

  /** The node the directory names as the buffer's owner; null when it has no entry (or Redis failed). */
  async owner (id: string): Promise<string | null> {
    try {
      return await this.#redis.hget(this.#ownerKey, id)
    } catch {
      return null
    }
  }

  #change (op: Change['op'], id: string): void {
    if (this.#redis.status !== 'ready') {
      this.#stale = true
      return
    }
    this.#queue.push({ op, id })
    if (this.#queue.length === 1 && !this.#flushing) setImmediate(() => { void this.#flush() })
  }

  /**
   * Sends the queued changes in one pipeline. Replicas are filtered here, not when the event
   * fires: the store announces a replica before the puller has had the chance to say it is one.
   */
  async #flush (): Promise<void> {
    if (this.#flushing) return
    this.#flushing = true
    try {
      while (this.#queue.length > 0) {
        const changes = this.#queue
        this.#queue = []
        const pipeline = this.#redis.pipeline()
        let commands = 0
        for (const { op, id } of changes) {
          if (this.#isReplica(id)) continue
          if (op === 'add') pipeline.hset(this.#ownerKey, id, this.#self).sadd(this.#setKey(this.#self), id)
          else pipeline.hdel(this.#ownerKey, id).srem(this.#setKey(this.#self), id)
          commands++
        }
        if (commands === 0) continue
        try {
          const answers = await pipeline.exec()
          if (answers === null || answers.some(([err]) => err !== null)) this.#stale = true
        } catch {
          this.#stale = true
        }
      }
    } finally {
      this.#flushing = false
    }
  }

  /**
   * Rewrites this node's entries from its store: its set becomes exactly its own live buffers,
   * and the ids that were in the set but are no longer here (deleted while Redis was away, or
   * left by an earlier process of this name) leave the hash. Called when Redis becomes ready
   * and by the heartbeat while the directory is stale; concurrent calls share one pass.
   */
  async resync (): Promise<void> {
    this.#resyncing ??= this.#resync().finally(() => { this.#resyncing = null })
    await this.#resyncing
  }

  async #resync (): Promise<void> {
    const key = this.#setKey(this.#self)
    this.#stale = false
    try {
      const listed = await this.#redis.smembers(key)
      // From here to the MULTI being sent nothing yields: the store read is the one written, and
      // changes after it are queued behind the MULTI on the same connection.
      const own = this.#store.list().map((b) => b.id).filter((id) => !this.#isReplica(id))
      this.#queue = []
      const keep = new Set(own)
      const gone = listed.filter((id) => !keep.has(id))
      const multi = this.#redis.multi().del(key)
      for (const part of chunks(gone)) multi.hdel(this.#ownerKey, ...part)
      for (const part of chunks(own)) {
        multi.sadd(key, ...part)
        multi.hset(this.#ownerKey, Object.fromEntries(part.map((id) => [id, this.#self])))
      }
      const answers = await multi.exec()
      if (answers === null || answers.some(([err]) => err !== null)) this.#stale = true
    } catch {
      this.#stale = true
    }
  }

  close (): void {
    this.#store.off('buffer.created', this.#onCreated)
    this.#store.off('buffer.deleted', this.#onDeleted)
    this.#queue = []
  }
}
