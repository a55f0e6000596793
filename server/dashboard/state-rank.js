// How far along a job or a pipeline step is. A detail view hears of one object twice, from its
// REST request and from the event stream, over two connections that do not keep each other's
// order: what it already knows must never be replaced by something older.

const JOB_RANK = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 }
const STEP_RANK = { pending: 0, queued: 1, running: 2, succeeded: 3, failed: 3, cancelled: 3 }

export const isFinished = (state) => state === 'succeeded' || state === 'failed' || state === 'cancelled'

/**
 * Two versions of a job merged: the fields of the one further along win (of `next` when both are
 * as far); the other fills what it lacks (a job.progress event carries only id, progress, state).
 */
export function newerJob (known, next) {
  if (!known) return Object.assign({}, next)
  if (!next) return known
  return (JOB_RANK[next.state] ?? -1) >= (JOB_RANK[known.state] ?? -1) ? Object.assign({}, known, next) : Object.assign({}, next, known)
}

export function stepRank (state) {
  return STEP_RANK[state] ?? -1
}

/** Two versions of a step merged (same rule). */
export function newerStep (known, next) {
  if (!known) return Object.assign({}, next)
  if (!next) return known
  return stepRank(next.state) >= stepRank(known.state) ? Object.assign({}, known, next) : Object.assign({}, next, known)
}
