/**
 * @module A Qdrant stand-in for tests: a Node HTTP server on loopback that speaks Qdrant's REST API
 * as the official spec (`test/fixtures/qdrant/openapi.json`, v1.19.0) describes it, with
 * collections and points held in memory. No Qdrant server can run here; this one is held to
 * Qdrant's own documents and source instead:
 *
 * - **Every request is validated** against the spec: the method and path must name an operation,
 *   path and query parameters and the JSON body must match that operation's schemas (`$ref`s
 *   resolved, Ajv). A request that does not is answered as Qdrant's actix error handler answers
 *   (`src/actix/mod.rs`, `validation_error_handler`): 400 `Format error in JSON body: …` (or
 *   `Deserialize error in query parameters: …`), or 422 `Validation error in JSON body: [field: …]`
 *   when the only complaint is a bound (`limit: 0`), and it is recorded in `violations`. The
 *   detail after the prefix is the validator's, not serde's wording.
 * - **Every 200 answer is checked** against the operation's response schema; a mismatch is a
 *   violation of kind `response` (a defect of this stand-in, never of the client).
 * - **Envelopes** are Qdrant 1.19's (`lib/api/src/rest/models.rs`): `{"result":…,"status":"ok",
 *   "time":…}` and `{"status":{"error":"…"},"time":…}`. `usage` and a `null` result are left out
 *   (`skip_serializing_if`; hardware reporting is off by default), as the server does since 1.14.
 * - **Auth** (`src/common/auth/mod.rs`, `src/actix/auth.rs`): with a key configured, the
 *   `api-key` header, else `Authorization: Bearer`, must carry it: none → 401
 *   `Must provide an API key or an Authorization bearer token`, a wrong one → 401
 *   `Invalid API key or JWT` (plain text). A read-only key may read; a write is 403
 *   `Forbidden: Global manage access is required`. `/`, `/healthz`, `/livez`, `/readyz` are open.
 * - **Semantics** follow the segment code: Cosine vectors are normalised on upsert and query in
 *   f32 (`spaces/simple.rs` `cosine_preprocess`); Dot, Euclid and Manhattan score as there, with
 *   Euclid/Manhattan reported as distances, smaller first; `score_threshold` keeps scores strictly
 *   better than it (`Distance::check_threshold`); scores and vectors are rounded to f32. Filters
 *   follow `payload_storage/query_checker.rs` and `condition_checker.rs` (payload arrays match when
 *   any element does; a missing field fails every condition but `is_empty`/`is_null`).
 *
 * Implemented operations: `root`, `healthz`/`livez`/`readyz`, `get_collections`, `get_collection`,
 * `collection_exists`, `create_collection`, `delete_collection`, `create_field_index`,
 * `delete_field_index`, `upsert_points` (`PointsList` and `PointsBatch`), `delete_points` (ids or
 * filter), `get_point`, `get_points`, `query_points`, `query_batch_points`, `scroll_points`,
 * `count_points`. Writes are applied at once; `wait=true` only turns `acknowledged` into
 * `completed`. A valid request for anything else (another operation, named-vector features such
 * as sparse or multivectors, prefetch, geo or datetime conditions, query by point id…) is answered
 * 501 and recorded as a violation of kind `unsupported`, so a test cannot pass on a feature this
 * stand-in only pretends to have.
 *
 * Faults: `setDown(true)` destroys the socket of every request (recorded first), which a client
 * sees as a network error, as when Qdrant is unreachable; `setLatency(ms)` delays every answer.
 *
 * Limits: integer ids above 2^53 lose precision (JSON numbers); a payload `1.0` is the integer 1
 * here; text matches are the unindexed substring checks even when a full-text index exists.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import Ajv2020 from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { isObject, type Json, type JsonObject } from './json.ts'
import { listenOnLoopback } from './net.ts'

// --- public types -------------------------------------------------------------------------------

/** Options of {@link startQdrant}. */
export interface QdrantOptions {
  /** The read-write key (`service.api_key`). Default: a random key; `null`: no authentication. */
  apiKey?: string | null
  /** A read-only key (`service.read_only_api_key`): reads pass, writes are 403. */
  readOnlyApiKey?: string
  /** What `GET /` reports as `version`. Default `1.19.0`, the spec's release. */
  version?: string
}

/** One request as received. */
export interface QdrantRequest {
  method: string
  /** The path as received, without the query string. */
  path: string
  query: Record<string, string>
  /** Request headers, names lower-cased. */
  headers: Record<string, string>
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  body: unknown
  /** The spec operation the method and path matched, if any. */
  operationId: string | undefined
  /** The status answered; 0 while pending or when the socket was destroyed. */
  status: number
}

export type QdrantViolationKind =
  'route' | 'content-type' | 'json' | 'path' | 'query' | 'body' | 'response' | 'unsupported'

/** A request that broke the spec, used something not implemented, or got a non-conforming answer. */
export interface QdrantViolation {
  kind: QdrantViolationKind
  method: string
  path: string
  operationId: string | undefined
  errors: string[]
}

/** What a collection holds, for assertions. */
export interface QdrantCollectionSnapshot {
  /** Vector params by name; `''` is the unnamed vector. */
  vectors: Record<string, { size: number; distance: Distance }>
  /** `field_schema` of each payload index, as sent. */
  payloadIndexes: Record<string, Json>
  /** Stored points (vectors after preprocessing, e.g. normalised for Cosine). */
  points: Array<{ id: PointId; vectors: Record<string, number[]>; payload: JsonObject }>
}

/** A running stand-in. */
export interface QdrantStandIn {
  /** `http://127.0.0.1:<port>`: the `url` for `new QdrantClient({ url, apiKey })`. */
  url: string
  /** The read-write key clients must send; `null` when authentication is off. */
  apiKey: string | null
  readonly requests: readonly QdrantRequest[]
  readonly violations: readonly QdrantViolation[]
  /** A copy of a collection's state, or `undefined` when it does not exist. */
  collection(name: string): QdrantCollectionSnapshot | undefined
  /** While down, each request's socket is destroyed before any answer (a network error). */
  setDown(down: boolean): void
  /** Delays every answer by `ms` (0 to stop). */
  setLatency(ms: number): void
  /** Forgets collections, requests and violations. */
  reset(): void
  close(): Promise<void>
}

export type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan'
export type PointId = number | string

// --- the spec: OpenAPI 3.0 dialect → JSON Schema, Ajv ------------------------------------------

/** A JSON value as text: strings as they are, anything else as JSON. */
const str = (value: Json | undefined): string =>
  typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)

const SPEC_FILE = new URL('../fixtures/qdrant/openapi.json', import.meta.url)
const SPEC_ID = 'https://specs.test/qdrant/openapi.json'
/** The release of the spec (its `info.version` says `master`; see `test/fixtures/SOURCES.md`). */
const SPEC_RELEASE = '1.19.0'
const SPEC_COMMIT = '74f3e85b9473c62560006c043e13737ce6b48412'

/** Keywords whose value is data, not schema: copied as is. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'required', 'default'])

/**
 * Rewrites a spec schema into JSON Schema 2020-12 (the document is OpenAPI 3.0, generated by
 * schemars from Qdrant's serde types):
 * - `nullable: true` with a `type` adds `'null'` to it; a bare `{"nullable": true}` (the `None`
 *   branch schemars writes for `Option<T>`, 263 times) becomes `{"type": "null"}` — read literally
 *   it is `{}`, which would let any value through every `anyOf: [T, {nullable}]`.
 * - `oneOf` becomes `anyOf`: serde's untagged enums take the first variant that fits.
 * - `uniqueItems` is dropped: those fields are `HashSet`/`IndexSet`s, which accept duplicates.
 * - `$ref: '#/…'` becomes absolute, so inline path schemas compile on their own.
 * - `example` and `discriminator` are dropped.
 */
const toJsonSchema = (node: Json): Json => {
  if (Array.isArray(node)) return node.map(toJsonSchema)
  if (!isObject(node)) return node
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable' || key === 'uniqueItems' || key === 'example') continue
    if (key === 'discriminator') continue
    if (DATA_KEYWORDS.has(key)) out[key] = value
    else if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) {
      out[key] = `${SPEC_ID}${value}`
    } else if (key === 'oneOf') out['anyOf'] = toJsonSchema(value)
    else if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, schema]) => [name, toJsonSchema(schema)]),
      )
    } else out[key] = toJsonSchema(value)
  }
  if (node['nullable'] !== true) return out
  const type = out['type']
  if (typeof type === 'string') {
    out['type'] = [type, 'null']
    const values = out['enum']
    if (Array.isArray(values) && !values.includes(null)) out['enum'] = [...values, null]
    return out
  }
  if (type === undefined && !('$ref' in out) && !('anyOf' in out) && !('allOf' in out)) {
    return { type: 'null' }
  }
  return { anyOf: [out, { type: 'null' }] }
}

type Parameter = { name: string; in: string; required: boolean; schema: Json }

type Operation = {
  operationId: string
  method: string
  template: string
  segments: string[]
  parameters: Parameter[]
  body: Json | undefined
  response: Json | undefined
}

type Spec = { ajv: Ajv2020; operations: Operation[]; byId: Map<string, Operation> }

let specCache: Spec | undefined

const loadSpec = (): Spec => {
  if (specCache) return specCache
  const doc = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as JsonObject
  const components = doc['components']
  const schemas = isObject(components) ? components['schemas'] : undefined
  const paths = doc['paths']
  if (!isObject(schemas) || !isObject(paths)) throw new Error('Qdrant spec: no schemas or paths')
  const ajv = new Ajv2020({ strict: false, allErrors: true, verbose: true, validateFormats: true })
  addFormats(ajv)
  // Rust number types schemars writes as formats.
  const unsigned = (max: number) => (n: number) => Number.isInteger(n) && n >= 0 && n <= max
  ajv.addFormat('uint8', { type: 'number', validate: unsigned(255) })
  ajv.addFormat('uint32', { type: 'number', validate: unsigned(2 ** 32 - 1) })
  ajv.addFormat('uint64', { type: 'number', validate: unsigned(2 ** 64 - 1) })
  ajv.addFormat('uint', { type: 'number', validate: unsigned(2 ** 64 - 1) })
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) })
  ajv.addFormat('float', { type: 'number', validate: () => true })
  ajv.addFormat('double', { type: 'number', validate: () => true })
  ajv.addFormat('partial-date-time', { type: 'string', validate: () => true })
  const rewritten = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => [name, toJsonSchema(schema)]),
  )
  ajv.addSchema({ $id: SPEC_ID, components: { schemas: rewritten } })

  const operations: Operation[] = []
  for (const [template, item] of Object.entries(paths)) {
    if (!isObject(item)) continue
    for (const [method, op] of Object.entries(item)) {
      if (!isObject(op) || typeof op['operationId'] !== 'string') continue
      const parameters = (Array.isArray(op['parameters']) ? op['parameters'] : [])
        .filter(isObject)
        .map((p) => ({
          name: str(p['name']),
          in: str(p['in']),
          required: p['required'] === true,
          schema: toJsonSchema(p['schema'] ?? {}),
        }))
      const requestBody = op['requestBody']
      const content = isObject(requestBody) ? requestBody['content'] : undefined
      const jsonBody = isObject(content) ? content['application/json'] : undefined
      const responses = op['responses']
      const ok = isObject(responses) ? responses['200'] : undefined
      const okContent = isObject(ok) ? ok['content'] : undefined
      const okJson = isObject(okContent) ? okContent['application/json'] : undefined
      operations.push({
        operationId: op['operationId'],
        method: method.toUpperCase(),
        template,
        segments: template.split('/').slice(1),
        parameters,
        body: isObject(jsonBody) ? toJsonSchema(jsonBody['schema'] ?? {}) : undefined,
        response: isObject(okJson) ? toJsonSchema(okJson['schema'] ?? {}) : undefined,
      })
    }
  }
  specCache = { ajv, operations, byId: new Map(operations.map((op) => [op.operationId, op])) }
  return specCache
}

const validators = new Map<string, ValidateFunction>()

const validatorFor = (key: string, schema: Json): ValidateFunction => {
  let check = validators.get(key)
  if (!check) {
    check = loadSpec().ajv.compile(isObject(schema) ? schema : {})
    validators.set(key, check)
  }
  return check
}

/** `/searches/0/limit` → `searches[0].limit`, as Qdrant's validation messages name fields. */
const fieldName = (pointer: string): string =>
  pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((name, s) => (/^\d+$/.test(s) ? `${name}[${s}]` : name ? `${name}.${s}` : s), '')

const errorText = (error: ErrorObject): string => {
  const params = error.params as Record<string, unknown>
  const property = params['additionalProperty'] ?? params['missingProperty']
  const named = typeof property === 'string' ? ` '${property}'` : ''
  const allowed = Array.isArray(params['allowedValues'])
    ? ` ${JSON.stringify(params['allowedValues'])}`
    : ''
  const at = error.instancePath === '' ? '/' : error.instancePath
  return `${at} ${error.message ?? error.keyword}${named}${allowed}`
}

/** Bounds Qdrant checks with `validator` after serde succeeded: a 422, not a 400. */
const boundMessage = (error: ErrorObject): string | undefined => {
  const params = error.params as Record<string, unknown>
  const data: unknown = error.data
  const limit = params['limit']
  if (typeof limit !== 'number') return undefined
  switch (error.keyword) {
    case 'minimum':
      // a negative number for an unsigned field is a serde error (400)
      return typeof data === 'number' && data >= 0
        ? `value ${data} invalid, must be ${limit} or larger`
        : undefined
    case 'maximum':
      return `value ${String(data)} invalid, must be ${limit} or smaller`
    case 'minLength':
    case 'minItems':
      return `must be at least ${limit} characters`
    case 'maxLength':
    case 'maxItems':
      return `must be at most ${limit} characters`
    default:
      return undefined
  }
}

type Invalid = { status: 400 | 422; message: string; errors: string[] }

/** `undefined` when `value` fits `schema`; else Qdrant's answer to it. */
const check = (
  key: string,
  schema: Json,
  value: unknown,
  where: 'JSON body' | 'query parameters' | 'path parameters',
): Invalid | undefined => {
  const validate = validatorFor(key, schema)
  if (validate(value)) return undefined
  const raw = validate.errors ?? []
  const errors = [...new Set(raw.map(errorText))]
  const bounds = raw.map((e) => [fieldName(e.instancePath), boundMessage(e)] as const)
  if (bounds.every(([, message]) => message !== undefined)) {
    const described = bounds.map(([field, message]) => `${field}: ${message ?? ''}`).join('; ')
    return { status: 422, message: `Validation error in ${where}: [${described}]`, errors }
  }
  const prefix =
    where === 'JSON body' ? 'Format error in JSON body' : `Deserialize error in ${where}`
  return { status: 400, message: `${prefix}: ${errors.join('; ')}`, errors }
}

/**
 * Violations of a 200 answer's body against the operation's response schema; empty when it fits.
 * Exported so tests can hold raw answers to the spec too.
 */
export const qdrantResponseViolations = (operationId: string, body: unknown): string[] => {
  const op = loadSpec().byId.get(operationId)
  if (!op) throw new Error(`Qdrant spec has no operation ${operationId}`)
  if (op.response === undefined) return []
  const validate = validatorFor(`response:${operationId}`, op.response)
  return validate(body) ? [] : [...new Set((validate.errors ?? []).map(errorText))]
}

// --- errors and replies -------------------------------------------------------------------------

type Reply = { status: number; json?: Json; text?: string }

/** An error answered in Qdrant's envelope (`StorageError` → status, message). */
class QdrantError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** A valid request for something this stand-in does not implement. */
class Unsupported extends Error {}

const notFound = (name: string): QdrantError =>
  new QdrantError(404, `Not found: Collection \`${name}\` doesn't exist!`)
const wrongInput = (description: string): QdrantError =>
  new QdrantError(400, `Wrong input: ${description}`)
const invalid = (field: string, message: string): QdrantError =>
  new QdrantError(422, `Validation error in JSON body: [${field}: ${message}]`)

// --- vectors, f32 and scores (lib/segment/src/spaces/simple.rs) --------------------------------

const f32 = Math.fround
const F32_EPSILON = 2 ** -23

/** The shortest decimal that reads back as the same f32, as serde_json (ryu) writes an f32. */
const f32Json = (value: number): number => {
  const x = f32(value)
  if (x === 0 || !Number.isFinite(x)) return x
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(x.toPrecision(digits))
    if (f32(candidate) === x) return candidate
  }
  return x
}

/** `cosine_preprocess`: normalise in f32, unless the length is ~0 or already ~1. */
const cosinePreprocess = (vector: readonly number[]): number[] => {
  const v = vector.map(f32)
  let length = 0
  for (const x of v) length = f32(length + f32(x * x))
  if (length < F32_EPSILON || Math.abs(f32(length - 1)) <= 1e-6) return v
  const norm = f32(Math.sqrt(length))
  return v.map((x) => f32(x / norm))
}

const preprocess = (distance: Distance, vector: readonly number[]): number[] =>
  distance === 'Cosine' ? cosinePreprocess(vector) : vector.map(f32)

/** Similarity then `postprocess_score`: Cosine/Dot a dot product, Euclid/Manhattan a distance. */
const score = (distance: Distance, a: readonly number[], b: readonly number[]): number => {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    const term =
      distance === 'Euclid'
        ? f32(f32(x - y) * f32(x - y))
        : distance === 'Manhattan'
          ? f32(Math.abs(x - y))
          : f32(x * y)
    sum = f32(sum + term)
  }
  if (distance === 'Euclid') return f32(Math.sqrt(sum))
  return sum
}

const largeBetter = (distance: Distance): boolean => distance === 'Cosine' || distance === 'Dot'

// --- point ids ----------------------------------------------------------------------------------

const pointKey = (id: PointId): string => (typeof id === 'number' ? `n:${id}` : `u:${id}`)

/** Canonical id: integers as is, UUIDs lower-case (as Qdrant prints them). */
const toPointId = (value: unknown): PointId => {
  if (typeof value === 'number') return value
  if (typeof value === 'string') return value.toLowerCase()
  throw new QdrantError(400, `Format error in JSON body: invalid point id ${JSON.stringify(value)}`)
}

/** `ExtendedPointId` order: every integer id before every UUID. */
const compareIds = (a: PointId, b: PointId): number => {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'number') return -1
  if (typeof b === 'number') return 1
  return a < b ? -1 : a > b ? 1 : 0
}

// --- payload paths (lib/segment/src/json_path) --------------------------------------------------

type PathItem = { key: string } | { index: number } | 'all'

const parsePath = (path: string): PathItem[] => {
  const items: PathItem[] = []
  const pattern = /^(?:"([^"]*)"|([^.[\]"]+))/
  let rest = path
  let first = true
  while (rest.length > 0) {
    if (!first && rest.startsWith('.')) rest = rest.slice(1)
    else if (!first && rest.startsWith('[')) {
      const bracket = /^\[(\d*)\]/.exec(rest)
      if (!bracket) break
      items.push(
        bracket[1] === '' || bracket[1] === undefined ? 'all' : { index: Number(bracket[1]) },
      )
      rest = rest.slice(bracket[0].length)
      continue
    }
    const key = pattern.exec(rest)
    if (!key) throw new QdrantError(400, `Format error in JSON body: invalid payload key ${path}`)
    items.push({ key: key[1] ?? key[2] ?? '' })
    rest = rest.slice(key[0].length)
    first = false
  }
  if (rest.length > 0)
    throw new QdrantError(400, `Format error in JSON body: invalid payload key ${path}`)
  return items
}

/** `JsonPath::value_get`: every value at `path`; arrays are expanded only by `[]`. */
const valuesAt = (payload: JsonObject, path: string): Json[] => {
  const out: Json[] = []
  const walk = (items: PathItem[], value: Json | undefined): void => {
    if (value === undefined) return
    const [head, ...tail] = items
    if (head === undefined) {
      out.push(value)
      return
    }
    if (head === 'all') {
      if (Array.isArray(value)) for (const item of value) walk(tail, item)
    } else if ('index' in head) {
      if (Array.isArray(value)) walk(tail, value[head.index])
    } else if (isObject(value)) walk(tail, value[head.key])
  }
  walk(parsePath(path), payload)
  return out
}

// --- filters (lib/segment/src/payload_storage) --------------------------------------------------

type StoredPoint = {
  id: PointId
  vectors: Map<string, number[]>
  payload: JsonObject
  version: number
}

const asConditions = (value: Json | undefined): Json[] =>
  value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]

const checkIsEmpty = (values: Json[]): boolean =>
  values.every((v) => v === null || (Array.isArray(v) && v.length === 0))

/** `check_match` of `Match` against one (non-array) payload value. */
const checkMatch = (match: JsonObject, value: Json): boolean => {
  if ('value' in match) {
    const expected = match['value']
    if (typeof expected === 'number')
      return typeof value === 'number' && Number.isInteger(value) && value === expected
    return value === expected
  }
  if ('any' in match || 'except' in match) {
    const list = (Array.isArray(match['any']) ? match['any'] : match['except']) as Json[]
    const except = 'except' in match
    const strings = list.length === 0 || typeof list[0] === 'string'
    if (typeof value === 'string' && strings) return list.includes(value) !== except
    if (typeof value === 'number' && !strings) {
      return Number.isInteger(value) ? list.includes(value) !== except : except
    }
    return except && value !== null
  }
  if (typeof value !== 'string') return false
  if ('text' in match) return value.includes(str(match['text']))
  if ('phrase' in match) return value.includes(str(match['phrase']))
  if ('prefix' in match) return value.startsWith(str(match['prefix']))
  return str(match['text_any'])
    .split(/\s+/)
    .some((token) => token !== '' && value.includes(token))
}

const checkRange = (range: JsonObject, value: Json): boolean => {
  if (typeof value !== 'number') return false
  const [lt, gt, lte, gte] = ['lt', 'gt', 'lte', 'gte'].map((k) => range[k])
  return (
    (typeof lt !== 'number' || value < lt) &&
    (typeof gt !== 'number' || value > gt) &&
    (typeof lte !== 'number' || value <= lte) &&
    (typeof gte !== 'number' || value >= gte)
  )
}

const checkField = (condition: JsonObject, payload: JsonObject): boolean => {
  const isEmpty = condition['is_empty']
  const isNull = condition['is_null']
  const match = condition['match']
  const range = condition['range']
  const values = valuesAt(payload, str(condition['key']))
  if (values.length === 0) {
    if (typeof isEmpty === 'boolean') return isEmpty
    if (typeof isNull === 'boolean') return !isNull
    return false
  }
  return values.some((value) => {
    if (typeof isEmpty === 'boolean') {
      if (Array.isArray(value)) return (value.length === 0) === isEmpty
      return value === null ? isEmpty : !isEmpty
    }
    if (typeof isNull === 'boolean') {
      if (Array.isArray(value)) return value.some((v) => v === null) === isNull
      return value === null ? isNull : !isNull
    }
    const one = (v: Json): boolean =>
      (isObject(match) && checkMatch(match, v)) || (isObject(range) && checkRange(range, v))
    return Array.isArray(value) ? value.some(one) : one(value)
  })
}

const MATCH_KINDS = ['value', 'any', 'except', 'text', 'phrase', 'prefix', 'text_any']

/**
 * Checks a filter before any point is read, as Qdrant validates a request before running it:
 * payload keys must parse, a `FieldCondition` must set a condition (`validate_field_condition`),
 * and conditions this stand-in does not implement are refused even on an empty collection.
 */
const inspectFilter = (filter: Json | undefined, field: string): void => {
  if (!isObject(filter)) return
  const each = (value: Json | undefined, at: string): void => {
    asConditions(value).forEach((condition, i) => {
      inspectCondition(condition, Array.isArray(value) ? `${at}[${i}]` : at)
    })
  }
  each(filter['must'], `${field}.must`)
  each(filter['should'], `${field}.should`)
  each(filter['must_not'], `${field}.must_not`)
  const minShould = filter['min_should']
  if (isObject(minShould)) each(minShould['conditions'], `${field}.min_should.conditions`)
}

const present = (condition: JsonObject, key: string): boolean =>
  condition[key] !== undefined && condition[key] !== null

const inspectCondition = (condition: Json, at: string): void => {
  if (!isObject(condition)) return
  if (typeof condition['key'] === 'string') {
    parsePath(condition['key'])
    for (const key of ['geo_bounding_box', 'geo_radius', 'geo_polygon', 'values_count']) {
      if (present(condition, key)) throw new Unsupported(`${key} conditions`)
    }
    if (!['match', 'range', 'is_empty', 'is_null'].some((key) => present(condition, key))) {
      throw invalid(at, 'At least one field condition must be specified')
    }
    const match = condition['match']
    if (isObject(match) && !MATCH_KINDS.some((kind) => kind in match)) {
      throw new Unsupported(`match ${JSON.stringify(match)}`)
    }
    const range = condition['range']
    if (isObject(range) && Object.values(range).some((bound) => typeof bound === 'string')) {
      throw new Unsupported('datetime range conditions')
    }
    return
  }
  for (const key of ['is_empty', 'is_null']) {
    const field = condition[key]
    if (isObject(field)) {
      parsePath(str(field['key']))
      return
    }
  }
  if ('has_id' in condition || 'has_vector' in condition) return
  const nested = condition['nested']
  if (isObject(nested)) {
    parsePath(str(nested['key']))
    inspectFilter(nested['filter'], `${at}.nested.filter`)
    return
  }
  if ('slice' in condition) throw new Unsupported('slice conditions')
  inspectFilter(condition, at)
}

/** One `Condition`, told apart as serde's untagged enum does: the first variant that fits. */
const checkCondition = (condition: Json, point: StoredPoint, payload: JsonObject): boolean => {
  if (!isObject(condition)) return false
  if (typeof condition['key'] === 'string') return checkField(condition, payload)
  const isEmpty = condition['is_empty']
  if (isObject(isEmpty)) return checkIsEmpty(valuesAt(payload, str(isEmpty['key'])))
  const isNull = condition['is_null']
  if (isObject(isNull)) return valuesAt(payload, str(isNull['key'])).some((v) => v === null)
  if (Array.isArray(condition['has_id'])) {
    const key = pointKey(point.id)
    return condition['has_id'].some((id) => pointKey(toPointId(id)) === key)
  }
  if (typeof condition['has_vector'] === 'string') return point.vectors.has(condition['has_vector'])
  const nested = condition['nested']
  if (isObject(nested)) {
    const key = str(nested['key'])
    const filter = nested['filter']
    return valuesAt(payload, key.endsWith('[]') ? key : `${key}[]`)
      .filter(isObject)
      .some((object) => isObject(filter) && checkFilter(filter, point, object))
  }
  return checkFilter(condition, point, payload)
}

/** `check_filter`: should (any), min_should, must (all), must_not (none). */
const checkFilter = (filter: JsonObject, point: StoredPoint, payload: JsonObject): boolean => {
  const test = (c: Json): boolean => checkCondition(c, point, payload)
  const should = filter['should']
  if (should !== undefined && should !== null && !asConditions(should).some(test)) return false
  const minShould = filter['min_should']
  if (isObject(minShould)) {
    const count = asConditions(minShould['conditions']).filter(test).length
    if (count < Number(minShould['min_count'])) return false
  }
  return asConditions(filter['must']).every(test) && !asConditions(filter['must_not']).some(test)
}

const matches = (filter: Json | undefined, point: StoredPoint): boolean =>
  !isObject(filter) || checkFilter(filter, point, point.payload)

// --- collections --------------------------------------------------------------------------------

type VectorConfig = { size: number; distance: Distance }

type Collection = {
  /** `''` is the unnamed vector; `unnamed` says the collection was created with one. */
  vectors: Map<string, VectorConfig>
  unnamed: boolean
  /** The `vectors` config as sent, echoed by `get_collection`. */
  vectorsConfig: Json
  points: Map<string, StoredPoint>
  payloadIndexes: Map<string, Json>
  operationId: number
}

const DISTANCES: readonly string[] = ['Cosine', 'Euclid', 'Dot', 'Manhattan']

const vectorConfig = (name: string, params: JsonObject): VectorConfig => {
  for (const key of ['multivector_config', 'datatype']) {
    const value = params[key]
    if (value !== undefined && value !== null && !(key === 'datatype' && value === 'float32')) {
      throw new Unsupported(`vector ${key}${name ? ` on "${name}"` : ''}`)
    }
  }
  const distance = str(params['distance'])
  if (!DISTANCES.includes(distance)) throw new Unsupported(`distance ${distance}`)
  return { size: Number(params['size']), distance: distance as Distance }
}

const newCollection = (body: JsonObject): Collection => {
  const config = body['vectors']
  const vectors = new Map<string, VectorConfig>()
  const unnamed = isObject(config) && 'size' in config && 'distance' in config
  if (isObject(config) && unnamed) vectors.set('', vectorConfig('', config))
  else if (isObject(config)) {
    for (const [name, params] of Object.entries(config)) {
      if (isObject(params)) vectors.set(name, vectorConfig(name, params))
    }
  }
  const sparse = body['sparse_vectors']
  if (isObject(sparse) && Object.keys(sparse).length > 0) throw new Unsupported('sparse vectors')
  return {
    vectors,
    unnamed,
    vectorsConfig: config ?? {},
    points: new Map(),
    payloadIndexes: new Map(),
    operationId: 0,
  }
}

/** A point's vectors by name, checked against the collection (dimension, known names). */
const pointVectors = (collection: Collection, vector: Json | undefined, field: string) => {
  const named: Array<[string, Json]> = Array.isArray(vector)
    ? [['', vector]]
    : isObject(vector)
      ? Object.entries(vector)
      : []
  if (!Array.isArray(vector) && !isObject(vector)) throw new Unsupported('inference objects')
  if (isObject(vector) && typeof vector['model'] === 'string') {
    throw new Unsupported('inference objects')
  }
  const out = new Map<string, number[]>()
  for (const [name, value] of named) {
    const config = collection.vectors.get(name)
    if (!config) throw wrongInput(`Not existing vector name error: ${name}`)
    if (!Array.isArray(value) || value.some((x) => typeof x !== 'number')) {
      throw new Unsupported(`vector "${name}" of this kind (sparse, multivector or inference)`)
    }
    if (value.length === 0) throw invalid(field, 'value invalid, must not be empty')
    if (value.length !== config.size) {
      throw wrongInput(`Vector dimension error: expected dim: ${config.size}, got ${value.length}`)
    }
    out.set(name, preprocess(config.distance, value as number[]))
  }
  return out
}

const payloadOf = (value: Json | undefined): JsonObject =>
  isObject(value) ? structuredClone(value) : {}

// --- output shapes ------------------------------------------------------------------------------

const selectPayload = (payload: JsonObject, selector: Json | undefined): JsonObject | undefined => {
  if (selector === undefined || selector === null || selector === false) return undefined
  if (selector === true) return structuredClone(payload)
  const include = Array.isArray(selector)
    ? selector
    : isObject(selector) && Array.isArray(selector['include'])
      ? selector['include']
      : undefined
  const exclude =
    isObject(selector) && Array.isArray(selector['exclude']) ? selector['exclude'] : undefined
  const keysOnly = (paths: Json[]): string[][] =>
    paths.map((path) => {
      const items = parsePath(str(path))
      if (items.some((item) => typeof item !== 'object' || !('key' in item))) {
        throw new Unsupported('payload selectors with array paths')
      }
      return items.map((item) => (typeof item === 'object' && 'key' in item ? item.key : ''))
    })
  if (include) {
    const out: JsonObject = {}
    for (const keys of keysOnly(include)) {
      let source: Json | undefined = payload
      let target: JsonObject = out
      keys.forEach((key, i) => {
        source = isObject(source) ? source[key] : undefined
        if (source === undefined) return
        if (i === keys.length - 1) target[key] = structuredClone(source)
        else {
          const next = target[key]
          target = isObject(next) ? next : (target[key] = {})
        }
      })
    }
    return out
  }
  if (exclude) {
    const out = structuredClone(payload)
    for (const keys of keysOnly(exclude)) {
      let target: Json | undefined = out
      keys.forEach((key, i) => {
        if (!isObject(target)) return
        if (i === keys.length - 1) Reflect.deleteProperty(target, key)
        else target = target[key]
      })
    }
    return out
  }
  throw new Unsupported(`with_payload ${JSON.stringify(selector)}`)
}

const selectVectors = (
  collection: Collection,
  point: StoredPoint,
  selector: Json | undefined,
): Json | undefined => {
  if (selector === undefined || selector === null || selector === false) return undefined
  const names = Array.isArray(selector) ? selector.map(String) : undefined
  if (collection.unnamed && (names === undefined || names.includes(''))) {
    return (point.vectors.get('') ?? []).map(f32Json)
  }
  const out: JsonObject = {}
  for (const [name, vector] of point.vectors) {
    if (names === undefined || names.includes(name)) out[name] = vector.map(f32Json)
  }
  return out
}

const record = (
  collection: Collection,
  point: StoredPoint,
  withPayload: Json | undefined,
  withVector: Json | undefined,
): JsonObject => {
  const out: JsonObject = { id: point.id }
  const payload = selectPayload(point.payload, withPayload)
  if (payload !== undefined) out['payload'] = payload
  const vector = selectVectors(collection, point, withVector)
  if (vector !== undefined) out['vector'] = vector
  return out
}

const sortedPoints = (collection: Collection): StoredPoint[] =>
  [...collection.points.values()].sort((a, b) => compareIds(a.id, b.id))

// --- operations ---------------------------------------------------------------------------------

type Context = {
  params: Record<string, string>
  query: Record<string, string>
  body: JsonObject
  collections: Map<string, Collection>
  version: string
}

type Handler = (ctx: Context) => Json

const collectionOf = (ctx: Context): [string, Collection] => {
  const name = ctx.params['collection_name'] ?? ''
  const collection = ctx.collections.get(name)
  if (!collection) throw notFound(name)
  return [name, collection]
}

const updated = (ctx: Context, collection: Collection): JsonObject => {
  collection.operationId += 1
  return {
    operation_id: collection.operationId - 1,
    status: ctx.query['wait'] === 'true' ? 'completed' : 'acknowledged',
  }
}

const rejectShardKeys = (body: JsonObject): void => {
  for (const key of ['shard_key', 'update_filter', 'update_mode', 'lookup_from', 'order_by']) {
    if (body[key] !== undefined && body[key] !== null) throw new Unsupported(key)
  }
}

const queryPoints = (collection: Collection, request: JsonObject): JsonObject => {
  rejectShardKeys(request)
  const prefetch = request['prefetch']
  if (
    prefetch !== undefined &&
    prefetch !== null &&
    !(Array.isArray(prefetch) && prefetch.length === 0)
  ) {
    throw new Unsupported('prefetch')
  }
  const using = typeof request['using'] === 'string' ? request['using'] : ''
  const limit = typeof request['limit'] === 'number' ? request['limit'] : 10
  const offset = typeof request['offset'] === 'number' ? request['offset'] : 0
  const filter = request['filter']
  const candidates = sortedPoints(collection).filter((point) => matches(filter, point))
  const shape = (point: StoredPoint, scoreValue: number): JsonObject => ({
    ...record(collection, point, request['with_payload'], request['with_vector']),
    version: point.version,
    score: f32Json(scoreValue),
  })
  let query = request['query']
  if (isObject(query) && 'nearest' in query) {
    if (query['mmr'] !== undefined && query['mmr'] !== null) throw new Unsupported('mmr')
    query = query['nearest']
  }
  if (query === undefined || query === null) {
    return { points: candidates.slice(offset, offset + limit).map((p) => shape(p, 0)) }
  }
  if (!Array.isArray(query) || query.some((x) => typeof x !== 'number')) {
    throw new Unsupported(`query ${JSON.stringify(query).slice(0, 80)}`)
  }
  const config = collection.vectors.get(using)
  if (!config) throw wrongInput(`Not existing vector name error: ${using}`)
  if (query.length !== config.size) {
    throw wrongInput(`Vector dimension error: expected dim: ${config.size}, got ${query.length}`)
  }
  const vector = preprocess(config.distance, query as number[])
  const threshold = request['score_threshold']
  const better = largeBetter(config.distance)
  const scored = candidates
    .flatMap((point) => {
      const stored = point.vectors.get(using)
      return stored ? [{ point, score: score(config.distance, vector, stored) }] : []
    })
    .filter(
      ({ score: s }) =>
        typeof threshold !== 'number' || (better ? s > f32(threshold) : s < f32(threshold)),
    )
    .sort(
      (a, b) =>
        (better ? b.score - a.score : a.score - b.score) || compareIds(a.point.id, b.point.id),
    )
  return {
    points: scored.slice(offset, offset + limit).map(({ point, score: s }) => shape(point, s)),
  }
}

const handlers: Record<string, Handler> = {
  root: (ctx) => ({
    title: 'qdrant - vector search engine',
    version: ctx.version,
    commit: SPEC_COMMIT,
  }),
  get_collections: (ctx) => ({
    collections: [...ctx.collections.keys()].map((name) => ({ name })),
  }),
  collection_exists: (ctx) => ({
    exists: ctx.collections.has(ctx.params['collection_name'] ?? ''),
  }),
  create_collection: (ctx) => {
    const name = ctx.params['collection_name'] ?? ''
    if (ctx.collections.has(name)) {
      throw new QdrantError(409, `Wrong input: Collection \`${name}\` already exists!`)
    }
    ctx.collections.set(name, newCollection(ctx.body))
    return true
  },
  delete_collection: (ctx) => ctx.collections.delete(ctx.params['collection_name'] ?? ''),
  get_collection: (ctx) => {
    const [, collection] = collectionOf(ctx)
    const payloadSchema: JsonObject = {}
    for (const [field, schema] of collection.payloadIndexes) {
      const points = [...collection.points.values()].filter(
        (p) => valuesAt(p.payload, field).length > 0,
      ).length
      payloadSchema[field] = isObject(schema)
        ? { data_type: schema['type'] ?? null, params: schema, points }
        : { data_type: schema, points }
    }
    return {
      status: 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: 0,
      points_count: collection.points.size,
      segments_count: 2,
      config: {
        params: {
          vectors: collection.vectorsConfig,
          shard_number: 1,
          replication_factor: 1,
          write_consistency_factor: 1,
          on_disk_payload: true,
        },
        hnsw_config: {
          m: 16,
          ef_construct: 100,
          full_scan_threshold: 10000,
          max_indexing_threads: 0,
          on_disk: false,
        },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          max_segment_size: null,
          memmap_threshold: null,
          indexing_threshold: 10000,
          flush_interval_sec: 5,
          max_optimization_threads: null,
        },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 },
        quantization_config: null,
        strict_mode_config: { enabled: false },
      },
      payload_schema: payloadSchema,
    }
  },
  create_field_index: (ctx) => {
    const [, collection] = collectionOf(ctx)
    const schema = ctx.body['field_schema']
    if (schema === undefined || schema === null) {
      throw new QdrantError(
        400,
        "Bad request: Can't auto-detect field type, please specify `field_schema` in the request",
      )
    }
    collection.payloadIndexes.set(str(ctx.body['field_name']), structuredClone(schema))
    return updated(ctx, collection)
  },
  delete_field_index: (ctx) => {
    const [, collection] = collectionOf(ctx)
    collection.payloadIndexes.delete(ctx.params['field_name'] ?? '')
    return updated(ctx, collection)
  },
  upsert_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    rejectShardKeys(ctx.body)
    const incoming: Array<{ id: PointId; vectors: Map<string, number[]>; payload: JsonObject }> = []
    const batch = ctx.body['batch']
    if (isObject(batch)) {
      const ids = Array.isArray(batch['ids']) ? batch['ids'] : []
      const vectors = batch['vectors']
      const payloads = batch['payloads']
      const perPoint: Array<Json | undefined> = Array.isArray(vectors)
        ? vectors
        : isObject(vectors)
          ? ids.map((_, i) =>
              Object.fromEntries(
                Object.entries(vectors).map(([name, list]) => [
                  name,
                  Array.isArray(list) ? (list[i] ?? null) : null,
                ]),
              ),
            )
          : []
      const lengths = Array.isArray(vectors)
        ? [vectors.length]
        : isObject(vectors)
          ? Object.values(vectors).map((list) => (Array.isArray(list) ? list.length : 0))
          : []
      for (const length of lengths) {
        if (length !== ids.length) {
          throw invalid(
            'batch',
            `number of ids and vectors must be equal (${ids.length} != ${length})`,
          )
        }
      }
      if (Array.isArray(payloads) && payloads.length !== ids.length) {
        throw invalid(
          'batch',
          `number of ids and payloads must be equal (${ids.length} != ${payloads.length})`,
        )
      }
      ids.forEach((id, i) => {
        incoming.push({
          id: toPointId(id),
          vectors: pointVectors(collection, perPoint[i], `batch.vectors[${i}]`),
          payload: payloadOf(Array.isArray(payloads) ? payloads[i] : undefined),
        })
      })
    } else {
      const points = Array.isArray(ctx.body['points']) ? ctx.body['points'] : []
      points.forEach((point, i) => {
        if (!isObject(point)) return
        incoming.push({
          id: toPointId(point['id']),
          vectors: pointVectors(collection, point['vector'], `points[${i}].vector`),
          payload: payloadOf(point['payload']),
        })
      })
    }
    const version = collection.operationId
    for (const point of incoming) collection.points.set(pointKey(point.id), { ...point, version })
    return updated(ctx, collection)
  },
  delete_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    rejectShardKeys(ctx.body)
    const ids = ctx.body['points']
    if (Array.isArray(ids)) for (const id of ids) collection.points.delete(pointKey(toPointId(id)))
    else {
      const filter = ctx.body['filter']
      for (const [key, point] of collection.points) {
        if (isObject(filter) && matches(filter, point)) collection.points.delete(key)
      }
    }
    return updated(ctx, collection)
  },
  get_point: (ctx) => {
    const [, collection] = collectionOf(ctx)
    const raw = ctx.params['id'] ?? ''
    const id: PointId = /^\d+$/.test(raw) ? Number(raw) : raw.toLowerCase()
    const point = collection.points.get(pointKey(id))
    if (!point) throw new QdrantError(404, `Not found: Point with id ${raw} does not exists!`)
    return record(collection, point, true, true)
  },
  get_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    rejectShardKeys(ctx.body)
    const ids = Array.isArray(ctx.body['ids']) ? ctx.body['ids'].map(toPointId) : []
    const seen = new Set<string>()
    return ids.flatMap((id) => {
      const key = pointKey(id)
      const point = collection.points.get(key)
      if (!point || seen.has(key)) return []
      seen.add(key)
      return [
        record(
          collection,
          point,
          ctx.body['with_payload'] ?? true,
          ctx.body['with_vector'] ?? false,
        ),
      ]
    })
  },
  query_points: (ctx) => queryPoints(collectionOf(ctx)[1], ctx.body),
  query_batch_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    const searches = Array.isArray(ctx.body['searches']) ? ctx.body['searches'] : []
    return searches.map((search) => queryPoints(collection, isObject(search) ? search : {}))
  },
  scroll_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    rejectShardKeys(ctx.body)
    const limit = typeof ctx.body['limit'] === 'number' ? ctx.body['limit'] : 10
    const from = ctx.body['offset']
    const start = from === undefined || from === null ? undefined : toPointId(from)
    const filter = ctx.body['filter']
    const selected = sortedPoints(collection).filter(
      (point) =>
        (start === undefined || compareIds(point.id, start) >= 0) && matches(filter, point),
    )
    return {
      points: selected
        .slice(0, limit)
        .map((p) =>
          record(collection, p, ctx.body['with_payload'] ?? true, ctx.body['with_vector'] ?? false),
        ),
      next_page_offset: selected[limit]?.id ?? null,
    }
  },
  count_points: (ctx) => {
    const [, collection] = collectionOf(ctx)
    rejectShardKeys(ctx.body)
    const filter = ctx.body['filter']
    return { count: [...collection.points.values()].filter((p) => matches(filter, p)).length }
  },
}

/** Answered as plain text, outside the envelope (`src/actix/api/service_api.rs`). */
const TEXT_ANSWERS: Record<string, string> = {
  healthz: 'healthz check passed',
  livez: 'healthz check passed',
  readyz: 'all shards are ready',
}

/** Operations a read-only key may call (`is_read_only` in `src/actix/auth.rs` plus reads). */
const WRITES = new Set([
  'create_collection',
  'delete_collection',
  'create_field_index',
  'delete_field_index',
  'upsert_points',
  'delete_points',
])

/** Paths served without a key (`api_key_whitelist` in `src/actix/mod.rs`). */
const isWhitelisted = (path: string): boolean =>
  path === '/' || path === '/healthz' || path.startsWith('/readyz') || path.startsWith('/livez')

// --- routing ------------------------------------------------------------------------------------

/** `NormalizePath::trim()`: repeated slashes merged, the trailing one dropped. */
const normalizePath = (path: string): string => {
  const merged = path.replace(/\/+/g, '/')
  return merged.length > 1 ? merged.replace(/\/$/, '') : merged
}

const route = (
  method: string,
  path: string,
): { op: Operation; params: Record<string, string> } | undefined => {
  const segments = path.split('/').slice(1)
  let best: { op: Operation; params: Record<string, string>; literals: number } | undefined
  for (const op of loadSpec().operations) {
    if (op.method !== method || op.segments.length !== segments.length) continue
    const params: Record<string, string> = {}
    let literals = 0
    const fits = op.segments.every((template, i) => {
      const segment = segments[i] ?? ''
      const name = /^\{(.+)\}$/.exec(template)?.[1]
      if (name === undefined) {
        literals += 1
        return template === segment
      }
      if (segment === '') return false
      try {
        params[name] = decodeURIComponent(segment)
      } catch {
        params[name] = segment
      }
      return true
    })
    if (fits && (!best || literals > best.literals)) best = { op, params, literals }
  }
  return best
}

/** The values a raw parameter string could stand for, most specific first. */
const candidates = (raw: string): unknown[] => {
  const out: unknown[] = []
  if (raw === 'true' || raw === 'false') out.push(raw === 'true')
  if (/^-?\d+(\.\d+)?$/.test(raw)) out.push(Number(raw))
  out.push(raw)
  return out
}

const checkParameter = (op: Operation, p: Parameter, raw: string): Invalid | undefined => {
  const where = p.in === 'path' ? 'path parameters' : 'query parameters'
  const key = `${op.operationId}:${p.in}:${p.name}`
  let first: Invalid | undefined
  for (const value of candidates(raw)) {
    const problem = check(key, p.schema, value, where)
    if (!problem) return undefined
    first ??= problem
  }
  return first
}

// --- the server ---------------------------------------------------------------------------------

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const headersOf = (req: IncomingMessage): Record<string, string> =>
  Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(', ') : (value ?? ''),
    ]),
  )

const isJsonContentType = (value: string | undefined): boolean => {
  const essence = (value ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  return essence === 'application/json' || /^application\/[^/]+\+json$/.test(essence)
}

/** Starts the stand-in on a free loopback port. */
export async function startQdrant(options: QdrantOptions = {}): Promise<QdrantStandIn> {
  const apiKey = options.apiKey === undefined ? randomBytes(16).toString('hex') : options.apiKey
  const readOnlyKey = options.readOnlyApiKey
  const version = options.version ?? SPEC_RELEASE
  let collections = new Map<string, Collection>()
  const requests: QdrantRequest[] = []
  const violations: QdrantViolation[] = []
  let down = false
  let latency = 0
  const closing = new AbortController()

  const answer = (entry: QdrantRequest, text: string): Reply => {
    const started = performance.now()
    const elapsed = (): number => (performance.now() - started) / 1000
    const error = (status: number, message: string, time = elapsed()): Reply => ({
      status,
      json: { status: { error: message }, time },
    })
    const violation = (kind: QdrantViolationKind, errors: string[]): void => {
      violations.push({
        kind,
        method: entry.method,
        path: entry.path,
        operationId: entry.operationId,
        errors,
      })
    }
    const path = normalizePath(entry.path)

    // Authentication runs before routing (`AuthMiddleware` wraps the whole app).
    let readOnly = false
    if (apiKey !== null && !isWhitelisted(path)) {
      const bearer = entry.headers['authorization']
      const key =
        entry.headers['api-key'] ?? (bearer?.startsWith('Bearer ') ? bearer.slice(7) : undefined)
      if (key === undefined) {
        return { status: 401, text: 'Must provide an API key or an Authorization bearer token' }
      }
      if (key !== apiKey && key !== readOnlyKey) {
        return { status: 401, text: 'Invalid API key or JWT' }
      }
      readOnly = key !== apiKey
    }

    const matched = route(entry.method, path)
    if (!matched) {
      violation('route', [`no operation for ${entry.method} ${path}`])
      return { status: 404 }
    }
    const { op, params } = matched
    entry.operationId = op.operationId

    for (const p of op.parameters.filter((q) => q.in === 'path')) {
      const problem = checkParameter(op, p, params[p.name] ?? '')
      if (problem) {
        violation('path', problem.errors)
        return error(problem.status, problem.message, 0)
      }
    }

    let body: JsonObject = {}
    if (op.body !== undefined) {
      if (!isJsonContentType(entry.headers['content-type'])) {
        violation('content-type', [`content-type ${entry.headers['content-type'] ?? '(none)'}`])
        return error(400, 'Content type error', 0)
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e)
        violation('json', [message])
        return error(400, `Format error in JSON body: ${message}`, 0)
      }
      const problem = check(`${op.operationId}:body`, op.body, parsed, 'JSON body')
      if (problem) {
        violation('body', problem.errors)
        return error(problem.status, problem.message, 0)
      }
      body = isObject(parsed) ? parsed : {}
    }

    for (const p of op.parameters.filter((q) => q.in === 'query')) {
      const raw = entry.query[p.name]
      if (raw === undefined) {
        if (!p.required) continue
        violation('query', [`missing query parameter ${p.name}`])
        return error(400, `Deserialize error in query parameters: missing field \`${p.name}\``, 0)
      }
      const problem = checkParameter(op, p, raw)
      if (problem) {
        violation('query', problem.errors)
        return error(problem.status, problem.message, 0)
      }
    }

    const textAnswer = TEXT_ANSWERS[op.operationId]
    if (textAnswer !== undefined) return { status: 200, text: textAnswer }
    if (readOnly && WRITES.has(op.operationId)) {
      return error(403, 'Forbidden: Global manage access is required')
    }
    const handler = handlers[op.operationId]
    if (!handler) {
      violation('unsupported', [`operation ${op.operationId} is not implemented by the stand-in`])
      return error(501, `Service internal error: ${op.operationId} is not implemented here`)
    }
    let result: Json
    try {
      // Qdrant validates a request, its filters included, before it looks for the collection.
      inspectFilter(body['filter'], 'filter')
      const searches = Array.isArray(body['searches']) ? body['searches'] : []
      searches.forEach((search, i) => {
        if (isObject(search)) inspectFilter(search['filter'], `searches[${i}].filter`)
      })
      result = handler({ params, query: entry.query, body, collections, version })
    } catch (e) {
      if (e instanceof QdrantError) return error(e.status, e.message)
      if (e instanceof Unsupported) {
        violation('unsupported', [e.message])
        return error(501, `Service internal error: not implemented here: ${e.message}`)
      }
      throw e
    }
    const json: Json =
      op.operationId === 'root' ? result : { result, status: 'ok', time: elapsed() }
    const problems = qdrantResponseViolations(op.operationId, json)
    if (problems.length > 0) violation('response', problems)
    return { status: 200, json }
  }

  const send = (res: ServerResponse, reply: Reply): void => {
    if (res.destroyed || res.writableEnded) return
    const text = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '')
    const type =
      reply.json !== undefined
        ? 'application/json'
        : reply.text !== undefined
          ? 'text/plain; charset=utf-8'
          : undefined
    res.writeHead(reply.status, {
      ...(type ? { 'content-type': type } : {}),
      'content-length': Buffer.byteLength(text),
    })
    res.end(text)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://qdrant')
    const text = await readBody(req)
    let body: unknown
    if (text !== '') {
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
    }
    const entry: QdrantRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: headersOf(req),
      body,
      operationId: undefined,
      status: 0,
    }
    requests.push(entry)
    if (down) {
      req.socket.destroy()
      return
    }
    if (latency > 0) await sleep(latency, undefined, { signal: closing.signal })
    const reply = answer(entry, text)
    entry.status = reply.status
    send(res, reply)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (closing.signal.aborted) return
      if (!res.headersSent) {
        const message = e instanceof Error ? e.message : String(e)
        send(res, {
          status: 500,
          json: { status: { error: `Service internal error: ${message}` }, time: 0 },
        })
      } else res.destroy()
    })
  })
  const port = await listenOnLoopback(server)

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    violations,
    collection(name) {
      const c = collections.get(name)
      if (!c) return undefined
      return {
        vectors: Object.fromEntries([...c.vectors].map(([n, v]) => [n, { ...v }])),
        payloadIndexes: Object.fromEntries(
          [...c.payloadIndexes].map(([field, schema]) => [field, structuredClone(schema)]),
        ),
        points: sortedPoints(c).map((p) => ({
          id: p.id,
          vectors: Object.fromEntries([...p.vectors].map(([n, v]) => [n, [...v]])),
          payload: structuredClone(p.payload),
        })),
      }
    },
    setDown(value) {
      down = value
    },
    setLatency(ms) {
      latency = Math.max(0, ms)
    },
    reset() {
      collections = new Map()
      requests.length = 0
      violations.length = 0
    },
    async close() {
      closing.abort()
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
    },
  }
}
