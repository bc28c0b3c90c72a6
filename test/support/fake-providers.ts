/**
 * @module Fake model providers for the test suites: one Node HTTP server on loopback that plays
 * OpenAI, Groq, Mistral, DeepSeek, Together and a custom OpenAI-compatible server (vLLM/Ollama
 * style), each under its own path prefix in the base-URL form that provider's SDK uses:
 *
 * | provider | base URL            | chat                         | embeddings       | models              |
 * |----------|---------------------|------------------------------|------------------|---------------------|
 * | openai   | `${url}/openai/v1`  | `/chat/completions`          | `/embeddings`    | `/models`           |
 * | groq     | `${url}/groq`       | `/openai/v1/chat/completions`| –                | `/openai/v1/models` |
 * | mistral  | `${url}/mistral`    | `/v1/chat/completions`       | `/v1/embeddings` | `/v1/models`        |
 * | deepseek | `${url}/deepseek`   | `/chat/completions`          | –                | `/models`           |
 * | together | `${url}/together/v1`| `/chat/completions`          | `/embeddings`    | `/models`           |
 * | custom   | `${url}/custom/v1`  | `/chat/completions`          | `/embeddings`    | `/models`           |
 * | bedrock  | `${url}/bedrock`    | `/model/{id}/converse`, `/model/{id}/converse-stream` | – | – |
 *
 * Anthropic (`${url}/anthropic`), Gemini (`${url}/gemini`) and Amazon Bedrock Runtime
 * (`${url}/bedrock`: Converse and ConverseStream, SigV4 with service `bedrock` or a Bedrock API key,
 * binary `application/vnd.amazon.eventstream` streams) speak their own protocols; they live in
 * `fakes/anthropic.ts`, `fakes/gemini.ts` and `fakes/bedrock.ts` (routes, auth, validation, replies,
 * stream framing) and share this server's recording, tags and fault headers. Bedrock adds its own:
 * `x-fake-bad-crc`, `x-fake-exception`, `x-fake-cut-mid-frame` (see `fakes/bedrock.ts`).
 *
 * Request bodies are checked against the providers' published schemas (`openapi.ts`), and chat
 * streams replay real recorded OpenAI streams (`test/fixtures/openai/fixtures`) reshaped into each
 * provider's wire flavour, so a gateway that passes these tests has met real payloads, not shapes
 * invented here. Provider flavours follow `/work/shared/specs/providers/NOTES.md`.
 *
 * Every request is recorded (also readable over HTTP at `GET /__fake/requests?tag=T`, since tests
 * running inside workerd cannot share memory with this process). Request headers steer scenarios;
 * the gateway forwards headers it does not know, so tests set them on the client request:
 * - `x-fake-tag`: free-form label copied into the record, to find one test's requests.
 * - `x-fake-fixture`: file-name prefix of the recorded stream to replay (chat, stream or not).
 *   Anthropic and Gemini take a scenario name instead (`anthropicScenarioNames()`,
 *   `geminiScenarioNames()`).
 * - `x-fake-status` (+ `x-fake-retry-after`): answer with that status and the provider's error
 *   body (a status below 400 is sent with an empty body).
 * - `x-fake-latency-ms`: wait before answering. `x-fake-chunk-delay-ms`: wait between events.
 * - `x-fake-cut-after`: write that many `data:` events (or body bytes, when not streaming), then
 *   destroy the socket: no `[DONE]`, no terminating chunk.
 * - `x-fake-redirect`: answer 302 with that `Location`.
 * - `x-fake-error-event: 1`: stream two chunks, then an in-stream `{"error":{…}}` event, and end.
 *
 * Faults can also be tied to a model, so that one target of a routing rule fails or slows down
 * while the others answer: `PUT /__fake/faults` with `{"model": "m", "headers": {"x-fake-status":
 * "503"}}` applies those headers to every later request whose body names model `m` (OpenAI-style
 * and Anthropic requests; Gemini names its model in the path); `DELETE /__fake/faults?model=m`
 * removes them, `DELETE /__fake/faults` removes all.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { schemaViolations } from './openapi.ts'
import type { SchemaViolation } from './openapi.ts'
import type { RecordedRequest } from './recorded-request.ts'
import { arrayAt, isObject, objectAt, stringAt, type Json, type JsonObject } from './json.ts'
import { localEmbedding } from '../../src/cache/embedder.ts'
import { anthropicFake } from './fakes/anthropic.ts'
import { bedrockFake } from './fakes/bedrock.ts'
import { geminiFake } from './fakes/gemini.ts'
import { guardRule, guardUsage, isGuardModel, judgedText, type GuardRule } from './fakes/guard.ts'

export type { RecordedRequest }

export type FakeProviders = { url: string; requests: RecordedRequest[]; close(): Promise<void> }

export type { Json }

type ProviderId = 'openai' | 'groq' | 'mistral' | 'deepseek' | 'together' | 'custom'
type Endpoint = 'chat' | 'embeddings' | 'models'

type Provider = {
  id: ProviderId
  /** Path of the base URL the gateway is configured with. */
  base: string
  /** `METHOD /path` under `base`, as the provider's SDK appends it. */
  routes: Record<string, Endpoint>
  models: readonly string[]
  ownedBy: string
}

const openAIStyleRoutes = (prefix: string, embeddings: boolean): Record<string, Endpoint> => ({
  [`POST ${prefix}/chat/completions`]: 'chat',
  [`GET ${prefix}/models`]: 'models',
  ...(embeddings ? { [`POST ${prefix}/embeddings`]: 'embeddings' as const } : {}),
})

const PROVIDERS: readonly Provider[] = [
  {
    id: 'openai',
    base: '/openai/v1',
    routes: openAIStyleRoutes('', true),
    models: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'],
    ownedBy: 'system',
  },
  {
    id: 'groq',
    base: '/groq',
    routes: openAIStyleRoutes('/openai/v1', false),
    models: ['llama-3.3-70b-versatile', 'llama-3.1-8b-instant'],
    ownedBy: 'Meta',
  },
  {
    id: 'mistral',
    base: '/mistral',
    routes: openAIStyleRoutes('/v1', true),
    models: ['mistral-small-latest', 'mistral-large-latest', 'mistral-embed'],
    ownedBy: 'mistralai',
  },
  {
    id: 'deepseek',
    base: '/deepseek',
    routes: openAIStyleRoutes('', false),
    models: ['deepseek-chat', 'deepseek-reasoner'],
    ownedBy: 'deepseek',
  },
  {
    id: 'together',
    base: '/together/v1',
    routes: openAIStyleRoutes('', true),
    models: ['meta-llama/Llama-3.3-70B-Instruct-Turbo', 'BAAI/bge-base-en-v1.5'],
    ownedBy: 'together',
  },
  {
    id: 'custom',
    base: '/custom/v1',
    routes: openAIStyleRoutes('', true),
    models: ['llama3.2', 'nomic-embed-text'],
    ownedBy: 'library',
  },
]

const FIXTURE_DIR = new URL('../fixtures/openai/fixtures/', import.meta.url)
const DEFAULT_TEXT_FIXTURE = 'stream_text_with_usage'
const DEFAULT_TOOL_FIXTURE = 'stream_single_tool_call_with_usage'
const DEFAULT_DIMENSIONS = 8
const ERROR_EVENT_AFTER = 2
const DEEPSEEK_REASONING = ['The user', ' wants a', ' short answer;', ' reply directly.']

// --- small JSON helpers -------------------------------------------------------------------------

const numberAt = (value: unknown, key: string): number => {
  const inner = isObject(value) ? value[key] : undefined
  return typeof inner === 'number' ? inner : 0
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

const randomAlphanumeric = (length: number): string =>
  [...randomBytes(length)].map((byte) => ALPHANUMERIC.charAt(byte % ALPHANUMERIC.length)).join('')

// --- recorded streams ---------------------------------------------------------------------------

type Fixture = { name: string; chunks: JsonObject[] }

let fixtureCache: Fixture[] | undefined

const fixtures = (): Fixture[] => {
  if (fixtureCache) return fixtureCache
  fixtureCache = readdirSync(FIXTURE_DIR)
    .filter((name) => name.endsWith('.sse'))
    .sort()
    .map((name) => ({
      name,
      chunks: readFileSync(new URL(name, FIXTURE_DIR), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
        .map((line): unknown => JSON.parse(line.slice('data: '.length)))
        .filter(isObject),
    }))
  return fixtureCache
}

/** Recorded stream whose file name starts with `prefix`, e.g. `stream_parallel_tool_calls`. */
export const findFixture = (prefix: string): Fixture | undefined =>
  fixtures().find((fixture) => fixture.name.startsWith(prefix))

/** Names of the recorded streams the fake can replay. */
export const fixtureNames = (): string[] => fixtures().map((fixture) => fixture.name)

// --- errors -------------------------------------------------------------------------------------

export type Reply = { status: number; body: Json; headers?: Record<string, string> }

const OPENAI_ERROR_TYPES: Record<number, [type: string, code: string | null]> = {
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['permission_error', null],
  404: ['invalid_request_error', null],
  429: ['requests', 'rate_limit_exceeded'],
}

const DEFAULT_MESSAGES: Record<number, string> = {
  401: 'Incorrect API key provided.',
  402: 'Insufficient Balance',
  404: 'The requested resource does not exist.',
  429: 'Rate limit reached for requests. Please try again later.',
  500: 'The server had an error while processing your request. Sorry about that!',
  502: 'Bad gateway.',
  503: 'The engine is currently overloaded, please try again later.',
}

const messageFor = (status: number): string =>
  DEFAULT_MESSAGES[status] ?? `Upstream error (status ${status}).`

/** FastAPI/pydantic error locations start with where the value came from. */
const fastApiDetail = (violations: SchemaViolation[]): Json[] =>
  violations.map((violation) => ({
    loc: ['body', ...violation.path],
    msg:
      violation.keyword === 'additionalProperties'
        ? 'Extra inputs are not permitted'
        : violation.message,
    type:
      violation.keyword === 'additionalProperties'
        ? 'extra_forbidden'
        : violation.keyword === 'required'
          ? 'missing'
          : violation.keyword,
  }))

/** The error body `provider` sends with `status` (see NOTES.md for the Mistral shapes). */
const errorReply = (
  provider: ProviderId,
  status: number,
  message = messageFor(status),
  details: { param?: string | null; violations?: SchemaViolation[] } = {},
): Reply => {
  if (provider === 'mistral') {
    if (status === 401) return { status, body: { detail: 'Unauthorized' } }
    if (status === 404) return { status, body: { detail: 'Not Found' } }
    if (status === 422) {
      const detail = details.violations?.length
        ? fastApiDetail(details.violations)
        : [{ loc: ['body'], msg: message, type: 'value_error' }]
      return { status, body: { detail } }
    }
    const type = status >= 500 ? 'internal_server_error' : 'invalid_request_error'
    return { status, body: { object: 'error', message, type, param: null, code: null } }
  }
  const [type, code] = OPENAI_ERROR_TYPES[status] ?? [
    status >= 500 ? 'server_error' : 'invalid_request_error',
    null,
  ]
  return { status, body: { error: { message, type, param: details.param ?? null, code } } }
}

// --- chat completions ---------------------------------------------------------------------------

type ToolCall = { id: string; name: string; arguments: string }

type ChatContext = {
  provider: ProviderId
  body: JsonObject
  model: string | undefined
  id: string
  created: number
  toolNames: string[]
  thinking: boolean
}

const completionId = (provider: ProviderId): string => {
  if (provider === 'mistral') return randomBytes(16).toString('hex')
  if (provider === 'deepseek') return randomUUID()
  if (provider === 'groq') return `chatcmpl-${randomUUID()}`
  return `chatcmpl-${randomAlphanumeric(29)}`
}

// Mistral validates tool-call ids as `^[a-zA-Z0-9]{9}$` (mistral-common), OpenAI uses `call_…`.
const toolCallId = (provider: ProviderId): string =>
  provider === 'mistral' ? randomAlphanumeric(9) : `call_${randomAlphanumeric(24)}`

const requestToolNames = (body: JsonObject): string[] =>
  arrayAt(body, 'tools').flatMap((tool) => {
    const name = stringAt(objectAt(tool, 'function'), 'name')
    return name === undefined ? [] : [name]
  })

/** The model answers with a tool call when it has tools and is not reading a tool's result. */
const wantsToolCall = (body: JsonObject): boolean => {
  const messages = arrayAt(body, 'messages')
  return (
    requestToolNames(body).length > 0 &&
    body['tool_choice'] !== 'none' &&
    stringAt(messages[messages.length - 1], 'role') !== 'tool'
  )
}

/**
 * The recorded chunks re-addressed to this request: its model, a fresh id and timestamp, the
 * request's tool names (call `i` gets tool `i`, else tool 0) and fresh tool-call ids. The trailing
 * usage-only chunk is split off, since whether and where usage goes depends on the provider.
 */
const readdress = (
  fixture: Fixture,
  ctx: ChatContext,
): { chunks: JsonObject[]; usage: JsonObject } => {
  const ids = new Map<number, string>()
  const chunks: JsonObject[] = []
  let usage: JsonObject = { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 }
  for (const recorded of fixture.chunks) {
    const chunk = structuredClone(recorded)
    const choices = arrayAt(chunk, 'choices')
    const recordedUsage = objectAt(chunk, 'usage')
    if (choices.length === 0 && recordedUsage) {
      usage = recordedUsage
      continue
    }
    chunk['id'] = ctx.id
    chunk['created'] = ctx.created
    if (ctx.model !== undefined) chunk['model'] = ctx.model
    for (const choice of choices) {
      for (const call of arrayAt(objectAt(choice, 'delta'), 'tool_calls')) {
        if (!isObject(call)) continue
        const index = numberAt(call, 'index')
        if (typeof call['id'] === 'string') {
          const id = ids.get(index) ?? toolCallId(ctx.provider)
          ids.set(index, id)
          call['id'] = id
        }
        const fn = objectAt(call, 'function')
        const name = ctx.toolNames[index] ?? ctx.toolNames[0]
        if (fn && typeof fn['name'] === 'string' && name !== undefined) fn['name'] = name
      }
    }
    chunks.push(chunk)
  }
  return { chunks, usage }
}

/** What the recorded chunks add up to, as a non-streaming answer has it. */
const assemble = (
  chunks: JsonObject[],
): { content: string | null; toolCalls: ToolCall[]; finishReason: string } => {
  let content: string | null = null
  let finishReason = 'stop'
  const calls = new Map<number, ToolCall>()
  for (const chunk of chunks) {
    for (const choice of arrayAt(chunk, 'choices')) {
      const delta = objectAt(choice, 'delta')
      const text = stringAt(delta, 'content')
      if (text !== undefined) content = (content ?? '') + text
      for (const fragment of arrayAt(delta, 'tool_calls')) {
        const index = numberAt(fragment, 'index')
        const call = calls.get(index) ?? { id: '', name: '', arguments: '' }
        const fn = objectAt(fragment, 'function')
        call.id = stringAt(fragment, 'id') ?? call.id
        call.name = stringAt(fn, 'name') ?? call.name
        call.arguments += stringAt(fn, 'arguments') ?? ''
        calls.set(index, call)
      }
      finishReason = stringAt(choice, 'finish_reason') ?? finishReason
    }
  }
  const toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call)
  return {
    content: toolCalls.length > 0 && content === '' ? null : content,
    toolCalls,
    finishReason,
  }
}

/** Usage in each provider's own shape, from the recorded OpenAI usage. */
const providerUsage = (provider: ProviderId, usage: JsonObject, reasoning: number): JsonObject => {
  const prompt = numberAt(usage, 'prompt_tokens')
  const completion = numberAt(usage, 'completion_tokens') + reasoning
  const total = prompt + completion
  switch (provider) {
    case 'mistral':
      return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total }
    case 'groq':
      return {
        queue_time: 0.012,
        prompt_tokens: prompt,
        prompt_time: 0.003,
        completion_tokens: completion,
        completion_time: 0.041,
        total_tokens: total,
        total_time: 0.044,
      }
    case 'deepseek': {
      // DeepSeek splits the prompt into cache hits and misses (prompt = hit + miss).
      const hit = Math.floor(prompt / 2)
      return {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        prompt_tokens_details: { cached_tokens: hit },
        prompt_cache_hit_tokens: hit,
        prompt_cache_miss_tokens: prompt - hit,
        ...(reasoning > 0 ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}),
      }
    }
    default:
      return usage
  }
}

const reasoningTokens = (ctx: ChatContext): number => (ctx.thinking ? DEEPSEEK_REASONING.length : 0)

const nonStreamingReply = (fixture: Fixture, ctx: ChatContext): Reply => {
  const { chunks, usage } = readdress(fixture, ctx)
  const { content, toolCalls, finishReason } = assemble(chunks)
  const first = chunks[0] ?? {}
  const wireCalls = toolCalls.map((call) => ({
    id: call.id,
    type: 'function',
    function: { name: call.name, arguments: call.arguments },
  }))
  const head = { id: ctx.id, object: 'chat.completion', created: ctx.created }
  const model = ctx.model ?? stringAt(first, 'model') ?? 'unknown'
  const fullUsage = providerUsage(ctx.provider, usage, reasoningTokens(ctx))
  if (ctx.provider === 'mistral') {
    const message = {
      role: 'assistant',
      content: content ?? '',
      tool_calls:
        wireCalls.length > 0 ? wireCalls.map((call, index) => ({ ...call, index })) : null,
    }
    const choice = { index: 0, message, finish_reason: finishReason }
    return { status: 200, body: { ...head, model, choices: [choice], usage: fullUsage } }
  }
  const message: JsonObject = { role: 'assistant', content, refusal: null, annotations: [] }
  if (wireCalls.length > 0) message['tool_calls'] = wireCalls
  if (ctx.thinking) message['reasoning_content'] = DEEPSEEK_REASONING.join('')
  const body: JsonObject = {
    ...head,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage: fullUsage,
    system_fingerprint: stringAt(first, 'system_fingerprint') ?? null,
  }
  if (ctx.provider === 'openai') body['service_tier'] = 'default'
  if (ctx.provider === 'groq') body['x_groq'] = { id: `req_${randomAlphanumeric(26)}` }
  return { status: 200, body }
}

type SseEvent = { data: JsonObject } | { comment: string }

const finishChunkIndex = (chunks: JsonObject[]): number =>
  chunks.findLastIndex((chunk) =>
    arrayAt(chunk, 'choices').some(
      (choice) => typeof stringAt(choice, 'finish_reason') === 'string',
    ),
  )

const usageChunk = (template: JsonObject | undefined, usage: JsonObject): JsonObject => ({
  id: stringAt(template, 'id') ?? '',
  object: 'chat.completion.chunk',
  created: numberAt(template, 'created'),
  model: stringAt(template, 'model') ?? '',
  system_fingerprint: stringAt(template, 'system_fingerprint') ?? null,
  choices: [],
  usage,
})

/**
 * OpenAI rule: the usage-only chunk (`choices: []`) comes only with
 * `stream_options.include_usage`, and then every other chunk carries `usage: null` (spec text;
 * the 2024 recordings predate that null, clients must accept both).
 */
const openAIFlavour = (chunks: JsonObject[], usage: JsonObject, ctx: ChatContext): SseEvent[] => {
  if (objectAt(ctx.body, 'stream_options')?.['include_usage'] !== true) {
    return chunks.map((data) => ({ data }))
  }
  const events: SseEvent[] = chunks.map((chunk) => ({ data: { ...chunk, usage: null } }))
  events.push({ data: usageChunk(chunks[0], usage) })
  return events
}

/** Groq has no usage chunk: usage rides on the finish chunk under `x_groq` (groq-typescript). */
const groqFlavour = (chunks: JsonObject[], usage: JsonObject): SseEvent[] => {
  const requestId = `req_${randomAlphanumeric(26)}`
  const last = finishChunkIndex(chunks)
  return chunks.map((chunk, index) => {
    if (index === last) return { data: { ...chunk, x_groq: { id: requestId, usage } } }
    if (index === 0) return { data: { ...chunk, x_groq: { id: requestId } } }
    return { data: chunk }
  })
}

/**
 * Mistral's `CompletionChunk`: no `system_fingerprint`/`logprobs`/`refusal`, whole tool calls
 * (its `FunctionCall` requires name and arguments together) sent with the finish chunk, and usage
 * always on that final chunk (there is no `stream_options`).
 */
const mistralFlavour = (chunks: JsonObject[], usage: JsonObject): SseEvent[] => {
  const { toolCalls } = assemble(chunks)
  const last = finishChunkIndex(chunks)
  const events: SseEvent[] = []
  chunks.forEach((chunk, index) => {
    const choices = arrayAt(chunk, 'choices').filter(isObject)
    const reshaped = choices.map((choice) => {
      const delta = { ...objectAt(choice, 'delta') }
      delete delta['refusal']
      delete delta['tool_calls']
      if (index === last && toolCalls.length > 0) {
        delta['tool_calls'] = toolCalls.map((call, callIndex) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: call.arguments },
          index: callIndex,
        }))
      }
      return { index: choice['index'] ?? 0, delta, finish_reason: choice['finish_reason'] ?? null }
    })
    const onlyFragments = reshaped.every(
      (choice) => Object.keys(choice.delta).length === 0 && choice.finish_reason === null,
    )
    if (onlyFragments && index !== 0) return
    const data: JsonObject = {
      id: chunk['id'] ?? '',
      object: 'chat.completion.chunk',
      created: chunk['created'] ?? 0,
      model: chunk['model'] ?? '',
      choices: reshaped,
    }
    if (index === last) data['usage'] = usage
    events.push({ data })
  })
  return events
}

/** DeepSeek: keep-alive comments first, then (thinking mode) `reasoning_content` deltas. */
const deepseekFlavour = (chunks: JsonObject[], usage: JsonObject, ctx: ChatContext): SseEvent[] => {
  const [first, ...rest] = chunks
  if (!first) return []
  let body = chunks
  if (ctx.thinking) {
    const opening = structuredClone(first)
    const reasoningDelta = (piece: string): JsonObject => ({
      ...opening,
      choices: [
        {
          index: 0,
          delta: { content: null, reasoning_content: piece },
          logprobs: null,
          finish_reason: null,
        },
      ],
    })
    const openingChoice = arrayAt(opening, 'choices')[0]
    const openingDelta = objectAt(openingChoice, 'delta')
    if (openingDelta) {
      openingDelta['content'] = null
      openingDelta['reasoning_content'] = ''
    }
    body = [opening, ...DEEPSEEK_REASONING.map(reasoningDelta), ...rest]
  }
  return [{ comment: 'keep-alive' }, { comment: 'keep-alive' }, ...openAIFlavour(body, usage, ctx)]
}

const streamEvents = (fixture: Fixture, ctx: ChatContext): SseEvent[] => {
  const { chunks, usage } = readdress(fixture, ctx)
  const shaped = providerUsage(ctx.provider, usage, reasoningTokens(ctx))
  switch (ctx.provider) {
    case 'groq':
      return groqFlavour(chunks, shaped)
    case 'mistral':
      return mistralFlavour(chunks, shaped)
    case 'deepseek':
      return deepseekFlavour(chunks, shaped, ctx)
    default:
      return openAIFlavour(chunks, shaped, ctx)
  }
}

// --- embeddings ---------------------------------------------------------------------------------

/** A unit-length vector derived from a hash of `text`: same text, same vector, on every run. */
export const fakeEmbedding = (text: string, dimensions: number): number[] => {
  const raw: number[] = []
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest()
    for (let offset = 0; offset + 4 <= digest.length && raw.length < dimensions; offset += 4) {
      raw.push((digest.readUInt32LE(offset) / 0xffffffff) * 2 - 1)
    }
  }
  const norm = Math.sqrt(raw.reduce((sum, x) => sum + x * x, 0)) || 1
  // Rounded to float32 so the float form equals the decoded base64 form exactly.
  return raw.map((x) => Math.fround(x / norm))
}

/** OpenAI's base64 form: the vector's little-endian float32 bytes. */
const toBase64 = (vector: number[]): string => {
  const bytes = Buffer.alloc(vector.length * 4)
  vector.forEach((x, index) => bytes.writeFloatLE(x, index * 4))
  return bytes.toString('base64')
}

const embeddingInputs = (input: Json | undefined): string[] => {
  if (typeof input === 'string') return [input]
  if (!Array.isArray(input)) return []
  // A flat token array is one input; a string array or an array of token arrays is a batch.
  if (input.every((item) => typeof item === 'number')) return [JSON.stringify(input)]
  return input.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)))
}

/**
 * The model whose vectors mean something: the gateway's own deterministic local embedder (hashed
 * n-grams, `src/cache/embedder.ts`), so paraphrases score high and unrelated texts low — what the
 * response cache's similarity tiers need in tests. Every other model gets `fakeEmbedding`.
 */
export const MEANINGFUL_EMBEDDING_MODEL = 'hashed-ngrams'

const embeddingsReply = (provider: ProviderId, body: JsonObject): Reply => {
  const inputs = embeddingInputs(body['input'])
  const requested = provider === 'mistral' ? body['output_dimension'] : body['dimensions']
  const dimensions = typeof requested === 'number' ? requested : DEFAULT_DIMENSIONS
  const base64 = body['encoding_format'] === 'base64'
  const meaningful = stringAt(body, 'model') === MEANINGFUL_EMBEDDING_MODEL
  const data = inputs.map((text, index) => {
    const vector = meaningful ? Array.from(localEmbedding(text)) : fakeEmbedding(text, dimensions)
    return { object: 'embedding', index, embedding: base64 ? toBase64(vector) : vector }
  })
  const tokens = inputs.reduce((sum, text) => sum + Math.max(1, text.split(/\s+/).length), 0)
  const model = stringAt(body, 'model') ?? ''
  if (provider === 'mistral') {
    const usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens }
    const id = randomBytes(16).toString('hex')
    return { status: 200, body: { id, object: 'list', data, model, usage } }
  }
  const usage = { prompt_tokens: tokens, total_tokens: tokens }
  return { status: 200, body: { object: 'list', data, model, usage } }
}

// --- models -------------------------------------------------------------------------------------

const modelsReply = (provider: Provider): Reply => ({
  status: 200,
  body: {
    object: 'list',
    data: provider.models.map((id, index) => ({
      id,
      object: 'model',
      created: 1_715_367_049 + index,
      owned_by: provider.ownedBy,
      // Mistral's `BaseModelCard` requires capabilities and tags the card type.
      ...(provider.id === 'mistral'
        ? {
            capabilities: {
              completion_chat: !id.includes('embed'),
              function_calling: !id.includes('embed'),
            },
            type: 'base',
          }
        : {}),
    })),
  },
})

// --- request handling ---------------------------------------------------------------------------

const headerRecord = (req: IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

const intHeader = (headers: Record<string, string>, name: string): number | undefined => {
  const value = headers[name]
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined
  return Number(value)
}

const readBody = async (req: IncomingMessage): Promise<string> => {
  const parts: Buffer[] = []
  for await (const part of req) parts.push(Buffer.isBuffer(part) ? part : Buffer.from(String(part)))
  return Buffer.concat(parts).toString('utf8')
}

const parseBody = (raw: string): { body: unknown; json: boolean } => {
  if (raw === '') return { body: undefined, json: false }
  try {
    return { body: JSON.parse(raw) as unknown, json: true }
  } catch {
    return { body: raw, json: false }
  }
}

const route = (
  method: string,
  pathname: string,
): { provider: Provider; endpoint: Endpoint | undefined } | undefined => {
  const provider = PROVIDERS.find(
    (candidate) => pathname === candidate.base || pathname.startsWith(`${candidate.base}/`),
  )
  if (!provider) return undefined
  const rest = pathname.slice(provider.base.length)
  return { provider, endpoint: provider.routes[`${method} ${rest}`] }
}

const openAIRequestId = (): Record<string, string> => ({
  'x-request-id': `req_${randomAlphanumeric(24)}`,
})

const sendReply = (
  res: ServerResponse,
  reply: Reply,
  cutAfter: number | undefined,
  requestId: Record<string, string> = openAIRequestId(),
): void => {
  const text = reply.body === null ? '' : JSON.stringify(reply.body)
  res.writeHead(reply.status, {
    ...(text === '' ? {} : { 'content-type': 'application/json' }),
    'content-length': String(Buffer.byteLength(text)),
    ...requestId,
    ...reply.headers,
  })
  if (cutAfter === undefined) {
    res.end(text)
    return
  }
  // Promise a full body, send part of it, then drop the connection.
  res.write(Buffer.from(text).subarray(0, cutAfter), () => {
    res.socket?.destroy()
  })
}

const writeEvent = (res: ServerResponse, text: string | Uint8Array): Promise<void> =>
  new Promise((resolve) => {
    if (res.destroyed) {
      resolve()
      return
    }
    res.write(text, () => {
      resolve()
    })
  })

const formatEvent = (event: SseEvent): string =>
  'comment' in event ? `: ${event.comment}\n\n` : `data: ${JSON.stringify(event.data)}\n\n`

/**
 * One event as written on the wire (text, or bytes for binary framings such as Bedrock's event
 * stream); `counted` events count for `x-fake-cut-after`.
 */
export type StreamFrame = { text: string | Uint8Array; counted: boolean }

/** A stream in a provider's own framing: its events, its in-stream error and its last word. */
export type FrameStream = {
  frames: StreamFrame[]
  /** Written instead of the remaining events on `x-fake-error-event: 1`; the stream then ends. */
  errorFrame: string | Uint8Array
  /** Written after the last event of a stream that ran to completion (OpenAI's `[DONE]`). */
  done?: string
  headers: Record<string, string>
}

const openAIStream = (events: SseEvent[]): FrameStream => {
  const error = {
    message: 'The server had an error while processing your request. Sorry about that!',
    type: 'server_error',
    param: null,
    code: null,
  }
  return {
    frames: events.map((event) => ({ text: formatEvent(event), counted: 'data' in event })),
    errorFrame: `data: ${JSON.stringify({ error })}\n\n`,
    done: 'data: [DONE]\n\n',
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...openAIRequestId(),
    },
  }
}

const streamReply = async (
  res: ServerResponse,
  stream: FrameStream,
  headers: Record<string, string>,
): Promise<void> => {
  const delay = intHeader(headers, 'x-fake-chunk-delay-ms') ?? 0
  const cutAfter = intHeader(headers, 'x-fake-cut-after')
  const errorEvent = headers['x-fake-error-event'] === '1'
  res.writeHead(200, stream.headers)
  res.flushHeaders()
  let sent = 0
  for (const frame of stream.frames) {
    if (res.destroyed) return
    if (frame.counted && cutAfter !== undefined && sent >= cutAfter) break
    if (frame.counted && errorEvent && sent >= ERROR_EVENT_AFTER) break
    if (sent > 0 && delay > 0) await sleep(delay)
    await writeEvent(res, frame.text)
    if (frame.counted) sent++
  }
  if (res.destroyed) return
  if (cutAfter !== undefined) {
    res.socket?.destroy()
    return
  }
  if (errorEvent) {
    await writeEvent(res, stream.errorFrame)
    res.end()
    return
  }
  if (stream.done !== undefined) await writeEvent(res, stream.done)
  res.end()
}

const requestViolations = (
  provider: ProviderId,
  endpoint: 'chat' | 'embeddings',
  body: unknown,
): SchemaViolation[] => {
  if (provider === 'mistral') {
    const name = endpoint === 'chat' ? 'ChatCompletionRequest' : 'EmbeddingRequest'
    return schemaViolations('mistral', name, body)
  }
  const name = endpoint === 'chat' ? 'CreateChatCompletionRequest' : 'CreateEmbeddingRequest'
  const violations = schemaViolations('openai', name, body)
  // Groq's API has no `stream_options` (absent from the groq-typescript request type).
  if (provider === 'groq' && isObject(body) && 'stream_options' in body) {
    violations.push({
      path: ['stream_options'],
      keyword: 'unsupported',
      message: "property 'stream_options' is unsupported",
      text: "/stream_options property 'stream_options' is unsupported",
    })
  }
  return violations
}

/** Mistral's message validator (mistral-common) rejects tool-call ids that are not 9 alnum. */
const mistralToolCallIdErrors = (body: JsonObject): string[] =>
  arrayAt(body, 'messages').flatMap((message) => {
    const ids = [
      ...arrayAt(message, 'tool_calls').map((call) => stringAt(call, 'id')),
      stringAt(message, 'tool_call_id'),
    ]
    return ids
      .filter((id): id is string => id !== undefined && !/^[a-zA-Z0-9]{9}$/.test(id))
      .map((id) => `Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.`)
  })

const chatReply = (
  provider: ProviderId,
  body: JsonObject,
  headers: Record<string, string>,
): Reply | SseEvent[] => {
  const requested = headers['x-fake-fixture']
  const toolCall = wantsToolCall(body)
  const fixture = findFixture(requested ?? (toolCall ? DEFAULT_TOOL_FIXTURE : DEFAULT_TEXT_FIXTURE))
  if (!fixture) {
    const known = fixtureNames().join(', ')
    return errorReply(
      provider,
      400,
      `x-fake-fixture: no recorded stream named ${requested}* (${known})`,
    )
  }
  const model = stringAt(body, 'model')
  const thinking =
    provider === 'deepseek' &&
    ((model?.includes('reasoner') ?? false) ||
      stringAt(objectAt(body, 'thinking'), 'type') === 'enabled')
  const ctx: ChatContext = {
    provider,
    body,
    model,
    id: completionId(provider),
    created: Math.floor(Date.now() / 1000),
    toolNames: requestToolNames(body),
    thinking,
  }
  return body['stream'] === true ? streamEvents(fixture, ctx) : nonStreamingReply(fixture, ctx)
}

type State = { requests: RecordedRequest[]; faults: Map<string, Record<string, string>> }

/** What a provider with its own protocol (`fakes/`) sees of a request. */
export type NativeRequest = {
  method: string
  /** Path below the provider's base, e.g. `/v1/messages`. */
  path: string
  query: URLSearchParams
  headers: Record<string, string>
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  body: unknown
  json: boolean
  /** The request's record: protocol violations are added here. */
  violations: string[]
  /** The request-target exactly as received (base prefix, percent-encoding and query untouched). */
  target: string
  /** The body exactly as received (UTF-8 text), e.g. to check a signature over it. */
  raw: string
  /** Header names and values in wire order, as Node's `rawHeaders` (repeats kept apart). */
  rawHeaders: readonly string[]
}

/** A provider with its own protocol: routes, auth, error shape and stream framing of its own. */
export type NativeFake = {
  id: string
  /** Path prefix of the base URL the gateway is configured with, e.g. `/anthropic`. */
  base: string
  /** The provider's request-id header on every reply (none when empty). */
  requestId(): Record<string, string>
  /** The reply to a request without valid credentials; `undefined` lets it through. */
  unauthorized(request: NativeRequest): Reply | undefined
  /** The provider's error reply for `status` (`x-fake-status`). */
  error(status: number, request: NativeRequest): Reply
  answer(request: NativeRequest): Reply | FrameStream
}

const NATIVE_FAKES: readonly NativeFake[] = [anthropicFake, geminiFake, bedrockFake]

const nativeRoute = (pathname: string): NativeFake | undefined =>
  NATIVE_FAKES.find((fake) => pathname === fake.base || pathname.startsWith(`${fake.base}/`))

type Exchange = {
  method: string
  pathname: string
  query: URLSearchParams
  headers: Record<string, string>
  body: unknown
  json: boolean
  match: ReturnType<typeof route>
  native: NativeFake | undefined
  record: RecordedRequest
  raw: string
  rawHeaders: readonly string[]
}

/** `x-fake-redirect` and `x-fake-status` (+ `x-fake-retry-after`), in the provider's error shape. */
const forcedReply = (
  headers: Record<string, string>,
  error: (status: number) => Reply,
): Reply | undefined => {
  const redirect = headers['x-fake-redirect']
  if (redirect !== undefined) return { status: 302, body: null, headers: { location: redirect } }

  const forcedStatus = intHeader(headers, 'x-fake-status')
  if (forcedStatus === undefined || forcedStatus < 200 || forcedStatus > 599) return undefined
  const retryAfter = headers['x-fake-retry-after']
  const reply: Reply =
    forcedStatus >= 400 ? error(forcedStatus) : { status: forcedStatus, body: null }
  if (retryAfter === undefined) return reply
  return { ...reply, headers: { ...reply.headers, 'retry-after': retryAfter } }
}

const nativeRequest = (fake: NativeFake, exchange: Exchange): NativeRequest => ({
  method: exchange.method,
  path: exchange.pathname.slice(fake.base.length),
  query: exchange.query,
  headers: exchange.headers,
  body: exchange.body,
  json: exchange.json,
  violations: exchange.record.violations,
  target: exchange.record.path,
  raw: exchange.raw,
  rawHeaders: exchange.rawHeaders,
})

/** A safety model's verdict as an OpenAI-style chat completion. */
const guardReply = (provider: ProviderId, body: JsonObject, rule: GuardRule): Reply => {
  const text = rule.kind === 'status' ? '' : rule.text
  const usage = guardUsage(body, text)
  return {
    status: 200,
    body: {
      id: completionId(provider),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: stringAt(body, 'model') ?? 'guard',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
      },
    },
  }
}

const answerNative = (fake: NativeFake, exchange: Exchange): Reply | FrameStream => {
  const request = nativeRequest(fake, exchange)
  return (
    fake.unauthorized(request) ??
    forcedReply(exchange.headers, (status) => fake.error(status, request)) ??
    fake.answer(request)
  )
}

/** The answer to one provider request: a JSON reply, or the events of a stream. */
const answer = async (exchange: Exchange): Promise<Reply | SseEvent[] | FrameStream> => {
  const { method, pathname, headers, body, json, match, record } = exchange
  const provider = match?.provider.id ?? 'openai'

  const latency = intHeader(headers, 'x-fake-latency-ms')
  if (latency !== undefined) await sleep(latency)

  // A safety model (`fakes/guard.ts`): its rule may fail or slow the answer first.
  const guard =
    isObject(body) && isGuardModel(stringAt(body, 'model'))
      ? guardRule(judgedText(body), body)
      : undefined
  if (guard?.kind === 'slow') await sleep(guard.ms, undefined, { ref: false })
  if (guard?.kind === 'status') {
    if (exchange.native)
      return exchange.native.error(guard.status, nativeRequest(exchange.native, exchange))
    return errorReply(provider, guard.status)
  }

  if (exchange.native) return answerNative(exchange.native, exchange)

  if (!/^Bearer\s+\S+$/i.test(headers['authorization'] ?? '')) return errorReply(provider, 401)

  const forced = forcedReply(headers, (status) => errorReply(provider, status))
  if (forced) return forced

  if (!match?.endpoint) return errorReply(provider, 404, `Invalid URL (${method} ${pathname})`)
  const { endpoint } = match
  if (endpoint === 'models') return modelsReply(match.provider)

  if (!json || !isObject(body)) {
    const message = 'We could not parse the JSON body of your request.'
    record.violations.push(`/ ${message}`)
    return errorReply(provider, provider === 'mistral' ? 422 : 400, message)
  }
  const violations = requestViolations(provider, endpoint, body)
  if (violations.length > 0) {
    record.violations.push(...violations.map((violation) => violation.text))
    const message = `Invalid request: ${violations.map((violation) => violation.text).join('; ')}`
    const param = violations[0]?.path.join('.') ?? null
    const status = provider === 'mistral' ? 422 : 400
    return errorReply(provider, status, message, { param, violations })
  }
  if (provider === 'mistral' && endpoint === 'chat') {
    const idErrors = mistralToolCallIdErrors(body)
    if (idErrors.length > 0) {
      record.violations.push(...idErrors)
      return errorReply(provider, 400, idErrors.join(' '))
    }
  }
  if (endpoint === 'embeddings') return embeddingsReply(provider, body)
  if (guard !== undefined) return guardReply(provider, body, guard)
  return chatReply(provider, body, headers)
}

const handle = async (req: IncomingMessage, res: ServerResponse, state: State): Promise<void> => {
  const method = req.method ?? 'GET'
  const url = new URL(req.url ?? '/', 'http://fake.invalid')
  const raw = await readBody(req)
  if (url.pathname === '/__fake/faults') {
    if (method === 'PUT') {
      const { body } = parseBody(raw)
      const model = isObject(body) ? stringAt(body, 'model') : undefined
      const faultHeaders = isObject(body) ? objectAt(body, 'headers') : undefined
      if (model === undefined || faultHeaders === undefined) {
        sendReply(res, { status: 400, body: { error: 'expected {model, headers}' } }, undefined)
        return
      }
      const entries = Object.entries(faultHeaders).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      )
      state.faults.set(model, Object.fromEntries(entries))
    } else if (method === 'DELETE') {
      const model = url.searchParams.get('model')
      if (model === null) state.faults.clear()
      else state.faults.delete(model)
    }
    sendReply(res, { status: 200, body: Object.fromEntries(state.faults) }, undefined)
    return
  }
  if (url.pathname === '/__fake/requests') {
    const tag = url.searchParams.get('tag')
    const matching = state.requests.filter((entry) => tag === null || entry.tag === tag)
    sendReply(res, { status: 200, body: JSON.parse(JSON.stringify(matching)) as Json }, undefined)
    return
  }
  const { body, json } = parseBody(raw)
  const model = isObject(body) ? stringAt(body, 'model') : undefined
  const faults = model === undefined ? undefined : state.faults.get(model)
  const headers = { ...headerRecord(req), ...faults }
  const native = nativeRoute(url.pathname)
  const match = native ? undefined : route(method, url.pathname)
  const record: RecordedRequest = {
    provider: native?.id ?? match?.provider.id ?? 'unknown',
    method,
    path: req.url ?? '/',
    headers,
    body,
    tag: headers['x-fake-tag'],
    violations: [],
  }
  state.requests.push(record)
  const outcome = await answer({
    method,
    pathname: url.pathname,
    query: url.searchParams,
    headers,
    body,
    json,
    match,
    native,
    record,
    raw,
    rawHeaders: req.rawHeaders,
  })
  // The client may have given up while the fake was waiting (latency, timeouts under test).
  if (res.destroyed) return
  const cutAfter = intHeader(headers, 'x-fake-cut-after')
  if (Array.isArray(outcome)) await streamReply(res, openAIStream(outcome), headers)
  else if ('frames' in outcome) await streamReply(res, outcome, headers)
  else sendReply(res, outcome, cutAfter, native ? native.requestId() : openAIRequestId())
}

/** Starts the fake providers on `127.0.0.1` (an ephemeral port unless `port` is given). */
export const startFakeProviders = async (
  options: { port?: number } = {},
): Promise<FakeProviders> => {
  const state: State = { requests: [], faults: new Map() }
  const server = createServer((req, res) => {
    handle(req, res, state).catch((error: unknown) => {
      // A bug in the fake must fail loudly in the test that hit it, not hang it.
      console.error('fake providers:', error)
      if (!res.headersSent) {
        sendReply(res, errorReply('openai', 500, `fake providers: ${String(error)}`), undefined)
      } else {
        res.destroy()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests: state.requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error)
          else resolve()
        })
        // Streams held open by a test (latency, slow chunks) must not keep the server alive.
        server.closeAllConnections()
      }),
  }
}
