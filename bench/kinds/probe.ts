/**
 * Bench-only job kind, loaded through the pool's `kindsDir` (dist/bench/kinds): reads the first
 * and last byte of its one input and returns them — the dispatch section's "job that reads the
 * first and last byte". No built-in kind answers exactly that (noop returns {}, stats and
 * checksum read every byte), and the probe must touch the mapping so the round trip proves the
 * worker really sees the bytes. No side effects at import: the server loads it too.
 */
import type { JobKind } from '../../workers/kind-api'

const probeKind: JobKind<Record<string, never>> = {
  name: 'bench-probe',
  description: 'Benchmarks only: returns {first, last}, the first and last byte of its input.',
  inputs: { min: 1, max: 1 },
  run (ctx) {
    const input = ctx.inputs[0]
    if (input.length === 0) return { first: null, last: null }
    return { first: input[0], last: input[input.length - 1] }
  },
}

export default probeKind
