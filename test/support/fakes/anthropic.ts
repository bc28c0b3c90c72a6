/**
 * @module Fake Anthropic Messages API, served by `../fake-providers.ts` under `${url}/anthropic`
 * (the base-URL form the Anthropic SDK uses: it appends `/v1/messages`).
 *
 * Routes:
 * - `POST /v1/messages`: a `Message`, or with `stream: true` an SSE stream (`event: message_start`
 *   … `message_stop`, with `ping`, no `[DONE]`).
 * - `GET /v1/models`: a page of `ModelInfo` (`{data, has_more, first_id, last_id}`).
 *
 * Every request needs a non-empty `x-api-key` (else 401 `authentication_error`) and
 * `anthropic-version: 2023-06-01` (else 400). Errors have Anthropic's shape
 * `{type: 'error', error: {type, message}, request_id}` with the `request-id` and
 * `x-should-retry` headers; `x-fake-status` picks the status (529 is `overloaded_error`, 429 carries
 * the recorded rate-limit message).
 *
 * Request bodies are validated like the API does (it rejects unknown fields) and every violation is
 * recorded and answered with a 400 `invalid_request_error` listing them, in the API's pydantic-style
 * wording (`max_tokens: Field required`, `foo: Extra inputs are not permitted`, paths such as
 * `messages.1.content.0.thinking.signature` that name the block type). Two sources:
 *
 * - The OpenAPI mirror (`test/fixtures/anthropic/anthropic-openapi.stainless-mirror-2024-11.yaml`,
 *   a 2024-11 copy of the Stainless spec) compiled with Ajv, for what it still describes
 *   correctly: the top-level fields it knows and their bounds (`CreateMessageParams`: `model`,
 *   `messages`, `max_tokens` integer ≥ 1, `temperature` and `top_p` in 0..1, `top_k` integer ≥ 0,
 *   `stop_sequences`, `stream`, `system`, `metadata` → `Metadata`), `InputMessage` (roles, required
 *   content), `RequestTextBlock` (non-empty text), `RequestToolUseBlock`, `RequestToolResultBlock`,
 *   `Base64ImageSource` (media types), `BetaBase64PDFSource`, `Tool` (name pattern, required
 *   `input_schema` → `InputSchema`), `ToolChoiceAuto`/`Any`/`Tool`. All of them keep their
 *   `additionalProperties: false`.
 * - Written here from the current SDK types (`@anthropic-ai/sdk` 1.12.0,
 *   `src/resources/messages/messages.ts`, see `/work/shared/specs/anthropic/NOTES.md`) where the
 *   mirror is stale: top-level fields added since (`thinking`, `service_tier`, `output_config`,
 *   `cache_control`, `container`, `inference_geo`, `speed`, `diagnostics`, `user_profile_id`,
 *   `workspace_id`; the nested ones other than `thinking` are accepted without a deeper check),
 *   `cache_control` (with `ttl`) on blocks and tools, `caller`/`toolset_name` on `tool_use` (the
 *   recorded requests echo `caller` back), `citations` on text, URL and file image sources,
 *   `document` blocks (base64 PDF, text, content, URL, file sources), `thinking` and
 *   `redacted_thinking` blocks, `search_result` inside `tool_result`, `{type: 'none'}` tool choice,
 *   the `thinking` config (`enabled` with `budget_tokens` ≥ 1024, `disabled`, `adaptive`), tool
 *   fields (`strict`, `type: 'custom'`, …). Server tools (`type` ending in a date, e.g.
 *   `web_search_20250305`) are accepted without a deeper check. The mirror's `Model` schema has a
 *   YAML `type: null` (invalid JSON Schema) which is dropped.
 * - Rules no schema expresses, written here: at least one message; the first is `user` and roles
 *   alternate (the API now merges consecutive same-role turns, this fake is stricter so a gateway
 *   that forgets to merge is caught); non-empty content except a final assistant prefill; every
 *   `tool_result.tool_use_id` matches a `tool_use` of the previous assistant turn and every
 *   `tool_use` followed by a user turn gets its `tool_result` there (the API's wording, recorded in
 *   `recorded_400_invalid_request_f59a9391.json`); `thinking.budget_tokens` < `max_tokens`, and
 *   with thinking on `temperature` may only be 1 and `top_k` must be unset; `tool_choice` needs
 *   `tools` and a `tool` choice must name one; tool names are unique.
 *
 * Replies come from recorded streams (`test/fixtures/anthropic`), selected by scenario:
 * the answer is a `tool_use` of the request's first tool (or the `tool_choice` tool) when the
 * request has tools, `tool_choice` is not `none` and the last user turn holds no `tool_result`; a
 * text answer otherwise. `x-fake-fixture: <name>` picks one of {@link anthropicScenarioNames}.
 * The model and tool name are the request's, ids are fresh; with `thinking` enabled (or adaptive) a
 * recorded thinking block (with its signature) comes first. Non-streamed answers are the same
 * events accumulated into a `Message`, with `usage.cache_creation_input_tokens` and
 * `cache_read_input_tokens` always present. Streams keep the recordings' bytes (including the
 * trailing spaces live streams pad `data:` lines with) except where an event had to be adapted.
 * `x-fake-error-event: 1` ends a stream after two events with `event: error` carrying an
 * `overloaded_error`, as the SDK's streaming test has it.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Ajv2020 from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'
import type { FrameStream, NativeFake, NativeRequest, Reply } from '../fake-providers.ts'
import { arrayAt, isObject, objectAt, stringAt, type Json, type JsonObject } from '../json.ts'
import { guardRule, guardUsage, isGuardModel, judgedText } from './guard.ts'

const FIXTURES = new URL('../../fixtures/anthropic/', import.meta.url)
const SPEC_FILE = new URL('anthropic-openapi.stainless-mirror-2024-11.yaml', FIXTURES)
const SPEC_ID = 'https://specs.test/anthropic/openapi.json'
const API_VERSION = '2023-06-01'
const MIN_THINKING_BUDGET = 1024

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

const randomAlphanumeric = (length: number): string =>
  [...randomBytes(length)].map((byte) => ALPHANUMERIC.charAt(byte % ALPHANUMERIC.length)).join('')

/** Id shapes as recorded: `msg_01…`, `toolu_01…` (24 characters after `_`), `req_011C…`. */
const messageId = (): string => `msg_01${randomAlphanumeric(22)}`
const toolUseId = (): string => `toolu_01${randomAlphanumeric(22)}`
const requestId = (): string => `req_011C${randomAlphanumeric(20)}`

const readFixture = (path: string): string => readFileSync(new URL(path, FIXTURES), 'utf8')

// --- recorded streams ---------------------------------------------------------------------------

/** One recorded SSE event; `raw` and `pad` keep its exact `data:` bytes for replay. */
type StreamEvent = { event: string; data: JsonObject; raw: string | undefined; pad: string }

/** Splits an Anthropic SSE body (`event:` + `data:` lines, blank-line separated) into events. */
export const parseAnthropicSse = (text: string): StreamEvent[] =>
  text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n')
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length) ?? ''
      const dataLine = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length)
      if (dataLine === undefined) throw new Error(`anthropic fixture: event without data: ${block}`)
      const raw = dataLine.trimEnd()
      const data: unknown = JSON.parse(raw)
      if (!isObject(data)) throw new Error(`anthropic fixture: data is not an object: ${raw}`)
      return { event, data, raw, pad: dataLine.slice(raw.length) }
    })

/** The `response.body` of one exchange of an SDK-recorded HTTP exchange file. */
const recordedBody = (path: string, exchange: number): string => {
  const exchanges: unknown = JSON.parse(readFixture(path))
  const entry: unknown = Array.isArray(exchanges) ? exchanges[exchange] : undefined
  const body = objectAt(entry, 'response')?.['body']
  if (typeof body !== 'string') throw new Error(`anthropic fixture: no SSE body in ${path}`)
  return body
}

const LIVE_TOOL_RUN = 'sdk-python/recorded_stream_tool_use_555fb399.json'

/** The replayable streams, by the name `x-fake-fixture` takes. */
const SCENARIOS: Record<string, { source: string; read: () => string }> = {
  /** Live `claude-haiku-4-5` text answer (after a tool result), full usage. */
  text: { source: `${LIVE_TOOL_RUN} [1]`, read: () => recordedBody(LIVE_TOOL_RUN, 1) },
  /** Live `claude-haiku-4-5` tool_use answer. */
  tool_use: { source: `${LIVE_TOOL_RUN} [0]`, read: () => recordedBody(LIVE_TOOL_RUN, 0) },
  /** SDK fixture: "Hello there!", usage without cache fields. */
  basic: {
    source: 'sdk-typescript/basic_response.txt',
    read: () => readFixture('sdk-typescript/basic_response.txt'),
  },
  /** SDK fixture: a text block, then a tool_use block. */
  text_then_tool_use: {
    source: 'sdk-typescript/tool_use_response.txt',
    read: () => readFixture('sdk-typescript/tool_use_response.txt'),
  },
  /** SDK fixture: stops at `max_tokens` inside a tool_use block (no `content_block_stop`). */
  max_tokens: {
    source: 'sdk-typescript/incomplete_partial_json_response.txt',
    read: () => readFixture('sdk-typescript/incomplete_partial_json_response.txt'),
  },
  /** SDK fixture: thinking block, short text, `stop_reason: refusal` with `stop_details`. */
  refusal: {
    source: 'sdk-typescript/stream-a-refusal.sse',
    read: () => readFixture('sdk-typescript/stream-a-refusal.sse'),
  },
}

const scenarioCache = new Map<string, StreamEvent[]>()

const scenarioEvents = (name: string): StreamEvent[] | undefined => {
  const scenario = SCENARIOS[name]
  if (!scenario) return undefined
  let events = scenarioCache.get(name)
  if (!events) {
    events = parseAnthropicSse(scenario.read())
    scenarioCache.set(name, events)
  }
  return structuredClone(events)
}

/** Names `x-fake-fixture` accepts on the Anthropic fake. */
export const anthropicScenarioNames = (): string[] => Object.keys(SCENARIOS)

/** The recorded stream of scenario `name`, parsed (for self-tests). */
export const anthropicScenario = (name: string): StreamEvent[] => {
  const events = scenarioEvents(name)
  if (!events) throw new Error(`anthropic fake: no scenario ${name}`)
  return events
}

// --- adapting a recording to the request --------------------------------------------------------

type Turn = { model: string; toolName: string | undefined; thinking: boolean }

const eventType = (event: StreamEvent): string => stringAt(event.data, 'type') ?? event.event

/** The thinking block (start, deltas, signature, stop) recorded in the refusal stream. */
const recordedThinkingBlock = (): StreamEvent[] =>
  anthropicScenario('refusal').filter(
    (event) => eventType(event).startsWith('content_block_') && event.data['index'] === 0,
  )

const changed = (event: StreamEvent): StreamEvent => ({ ...event, raw: undefined })

/** The recorded events with the request's model and tool, fresh ids, and thinking if asked. */
const adapt = (recorded: StreamEvent[], turn: Turn): StreamEvent[] => {
  const hasThinking = recorded.some(
    (event) => objectAt(event.data, 'content_block')?.['type'] === 'thinking',
  )
  const shift = turn.thinking && !hasThinking ? 1 : 0
  const out: StreamEvent[] = []
  for (const original of recorded) {
    let event = original
    const type = eventType(event)
    if (type === 'message_start') {
      const message = objectAt(event.data, 'message')
      if (message) {
        message['id'] = messageId()
        message['model'] = turn.model
      }
      out.push(changed(event))
      if (shift === 1) out.push(...recordedThinkingBlock())
      continue
    }
    const block = objectAt(event.data, 'content_block')
    if (type === 'content_block_start' && block?.['type'] === 'tool_use') {
      block['id'] = toolUseId()
      if (turn.toolName !== undefined) block['name'] = turn.toolName
      event = changed(event)
    }
    const index = event.data['index']
    if (shift > 0 && typeof index === 'number') {
      event.data['index'] = index + shift
      event = changed(event)
    }
    out.push(event)
  }
  return out
}

const frameText = (event: StreamEvent): string =>
  `event: ${event.event}\ndata: ${event.raw ?? JSON.stringify(event.data)}${event.pad}\n\n`

/** What the events add up to: the `Message` a non-streaming request gets. */
export const accumulateAnthropic = (events: StreamEvent[]): JsonObject => {
  let message: JsonObject = {}
  const blocks: JsonObject[] = []
  const partialJson = new Map<number, string>()
  for (const { data } of events) {
    const index = typeof data['index'] === 'number' ? data['index'] : -1
    const block = blocks[index]
    const delta = objectAt(data, 'delta')
    switch (data['type']) {
      case 'message_start':
        message = structuredClone(objectAt(data, 'message') ?? {})
        break
      case 'content_block_start': {
        const start = structuredClone(objectAt(data, 'content_block') ?? {})
        blocks[index] = start
        if (start['type'] === 'tool_use') partialJson.set(index, '')
        break
      }
      case 'content_block_delta':
        if (!block || !delta) break
        if (delta['type'] === 'text_delta') {
          block['text'] = `${stringAt(block, 'text') ?? ''}${stringAt(delta, 'text') ?? ''}`
        } else if (delta['type'] === 'thinking_delta') {
          block['thinking'] =
            `${stringAt(block, 'thinking') ?? ''}${stringAt(delta, 'thinking') ?? ''}`
        } else if (delta['type'] === 'signature_delta') {
          block['signature'] = stringAt(delta, 'signature') ?? ''
        } else if (delta['type'] === 'input_json_delta') {
          partialJson.set(
            index,
            `${partialJson.get(index) ?? ''}${stringAt(delta, 'partial_json') ?? ''}`,
          )
        } else if (delta['type'] === 'citations_delta') {
          block['citations'] = [...arrayAt(block, 'citations'), delta['citation'] ?? null]
        }
        break
      case 'message_delta':
        Object.assign(message, delta)
        message['usage'] = { ...objectAt(message, 'usage'), ...objectAt(data, 'usage') }
        break
      default:
        break
    }
  }
  for (const [index, text] of partialJson) {
    const block = blocks[index]
    if (!block) continue
    // A block cut by max_tokens holds incomplete JSON; the input is then left empty.
    let input: unknown
    try {
      input = text === '' ? {} : JSON.parse(text)
    } catch {
      input = {}
    }
    block['input'] = isObject(input) ? input : {}
  }
  const usage = objectAt(message, 'usage') ?? {}
  message['content'] = blocks
  message['usage'] = {
    ...usage,
    cache_creation_input_tokens: usage['cache_creation_input_tokens'] ?? 0,
    cache_read_input_tokens: usage['cache_read_input_tokens'] ?? 0,
  }
  return message
}

// --- schemas ------------------------------------------------------------------------------------

/** Copy of a mirror schema with `discriminator` and `type: null` dropped, `$ref`s made absolute. */
const sanitize = (node: Json): Json => {
  if (Array.isArray(node)) return node.map(sanitize)
  if (!isObject(node)) return node
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'discriminator') continue
    if (key === 'type' && value === null) continue
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) {
      out[key] = `${SPEC_ID}${value}`
      continue
    }
    out[key] = sanitize(value)
  }
  return out
}

type Checker = { ajv: Ajv2020; mirror: Record<string, JsonObject> }

let checker: Checker | undefined

const getChecker = (): Checker => {
  if (checker) return checker
  const doc: unknown = parse(readFileSync(SPEC_FILE, 'utf8'))
  const schemas = objectAt(objectAt(doc, 'components'), 'schemas')
  if (!schemas) throw new Error('anthropic spec: components.schemas not found')
  const mirror: Record<string, JsonObject> = {}
  for (const [name, schema] of Object.entries(schemas)) {
    const clean = sanitize(schema)
    if (isObject(clean)) mirror[name] = clean
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  ajv.addSchema({ $id: SPEC_ID, components: { schemas: mirror } })
  checker = { ajv, mirror }
  return checker
}

const ref = (name: string): JsonObject => ({ $ref: `${SPEC_ID}#/components/schemas/${name}` })

/** A mirror schema with `extra` properties added (or replaced); everything else kept. */
const extend = (name: string, extra: JsonObject): JsonObject => {
  const base = getChecker().mirror[name]
  if (!base) throw new Error(`anthropic spec has no schema named ${name}`)
  const schema = structuredClone(base)
  schema['properties'] = { ...objectAt(schema, 'properties'), ...extra }
  return schema
}

const closed = (required: string[], properties: JsonObject): JsonObject => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
})

const nullable = (schema: JsonObject): JsonObject => ({ anyOf: [schema, { type: 'null' }] })

/** `CacheControlEphemeral` of the SDK (the mirror's lacks `ttl`). */
const CACHE_CONTROL = nullable(
  closed(['type'], { type: { const: 'ephemeral' }, ttl: { enum: ['5m', '1h'] } }),
)
const URL_SOURCE = closed(['type', 'url'], { type: { const: 'url' }, url: { type: 'string' } })
const FILE_SOURCE = closed(['type', 'file_id'], {
  type: { const: 'file' },
  file_id: { type: 'string' },
})

const schemaCache = new Map<string, ValidateFunction>()

const compiled = (key: string, build: () => JsonObject): ValidateFunction => {
  let validate = schemaCache.get(key)
  if (!validate) {
    validate = getChecker().ajv.compile(build())
    schemaCache.set(key, validate)
  }
  return validate
}

/** The request schemas: mirror where current, patched or written here where it is stale. */
const REQUEST_SCHEMAS: Record<string, () => JsonObject> = {
  params: () =>
    extend('CreateMessageParams', {
      // Checked element by element below, so errors name the block type like the API's do.
      messages: { type: 'array' },
      system: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] },
      tools: { type: 'array', items: { type: 'object' } },
      tool_choice: { type: 'object' },
      thinking: { type: 'object' },
      // Newer than the mirror (SDK `MessageCreateParamsBase`).
      cache_control: CACHE_CONTROL,
      container: { type: ['object', 'string', 'null'] },
      diagnostics: { type: ['object', 'null'] },
      inference_geo: { type: ['string', 'null'] },
      output_config: { type: 'object' },
      service_tier: { enum: ['auto', 'standard_only'] },
      speed: { enum: ['standard', 'fast', null] },
      user_profile_id: { type: 'string' },
      workspace_id: { type: 'string' },
    }),
  message: () =>
    extend('InputMessage', {
      content: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] },
    }),
  text: () =>
    extend('RequestTextBlock', {
      cache_control: CACHE_CONTROL,
      citations: { type: ['array', 'null'] },
    }),
  image: () =>
    extend('RequestImageBlock', { cache_control: CACHE_CONTROL, source: { type: 'object' } }),
  imageBase64: () => ref('Base64ImageSource'),
  url: () => URL_SOURCE,
  file: () => FILE_SOURCE,
  tool_use: () =>
    extend('RequestToolUseBlock', {
      cache_control: CACHE_CONTROL,
      caller: { type: 'object' },
      toolset_name: { type: ['string', 'null'] },
    }),
  tool_result: () =>
    extend('RequestToolResultBlock', {
      cache_control: CACHE_CONTROL,
      toolset_name: { type: ['string', 'null'] },
      content: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] },
    }),
  document: () =>
    closed(['type', 'source'], {
      type: { const: 'document' },
      source: { type: 'object' },
      cache_control: CACHE_CONTROL,
      citations: { type: ['object', 'null'] },
      context: { type: ['string', 'null'] },
      title: { type: ['string', 'null'] },
    }),
  pdfBase64: () => ref('BetaBase64PDFSource'),
  plainText: () =>
    closed(['type', 'media_type', 'data'], {
      type: { const: 'text' },
      media_type: { const: 'text/plain' },
      data: { type: 'string' },
    }),
  contentSource: () =>
    closed(['type', 'content'], {
      type: { const: 'content' },
      content: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] },
    }),
  search_result: () =>
    closed(['type', 'source', 'title', 'content'], {
      type: { const: 'search_result' },
      source: { type: 'string' },
      title: { type: 'string' },
      content: { type: 'array', items: { type: 'object' } },
      cache_control: CACHE_CONTROL,
      citations: { type: 'object' },
    }),
  thinking: () =>
    closed(['type', 'thinking', 'signature'], {
      type: { const: 'thinking' },
      thinking: { type: 'string' },
      signature: { type: 'string' },
    }),
  redacted_thinking: () =>
    closed(['type', 'data'], { type: { const: 'redacted_thinking' }, data: { type: 'string' } }),
  tool: () =>
    extend('Tool', {
      cache_control: CACHE_CONTROL,
      type: { enum: ['custom', null] },
      strict: { type: 'boolean' },
      defer_loading: { type: 'boolean' },
      eager_input_streaming: { type: ['boolean', 'null'] },
      input_examples: { type: 'array', items: { type: 'object' } },
      allowed_callers: { type: 'array' },
    }),
  choiceAuto: () => ref('ToolChoiceAuto'),
  choiceAny: () => ref('ToolChoiceAny'),
  choiceTool: () => ref('ToolChoiceTool'),
  choiceNone: () => closed(['type'], { type: { const: 'none' } }),
  thinkingEnabled: () =>
    closed(['type', 'budget_tokens'], {
      type: { const: 'enabled' },
      budget_tokens: { type: 'integer', minimum: MIN_THINKING_BUDGET },
      display: { enum: ['summarized', 'omitted', null] },
    }),
  thinkingDisabled: () => closed(['type'], { type: { const: 'disabled' } }),
  thinkingAdaptive: () =>
    closed(['type'], {
      type: { const: 'adaptive' },
      display: { enum: ['summarized', 'omitted', null] },
    }),
}

// --- violations in the API's wording ------------------------------------------------------------

type Path = Array<string | number>

const dotted = (path: Path): string => (path.length === 0 ? 'body' : path.join('.'))

const TYPE_WORDS: Record<string, string> = {
  string: 'a valid string',
  integer: 'a valid integer',
  number: 'a valid number',
  boolean: 'a valid boolean',
  object: 'a valid dictionary',
  array: 'a valid list',
  null: 'None',
}

const typeWords = (types: unknown): string => {
  const list = (Array.isArray(types) ? types : String(types).split(',')).map(String)
  return list.map((type) => TYPE_WORDS[type] ?? type).join(' or ')
}

const quoteValues = (values: unknown[]): string => {
  const quoted = values.map((value) =>
    value === null ? 'None' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`,
  )
  return quoted.length <= 1
    ? (quoted[0] ?? '')
    : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`
}

/** One Ajv error as the API words it (pydantic v2 messages, dotted location). */
const pydanticText = (error: ErrorObject, base: Path): string => {
  const params = error.params as Record<string, unknown>
  const path: Path = [...base]
  for (const segment of error.instancePath.split('/').slice(1)) {
    const plain = segment.replaceAll('~1', '/').replaceAll('~0', '~')
    path.push(/^\d+$/.test(plain) ? Number(plain) : plain)
  }
  const at = (extra?: unknown): string =>
    dotted(typeof extra === 'string' ? [...path, extra] : path)
  switch (error.keyword) {
    case 'required':
      return `${at(params['missingProperty'])}: Field required`
    case 'additionalProperties':
      return `${at(params['additionalProperty'])}: Extra inputs are not permitted`
    case 'type':
      return `${at()}: Input should be ${typeWords(params['type'])}`
    case 'minimum':
      return `${at()}: Input should be greater than or equal to ${String(params['limit'])}`
    case 'maximum':
      return `${at()}: Input should be less than or equal to ${String(params['limit'])}`
    case 'const':
      return `${at()}: Input should be ${quoteValues([params['allowedValue']])}`
    case 'enum':
      return `${at()}: Input should be ${quoteValues(Array.isArray(params['allowedValues']) ? params['allowedValues'] : [])}`
    case 'minLength':
      return `${at()}: String should have at least ${String(params['limit'])} character`
    case 'maxLength':
      return `${at()}: String should have at most ${String(params['limit'])} characters`
    case 'pattern':
      return `${at()}: String should match pattern '${String(params['pattern'])}'`
    case 'format':
      return `${at()}: Input should be a valid ${String(params['format'])} string`
    case 'anyOf': {
      const branches = Array.isArray(error.schema) ? (error.schema as unknown[]) : []
      const types = branches.map((branch) => (isObject(branch) ? branch['type'] : undefined))
      return `${at()}: Input should be ${typeWords(types.filter((type) => type !== undefined))}`
    }
    default:
      return `${at()}: ${error.message ?? error.keyword}`
  }
}

const schemaErrors = (key: string, value: unknown, path: Path): string[] => {
  const build = REQUEST_SCHEMAS[key]
  if (!build) throw new Error(`anthropic fake: no request schema ${key}`)
  const validate = compiled(`request:${key}`, build)
  if (validate(value)) return []
  const errors = validate.errors ?? []
  // Inside a failed anyOf only the anyOf itself is reported, as one "should be A or B".
  const anyOfAt = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const texts = errors
    .filter(
      (error) =>
        error.keyword === 'anyOf' ||
        !(anyOfAt.has(error.instancePath) && error.schemaPath.includes('/anyOf/')),
    )
    .map((error) => pydanticText(error, path))
  return [...new Set(texts)]
}

type Check = (value: Json, path: Path) => string[]

/** A tagged union checked the way pydantic does: select the variant by `type`, or say why not. */
const tagged =
  (variants: Record<string, Check>): Check =>
  (value, path) => {
    if (!isObject(value)) {
      return [
        `${dotted(path)}: Input should be a valid dictionary or object to extract fields from`,
      ]
    }
    const tag = value['type']
    if (typeof tag !== 'string') {
      return [`${dotted(path)}: Unable to extract tag using discriminator 'type'`]
    }
    const check = variants[tag]
    if (!check) {
      const expected = Object.keys(variants)
        .map((name) => `'${name}'`)
        .join(', ')
      return [
        `${dotted(path)}: Input tag '${tag}' found using 'type' does not match any of the expected tags: ${expected}`,
      ]
    }
    return check(value, [...path, tag])
  }

const schemaCheck =
  (key: string, nested: (value: JsonObject, path: Path) => string[] = () => []): Check =>
  (value, path) => {
    const errors = schemaErrors(key, value, path)
    return errors.length > 0 || !isObject(value) ? errors : nested(value, path)
  }

const IMAGE_SOURCES = tagged({
  base64: schemaCheck('imageBase64'),
  url: schemaCheck('url'),
  file: schemaCheck('file'),
})

const DOCUMENT_SOURCES = tagged({
  base64: schemaCheck('pdfBase64'),
  text: schemaCheck('plainText'),
  content: schemaCheck('contentSource'),
  url: schemaCheck('url'),
  file: schemaCheck('file'),
})

const withSource =
  (sources: Check) =>
  (value: JsonObject, path: Path): string[] =>
    sources(value['source'] ?? null, [...path, 'source'])

const TOOL_RESULT_CONTENT = tagged({
  text: schemaCheck('text'),
  image: schemaCheck('image', withSource(IMAGE_SOURCES)),
  document: schemaCheck('document', withSource(DOCUMENT_SOURCES)),
  search_result: schemaCheck('search_result'),
})

const CONTENT_BLOCKS = tagged({
  text: schemaCheck('text'),
  image: schemaCheck('image', withSource(IMAGE_SOURCES)),
  document: schemaCheck('document', withSource(DOCUMENT_SOURCES)),
  tool_use: schemaCheck('tool_use'),
  tool_result: schemaCheck('tool_result', (block, path) => {
    const content = block['content']
    if (!Array.isArray(content)) return []
    return content.flatMap((item, index) => TOOL_RESULT_CONTENT(item, [...path, 'content', index]))
  }),
  thinking: schemaCheck('thinking'),
  redacted_thinking: schemaCheck('redacted_thinking'),
})

const TOOL_CHOICES = tagged({
  auto: schemaCheck('choiceAuto'),
  any: schemaCheck('choiceAny'),
  tool: schemaCheck('choiceTool'),
  none: schemaCheck('choiceNone'),
})

const THINKING = tagged({
  enabled: schemaCheck('thinkingEnabled'),
  disabled: schemaCheck('thinkingDisabled'),
  adaptive: schemaCheck('thinkingAdaptive'),
})

/** Server tools carry a dated `type` (`web_search_20250305`); they are not checked further. */
const isServerTool = (tool: Json): boolean => /_\d{8}$/.test(stringAt(tool, 'type') ?? '')

/** Violations of the request's shape (schema level), in the API's wording. */
const shapeViolations = (body: Json): string[] => {
  const errors = schemaErrors('params', body, [])
  if (!isObject(body)) return errors
  arrayAt(body, 'messages').forEach((message, index) => {
    const path = ['messages', index]
    const messageErrors = schemaErrors('message', message, path)
    errors.push(...messageErrors)
    if (messageErrors.length > 0) return
    arrayAt(message, 'content').forEach((block, blockIndex) => {
      errors.push(...CONTENT_BLOCKS(block, [...path, 'content', blockIndex]))
    })
  })
  arrayAt(body, 'system').forEach((block, index) => {
    errors.push(...tagged({ text: schemaCheck('text') })(block, ['system', index]))
  })
  arrayAt(body, 'tools').forEach((tool, index) => {
    if (!isServerTool(tool)) errors.push(...schemaCheck('tool')(tool, ['tools', index]))
  })
  const choice = body['tool_choice']
  if (choice !== undefined) errors.push(...TOOL_CHOICES(choice, ['tool_choice']))
  const thinking = body['thinking']
  if (thinking !== undefined) errors.push(...THINKING(thinking, ['thinking']))
  return errors
}

const blocksOf = (message: Json): Json[] => arrayAt(message, 'content')

const idsOf = (message: Json, type: 'tool_use' | 'tool_result'): string[] =>
  blocksOf(message).flatMap((block) => {
    if (stringAt(block, 'type') !== type) return []
    const id = stringAt(block, type === 'tool_use' ? 'id' : 'tool_use_id')
    return id === undefined ? [] : [id]
  })

const isEmptyContent = (content: Json | undefined): boolean =>
  content === '' || (Array.isArray(content) && content.length === 0)

/** Conversation rules no schema expresses (see the module doc). */
const conversationViolations = (body: JsonObject): string[] => {
  const errors: string[] = []
  const messages = arrayAt(body, 'messages')
  if (messages.length === 0) errors.push('messages: at least one message is required')
  if (messages.length > 0 && stringAt(messages[0], 'role') !== 'user') {
    errors.push('messages: first message must use the "user" role')
  }
  messages.forEach((message, index) => {
    const role = stringAt(message, 'role')
    const previous = index > 0 ? messages[index - 1] : undefined
    if (previous !== undefined && stringAt(previous, 'role') === role) {
      errors.push(
        `messages: roles must alternate between "user" and "assistant", but found multiple "${role ?? ''}" roles in a row`,
      )
    }
    const finalAssistant = index === messages.length - 1 && role === 'assistant'
    if (isEmptyContent(isObject(message) ? message['content'] : undefined) && !finalAssistant) {
      errors.push(
        `messages.${index}: all messages must have non-empty content except for the optional final assistant message`,
      )
    }
    if (role !== 'user') return
    const offered = new Set(
      previous !== undefined && stringAt(previous, 'role') === 'assistant'
        ? idsOf(previous, 'tool_use')
        : [],
    )
    blocksOf(message).forEach((block, blockIndex) => {
      if (stringAt(block, 'type') !== 'tool_result') return
      const id = stringAt(block, 'tool_use_id') ?? ''
      if (!offered.has(id)) {
        errors.push(
          `messages.${index}.content.${blockIndex}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        )
      }
    })
    const answered = new Set(idsOf(message, 'tool_result'))
    const unanswered = [...offered].filter((id) => !answered.has(id))
    if (unanswered.length > 0) {
      errors.push(
        `messages.${index - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
      )
    }
  })

  const thinking = objectAt(body, 'thinking')
  if (thinking?.['type'] === 'enabled') {
    const budget = thinking['budget_tokens']
    const maxTokens = body['max_tokens']
    if (typeof budget === 'number' && typeof maxTokens === 'number' && budget >= maxTokens) {
      errors.push(
        '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
      )
    }
    if (body['temperature'] !== undefined && body['temperature'] !== 1) {
      errors.push('`temperature` may only be set to 1 when thinking is enabled.')
    }
    if (body['top_k'] !== undefined) errors.push('`top_k` must be unset when thinking is enabled.')
  }

  const toolNames = arrayAt(body, 'tools').flatMap((tool) => {
    const name = stringAt(tool, 'name')
    return name === undefined ? [] : [name]
  })
  const choice = objectAt(body, 'tool_choice')
  if (choice && choice['type'] !== 'none' && toolNames.length === 0) {
    errors.push('tool_choice: tool_choice may only be specified while providing tools.')
  }
  const chosen = stringAt(choice, 'name')
  if (choice?.['type'] === 'tool' && chosen !== undefined && !toolNames.includes(chosen)) {
    errors.push(`tool_choice.tool.name: Tool '${chosen}' not found in 'tools'.`)
  }
  const duplicate = toolNames.find((name, index) => toolNames.indexOf(name) !== index)
  if (duplicate !== undefined) errors.push(`tools: Tool names must be unique (${duplicate}).`)
  return errors
}

/**
 * Everything wrong with a `POST /v1/messages` body, in the API's wording: shape first (as the API
 * parses before it checks the conversation), then the conversation rules. Empty when valid.
 */
export const anthropicRequestViolations = (body: unknown): string[] => {
  const json = body as Json
  const shape = shapeViolations(json)
  if (shape.length > 0 || !isObject(json)) return shape
  return conversationViolations(json)
}

// --- response schemas (for self-tests) ----------------------------------------------------------

const STOP_REASONS = [
  'end_turn',
  'max_tokens',
  'stop_sequence',
  'tool_use',
  'pause_turn',
  'refusal',
  'model_context_window_exceeded',
  null,
]

const RESPONSE_BLOCKS = (): JsonObject => ({
  anyOf: [
    ref('ResponseTextBlock'),
    ref('ResponseToolUseBlock'),
    closed(['type', 'thinking', 'signature'], {
      type: { const: 'thinking' },
      thinking: { type: 'string' },
      signature: { type: 'string' },
    }),
    closed(['type', 'data'], { type: { const: 'redacted_thinking' }, data: { type: 'string' } }),
  ],
})

const messageSchema = (): JsonObject =>
  extend('Message', {
    content: { type: 'array', items: RESPONSE_BLOCKS() },
    stop_reason: { enum: STOP_REASONS },
  })

const event = (type: string, properties: JsonObject, required: string[] = []): JsonObject => ({
  type: 'object',
  required: ['type', ...required],
  properties: { type: { const: type }, ...properties },
})

/**
 * Response schemas: the mirror's `Message`, stream events and `ErrorResponse`, patched with what is
 * newer (stop reasons, thinking blocks and deltas, `ping`, billing and timeout errors).
 */
const RESPONSE_SCHEMAS: Record<string, () => JsonObject> = {
  Message: messageSchema,
  ErrorResponse: () =>
    extend('ErrorResponse', {
      error: {
        anyOf: [
          ...[
            'InvalidRequestError',
            'AuthenticationError',
            'PermissionError',
            'NotFoundError',
            'RateLimitError',
            'APIError',
            'OverloadedError',
          ].map(ref),
          event('billing_error', { message: { type: 'string' } }, ['message']),
          event('timeout_error', { message: { type: 'string' } }, ['message']),
        ],
      },
      request_id: { type: ['string', 'null'] },
    }),
  message_start: () => event('message_start', { message: messageSchema() }, ['message']),
  content_block_start: () =>
    extend('ContentBlockStartEvent', {
      // Streamed blocks start empty: tool_use with `input: {}`, thinking with '' and ''.
      content_block: RESPONSE_BLOCKS(),
    }),
  content_block_delta: () =>
    extend('ContentBlockDeltaEvent', {
      delta: {
        anyOf: [
          ref('TextContentBlockDelta'),
          ref('InputJsonContentBlockDelta'),
          event('thinking_delta', { thinking: { type: 'string' } }, ['thinking']),
          event('signature_delta', { signature: { type: 'string' } }, ['signature']),
          event('citations_delta', { citation: { type: 'object' } }, ['citation']),
        ],
      },
    }),
  content_block_stop: () => ref('ContentBlockStopEvent'),
  message_delta: () =>
    extend('MessageDeltaEvent', {
      delta: {
        type: 'object',
        required: ['stop_reason', 'stop_sequence'],
        properties: {
          stop_reason: { enum: STOP_REASONS },
          stop_sequence: { type: ['string', 'null'] },
        },
      },
    }),
  message_stop: () => ref('MessageStopEvent'),
  ping: () => event('ping', {}),
}

/**
 * Errors of `value` against a response schema: `Message`, `ErrorResponse`, or a stream event by
 * its `type` (`message_start`, `content_block_delta`, `ping`, `error`, …). Empty when valid.
 */
export const validateAnthropicResponse = (name: string, value: unknown): string[] => {
  const key = name === 'error' ? 'ErrorResponse' : name
  const build = RESPONSE_SCHEMAS[key]
  if (!build) throw new Error(`anthropic fake: no response schema ${name}`)
  const validate = compiled(`response:${key}`, build)
  if (validate(value)) return []
  return (validate.errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'} ${error.message ?? error.keyword} (${error.schemaPath})`,
  )
}

// --- errors -------------------------------------------------------------------------------------

const recordedRateLimitMessage = (): string => {
  const exchanges: unknown = JSON.parse(
    readFixture('sdk-python/recorded_429_then_200_d743d628.json'),
  )
  const first: unknown = Array.isArray(exchanges) ? exchanges[0] : undefined
  const error = objectAt(objectAt(objectAt(first, 'response'), 'body'), 'error')
  return stringAt(error, 'message') ?? 'Rate limited.'
}

const ERROR_TYPES: Record<number, [type: string, message: () => string]> = {
  400: ['invalid_request_error', () => 'Invalid request.'],
  401: ['authentication_error', () => 'invalid x-api-key'],
  402: ['billing_error', () => 'Your credit balance is too low to access the Anthropic API.'],
  403: ['permission_error', () => 'Your API key does not have permission to use the resource.'],
  404: ['not_found_error', () => 'Not Found'],
  413: ['invalid_request_error', () => 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', recordedRateLimitMessage],
  500: ['api_error', () => 'Internal server error'],
  504: ['timeout_error', () => 'Request timed out'],
  529: ['overloaded_error', () => 'Overloaded'],
}

/** The API's error reply; `x-should-retry` as the recordings have it (true for 408/409/429/5xx). */
const errorReply = (status: number, message?: string): Reply => {
  const [type, defaultMessage] = ERROR_TYPES[status] ?? [
    status >= 500 ? 'api_error' : 'invalid_request_error',
    () => `Error (status ${status}).`,
  ]
  const id = requestId()
  const retry = status === 408 || status === 409 || status === 429 || status >= 500
  return {
    status,
    body: { type: 'error', error: { type, message: message ?? defaultMessage() }, request_id: id },
    headers: { 'request-id': id, 'x-should-retry': String(retry) },
  }
}

const invalid = (request: NativeRequest, violations: string[]): Reply => {
  request.violations.push(...violations)
  return errorReply(400, violations.join('; '))
}

// --- replies ------------------------------------------------------------------------------------

const MODELS: ReadonlyArray<[id: string, name: string, created: string]> = [
  ['claude-opus-4-5-20251101', 'Claude Opus 4.5', '2025-11-01T00:00:00Z'],
  ['claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z'],
  ['claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-01T00:00:00Z'],
]

const modelsReply = (): Reply => {
  const data = MODELS.map(([id, display_name, created_at]) => ({
    type: 'model',
    id,
    display_name,
    created_at,
  }))
  return {
    status: 200,
    body: {
      data,
      has_more: false,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    },
    headers: { 'request-id': requestId() },
  }
}

/** The tool the model calls, or `undefined` when it answers in text (see the module doc). */
const calledTool = (body: JsonObject): string | undefined => {
  const names = arrayAt(body, 'tools').flatMap((tool) => {
    const name = stringAt(tool, 'name')
    return name === undefined || isServerTool(tool) ? [] : [name]
  })
  const choice = objectAt(body, 'tool_choice')
  if (names.length === 0 || choice?.['type'] === 'none') return undefined
  const lastUser = arrayAt(body, 'messages').findLast(
    (message) => stringAt(message, 'role') === 'user',
  )
  if (lastUser !== undefined && idsOf(lastUser, 'tool_result').length > 0) return undefined
  return choice?.['type'] === 'tool' ? (stringAt(choice, 'name') ?? names[0]) : names[0]
}

const messagesReply = (request: NativeRequest, body: JsonObject): Reply | FrameStream => {
  const toolName = calledTool(body)
  const requested = request.headers['x-fake-fixture']
  const name = requested ?? (toolName === undefined ? 'text' : 'tool_use')
  const recorded = scenarioEvents(name)
  if (!recorded) {
    const known = anthropicScenarioNames().join(', ')
    return errorReply(400, `x-fake-fixture: no recorded stream named ${name} (${known})`)
  }
  const thinkingType = stringAt(objectAt(body, 'thinking'), 'type')
  const events = adapt(recorded, {
    model: stringAt(body, 'model') ?? 'claude',
    toolName,
    thinking: thinkingType === 'enabled' || thinkingType === 'adaptive',
  })
  const id = requestId()
  if (body['stream'] !== true) {
    return { status: 200, body: accumulateAnthropic(events), headers: { 'request-id': id } }
  }
  const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }
  return {
    frames: events.map((event) => ({ text: frameText(event), counted: true })),
    errorFrame: `event: error\ndata: ${JSON.stringify(error)}\n\n`,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': id,
    },
  }
}

/** A safety model's verdict (`guard.ts`) as a Messages API answer. */
const guardMessage = (body: JsonObject): Reply => {
  const rule = guardRule(judgedText(body), body)
  const text = rule.kind === 'status' ? '' : rule.text
  const usage = guardUsage(body, text)
  return {
    status: 200,
    body: {
      id: messageId(),
      type: 'message',
      role: 'assistant',
      model: stringAt(body, 'model') ?? 'claude',
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: usage.input, output_tokens: usage.output },
    },
    headers: { 'request-id': requestId() },
  }
}

/** The Anthropic fake, registered by `../fake-providers.ts`. */
export const anthropicFake: NativeFake = {
  id: 'anthropic',
  base: '/anthropic',
  requestId: () => ({ 'request-id': requestId() }),
  unauthorized: (request) => {
    if ((request.headers['x-api-key'] ?? '').trim() !== '') return undefined
    request.violations.push('x-api-key header is required')
    return errorReply(401, 'x-api-key header is required')
  },
  error: (status) => errorReply(status),
  answer: (request) => {
    const route = `${request.method} ${request.path}`
    if (route === 'GET /v1/models') return modelsReply()
    if (route !== 'POST /v1/messages') {
      request.violations.push(`no such endpoint: ${route}`)
      return errorReply(404)
    }
    const version = request.headers['anthropic-version']
    if (version === undefined) return invalid(request, ['anthropic-version: header is required'])
    if (version !== API_VERSION) {
      return invalid(request, [
        `anthropic-version: invalid version ${version} (use ${API_VERSION})`,
      ])
    }
    if (!request.json || !isObject(request.body)) {
      return invalid(request, [
        'There was an error parsing the body of your request: not a JSON object',
      ])
    }
    const violations = anthropicRequestViolations(request.body)
    if (violations.length > 0) return invalid(request, violations)
    if (isGuardModel(stringAt(request.body, 'model'))) return guardMessage(request.body)
    return messagesReply(request, request.body)
  },
}
