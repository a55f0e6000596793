// openapi/asyncapi.yaml as tests use it: the parsed document, and a check that a message of
// /v1/events is one of its messages and validates against that message's payload schema (Ajv,
// the validator Fastify uses).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

const SPEC = path.join(__dirname, '..', '..', '..', 'openapi', 'asyncapi.yaml')

export interface AsyncApiSpec {
  document: any
  /** Fails (assert) unless `message` is a message of the spec and its payload validates. */
  check: (message: { type: string }) => void
}

export function loadAsyncApi (): AsyncApiSpec {
  const document = parse(fs.readFileSync(SPEC, 'utf8'))
  // strict: false: the document holds AsyncAPI keywords (info, channels…) around the schemas.
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema(document, 'asyncapi')
  const byType = new Map<string, string>()
  for (const [key, message] of Object.entries(document.components.messages as Record<string, { name: string }>)) byType.set(message.name, key)
  return {
    document,
    check (message) {
      const key = byType.get(message.type)
      assert.ok(key !== undefined, `${message.type} is a message of the spec`)
      const validate = ajv.getSchema(`asyncapi#/components/messages/${key}/payload`)
      assert.ok(validate !== undefined)
      assert.ok(validate(message), `${message.type}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(message).slice(0, 500)}`)
    }
  }
}
