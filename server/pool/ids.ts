// Names that may cross process boundaries: random ids and capability tokens, never descriptor numbers.
import crypto from 'node:crypto'

/** A short random id with a prefix saying what it names (`buf_…`, `job_…`). 96 bits. */
export function newId (prefix: string): string {
  return `${prefix}_${crypto.randomBytes(12).toString('base64url')}`
}

/**
 * A capability token: 192 random bits, URL-safe, behind `at_`. The prefix is not decoration: one
 * base64url token in 64 starts with `-`, and command lines then read it as an option
 * (`attach.py read --token -Xy…` fails in argparse); it also lets secret scanners spot a leaked one.
 */
export function newToken (): string {
  return `at_${crypto.randomBytes(24).toString('base64url')}`
}

/** Compares secrets in constant time (over digests, so lengths leak nothing either). */
export function secretsEqual (a: string, b: string): boolean {
  const da = crypto.createHash('sha256').update(a).digest()
  const db = crypto.createHash('sha256').update(b).digest()
  return crypto.timingSafeEqual(da, db)
}
