/**
 * @module Builds the Anthropic Messages request (`POST /v1/messages`) from the client's OpenAI
 * chat-completions body. Pure: no I/O, and every field the client sent is either translated,
 * rejected with a 400 that says why, or dropped and named in `dropped` (sent to the client as the
 * `floopy-dropped-params` header) — never lost silently. Messages are translated by `messages.ts`
 * (system/developer → top-level `system`, tool calls and results, merged alternating turns).
 *
 * Sources: specs/anthropic/NOTES.md (request body, content blocks, mapping hints) and the
 * `@anthropic-ai/sdk` types; the OpenAI side is `CreateChatCompletionRequest` (specs/openai).
 *
 * Top-level fields:
 *
 * | OpenAI                                   | Anthropic                                          |
 * | ---------------------------------------- | -------------------------------------------------- |
 * | `max_completion_tokens` / `max_tokens`   | `max_tokens` (the first one set; default below)    |
 * | `stop` (string or array)                 | `stop_sequences`                                   |
 * | `temperature` 0..1 / `top_p` / `top_k`   | same (a temperature above 1 → 400, see below)      |
 * | `user`, `safety_identifier`              | `metadata.user_id` (`safety_identifier` wins)      |
 * | `tools` (function tools)                 | `{name, description, input_schema, strict}`        |
 * | `tool_choice` auto/none/required/named   | `{type: auto/none/any/tool, name}`                 |
 * | `parallel_tool_calls: false`             | `tool_choice.disable_parallel_tool_use: true`      |
 * | `response_format` json_schema            | `output_config.format` (structured outputs)        |
 * | `response_format` json_object            | a forced `json_response` tool, see below           |
 * | `reasoning_effort`                       | `thinking: {type: 'enabled', budget_tokens}`       |
 * | `stream`, `stream_options`, `n: 1`       | `stream: true`; usage is always captured           |
 *
 * `max_tokens` is required by Anthropic while OpenAI's default is "up to the model's limit", so
 * when the client sets neither field the model's output limit is sent (`MAX_OUTPUT_TOKENS`,
 * longest matching prefix): claude-3 opus/sonnet/haiku 4,096; claude-3-5 8,192; claude-3-7-sonnet
 * 64,000; claude-opus-4 and 4-1 32,000; claude-sonnet-4*, claude-haiku-4-5 and claude-opus-4-5
 * 64,000. Later models (opus-4-6 and up, sonnet-4-6, the 5 generation) get 64,000 too: the API
 * accepts it for them, while a value above a model's limit would fail every request that does not
 * set one. Any other model: 4,096.
 *
 * `temperature`: Anthropic's range is 0..1, OpenAI's 0..2. A value above 1 is answered with a 400
 * rather than clamped or rescaled, because either would change sampling without the client
 * knowing. (Models after Claude Opus 4.6 accept only 1; Anthropic's own 400 says so.)
 *
 * `response_format`: `json_schema` uses Anthropic's structured outputs (`output_config.format`,
 * Claude 4.5 models and later; older ones answer Anthropic's 400); the answer arrives as text.
 * `json_object` has no Anthropic counterpart, so a single tool `json_response` whose
 * `input_schema` is any object is forced with `tool_choice`; the response side returns that
 * tool's input as the message content (finish reason `stop`). It cannot be combined with client
 * tools or with `reasoning_effort` (Anthropic forbids forced tool use while thinking): 400.
 *
 * `reasoning_effort` → a thinking budget: minimal 1,024, low 2,048, medium 8,192, high 16,384,
 * xhigh 32,768; `none` sends no `thinking`. Thinking tokens count within `max_tokens`, so the
 * budget is capped at half of `max_tokens` (never below Anthropic's minimum of 1,024) and must stay
 * below it: a `max_tokens` of 1,024 or less with reasoning → 400. While thinking, Anthropic
 * requires the last assistant turn, when it called tools, to start with its signed thinking block,
 * which an OpenAI client has no way to send back; such a request (a tool loop in progress) is sent
 * without `thinking`, and `reasoning_effort` is listed in `dropped`.
 *
 * Rejected with a 400 (the client would silently get something else): `n` > 1, `logprobs: true`,
 * `top_logprobs` > 0, `audio` or an `audio` modality, `web_search_options`, the deprecated
 * `functions`/`function_call`, custom tools and `allowed_tools` tool choices, embeddings.
 *
 * Dropped and listed in `dropped` (no Anthropic equivalent; the answer is still what was asked
 * for): every other non-null field — e.g. `frequency_penalty`, `presence_penalty`, `logit_bias`,
 * `seed`, `service_tier`, `store`, `metadata`, `prompt_cache_key`, `verbosity`, `prediction`,
 * `modalities: ['text']`, and fields unknown to both APIs (Anthropic rejects unknown fields).
 */
import { anthropicSchema } from './schema'
import type {
  MessageCreateParamsBase,
  ThinkingConfigEnabled,
  Tool,
  ToolChoice,
} from '@anthropic-ai/sdk/resources/messages'
import {
  invalid,
  isRecord,
  maxTokensAt,
  maxTokensParam,
  numberField,
  stringAt,
  stringField,
  unsupported,
  type Json,
} from '../fields'
import {
  fitThinkingBudget,
  functionTools,
  rejectUnsupported,
  responseFormatType,
  showsReasoning,
  thinkingBudgetOf,
  type Door,
  type ResponsePlan,
} from './claude'
import { inToolLoop, translateMessages } from './messages'
import type { ParsedRequest } from '../../types'

export const ANTHROPIC_VERSION = '2023-06-01'

/** The forced tool that carries a `response_format: json_object` answer. */
export const JSON_TOOL_NAME = 'json_response'

/**
 * Sampling fields Anthropic accepts but that `@anthropic-ai/sdk` 1.x no longer declares (they are
 * deprecated for newer models; specs/anthropic/NOTES.md, "Request body").
 */
type SamplingParams = { temperature?: number; top_p?: number; top_k?: number }

/** The body sent to Anthropic. */
export type AnthropicRequest = MessageCreateParamsBase & SamplingParams

export type AnthropicPrepared = {
  readonly body: AnthropicRequest
  /** Top-level client fields that were dropped (see the module doc). */
  readonly dropped: readonly string[]
}

/** Output limits by model-name prefix; the longest matching prefix wins (see the module doc). */
export const MAX_OUTPUT_TOKENS: Readonly<Record<string, number>> = {
  'claude-3-haiku': 4096,
  'claude-3-sonnet': 4096,
  'claude-3-opus': 4096,
  'claude-3-5-haiku': 8192,
  'claude-3-5-sonnet': 8192,
  'claude-3-7-sonnet': 64000,
  'claude-opus-4': 32000,
  'claude-opus-4-5': 64000,
  'claude-opus-4-6': 64000,
  'claude-opus-4-7': 64000,
  'claude-opus-4-8': 64000,
  'claude-sonnet-4': 64000,
  'claude-haiku-4': 64000,
  'claude-opus-5': 64000,
  'claude-sonnet-5': 64000,
  'claude-haiku-5': 64000,
  'claude-fable-5': 64000,
  'claude-mythos': 64000,
}
export const FALLBACK_MAX_TOKENS = 4096

export const defaultMaxTokens = (model: string): number => {
  let best = ''
  for (const prefix of Object.keys(MAX_OUTPUT_TOKENS)) {
    if (prefix.length > best.length && model.startsWith(prefix)) best = prefix
  }
  return MAX_OUTPUT_TOKENS[best] ?? FALLBACK_MAX_TOKENS
}

/** How Anthropic's API is named in the 400s shared with Bedrock (`claude.ts`). */
const ANTHROPIC: Door = {
  returns: 'Anthropic models return',
  doesNot: 'Anthropic models do not',
  where: 'for Anthropic models',
  forWhom: 'for Anthropic models',
  thinker: 'Anthropic',
}

/** Fields that are translated (or, like `stream_options`, handled by the gateway itself). */
const TRANSLATED = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'top_k',
  'user',
  'safety_identifier',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
  'n',
  'logprobs',
  'top_logprobs',
])

export const responsePlan = (body: Readonly<Json>): ResponsePlan => {
  const format = isRecord(body.response_format) ? body.response_format : undefined
  const jsonObject =
    format?.type === 'json_object' ||
    (format?.type === 'json_schema' &&
      !(isRecord(format.json_schema) && isRecord(format.json_schema.schema)))
  return {
    showReasoning: showsReasoning(body),
    jsonTool: jsonObject ? JSON_TOOL_NAME : undefined,
  }
}

export const toAnthropicRequest = (request: ParsedRequest, model: string): AnthropicPrepared => {
  const body = request.body
  rejectUnsupported(body, ANTHROPIC)
  const dropped = Object.keys(body).filter(
    (key) => !TRANSLATED.has(key) && body[key] !== null && body[key] !== undefined,
  )

  const { system, messages } = translateMessages(body.messages)
  const maxTokens = maxTokensOf(body, model)
  const out: AnthropicRequest = { model, max_tokens: maxTokens, messages }
  if (system.length > 0) out.system = system

  const stop = body.stop
  if (typeof stop === 'string') out.stop_sequences = [stop]
  else if (Array.isArray(stop)) out.stop_sequences = stop.map((s, i) => stringAt(s, `stop.${i}`))
  else if (stop != null) throw invalid(`'stop' must be a string or an array of strings.`, 'stop')

  const temperature = numberField(body, 'temperature')
  if (temperature !== undefined) {
    if (temperature < 0 || temperature > 1) {
      throw unsupported(
        `Anthropic models accept a temperature from 0 to 1; ${temperature} was sent.`,
        'temperature',
      )
    }
    out.temperature = temperature
  }
  const topP = numberField(body, 'top_p')
  if (topP !== undefined) out.top_p = topP
  const topK = numberField(body, 'top_k')
  if (topK !== undefined) out.top_k = topK

  const userId = stringField(body, 'safety_identifier') ?? stringField(body, 'user')
  if (userId !== undefined) out.metadata = { user_id: userId }

  const tools = translateTools(body.tools)
  if (tools.length > 0) out.tools = tools
  const toolChoice = translateToolChoice(body.tool_choice, body.parallel_tool_calls, tools.length)
  if (toolChoice !== undefined) out.tool_choice = toolChoice

  let thinking = translateReasoning(body.reasoning_effort, maxTokens, maxTokensParam(body))
  if (thinking !== undefined && inToolLoop(messages)) {
    // Anthropic wants the signed thinking block of the last tool-using turn back, which OpenAI
    // clients cannot send: this turn goes without thinking, and the client is told.
    thinking = undefined
    dropped.push('reasoning_effort')
  }
  if (thinking !== undefined) out.thinking = thinking

  applyResponseFormat(out, body, thinking !== undefined)
  if (request.stream) out.stream = true
  return { body: out, dropped }
}

const maxTokensOf = (body: Readonly<Json>, model: string): number => {
  const param = maxTokensParam(body)
  return param === undefined ? defaultMaxTokens(model) : maxTokensAt(body, param)
}

// ---------------------------------------------------------------------------------------------
// Tools, reasoning, response format

const translateTools = (raw: unknown): Tool[] =>
  functionTools(raw, ANTHROPIC).map(({ name, fn }): Tool => {
    const parameters = isRecord(fn.parameters) ? fn.parameters : {}
    const out: Tool = { name, input_schema: { ...parameters, type: 'object' } }
    if (typeof fn.description === 'string') out.description = fn.description
    if (typeof fn.strict === 'boolean') out.strict = fn.strict
    return out
  })

const translateToolChoice = (
  raw: unknown,
  parallel: unknown,
  toolCount: number,
): ToolChoice | undefined => {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {}
  if (raw == null || raw === 'auto') {
    // Without tools there is nothing to choose; Anthropic's default is `auto`.
    return toolCount > 0 && parallel === false ? { type: 'auto', ...single } : undefined
  }
  if (raw === 'none') return toolCount > 0 ? { type: 'none' } : undefined
  if (raw === 'required') return { type: 'any', ...single }
  if (isRecord(raw) && raw.type === 'function' && isRecord(raw.function)) {
    return {
      type: 'tool',
      name: stringAt(raw.function.name, 'tool_choice.function.name'),
      ...single,
    }
  }
  throw unsupported(
    `'tool_choice' must be auto, none, required or a named function for Anthropic models.`,
    'tool_choice',
  )
}

const translateReasoning = (
  effort: unknown,
  maxTokens: number,
  maxTokensSetBy: string | undefined,
): ThinkingConfigEnabled | undefined => {
  const budget = thinkingBudgetOf(effort)
  if (budget === undefined) return undefined
  return {
    type: 'enabled',
    budget_tokens: fitThinkingBudget(budget, maxTokens, maxTokensSetBy, ANTHROPIC),
  }
}

const applyResponseFormat = (out: AnthropicRequest, body: Readonly<Json>, thinking: boolean) => {
  const format = body.response_format
  const type = responseFormatType(format)
  if (type === undefined || type === 'text') return
  if (type === 'json_schema' && isRecord(format) && isRecord(format.json_schema)) {
    const schema = format.json_schema.schema
    if (isRecord(schema)) {
      // Adapted as Anthropic's SDKs adapt it: unsupported keywords move into descriptions.
      out.output_config = { format: { type: 'json_schema', schema: anthropicSchema(schema) } }
      return
    }
  }
  // json_object (or a json_schema without a schema): a forced tool whose input is the answer.
  if (out.tools !== undefined) {
    throw unsupported(
      `'response_format' json_object cannot be combined with tools for Anthropic models; ` +
        `use json_schema instead.`,
      'response_format',
    )
  }
  if (thinking) {
    throw unsupported(
      `'response_format' json_object cannot be combined with 'reasoning_effort' for Anthropic ` +
        `models; use json_schema instead.`,
      'response_format',
    )
  }
  out.tools = [
    {
      name: JSON_TOOL_NAME,
      description: 'Give the answer as a JSON object: the input of this tool is the answer.',
      input_schema: { type: 'object' },
    },
  ]
  out.tool_choice = { type: 'tool', name: JSON_TOOL_NAME }
}
