// Compiled by tsc with the rest of test/ (never run): the type HTTP_STATUS must satisfy refuses a
// table that lacks a code or gives one a status outside the error statuses. If StatusTable stopped
// checking, the @ts-expect-error lines would have nothing to expect and tsc would fail the build.
// test/server/error-status-compile.test.ts checks the real table in server/errors.ts the same way.
import { HTTP_STATUS, type StatusTable } from '../../server/errors'

const { NOT_FOUND: _dropped, ...withoutNotFound } = HTTP_STATUS

// @ts-expect-error NOT_FOUND has no status
export const incomplete: StatusTable = withoutNotFound

// @ts-expect-error 200 is not an error status
export const successStatus: StatusTable = { ...HTTP_STATUS, NOT_FOUND: 200 }

export const complete: StatusTable = HTTP_STATUS
