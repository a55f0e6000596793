// The pool's refusals: a stable `code` (the REST layer maps each to a status in server/errors.ts)
// and a sentence for humans.
export class PoolError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'PoolError'
    this.code = code
  }
}
