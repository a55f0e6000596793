/**
 * Small statistics and formatting helpers for the benchmark harness.
 * Everything here is pure: no I/O, no timing.
 */

export interface Summary {
  n: number
  median: number
  min: number
  max: number
  mean: number
  p50: number
  p99: number
}

function sorted (values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/**
 * Percentile with linear interpolation between closest ranks (the same definition
 * numpy uses by default). `p` is in [0, 100].
 */
export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  return percentileSorted(sorted(values), p)
}

function percentileSorted (s: readonly number[], p: number): number {
  if (s.length === 0) return Number.NaN
  if (s.length === 1) return s[0]
  const clamped = Math.min(100, Math.max(0, p))
  const rank = (clamped / 100) * (s.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  if (lo === hi) return s[lo]
  return s[lo] + (s[hi] - s[lo]) * (rank - lo)
}

export function median (values: readonly number[]): number {
  return percentile(values, 50)
}

export function summarize (values: readonly number[]): Summary {
  const s = sorted(values)
  const n = s.length
  const mean = n === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / n
  return {
    n,
    median: percentileSorted(s, 50),
    min: n === 0 ? Number.NaN : s[0],
    max: n === 0 ? Number.NaN : s[n - 1],
    mean,
    p50: percentileSorted(s, 50),
    p99: percentileSorted(s, 99),
  }
}

/** value / baseline, or NaN when either side is unusable. */
export function ratio (value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN
  return value / baseline
}

// ---------------------------------------------------------------------------
// Formatting

/** Milliseconds with a precision that suits the magnitude (3 significant digits-ish). */
export function fmtMs (ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  const a = Math.abs(ms)
  if (a >= 100) return ms.toFixed(0)
  if (a >= 10) return ms.toFixed(1)
  if (a >= 1) return ms.toFixed(2)
  return ms.toFixed(3)
}

export function fmtUs (us: number): string {
  if (!Number.isFinite(us)) return '-'
  return Math.abs(us) >= 100 ? us.toFixed(0) : us.toFixed(1)
}

/** "median (min–max)" in ms. */
export function fmtRangeMs (s: Pick<Summary, 'median' | 'min' | 'max'>): string {
  return `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)})`
}

export function fmtRatio (r: number): string {
  if (!Number.isFinite(r)) return '-'
  if (r >= 100) return `${r.toFixed(0)}×`
  if (r >= 10) return `${r.toFixed(1)}×`
  return `${r.toFixed(2)}×`
}

/** Integer with thousands separators: 48213 -> "48,213". */
export function fmtInt (n: number): string {
  if (!Number.isFinite(n)) return '-'
  return Math.round(n).toLocaleString('en-US')
}

/** Throughput in MB/s (10^6 bytes) given bytes and milliseconds. */
export function mbPerSec (bytes: number, ms: number): number {
  if (!(ms > 0)) return Number.NaN
  return bytes / 1e6 / (ms / 1000)
}

export function fmtMBps (v: number): string {
  if (!Number.isFinite(v)) return '-'
  return v >= 100 ? v.toFixed(0) : v.toFixed(1)
}

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** Binary size label: 4096 -> "4 KiB", 268435456 -> "256 MiB". */
export function fmtBytes (bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(2)} MiB`
  if (bytes >= KiB) return `${(bytes / KiB).toFixed(2)} KiB`
  return `${bytes} B`
}

/** Parses "4k", "16m", "1g", "4096", "256MiB" into bytes (binary units). */
export function parseSize (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text)
  if (!m) throw new Error(`cannot parse size "${text}" (use e.g. 4k, 1m, 256m, 1g)`)
  const n = Number(m[1])
  const unit = m[2].toLowerCase()
  const mult = unit === 'k' ? KiB : unit === 'm' ? MiB : unit === 'g' ? GiB : 1
  const bytes = Math.round(n * mult)
  if (bytes < 2) throw new Error(`size "${text}" is too small (need at least 2 bytes)`)
  return bytes
}

export const SIZE = { KiB, MiB, GiB } as const

// ---------------------------------------------------------------------------
// Plain-text tables

export type Align = 'left' | 'right'

export interface Column {
  header: string
  align?: Align
}

/**
 * Renders an aligned plain-text table. Columns default to right alignment except
 * the first, which defaults to left.
 */
export function renderTable (allColumns: readonly Column[], allRows: readonly (readonly string[])[]): string {
  // Leave out columns that are empty everywhere (e.g. an error column with no errors).
  const keep = allColumns
    .map((c, i) => i)
    .filter((i) => allColumns[i].header !== '' || allRows.some((r) => (r[i] ?? '') !== ''))
  const columns = keep.map((i) => allColumns[i])
  const rows = allRows.map((r) => keep.map((i) => r[i] ?? ''))
  const widths = columns.map((c, i) =>
    Math.max(displayWidth(c.header), ...rows.map((r) => displayWidth(r[i] ?? '')))
  )
  const alignOf = (i: number): Align => columns[i].align ?? (i === 0 ? 'left' : 'right')
  const pad = (text: string, i: number): string => {
    const gap = ' '.repeat(Math.max(0, widths[i] - displayWidth(text)))
    return alignOf(i) === 'left' ? text + gap : gap + text
  }
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => pad(c, i)).join('  ').replace(/\s+$/, '')
  const out = [line(columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  ').replace(/\s+$/, '')]
  for (const r of rows) out.push(line(columns.map((_, i) => r[i] ?? '')))
  return out.join('\n')
}

/** Width in terminal cells; all characters used here (×, –, µ) are single-width. */
function displayWidth (s: string): number {
  return [...s].length
}
