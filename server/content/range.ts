// The `Range` request header (RFC 9110 §14.2) for one byte range. Several ranges
// (multipart/byteranges) are not offered: a server may ignore Range, and answering the whole
// buffer is then correct.

export type RangeResult =
  | { kind: 'whole' }
  | { kind: 'partial', start: number, end: number } // end exclusive
  | { kind: 'unsatisfiable' }

const SINGLE = /^bytes=(\d*)-(\d*)$/

export function parseRange (header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'whole' }
  const match = SINGLE.exec(header.trim())
  // Unparseable or multi-range headers are ignored, as the RFC allows.
  if (match === null) return { kind: 'whole' }
  const [, first, last] = match
  if (first === '' && last === '') return { kind: 'whole' }
  if (first === '') {
    // bytes=-N: the last N bytes.
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' }
  if (last === '') return { kind: 'partial', start, end: size }
  const lastByte = Number(last)
  if (!Number.isSafeInteger(lastByte) || lastByte < start) return { kind: 'whole' } // invalid: ignore
  return { kind: 'partial', start, end: Math.min(lastByte + 1, size) }
}
