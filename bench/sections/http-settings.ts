/** The settings of section "http" (request rate and upload), by mode. */
import { byMode, type BenchOptions } from '../harness/options'
import { SIZE } from '../stats'

export interface HttpSettings {
  connections: number
  durationSec: number
  warmupSec: number
  rounds: number
  uploadSize: number
  uploadReps: number
}

export function httpSettings (options: BenchOptions): HttpSettings {
  const q = byMode(options)
  return {
    connections: 50,
    durationSec: q(2, 5),
    warmupSec: q(1, 2),
    rounds: q(1, 3),
    uploadSize: q(256 * SIZE.MiB, SIZE.GiB),
    uploadReps: q(2, 5),
  }
}
