// The base of every error this project throws on purpose: a message for people and a stable
// `code` for programs, typed per domain (PoolError's codes, the HTTP layer's, the attach socket's).
// Its own file, with no imports, so any part can extend it without an import cycle.
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code
  constructor (code: Code, message: string) {
    super(message)
    this.name = new.target.name
    this.code = code
  }
}
