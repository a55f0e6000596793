// The two kinds of Redis connection a node keeps. Commands of our own (heartbeats, the job
// directory, submissions) must fail fast while Redis is away, so that a request gets a clear 503
// instead of hanging: no offline queue, one retry. BullMQ's worker must instead wait out an
// outage (its blocking reads are retried forever, as BullMQ requires: maxRetriesPerRequest null).
import { Redis } from 'ioredis'

function reconnectDelay (attempt: number): number {
  return Math.min(attempt * 100, 1000)
}

export function commandConnection (url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: reconnectDelay, connectionName: 'memfd-pool' })
}

export function workerConnection (url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, retryStrategy: reconnectDelay, connectionName: 'memfd-pool-worker' })
}
