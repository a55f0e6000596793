/**
 * Printing a section's report: plain-text tables with one column per figure, '-' where a figure
 * is missing, and an error column that only shows when something failed.
 */
import { renderTable, fmtRangeMs, type Column } from '../stats'

export function log (line = ''): void {
  process.stdout.write(line + '\n')
}

export function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** NaN and infinities (no samples, a zero baseline) become null in the results file. */
export function finiteOrNull (v: number): number | null {
  return Number.isFinite(v) ? v : null
}

/** A column of a report table: its header (and alignment), and how a row fills its cell. */
export interface TableColumn<R> extends Column {
  cell (row: R): string
}

/** Prints a blank line, the title (one or more lines), then `rows` as a table of `columns`. */
export function printTable<R> (title: string, columns: readonly TableColumn<R>[], rows: readonly R[]): void {
  log()
  log(title)
  log(renderTable(columns, rows.map((row) => columns.map((c) => c.cell(row)))))
}

/** A measured figure formatted, or '-' where there is none. */
export function orDash (value: number | null | undefined, fmt: (v: number) => string): string {
  return value === null || value === undefined ? '-' : fmt(value)
}

/** "min–max", or '-' unless both ends were measured. */
export function fmtSpan (min: number | null, max: number | null, fmt: (v: number) => string): string {
  return min === null || max === null ? '-' : `${fmt(min)}–${fmt(max)}`
}

/** "median (min–max)" in ms, or '-' unless all three were measured. */
export function fmtRowRangeMs (row: { median_ms: number | null, min_ms: number | null, max_ms: number | null }): string {
  return row.median_ms === null || row.min_ms === null || row.max_ms === null
    ? '-'
    : fmtRangeMs({ median: row.median_ms, min: row.min_ms, max: row.max_ms })
}

/** The last column of every table: what went wrong with a target (left out when nothing did). */
export function errorColumn<R extends { error?: string }> (): TableColumn<R> {
  return { header: '', align: 'left', cell: (row) => (row.error ? `error: ${row.error}` : '') }
}

export function logSetupErrors (setupErrors: Record<string, string>): void {
  for (const [name, err] of Object.entries(setupErrors)) log(`(${name}: setup failed: ${err})`)
}
