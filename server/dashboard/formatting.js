// How values read on the page: numbers, byte sizes, durations, and a dash for what is missing.

export const integer = new Intl.NumberFormat('en')

export function plainNumber (value, fractionDigits) {
  return new Intl.NumberFormat('en', { maximumFractionDigits: fractionDigits, useGrouping: false }).format(value)
}

export function humanBytes (bytes) {
  const n = Number(bytes)
  if (!Number.isFinite(n)) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}

export function humanDuration (ms) {
  if (ms === null || !Number.isFinite(ms)) return '—'
  const clamped = Math.max(0, ms)
  if (clamped < 1000) return `${Math.round(clamped)} ms`
  if (clamped < 60_000) return `${(clamped / 1000).toFixed(1)} s`
  const seconds = Math.floor(clamped / 1000)
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`
  return `${Math.floor(seconds / 3600)} h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')} min`
}

export function show (value) {
  return value === undefined || value === null || value === '' ? '—' : String(value)
}
