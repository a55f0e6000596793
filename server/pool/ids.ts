// Names that may cross process boundaries: random ids and capability tokens, never descriptor numbers.
import crypto from 'node:crypto'

const ID_BYTES = 12
/** Random bytes for 340 ids, drawn at once: a randomBytes() call per id cost 4–15 µs per job
 * (OpenSSL's generator and its fork check), a slice of this costs well under one. Ids name
 * things and are no secret; tokens, which are, still get randomBytes() of their own. Node's
 * crypto.randomUUID() keeps a cache the same way. */
const idEntropy = Buffer.alloc(ID_BYTES * 340)
let idOffset = idEntropy.length

/** A short random id with a prefix saying what it names (`buf_…`, `job_…`). 96 bits. */
export function newId (prefix: string): string {
  if (idOffset === idEntropy.length) {
    crypto.randomFillSync(idEntropy)
    idOffset = 0
  }
  const id = idEntropy.toString('base64url', idOffset, idOffset + ID_BYTES)
  idOffset += ID_BYTES
  return `${prefix}_${id}`
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
