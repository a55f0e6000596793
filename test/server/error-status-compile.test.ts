// "A code without an HTTP status fails tsc", checked on the real server/errors.ts: the file is
// type-checked as it is (no errors), then with one new pool code and one new HTTP code added to
// their tables but not to HTTP_STATUS (tsc must name each). If someone dropped the `satisfies`
// check, the second compile would pass and this test would fail.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const ERRORS_TS = path.join(__dirname, '..', '..', '..', 'server', 'errors.ts')

function diagnosticsOf (sourceText: string): string[] {
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, lib: ['lib.es2022.d.ts'], types: ['node'], typeRoots: [path.join(__dirname, '..', '..', '..', 'node_modules', '@types')], skipLibCheck: true }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (fileName, languageVersion, ...rest) => path.resolve(fileName) === ERRORS_TS
    ? ts.createSourceFile(fileName, sourceText, languageVersion)
    : getSourceFile(fileName, languageVersion, ...rest)
  const program = ts.createProgram([ERRORS_TS], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

function insertAfter (text: string, anchor: string, line: string): string {
  const at = text.indexOf(anchor)
  assert.ok(at >= 0, `server/errors.ts still has ${anchor}`)
  return text.slice(0, at + anchor.length) + `\n  ${line}` + text.slice(at + anchor.length)
}

test('server/errors.ts type-checks as it is', () => {
  assert.deepEqual(diagnosticsOf(fs.readFileSync(ERRORS_TS, 'utf8')), [])
})

test('a pool code or an HTTP code without a status in HTTP_STATUS fails the type check, naming the code', () => {
  const original = fs.readFileSync(ERRORS_TS, 'utf8')
  let changed = insertAfter(original, 'export const POOL_ERROR_CODES = {', 'BRAND_NEW_POOL_CODE: \'added without a status\',')
  changed = insertAfter(changed, 'export const HTTP_ERROR_CODES = {', 'BRAND_NEW_HTTP_CODE: \'added without a status\',')
  const messages = diagnosticsOf(changed).join('\n')
  assert.match(messages, /BRAND_NEW_POOL_CODE/)
  assert.match(messages, /BRAND_NEW_HTTP_CODE/)
})
