// What a node needs to join a cluster (docs/CLUSTER.md). main.ts fills it from --cluster,
// --node-name, --advertise, --cluster-token and --node-lost-after; the name and URL may be left
// for the plugin to derive from the listening address once it is known (port 0 picks one).
export interface ClusterOptions {
  /** redis://HOST:PORT[/DB] */
  redisUrl: string
  /** undefined: host name and port. */
  nodeName?: string
  /** The base URL other nodes reach this one at; undefined: from the listening address. */
  advertise?: string
  /** Sent as `Authorization: Bearer` on every request to another node. */
  token?: string
  /** A node whose heartbeat is this old is lost. */
  lostAfterMs?: number
  /** Key prefix for everything this cluster keeps in Redis (BullMQ's queues included). */
  prefix?: string
}

export const DEFAULT_LOST_AFTER_MS = 5000

/** Bytes of one ranged request while pulling an input from another node. */
export const PULL_CHUNK_BYTES = 4 * 1024 * 1024

/** Bytes of pulls in flight on one node at once (Ray's pull manager bounds the same thing). */
export const PULL_BYTES_IN_FLIGHT = 64 * 1024 * 1024

/** How long a request to another node may take before it counts as unanswered. */
export const PEER_TIMEOUT_MS = 5000
