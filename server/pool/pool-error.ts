// The pool's refusals: a typed `code` from POOL_ERROR_CODES (server/errors.ts gives each an HTTP
// status, and tsc refuses a code without one) and a sentence for humans about the library.
import { CodedError } from '../coded-error'
import type { PoolErrorCode } from '../errors'

export class PoolError extends CodedError<PoolErrorCode> {
  // Kept explicit: `new PoolError(code, message)` is the library's public form.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor (code: PoolErrorCode, message: string) {
    super(code, message)
  }
}
