// Which events a subscriber of /v1/events receives: the topics it asked for and, optionally, one
// job. Topics group event types by their prefix, so a new `job.*` event is filtered with the
// rest without touching this file.
import type { PoolEvent } from '../pool/types'

export const TOPICS = ['jobs', 'buffers', 'workers', 'pool', 'pipelines', 'cluster'] as const
export type Topic = typeof TOPICS[number]

const TOPIC_BY_PREFIX: Record<string, Topic> = { job: 'jobs', buffer: 'buffers', worker: 'workers', pool: 'pool', pipeline: 'pipelines', cluster: 'cluster' }

/** The topic an event type belongs to (`job.started` → `jobs`), or null for one outside them. */
export function topicOf (type: string): Topic | null {
  const dot = type.indexOf('.')
  return TOPIC_BY_PREFIX[dot < 0 ? type : type.slice(0, dot)] ?? null
}

/**
 * Parses `?topics=jobs,pool`: all topics when absent; an unknown name is an error naming it (a
 * typo should not silently subscribe to nothing).
 */
export function parseTopics (value: string | undefined): { topics: Set<Topic> } | { unknown: string } {
  if (value === undefined) return { topics: new Set(TOPICS) }
  const topics = new Set<Topic>()
  for (const raw of value.split(',')) {
    const name = raw.trim()
    if (!(TOPICS as readonly string[]).includes(name)) return { unknown: name }
    topics.add(name as Topic)
  }
  return { topics }
}

export interface EventFilter {
  topics: ReadonlySet<Topic>
  /** Only this job's `job.*` events (other topics are unaffected). */
  job: string | null
  /** Only this pipeline's `pipeline.*` events, and `job.*` events of its steps' jobs. */
  pipeline?: string | null
}

export function matches (filter: EventFilter, event: PoolEvent): boolean {
  const topic = topicOf(event.type)
  if (topic === null || !filter.topics.has(topic)) return false
  if (topic === 'jobs' && filter.job !== null && (event.data as { id?: unknown } | null)?.id !== filter.job) return false
  if ((topic === 'jobs' || topic === 'pipelines') && filter.pipeline != null) {
    // pipeline.step and job.* carry the pipeline's id in `pipeline`, the other pipeline.* in `id`.
    const data = event.data as { id?: unknown, pipeline?: unknown } | null
    const pipeline = topic === 'jobs' || event.type === 'pipeline.step' ? data?.pipeline : data?.id
    return pipeline === filter.pipeline
  }
  return true
}
