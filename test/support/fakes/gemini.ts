/**
 * @module Fake Gemini API (Generative Language API `v1beta`), served by `../fake-providers.ts`
 * under `${url}/gemini` (the base-URL form the Google Gen AI SDK uses; it appends `/v1beta/...`).
 *
 * Routes (`{model}` is a bare name such as `gemini-2.5-flash`):
 * - `POST /v1beta/models/{model}:generateContent` → `GenerateContentResponse`.
 * - `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` → SSE: one
 *   `data: {GenerateContentResponse}` per event, CRLF-separated as in the raw recorded bytes
 *   (`generative-ai-js-mock-responses`), no event names, no `[DONE]`; without `alt=sse` the API
 *   answers a JSON array of the same responses, and so does this fake.
 * - `POST /v1beta/models/{model}:embedContent` → `{embedding: {values}}`, and
 *   `:batchEmbedContents` → `{embeddings: [{values}]}`: hash-derived vectors (same text, same
 *   vector), `outputDimensionality` honoured by truncating the full vector from the end as the
 *   proto documents (so a truncated vector is not unit length). `EmbedContentResponse` has no
 *   `usageMetadata` in the proto and none is sent.
 * - `GET /v1beta/models` → `ListModelsResponse`, paged by `pageSize`/`pageToken`.
 *
 * Auth: a non-empty `x-goog-api-key` header (the `?key=` form the API also accepts is not taken:
 * a key in a URL ends up in logs); otherwise 403 `PERMISSION_DENIED`. Errors are
 * `{error: {code, message, status[, details]}}`; for `:streamGenerateContent` they are sent with
 * `content-type: text/event-stream`, as the recorded 404 is.
 *
 * Validation is derived from the protos (`test/fixtures/gemini/proto/v1beta`, parsed here):
 * field names (lowerCamelCase JSON names, or the proto names, as proto3 JSON parsers accept),
 * value types, enum values and oneofs are checked at every level, and violations are answered
 * like the API's JSON parser does: 400 `INVALID_ARGUMENT`, one line per problem
 * (`Invalid JSON payload received. Unknown name "x" at 'generation_config': Cannot find field.`,
 * `Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/…), "X"`) and
 * a `google.rpc.BadRequest` detail. Fields marked `REQUIRED` must be set, except where the SDK
 * types make them optional (`FunctionDeclaration.description`, `Schema.type`) and the `model`
 * fields the URL carries. The one addition to the protos: `ThinkingConfig.thinkingLevel`
 * (`MINIMAL|LOW|MEDIUM|HIGH`), which the live API and js-genai have and the protos lag behind.
 *
 * Rules written here (from proto comments and messages the API is known to send), answered as
 * `* GenerateContentRequest.<path>: <problem>` lines: `contents` non-empty, roles `user|model`,
 * non-empty `parts`, each part carries data; `systemInstruction` text only; function names
 * (letters, digits, `_ . : -`, starting with a letter or `_`, at most 64) and unique;
 * `parameters` xor `parametersJsonSchema` (`response` xor `responseJsonSchema`); `required`
 * names defined in `properties`; `functionCallingConfig` needs function declarations,
 * `allowedFunctionNames` only with `ANY`/`VALIDATED` and only declared names; a function call
 * turn follows a user or function-response turn; a function-response turn answers the previous
 * turn's calls one for one and by name; `generationConfig` bounds (`temperature` 0..2, at most 5
 * `stopSequences`, `logprobs` 0..20, a `responseMimeType` with `responseSchema` or
 * `responseJsonSchema`, not both); one safety setting per category; embed requests carry content
 * and batch requests name the URL's model.
 *
 * Thought signatures: a function call this fake answers carries a `thoughtSignature` (as current
 * Gemini models do). When a later request echoes that call in a `model` turn without the same
 * signature, the API's 400 (`Function call is missing a thought_signature in functionCall parts…`)
 * is answered and recorded; a signature this fake never issued is rejected as invalid, except
 * Google's documented stand-in `skip_thought_signature_validator`, which the API accepts.
 *
 * Replies come from recorded responses (`test/fixtures/gemini`), selected by scenario: a function
 * call of the first declared function (or the first `allowedFunctionNames` entry with `ANY`) when
 * the request declares functions, the mode is not `NONE` and the last user turn holds no
 * `functionResponse`; text otherwise. `x-fake-fixture: <name>` picks one of
 * {@link geminiScenarioNames}, including `safety-blocked`, `prompt-blocked` and `model-not-found`.
 * `modelVersion` is the URL's model and `responseId` is fresh; with
 * `generationConfig.thinkingConfig.includeThoughts` the recorded thought part comes first.
 * Non-streamed answers are the streamed chunks merged (texts joined, usage of the last chunk)
 * unless a unary recording exists. `x-fake-error-event: 1` writes, after two events, a bare
 * `{"error": {...}}` object with no `data:` prefix (the mid-stream error js-genai's parser
 * detects) and ends the stream.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FrameStream, NativeFake, NativeRequest, Reply } from '../fake-providers.ts'
import { arrayAt, isObject, objectAt, stringAt, type Json, type JsonObject } from '../json.ts'

const FIXTURES = new URL('../../fixtures/gemini/', import.meta.url)
const PROTO_DIR = new URL('proto/v1beta/', FIXTURES)
const PROTO_FILES = [
  'content.proto',
  'safety.proto',
  'citation.proto',
  'generative_service.proto',
  'model.proto',
  'model_service.proto',
]
const PACKAGE = 'google.ai.generativelanguage.v1beta'

// --- small JSON helpers -------------------------------------------------------------------------

const numberAt = (value: unknown, key: string): number | undefined => {
  const inner = isObject(value) ? value[key] : undefined
  return typeof inner === 'number' ? inner : undefined
}

/** JSON with object keys sorted, so equal values give equal text. */
const stableJson = (value: Json): string => {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (!isObject(value)) return JSON.stringify(value)
  const keys = Object.keys(value).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${stableJson(value[key] ?? null)}`).join(',')}}`
}

const readFixture = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8')

// --- the protos ---------------------------------------------------------------------------------

type FieldDef = {
  name: string
  jsonName: string
  type: string
  /** Full name of the message declaring the field: where its type name is resolved. */
  scope: string
  repeated: boolean
  map: { key: string; value: string } | undefined
  oneof: string | undefined
  required: boolean
}
type MessageDef = { kind: 'message'; fullName: string; fields: FieldDef[] }
type EnumDef = { kind: 'enum'; fullName: string; values: Set<string>; numbers: Set<number> }
type Registry = Map<string, MessageDef | EnumDef>

const SCALARS = new Set([
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
  'bool',
  'string',
  'bytes',
])

const WELL_KNOWN = new Set([
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Empty',
  'google.protobuf.FieldMask',
])

/** proto3's default JSON name: `response_json_schema` → `responseJsonSchema`. */
const lowerCamel = (name: string): string =>
  name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())

const TOKEN =
  /\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\.?[A-Za-z_][\w.]*|-?\d[\w.]*|\S)/g

const tokenize = (source: string): string[] =>
  [...source.matchAll(TOKEN)].flatMap((match) => (match[1] === undefined ? [] : [match[1]]))

/** Reads the messages and enums of one `.proto` file into `registry` (services are skipped). */
const parseProto = (source: string, registry: Registry): void => {
  const tokens = tokenize(source)
  let at = 0
  const peek = (): string => tokens[at] ?? ''
  const next = (): string => {
    if (at >= tokens.length) throw new Error('proto: unexpected end of file')
    return tokens[at++] ?? ''
  }
  const expect = (token: string): void => {
    const got = next()
    if (got !== token) throw new Error(`proto: expected '${token}', got '${got}' (token ${at})`)
  }
  const skipStatement = (): void => {
    let depth = 0
    for (;;) {
      const token = next()
      if (token === '{' || token === '[' || token === '(') depth++
      else if (token === '}' || token === ']' || token === ')') depth--
      else if (token === ';' && depth === 0) return
    }
  }
  const skipBlock = (): void => {
    while (next() !== '{') {
      // the block's name and options
    }
    let depth = 1
    while (depth > 0) {
      const token = next()
      if (token === '{') depth++
      else if (token === '}') depth--
    }
  }
  const parseOptions = (): { jsonName: string | undefined; required: boolean } => {
    const options = { jsonName: undefined as string | undefined, required: false }
    if (peek() !== '[') return options
    next()
    const start = at
    let depth = 1
    while (depth > 0) {
      const token = next()
      if (token === '[' || token === '{') depth++
      else if (token === ']' || token === '}') depth--
    }
    const inner = tokens.slice(start, at - 1)
    inner.forEach((token, index) => {
      const value = inner[index + 2]
      if (token === 'json_name' && inner[index + 1] === '=' && value !== undefined) {
        options.jsonName = JSON.parse(value) as string
      }
      if (
        token === 'google.api.field_behavior' &&
        inner[index + 1] === ')' &&
        inner[index + 2] === '=' &&
        inner[index + 3] === 'REQUIRED'
      ) {
        options.required = true
      }
    })
    return options
  }
  const parseEnum = (scope: string): void => {
    const fullName = `${scope}.${next()}`
    expect('{')
    const def: EnumDef = { kind: 'enum', fullName, values: new Set(), numbers: new Set() }
    while (peek() !== '}') {
      const token = next()
      if (token === ';') continue
      if (token === 'option' || token === 'reserved') {
        skipStatement()
        continue
      }
      expect('=')
      def.values.add(token)
      def.numbers.add(Number(next()))
      parseOptions()
      expect(';')
    }
    next()
    registry.set(fullName, def)
  }
  const parseBody = (def: MessageDef, oneof: string | undefined): void => {
    while (peek() !== '}') {
      const token = next()
      if (token === ';') continue
      if (token === 'message') {
        parseMessage(def.fullName)
        continue
      }
      if (token === 'enum') {
        parseEnum(def.fullName)
        continue
      }
      if (token === 'oneof') {
        const name = next()
        expect('{')
        parseBody(def, name)
        continue
      }
      if (token === 'option' || token === 'reserved' || token === 'extensions') {
        skipStatement()
        continue
      }
      if (token === 'extend') {
        skipBlock()
        continue
      }
      let type = token
      let repeated = false
      if (token === 'repeated') {
        repeated = true
        type = next()
      } else if (token === 'optional' || token === 'required') {
        type = next()
      }
      let map: FieldDef['map']
      if (type === 'map') {
        expect('<')
        const key = next()
        expect(',')
        const value = next()
        expect('>')
        map = { key, value }
      }
      const name = next()
      expect('=')
      next()
      const options = parseOptions()
      expect(';')
      def.fields.push({
        name,
        jsonName: options.jsonName ?? lowerCamel(name),
        type,
        scope: def.fullName,
        repeated: repeated || map !== undefined,
        map,
        oneof,
        required: options.required,
      })
    }
    next()
  }
  const parseMessage = (scope: string): void => {
    const fullName = `${scope}.${next()}`
    expect('{')
    const def: MessageDef = { kind: 'message', fullName, fields: [] }
    registry.set(fullName, def)
    parseBody(def, undefined)
  }

  let pkg = ''
  while (at < tokens.length) {
    const token = next()
    if (token === ';') continue
    if (token === 'package') {
      pkg = next()
      expect(';')
    } else if (token === 'message') parseMessage(pkg)
    else if (token === 'enum') parseEnum(pkg)
    else if (token === 'service' || token === 'extend') skipBlock()
    else skipStatement()
  }
}

const field = (
  scope: string,
  name: string,
  type: string,
  extra: Partial<FieldDef> = {},
): FieldDef => ({
  name,
  jsonName: lowerCamel(name),
  type,
  scope,
  repeated: false,
  map: undefined,
  oneof: undefined,
  required: false,
  ...extra,
})

let registryCache: Registry | undefined

const registry = (): Registry => {
  if (registryCache) return registryCache
  const defs: Registry = new Map()
  for (const file of PROTO_FILES) parseProto(readFileSync(new URL(file, PROTO_DIR), 'utf8'), defs)
  // google.type messages the protos import (their files are not among the copied ones).
  defs.set('google.type.LatLng', {
    kind: 'message',
    fullName: 'google.type.LatLng',
    fields: [
      field('google.type.LatLng', 'latitude', 'double'),
      field('google.type.LatLng', 'longitude', 'double'),
    ],
  })
  defs.set('google.type.Interval', {
    kind: 'message',
    fullName: 'google.type.Interval',
    fields: [
      field('google.type.Interval', 'start_time', 'google.protobuf.Timestamp'),
      field('google.type.Interval', 'end_time', 'google.protobuf.Timestamp'),
    ],
  })
  // The live API's `thinkingLevel`, which the protos lag behind (js-genai `ThinkingLevel`).
  const thinking = defs.get(`${PACKAGE}.ThinkingConfig`)
  if (thinking?.kind !== 'message') throw new Error('gemini protos: ThinkingConfig not found')
  const levels = ['THINKING_LEVEL_UNSPECIFIED', 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH']
  defs.set(`${PACKAGE}.ThinkingConfig.ThinkingLevel`, {
    kind: 'enum',
    fullName: `${PACKAGE}.ThinkingConfig.ThinkingLevel`,
    values: new Set(levels),
    numbers: new Set(levels.map((_, index) => index)),
  })
  thinking.fields.push(field(thinking.fullName, 'thinking_level', 'ThinkingLevel'))
  registryCache = defs
  return defs
}

/** Resolves a type name as protoc does: innermost scope first, then each enclosing one. */
const resolve = (type: string, scope: string): string => {
  if (SCALARS.has(type) || WELL_KNOWN.has(type)) return type
  if (type.startsWith('.')) return type.slice(1)
  const defs = registry()
  const parts = scope.split('.')
  for (let length = parts.length; length >= 0; length--) {
    const candidate = [...parts.slice(0, length), type].join('.')
    if (defs.has(candidate)) return candidate
  }
  // A type from a proto that was not copied (e.g. retriever.proto): accepted as it is.
  return type
}

const messageDef = (name: string): MessageDef => {
  const def = registry().get(name.includes('.') ? name : `${PACKAGE}.${name}`)
  if (def?.kind !== 'message') throw new Error(`gemini protos: no message ${name}`)
  return def
}

// --- proto3 JSON checks -------------------------------------------------------------------------

/** A problem the API's JSON parser reports: its field path and text (a `BadRequest` violation). */
type ParseIssue = { field: string; description: string }

type Walk = { root: string; parse: ParseIssue[]; missing: string[] }

const shown = (value: Json): string => {
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

const invalidValue = (path: string, type: string, value: Json): ParseIssue => ({
  field: path,
  description: `Invalid value at '${path}' (${type}), ${shown(value)}`,
})

const typeLabel = (type: string): string =>
  SCALARS.has(type) ? `TYPE_${type.toUpperCase()}` : `type.googleapis.com/${type}`

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
}

const scalarOk = (type: string, value: Json): boolean => {
  switch (type) {
    case 'string':
      return typeof value === 'string'
    case 'bool':
      return typeof value === 'boolean'
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
    case 'float':
    case 'double':
      return (
        (typeof value === 'number' && Number.isFinite(value)) ||
        (typeof value === 'string' &&
          (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value) ||
            ['NaN', 'Infinity', '-Infinity'].includes(value)))
      )
    default: {
      const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value
      if (typeof number !== 'number' || !Number.isInteger(number)) return false
      const [min, max] = INT_RANGES[type] ?? [-Infinity, Infinity]
      return number >= min && number <= max && (!type.startsWith('u') || number >= 0)
    }
  }
}

const joinPath = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`)

const fieldFor = (def: MessageDef, key: string): FieldDef | undefined =>
  def.fields.find((candidate) => candidate.jsonName === key || candidate.name === key)

/** `REQUIRED` fields the SDK types make optional, and those the URL path carries. */
const notRequired = (def: MessageDef, field: FieldDef, path: string): boolean =>
  (def.fullName === `${PACKAGE}.FunctionDeclaration` && field.name === 'description') ||
  (def.fullName === `${PACKAGE}.Schema` && field.name === 'type') ||
  (path === '' && field.name === 'model')

const isUnset = (value: JsonObject, field: FieldDef): boolean => {
  const inner = value[field.jsonName] ?? value[field.name]
  return (
    inner === undefined ||
    inner === null ||
    inner === '' ||
    (Array.isArray(inner) && inner.length === 0)
  )
}

const checkValue = (type: string, value: Json, path: string, walk: Walk): void => {
  if (SCALARS.has(type)) {
    if (!scalarOk(type, value)) walk.parse.push(invalidValue(path, typeLabel(type), value))
    return
  }
  const bad = (): void => {
    walk.parse.push(invalidValue(path, typeLabel(type), value))
  }
  switch (type) {
    case 'google.protobuf.Value':
      return
    case 'google.protobuf.Struct':
    case 'google.protobuf.Empty':
      if (!isObject(value)) bad()
      return
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) bad()
      return
    case 'google.protobuf.Duration':
      if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) bad()
      return
    case 'google.protobuf.Timestamp':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) bad()
      return
    case 'google.protobuf.FieldMask':
      if (typeof value !== 'string') bad()
      return
  }
  const def = registry().get(type)
  if (!def) return
  if (def.kind === 'enum') {
    const known =
      typeof value === 'string'
        ? def.values.has(value)
        : typeof value === 'number' && def.numbers.has(value)
    if (!known) bad()
    return
  }
  checkMessage(def, value, path, walk)
}

const checkField = (fieldDef: FieldDef, value: Json, path: string, walk: Walk): void => {
  if (fieldDef.map) {
    const valueType = resolve(fieldDef.map.value, fieldDef.scope)
    if (!isObject(value)) {
      walk.parse.push(invalidValue(path, typeLabel(valueType), value))
      return
    }
    Object.values(value).forEach((item, index) => {
      checkValue(valueType, item, `${path}[${index}].value`, walk)
    })
    return
  }
  const type = resolve(fieldDef.type, fieldDef.scope)
  if (!fieldDef.repeated) {
    checkValue(type, value, path, walk)
    return
  }
  if (!Array.isArray(value)) {
    walk.parse.push(invalidValue(path, typeLabel(type), value))
    return
  }
  value.forEach((item, index) => {
    checkValue(type, item, `${path}[${index}]`, walk)
  })
}

function checkMessage(def: MessageDef, value: Json, path: string, walk: Walk): void {
  if (!isObject(value)) {
    walk.parse.push(invalidValue(path, typeLabel(def.fullName), value))
    return
  }
  const where = path === '' ? '' : ` at '${path}'`
  const oneofs = new Map<string, string>()
  for (const [key, child] of Object.entries(value)) {
    const fieldDef = fieldFor(def, key)
    if (!fieldDef) {
      walk.parse.push({
        field: path,
        description: `Invalid JSON payload received. Unknown name "${key}"${where}: Cannot find field.`,
      })
      continue
    }
    // proto3 JSON: null is the field's default value.
    if (child === null) continue
    if (fieldDef.oneof !== undefined) {
      const other = oneofs.get(fieldDef.oneof)
      if (other !== undefined) {
        walk.parse.push({
          field: path,
          description: `Invalid JSON payload received. Oneof field '${fieldDef.oneof}' is already set. Cannot set '${key}'${where}.`,
        })
      }
      oneofs.set(fieldDef.oneof, key)
    }
    checkField(fieldDef, child, joinPath(path, fieldDef.name), walk)
  }
  for (const fieldDef of def.fields) {
    if (!fieldDef.required || notRequired(def, fieldDef, path) || !isUnset(value, fieldDef))
      continue
    const at = joinPath(path, fieldDef.name)
    walk.missing.push(`* ${walk.root}.${at}: ${fieldDef.name} is not specified`)
  }
}

/** The value with every proto field name turned into its JSON name (Struct contents kept). */
const normalize = (type: string, value: Json): Json => {
  const def = registry().get(type)
  if (def?.kind !== 'message' || !isObject(value)) return value
  const out: JsonObject = {}
  for (const [key, child] of Object.entries(value)) {
    const fieldDef = fieldFor(def, key)
    if (!fieldDef || child === null) continue
    if (fieldDef.map && isObject(child)) {
      const valueType = resolve(fieldDef.map.value, fieldDef.scope)
      out[fieldDef.jsonName] = Object.fromEntries(
        Object.entries(child).map(([name, item]) => [name, normalize(valueType, item)]),
      )
      continue
    }
    const childType = resolve(fieldDef.type, fieldDef.scope)
    out[fieldDef.jsonName] = Array.isArray(child)
      ? child.map((item) => normalize(childType, item))
      : normalize(childType, child)
  }
  return out
}

/**
 * What the API's JSON parser says of `value` as message `typeName` (e.g.
 * `GenerateContentResponse`): unknown names, wrong types, bad enum values, doubly set oneofs.
 * Empty when it parses. `REQUIRED` fields are not checked here.
 */
export const geminiShapeViolations = (typeName: string, value: unknown): string[] => {
  const def = messageDef(typeName)
  const walk: Walk = { root: def.fullName.split('.').at(-1) ?? typeName, parse: [], missing: [] }
  checkMessage(def, value as Json, '', walk)
  return walk.parse.map((issue) => issue.description)
}

// --- request rules ------------------------------------------------------------------------------

const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/
const DATA_FIELDS = [
  'text',
  'inlineData',
  'functionCall',
  'functionResponse',
  'fileData',
  'executableCode',
  'codeExecutionResult',
]

/** Every `required` name of an OpenAPI-subset `Schema` must be one of its `properties`. */
const schemaRules = (schema: Json, path: string, add: (path: string, text: string) => void) => {
  if (!isObject(schema)) return
  const properties = objectAt(schema, 'properties') ?? {}
  arrayAt(schema, 'required').forEach((name, index) => {
    if (typeof name === 'string' && !(name in properties)) {
      add(`${path}.required[${index}]`, 'property is not defined')
    }
  })
  Object.values(properties).forEach((child, index) => {
    schemaRules(child, `${path}.properties[${index}].value`, add)
  })
  schemaRules(schema['items'] ?? null, `${path}.items`, add)
  arrayAt(schema, 'anyOf').forEach((child, index) => {
    schemaRules(child, `${path}.any_of[${index}]`, add)
  })
}

const functionCalls = (content: Json): JsonObject[] =>
  arrayAt(content, 'parts').flatMap((part) => {
    const call = objectAt(part, 'functionCall')
    return call ? [call] : []
  })

const functionResponses = (content: Json): JsonObject[] =>
  arrayAt(content, 'parts').flatMap((part) => {
    const response = objectAt(part, 'functionResponse')
    return response ? [response] : []
  })

/** https://ai.google.dev/gemini-api/docs/thought-signatures: accepted in place of a signature. */
const SKIP_SIGNATURE_VALIDATOR = 'skip_thought_signature_validator'

/** Thought signatures this fake has put on function calls: signature ↔ call. */
const signatures = { byCall: new Map<string, string>(), issued: new Set<string>() }

const callKey = (call: JsonObject): string =>
  `${stringAt(call, 'name') ?? ''}\u0000${stableJson(call['args'] ?? {})}`

/** The signature of a function call this fake answers (the same call, the same signature). */
const signatureFor = (call: JsonObject): string => {
  const key = callKey(call)
  let signature = signatures.byCall.get(key)
  if (signature === undefined) {
    signature = randomBytes(48).toString('base64')
    signatures.byCall.set(key, signature)
    signatures.issued.add(signature)
  }
  return signature
}

const declaredFunctions = (body: JsonObject): JsonObject[] =>
  arrayAt(body, 'tools').flatMap((tool) => arrayAt(tool, 'functionDeclarations').filter(isObject))

const generateContentRules = (body: JsonObject): string[] => {
  const errors: string[] = []
  const add = (path: string, text: string): void => {
    errors.push(`* GenerateContentRequest.${path}: ${text}`)
  }
  const contents = arrayAt(body, 'contents')
  contents.forEach((content, index) => {
    const role = stringAt(content, 'role')
    if (role !== undefined && role !== '' && role !== 'user' && role !== 'model') {
      errors.push('Please use a valid role: user, model.')
    }
    const parts = arrayAt(content, 'parts')
    if (parts.length === 0) add(`contents[${index}].parts`, 'contents.parts must not be empty.')
    parts.forEach((part, partIndex) => {
      const hasData = DATA_FIELDS.some((name) => isObject(part) && part[name] !== undefined)
      if (!hasData && stringAt(part, 'thoughtSignature') === undefined) {
        add(
          `contents[${index}].parts[${partIndex}].data`,
          "required oneof field 'data' must have one initialized field",
        )
      }
    })
  })

  // Function calls and responses, in order.
  contents.forEach((content, index) => {
    const previous = index > 0 ? contents[index - 1] : undefined
    const calls = functionCalls(content)
    if (stringAt(content, 'role') === 'model' && calls.length > 0) {
      const previousRole = stringAt(previous, 'role')
      if (previous === undefined || (previousRole !== undefined && previousRole !== 'user')) {
        errors.push(
          'Please ensure that function call turn comes immediately after a user turn or after a function response turn.',
        )
      }
    }
    const responses = functionResponses(content)
    if (responses.length > 0) {
      const asked = previous === undefined ? [] : functionCalls(previous)
      if (asked.length !== responses.length) {
        errors.push(
          'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.',
        )
      }
      const names = asked.map((call) => stringAt(call, 'name'))
      responses.forEach((response, responseIndex) => {
        const name = stringAt(response, 'name') ?? ''
        if (asked.length > 0 && !names.includes(name)) {
          add(
            `contents[${index}].parts[${responseIndex}].function_response.name`,
            `"${name}" answers none of the previous turn's function calls (${names.join(', ')})`,
          )
        }
      })
    }
    // Thought signatures of the calls this fake made must come back with them.
    if (stringAt(content, 'role') !== 'model') return
    arrayAt(content, 'parts').forEach((part) => {
      const call = objectAt(part, 'functionCall')
      if (!call) return
      const expected = signatures.byCall.get(callKey(call))
      const got = stringAt(part, 'thoughtSignature')
      // Google's documented stand-in for a signature the client cannot know (foreign history).
      if (got === SKIP_SIGNATURE_VALIDATOR) return
      if (expected !== undefined && got === undefined) {
        errors.push(
          `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${stringAt(call, 'name') ?? ''}\` , position ${index + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
        )
      } else if (got !== undefined && got !== expected) {
        errors.push(
          `Unable to submit request because Thought signature is not valid (function call \`${stringAt(call, 'name') ?? ''}\`, position ${index + 1}).`,
        )
      }
    })
  })

  arrayAt(objectAt(body, 'systemInstruction'), 'parts').forEach((part, index) => {
    if (isObject(part) && Object.keys(part).some((key) => key !== 'text')) {
      add(`system_instruction.parts[${index}]`, 'only text parts are supported')
    }
  })

  // Tools.
  const names: string[] = []
  arrayAt(body, 'tools').forEach((tool, toolIndex) => {
    arrayAt(tool, 'functionDeclarations').forEach((declaration, index) => {
      const path = `tools[${toolIndex}].function_declarations[${index}]`
      const name = stringAt(declaration, 'name') ?? ''
      if (name !== '' && !FUNCTION_NAME.test(name)) {
        add(
          `${path}.name`,
          '[FIELD_INVALID] Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.',
        )
      }
      if (names.includes(name)) add(`${path}.name`, `duplicate function declaration "${name}"`)
      names.push(name)
      const has = (key: string): boolean => isObject(declaration) && declaration[key] !== undefined
      if (has('parameters') && has('parametersJsonSchema')) {
        add(path, 'parameters and parameters_json_schema are mutually exclusive')
      }
      if (has('response') && has('responseJsonSchema')) {
        add(path, 'response and response_json_schema are mutually exclusive')
      }
      schemaRules(objectAt(declaration, 'parameters') ?? null, `${path}.parameters`, add)
    })
  })
  const calling = objectAt(objectAt(body, 'toolConfig'), 'functionCallingConfig')
  if (calling && names.length === 0) {
    errors.push('Function calling config is set without function_declarations.')
  }
  const allowed = arrayAt(calling, 'allowedFunctionNames')
  const mode = calling?.['mode']
  if (allowed.length > 0 && mode !== 'ANY' && mode !== 'VALIDATED' && mode !== 2 && mode !== 4) {
    add(
      'tool_config.function_calling_config.allowed_function_names',
      'allowed_function_names may only be set when the mode is ANY or VALIDATED',
    )
  }
  allowed.forEach((name, index) => {
    if (typeof name === 'string' && names.length > 0 && !names.includes(name)) {
      add(
        `tool_config.function_calling_config.allowed_function_names[${index}]`,
        `"${name}" is not a declared function`,
      )
    }
  })

  // Generation config.
  const config = objectAt(body, 'generationConfig')
  const temperature = Number(config?.['temperature'] ?? 1)
  if (temperature < 0 || temperature > 2) {
    add('generation_config.temperature', 'temperature must be in the range [0.0, 2.0]')
  }
  if (arrayAt(config, 'stopSequences').length > 5) {
    add('generation_config.stop_sequences', 'at most 5 stop sequences are allowed')
  }
  const logprobs = Number(config?.['logprobs'] ?? 0)
  if (logprobs < 0 || logprobs > 20) {
    add('generation_config.logprobs', 'logprobs must be in the range [0, 20]')
  }
  const mime = stringAt(config, 'responseMimeType')
  const schema = config?.['responseSchema'] !== undefined
  const jsonSchema = config?.['responseJsonSchema'] !== undefined
  if (schema && jsonSchema) {
    add('generation_config', 'response_schema and response_json_schema are mutually exclusive')
  }
  if ((schema || jsonSchema) && (mime === undefined || mime === 'text/plain')) {
    add(
      'generation_config.response_mime_type',
      'a compatible response_mime_type (application/json or text/x.enum) is required with a response schema',
    )
  }

  const categories = arrayAt(body, 'safetySettings').map((setting) => stringAt(setting, 'category'))
  categories.forEach((category, index) => {
    if (category !== undefined && categories.indexOf(category) !== index) {
      add(`safety_settings[${index}]`, `more than one setting for category ${category}`)
    }
  })
  return errors
}

const embedRules = (request: JsonObject, path: string, root: string): string[] => {
  const errors: string[] = []
  const where = `${root}.${path === '' ? '' : `${path}.`}`
  if (arrayAt(objectAt(request, 'content'), 'parts').length === 0 && objectAt(request, 'content')) {
    errors.push(`* ${where}content.parts: content.parts must not be empty.`)
  }
  const dimensions = numberAt(request, 'outputDimensionality')
  if (dimensions !== undefined && dimensions <= 0) {
    errors.push(`* ${where}output_dimensionality: must be a positive number`)
  }
  return errors
}

type Method = 'generateContent' | 'streamGenerateContent' | 'embedContent' | 'batchEmbedContents'

const REQUEST_TYPES: Record<Method, string> = {
  generateContent: 'GenerateContentRequest',
  streamGenerateContent: 'GenerateContentRequest',
  embedContent: 'EmbedContentRequest',
  batchEmbedContents: 'BatchEmbedContentsRequest',
}

type Verdict = { parse: ParseIssue[]; rules: string[]; body: JsonObject }

const judge = (method: Method, body: unknown, model: string): Verdict => {
  const def = messageDef(REQUEST_TYPES[method])
  const root = REQUEST_TYPES[method]
  const walk: Walk = { root, parse: [], missing: [] }
  checkMessage(def, body as Json, '', walk)
  if (walk.parse.length > 0 || !isObject(body)) return { parse: walk.parse, rules: [], body: {} }
  const normal = normalize(def.fullName, body)
  const request = isObject(normal) ? normal : {}
  const rules = [...walk.missing]
  if (method === 'generateContent' || method === 'streamGenerateContent') {
    rules.push(...generateContentRules(request))
  } else if (method === 'embedContent') {
    rules.push(...embedRules(request, '', root))
  } else {
    arrayAt(request, 'requests').forEach((item, index) => {
      if (!isObject(item)) return
      rules.push(...embedRules(item, `requests[${index}]`, root))
      const named = stringAt(item, 'model')
      if (named !== undefined && named !== `models/${model}`) {
        rules.push(
          `* ${root}.requests[${index}].model: "${named}" does not match the batch's model "models/${model}"`,
        )
      }
    })
  }
  return { parse: [], rules, body: request }
}

/**
 * Everything wrong with a request body for `method` on `model`, in the API's wording: the JSON
 * parser's findings first (as the API stops there), else the `REQUIRED` fields and the rules of
 * the module doc. Empty when valid.
 */
export const geminiRequestViolations = (method: Method, body: unknown, model: string): string[] => {
  const verdict = judge(method, body, model)
  return verdict.parse.length > 0 ? verdict.parse.map((issue) => issue.description) : verdict.rules
}

// --- errors -------------------------------------------------------------------------------------

const STATUSES: Record<number, [status: string, message: string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  401: [
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  ],
  403: [
    'PERMISSION_DENIED',
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  ],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  409: ['ABORTED', 'The operation was aborted.'],
  429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  500: [
    'INTERNAL',
    'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  ],
  503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  504: ['DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'],
}

const isStreamPath = (path: string): boolean => path.endsWith(':streamGenerateContent')

const JSON_HEADERS = { 'content-type': 'application/json; charset=UTF-8' }

/** Error replies to a stream request carry the stream's content type, as the recorded 404 does. */
const errorHeaders = (stream: boolean): Record<string, string> =>
  stream ? { 'content-type': 'text/event-stream' } : JSON_HEADERS

const errorReply = (status: number, stream: boolean, message?: string, details?: Json[]): Reply => {
  const [name, defaultMessage] = STATUSES[status] ?? [
    status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION',
    `Error (status ${status}).`,
  ]
  const error: JsonObject = { code: status, message: message ?? defaultMessage, status: name }
  if (details !== undefined) error['details'] = details
  return { status, body: { error }, headers: errorHeaders(stream) }
}

const rejectRequest = (request: NativeRequest, verdict: Verdict, stream: boolean): Reply => {
  if (verdict.parse.length > 0) {
    request.violations.push(...verdict.parse.map((issue) => issue.description))
    const fieldViolations = verdict.parse.map((issue) =>
      issue.field === ''
        ? { description: issue.description }
        : { field: issue.field, description: issue.description },
    )
    return errorReply(400, stream, verdict.parse.map((issue) => issue.description).join('\n'), [
      { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations },
    ])
  }
  request.violations.push(...verdict.rules)
  return errorReply(400, stream, verdict.rules.join('\n'))
}

// --- recorded responses -------------------------------------------------------------------------

const RECORDINGS = 'js-genai-recordings/'
const MOCKS = 'generative-ai-js-mock-responses/'

/** The response bodies of one exchange of a js-genai recording (one per SSE event). */
const recordedSegments = (file: string, exchange = 0): JsonObject[] => {
  const recording: unknown = JSON.parse(readFixture(`${RECORDINGS}${file}`))
  const interaction = arrayAt(recording, 'interactions')[exchange]
  return arrayAt(objectAt(interaction, 'response'), 'bodySegments').filter(isObject)
}

const recordedStatus = (file: string): number => {
  const recording: unknown = JSON.parse(readFixture(`${RECORDINGS}${file}`))
  const interaction = arrayAt(recording, 'interactions')[0]
  return numberAt(objectAt(interaction, 'response'), 'statusCode') ?? 500
}

/** The events of a raw SSE mock (`data: {…}` blocks, CRLF-separated). */
export const parseGeminiSse = (text: string): JsonObject[] =>
  text
    .split(/\r\n\r\n|\n\n|\r\r/)
    .map((block) => block.trim())
    .filter((block) => block !== '')
    .map((block) => {
      if (!block.startsWith('data:')) throw new Error(`gemini SSE: not a data event: ${block}`)
      const data: unknown = JSON.parse(block.slice('data:'.length))
      if (!isObject(data)) throw new Error(`gemini SSE: not an object: ${block}`)
      return data
    })

const mockJson = (file: string): JsonObject => {
  const body: unknown = JSON.parse(readFixture(`${MOCKS}${file}`))
  if (!isObject(body)) throw new Error(`gemini fixture ${file}: not an object`)
  return body
}

type Scenario = {
  source: string
  /** The streamed responses; a non-streamed answer merges them unless `unary` is recorded. */
  chunks?: () => JsonObject[]
  unary?: () => JsonObject
  /** A recorded error instead of an answer. */
  error?: (model: string, stream: boolean) => Reply
}

const STREAM_RECORDING =
  'Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_system_instruction.json'
const UNARY_RECORDING =
  'Client_Tests_generateContent_ML_Dev_should_generate_content_with_system_instruction.json'
const FUNCTION_RECORDING =
  'Chats_Tests_chats_function_calling_Google_AI_with_function_calling_stream.json'
const THINKING_RECORDING =
  'Client_Tests_test_thinking_generate_content_should_return_thought_field.json'
const NOT_FOUND_RECORDING = 'Chats_Tests_sendMessage_Send_message_stream_with_error.json'

const SCENARIOS: Record<string, Scenario> = {
  /** Live `gemini-2.5-flash` stream: 6 text chunks, cumulative usage, STOP on the last. */
  text: { source: STREAM_RECORDING, chunks: () => recordedSegments(STREAM_RECORDING) },
  /** Live one-chunk answer ("low"). */
  short: { source: UNARY_RECORDING, chunks: () => recordedSegments(UNARY_RECORDING) },
  /** Live `gemini-2.0-flash` function call (`customDivide`), one chunk. */
  'function-call': {
    source: FUNCTION_RECORDING,
    chunks: () => recordedSegments(FUNCTION_RECORDING),
  },
  /** Live thought-only answer stopped by MAX_TOKENS. */
  thinking: { source: THINKING_RECORDING, chunks: () => recordedSegments(THINKING_RECORDING) },
  /** 2024 stream format (no usage; finishReason on every chunk), 6 chunks. */
  long: {
    source: `${MOCKS}streaming-success-basic-reply-long.txt`,
    chunks: () => parseGeminiSse(readFixture(`${MOCKS}streaming-success-basic-reply-long.txt`)),
  },
  /** Candidate stopped with finishReason SAFETY. */
  'safety-blocked': {
    source: `${MOCKS}streaming-failure-finish-reason-safety.txt`,
    chunks: () => parseGeminiSse(readFixture(`${MOCKS}streaming-failure-finish-reason-safety.txt`)),
    unary: () => mockJson('unary-failure-finish-reason-safety.json'),
  },
  /** Prompt blocked: `promptFeedback.blockReason: SAFETY`, no candidates. */
  'prompt-blocked': {
    source: `${MOCKS}streaming-failure-prompt-blocked-safety.txt`,
    chunks: () =>
      parseGeminiSse(readFixture(`${MOCKS}streaming-failure-prompt-blocked-safety.txt`)),
    unary: () => mockJson('unary-failure-prompt-blocked-safety.json'),
  },
  /** A candidate with empty content and no finishReason. */
  'empty-content': {
    source: `${MOCKS}streaming-failure-empty-content.txt`,
    chunks: () => parseGeminiSse(readFixture(`${MOCKS}streaming-failure-empty-content.txt`)),
  },
  /** The recorded 404 for an unknown model (sent as `text/event-stream` on streams). */
  'model-not-found': {
    source: NOT_FOUND_RECORDING,
    error: (model, stream) => {
      const [body] = recordedSegments(NOT_FOUND_RECORDING)
      const text = JSON.stringify(body ?? {}).replaceAll('custom-gemini-2.0-flash', model)
      return {
        status: recordedStatus(NOT_FOUND_RECORDING),
        body: JSON.parse(text) as Json,
        headers: errorHeaders(stream),
      }
    },
  },
  /** The recorded 400 for an image the API could not read. */
  'image-rejected': {
    source: `${MOCKS}unary-failure-image-rejected.json`,
    error: (_, stream) => ({
      status: 400,
      body: mockJson('unary-failure-image-rejected.json'),
      headers: errorHeaders(stream),
    }),
  },
}

/** Names `x-fake-fixture` accepts on the Gemini fake. */
export const geminiScenarioNames = (): string[] => Object.keys(SCENARIOS)

/** The recorded responses of scenario `name` (for self-tests). */
export const geminiScenarioChunks = (name: string): JsonObject[] => {
  const chunks = SCENARIOS[name]?.chunks
  if (!chunks) throw new Error(`gemini fake: no streamed scenario ${name}`)
  return chunks()
}

const recordedThought = (): JsonObject | undefined =>
  arrayAt(
    objectAt(arrayAt(recordedSegments(THINKING_RECORDING)[0], 'candidates')[0], 'content'),
    'parts',
  )
    .filter(isObject)
    .find((part) => part['thought'] === true)

/** A fresh id in the recorded `responseId` shape (22 URL-safe base64 characters). */
const responseId = (): string => randomBytes(16).toString('base64url').slice(0, 22)

type Turn = { model: string; functionName: string | undefined; thoughts: boolean }

const candidatesOf = (chunk: JsonObject): JsonObject[] =>
  arrayAt(chunk, 'candidates').filter(isObject)

/** The recorded responses with the request's model and function, fresh ids, thoughts if asked. */
const adapt = (chunks: JsonObject[], turn: Turn): JsonObject[] => {
  const id = responseId()
  const out = chunks.map((recorded) => {
    const chunk = structuredClone(recorded)
    if (chunk['responseId'] !== undefined) chunk['responseId'] = id
    if (chunk['modelVersion'] !== undefined) chunk['modelVersion'] = turn.model
    for (const candidate of candidatesOf(chunk)) {
      arrayAt(objectAt(candidate, 'content'), 'parts').forEach((part) => {
        const call = objectAt(part, 'functionCall')
        if (!call || !isObject(part)) return
        if (turn.functionName !== undefined) call['name'] = turn.functionName
        part['thoughtSignature'] = signatureFor(call)
      })
    }
    return chunk
  })
  const first = out[0]
  const thought = recordedThought()
  const alreadyThinking = chunks.some((chunk) =>
    candidatesOf(chunk).some((candidate) =>
      arrayAt(objectAt(candidate, 'content'), 'parts').some(
        (part) => isObject(part) && part['thought'] === true,
      ),
    ),
  )
  if (!turn.thoughts || !first || !thought || alreadyThinking || candidatesOf(first).length === 0) {
    return out
  }
  // Thoughts come first, in a chunk of their own whose usage counts no candidate tokens yet.
  const opening: JsonObject = {
    candidates: [{ content: { parts: [thought], role: 'model' }, index: 0 }],
  }
  for (const key of ['modelVersion', 'responseId']) {
    const value = first[key]
    if (value !== undefined) opening[key] = value
  }
  const usage = objectAt(first, 'usageMetadata')
  if (usage) {
    const rest = Object.entries(usage).filter(([key]) => key !== 'candidatesTokenCount')
    const total =
      (numberAt(usage, 'promptTokenCount') ?? 0) + (numberAt(usage, 'thoughtsTokenCount') ?? 0)
    opening['usageMetadata'] = { ...Object.fromEntries(rest), totalTokenCount: total }
  }
  return [opening, ...out]
}

const isPlainText = (part: Json): part is JsonObject =>
  isObject(part) &&
  typeof part['text'] === 'string' &&
  Object.keys(part).every((key) => key === 'text' || key === 'thought')

/** The streamed responses as one: parts in order (adjacent texts joined), the last chunk's rest. */
export const mergeGeminiChunks = (chunks: JsonObject[]): JsonObject => {
  const last = chunks.at(-1) ?? {}
  const merged: JsonObject = structuredClone(last)
  const feedback = chunks.find((chunk) => chunk['promptFeedback'] !== undefined)?.['promptFeedback']
  if (feedback !== undefined) merged['promptFeedback'] = structuredClone(feedback)
  const [lastCandidate] = candidatesOf(last)
  if (!lastCandidate) return merged
  const parts: JsonObject[] = []
  for (const chunk of chunks) {
    for (const candidate of candidatesOf(chunk)) {
      for (const part of arrayAt(objectAt(candidate, 'content'), 'parts')) {
        if (!isObject(part)) continue
        const previous = parts.at(-1)
        if (
          previous &&
          isPlainText(previous) &&
          isPlainText(part) &&
          previous['thought'] === part['thought']
        ) {
          previous['text'] = `${stringAt(previous, 'text') ?? ''}${stringAt(part, 'text') ?? ''}`
        } else {
          parts.push(structuredClone(part))
        }
      }
    }
  }
  const content = { ...objectAt(lastCandidate, 'content'), parts }
  merged['candidates'] = [{ ...structuredClone(lastCandidate), content }]
  return merged
}

// --- replies ------------------------------------------------------------------------------------

const MODELS: readonly JsonObject[] = [
  {
    name: 'models/gemini-2.5-flash',
    version: '001',
    displayName: 'Gemini 2.5 Flash',
    description: 'Stable version of Gemini 2.5 Flash.',
    inputTokenLimit: 1048576,
    outputTokenLimit: 65536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: true,
  },
  {
    name: 'models/gemini-2.5-pro',
    version: '2.5',
    displayName: 'Gemini 2.5 Pro',
    description: 'Stable release of Gemini 2.5 Pro.',
    inputTokenLimit: 1048576,
    outputTokenLimit: 65536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: true,
  },
  {
    name: 'models/gemini-2.0-flash',
    version: '2.0',
    displayName: 'Gemini 2.0 Flash',
    description: 'Gemini 2.0 Flash',
    inputTokenLimit: 1048576,
    outputTokenLimit: 8192,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent'],
    temperature: 1,
    topP: 0.95,
    topK: 40,
    maxTemperature: 2,
  },
  {
    name: 'models/gemini-embedding-001',
    version: '001',
    displayName: 'Gemini Embedding 001',
    description: 'Obtain a distributed representation of a text.',
    inputTokenLimit: 2048,
    outputTokenLimit: 1,
    supportedGenerationMethods: ['embedContent', 'countTextTokens', 'countTokens'],
  },
]

const DEFAULT_PAGE_SIZE = 50

const modelsReply = (query: URLSearchParams): Reply => {
  const size = Math.min(
    Math.max(Number(query.get('pageSize') ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, 1),
    1000,
  )
  const token = query.get('pageToken')
  const start =
    token === null || token === '' ? 0 : Number(Buffer.from(token, 'base64url').toString())
  const models = MODELS.slice(start, start + size)
  const body: JsonObject = { models: [...models] }
  if (start + size < MODELS.length) {
    body['nextPageToken'] = Buffer.from(String(start + size)).toString('base64url')
  }
  return { status: 200, body, headers: JSON_HEADERS }
}

/** Length of the full vector a model returns (`outputDimensionality` truncates it). */
const fullDimensions = (model: string): number =>
  model.startsWith('gemini-embedding') ? 3072 : 768

/** A unit-length vector from a hash of `text`; the first `dimensions` values are returned. */
const embedding = (text: string, model: string, dimensions: number | undefined): number[] => {
  const length = Math.max(fullDimensions(model), dimensions ?? 0)
  const raw: number[] = []
  for (let block = 0; raw.length < length; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest()
    for (let offset = 0; offset + 4 <= digest.length && raw.length < length; offset += 4) {
      raw.push((digest.readUInt32LE(offset) / 0xffffffff) * 2 - 1)
    }
  }
  const norm = Math.sqrt(raw.reduce((sum, x) => sum + x * x, 0)) || 1
  return raw.slice(0, dimensions ?? fullDimensions(model)).map((x) => Math.fround(x / norm))
}

const contentText = (request: Json): string =>
  arrayAt(objectAt(request, 'content'), 'parts')
    .map((part) => stringAt(part, 'text') ?? '')
    .join('')

const embedValues = (request: Json, model: string): JsonObject => ({
  values: embedding(contentText(request), model, numberAt(request, 'outputDimensionality')),
})

/** The function the model calls, or `undefined` when it answers in text (see the module doc). */
const calledFunction = (body: JsonObject): string | undefined => {
  const names = declaredFunctions(body).flatMap((declaration) => {
    const name = stringAt(declaration, 'name')
    return name === undefined ? [] : [name]
  })
  const calling = objectAt(objectAt(body, 'toolConfig'), 'functionCallingConfig')
  const mode = calling?.['mode']
  if (names.length === 0 || mode === 'NONE' || mode === 3) return undefined
  const lastUser = arrayAt(body, 'contents').findLast(
    (content) => (stringAt(content, 'role') ?? 'user') === 'user',
  )
  if (lastUser !== undefined && functionResponses(lastUser).length > 0) return undefined
  const allowed = arrayAt(calling, 'allowedFunctionNames').find((name) => typeof name === 'string')
  return typeof allowed === 'string' ? allowed : names[0]
}

const generateReply = (
  request: NativeRequest,
  body: JsonObject,
  model: string,
  stream: boolean,
): Reply | FrameStream => {
  const functionName = calledFunction(body)
  const name =
    request.headers['x-fake-fixture'] ?? (functionName === undefined ? 'text' : 'function-call')
  const scenario = SCENARIOS[name]
  if (!scenario) {
    const known = geminiScenarioNames().join(', ')
    return errorReply(400, stream, `x-fake-fixture: no recorded response named ${name} (${known})`)
  }
  if (scenario.error) return scenario.error(model, stream)
  const thoughts =
    objectAt(objectAt(body, 'generationConfig'), 'thinkingConfig')?.['includeThoughts'] === true
  const turn: Turn = { model, functionName, thoughts }
  const chunks = adapt(scenario.chunks?.() ?? [], turn)
  if (!stream) {
    const unary = scenario.unary && !thoughts ? adapt([scenario.unary()], turn)[0] : undefined
    return {
      status: 200,
      body: unary ?? mergeGeminiChunks(chunks),
      headers: JSON_HEADERS,
    }
  }
  if (request.query.get('alt') !== 'sse') {
    // Without alt=sse the method streams one JSON array.
    return { status: 200, body: chunks, headers: JSON_HEADERS }
  }
  const error = { error: { code: 500, message: 'Internal error', status: 'INTERNAL' } }
  return {
    frames: chunks.map((chunk) => ({
      text: `data: ${JSON.stringify(chunk)}\r\n\r\n`,
      counted: true,
    })),
    errorFrame: JSON.stringify(error),
    headers: {
      'content-type': 'text/event-stream',
      'content-disposition': 'attachment',
      'x-content-type-options': 'nosniff',
    },
  }
}

const ROUTE = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/

const METHODS = new Set<string>(Object.keys(REQUEST_TYPES))

const isMethod = (name: string): name is Method => METHODS.has(name)

/** The Gemini fake, registered by `../fake-providers.ts`. */
export const geminiFake: NativeFake = {
  id: 'gemini',
  base: '/gemini',
  requestId: () => ({}),
  unauthorized: (request) => {
    if ((request.headers['x-goog-api-key'] ?? '').trim() !== '') return undefined
    request.violations.push('x-goog-api-key header is required')
    return errorReply(403, isStreamPath(request.path))
  },
  error: (status, request) => errorReply(status, isStreamPath(request.path)),
  answer: (request) => {
    const path = decodeURIComponent(request.path)
    if (request.method === 'GET' && path === '/v1beta/models') return modelsReply(request.query)
    const match = ROUTE.exec(path)
    const model = match?.[1]
    const method = match?.[2]
    if (
      request.method !== 'POST' ||
      model === undefined ||
      method === undefined ||
      !isMethod(method)
    ) {
      request.violations.push(`no such endpoint: ${request.method} ${path}`)
      return errorReply(
        404,
        isStreamPath(path),
        `Requested entity was not found: ${request.method} ${path}`,
      )
    }
    const stream = method === 'streamGenerateContent'
    if (!request.json || !isObject(request.body)) {
      const message = 'Invalid JSON payload received. Expected a JSON object.'
      request.violations.push(message)
      return errorReply(400, stream, message)
    }
    const verdict = judge(method, request.body, model)
    if (verdict.parse.length > 0 || verdict.rules.length > 0)
      return rejectRequest(request, verdict, stream)
    const body = verdict.body
    if (method === 'embedContent') {
      return { status: 200, body: { embedding: embedValues(body, model) }, headers: JSON_HEADERS }
    }
    if (method === 'batchEmbedContents') {
      const embeddings = arrayAt(body, 'requests').map((item) => embedValues(item, model))
      return { status: 200, body: { embeddings }, headers: JSON_HEADERS }
    }
    return generateReply(request, body, model, stream)
  },
}
