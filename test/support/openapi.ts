/**
 * @module Validates JSON values against the official OpenAI and Mistral OpenAPI documents in
 * `test/fixtures` (see `SOURCES.md`), so tests and the fake providers judge payloads by the
 * providers' own published schemas rather than by shapes written down here.
 *
 * Each document is parsed once on first use, rewritten from OpenAPI dialect into plain JSON Schema
 * 2020-12, registered with Ajv under an `$id` (so `$ref: '#/components/schemas/X'` resolves), and
 * every validator is compiled on first use and cached.
 *
 * Rewrites that only translate OpenAPI dialect (they keep the schema's meaning):
 * - `nullable: true` (OpenAPI 3.0, still used ~110 times in OpenAI's 3.1 document, e.g. on
 *   `finish_reason` and `logprobs` of stream chunks) becomes `type: [T, 'null']` (plus `null` in
 *   any `enum`), or `anyOf: [schema, {type: 'null'}]` when there is no single `type`. JSON Schema
 *   2020-12 would otherwise ignore the keyword and reject every `"finish_reason": null`.
 * - `$recursiveRef: '#'` (two file-search filter schemas) means "this schema" in the document it
 *   was cut from; here `#` would be the whole registered document, which accepts anything, so it
 *   becomes a `$ref` to the enclosing component schema.
 * - `discriminator` is dropped: Ajv's own support rejects `mapping`, and the discriminated
 *   `oneOf`s met by the schemas validated here (message `role`, `response_format.type`, Mistral
 *   model card `type`) stay exclusive through their branches' `enum`/`const` tags.
 * - `x-*` and other annotation keywords are left in place; with `strict: false` Ajv ignores them.
 * - The OpenAPI `format` values Ajv does not know (`unixtime`) are registered.
 *
 * Relaxation of the official schema (a genuine upstream payload would fail without it):
 * - OpenAI `Embedding.embedding` is declared as `number[]` only, but with
 *   `encoding_format: 'base64'` (the default the official `openai` SDK sends) the API returns a
 *   base64 string; see `openai/fixtures/embeddings-base64-response.json` (openai-node's fixture
 *   of that response). That property also accepts a string of the base64 alphabet. Nothing else
 *   is relaxed.
 */
import { readFileSync } from 'node:fs'
import Ajv2020 from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

export type SpecName = 'openai' | 'mistral'

const SPEC_FILES: Record<SpecName, URL> = {
  openai: new URL('../fixtures/openai/openapi.yaml', import.meta.url),
  mistral: new URL('../fixtures/mistral/openapi.yaml', import.meta.url),
}

const specId = (spec: SpecName): string => `https://specs.test/${spec}/openapi.json`

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Returns a copy of `node` with OpenAPI-only keywords rewritten (see the module doc). */
const toJsonSchema = (node: Json, componentPointer: string): Json => {
  if (Array.isArray(node)) return node.map((item) => toJsonSchema(item, componentPointer))
  if (!isObject(node)) return node
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'discriminator' || key === 'nullable') continue
    if (key === '$recursiveRef') {
      out['$ref'] = componentPointer
      continue
    }
    out[key] = toJsonSchema(value, componentPointer)
  }
  if (node['nullable'] !== true) return out
  const type = out['type']
  if (typeof type === 'string') {
    out['type'] = [type, 'null']
    const values = out['enum']
    if (Array.isArray(values) && !values.includes(null)) out['enum'] = [...values, null]
    return out
  }
  return { anyOf: [out, { type: 'null' }] }
}

/** The spec-specific relaxations listed in the module doc, applied after the dialect rewrite. */
const relax = (spec: SpecName, schemas: JsonObject): void => {
  if (spec !== 'openai') return
  const embedding = schemas['Embedding']
  const properties = isObject(embedding) ? embedding['properties'] : undefined
  const vector = isObject(properties) ? properties['embedding'] : undefined
  if (!isObject(properties) || !isObject(vector)) {
    throw new Error('OpenAI spec: Embedding.properties.embedding not found')
  }
  properties['embedding'] = {
    anyOf: [vector, { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' }],
  }
}

let ajvInstance: Ajv2020 | undefined
const schemaNames = new Map<SpecName, Set<string>>()
const validators = new Map<string, ValidateFunction>()

const getAjv = (): Ajv2020 => {
  if (ajvInstance) return ajvInstance
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  // OpenAI tags Unix timestamps with this non-standard format.
  ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) })
  ajvInstance = ajv
  return ajv
}

const loadSpec = (spec: SpecName): Ajv2020 => {
  const ajv = getAjv()
  if (schemaNames.has(spec)) return ajv
  const doc: unknown = parse(readFileSync(SPEC_FILES[spec], 'utf8'))
  const components = isObject(doc) ? doc['components'] : undefined
  const schemas = isObject(components) ? components['schemas'] : undefined
  if (!isObject(schemas)) throw new Error(`${spec} spec: components.schemas not found`)
  const rewritten: JsonObject = {}
  for (const [name, schema] of Object.entries(schemas)) {
    rewritten[name] = toJsonSchema(schema, `#/components/schemas/${name}`)
  }
  relax(spec, rewritten)
  // Only the schemas are registered: paths and examples are never validated against.
  ajv.addSchema({ $id: specId(spec), components: { schemas: rewritten } })
  schemaNames.set(spec, new Set(Object.keys(rewritten)))
  return ajv
}

/** One schema violation: where it is (JSON path segments), which keyword failed, and as text. */
export type SchemaViolation = {
  path: Array<string | number>
  keyword: string
  message: string
  text: string
}

const toViolation = (error: ErrorObject): SchemaViolation => {
  const path: Array<string | number> = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment))
  const params = error.params as Record<string, unknown>
  // Name the offending property in the path, as FastAPI-style error locations do.
  const property = params['additionalProperty'] ?? params['missingProperty']
  if (typeof property === 'string') path.push(property)
  const message = error.message ?? error.keyword
  const allowed = Array.isArray(params['allowedValues'])
    ? ` ${JSON.stringify(params['allowedValues'])}`
    : ''
  const named = typeof property === 'string' ? ` '${property}'` : ''
  const at = error.instancePath === '' ? '/' : error.instancePath
  return {
    path,
    keyword: error.keyword,
    message,
    text: `${at} ${message}${named}${allowed} (${error.schemaPath})`,
  }
}

/** Violations of `value` against `components/schemas/<schemaName>` of `spec`; empty when valid. */
export const schemaViolations = (
  spec: SpecName,
  schemaName: string,
  value: unknown,
): SchemaViolation[] => {
  const key = `${spec}:${schemaName}`
  let check = validators.get(key)
  if (!check) {
    const ajv = loadSpec(spec)
    if (!schemaNames.get(spec)?.has(schemaName)) {
      throw new Error(`${spec} spec has no schema named ${schemaName}`)
    }
    check = ajv.compile({ $ref: `${specId(spec)}#/components/schemas/${schemaName}` })
    validators.set(key, check)
  }
  if (check(value)) return []
  const seen = new Set<string>()
  return (check.errors ?? []).map(toViolation).filter((violation) => {
    if (seen.has(violation.text)) return false
    seen.add(violation.text)
    return true
  })
}

/** Errors of `value` against OpenAI's `components/schemas/<schemaName>`; empty when valid. */
export const validateOpenAI = (schemaName: string, value: unknown): string[] =>
  schemaViolations('openai', schemaName, value).map((violation) => violation.text)

/** Errors of `value` against Mistral's `components/schemas/<schemaName>`; empty when valid. */
export const validateMistral = (schemaName: string, value: unknown): string[] =>
  schemaViolations('mistral', schemaName, value).map((violation) => violation.text)
