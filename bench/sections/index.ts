/**
 * The sections, in the order a full run measures them. A new section is a file here with a
 * `Section` and one line in this list; --only, --help and the results file pick it up.
 */
import type { Section } from '../harness/section'
import { computeSection } from './compute'
import { dispatchSection } from './dispatch'
import { externalWorkerSection } from './external-worker'
import { httpSection } from './http'
import { latencySection } from './latency'

export const SECTIONS: readonly Section[] = [dispatchSection, latencySection, computeSection, httpSection, externalWorkerSection]
