// The kinds every pool offers. Custom kinds (--kinds DIR, --kind-file) are added next to these by the workers' kind loader (kind-loader.ts).
import type { JobKind } from '../kind-api'
import { checksumKind } from './checksum'
import { concatKind } from './concat'
import { fillKind } from './fill'
import { gunzipKind } from './gunzip'
import { gzipKind } from './gzip'
import { noopKind } from './noop'
import { sleepKind } from './sleep'
import { sortKind } from './sort'
import { statsKind } from './stats'

export { checksumKind, concatKind, fillKind, gunzipKind, gzipKind, noopKind, sleepKind, sortKind, statsKind }

export const builtinKinds: JobKind[] = [
  noopKind, sleepKind, checksumKind, gzipKind, gunzipKind, sortKind, statsKind, fillKind, concatKind
]
