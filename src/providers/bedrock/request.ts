/**
 * @module Builds the Converse request (`POST /model/{modelId}/converse`, or `/converse-stream`)
 * from the client's OpenAI chat-completions body — one translation for every model family on
 * Bedrock, since Converse is. Pure: every field the client sent is translated, refused with a 400
 * that says why, or dropped and named in `dropped` (the `floopy-dropped-params` header).
 * Messages are translated by `messages.ts`.
 *
 * Sources: Amazon Bedrock API Reference (`Converse`, `InferenceConfiguration`, `ToolConfiguration`,
 * `ToolChoice`); the OpenAI side is `CreateChatCompletionRequest` (specs/openai).
 *
 * | OpenAI                                   | Converse                                           |
 * | ---------------------------------------- | -------------------------------------------------- |
 * | `model`, `stream`                        | the URL: `/model/{id}/converse[-stream]`           |
 * | `stream_options`                         | used by the gateway (the usage chunk)              |
 * | `messages`                               | `system` and `messages` (`messages.ts`)            |
 * | `max_completion_tokens` / `max_tokens`   | `inferenceConfig.maxTokens` (the first one set)    |
 * | `temperature` 0..1, `top_p`              | `inferenceConfig.temperature`, `.topP`             |
 * | `stop` (string or array)                 | `inferenceConfig.stopSequences`                    |
 * | `tools` (function tools)                 | `toolConfig.tools[].toolSpec {name, description,   |
 * |                                          | inputSchema: {json: parameters}}`                  |
 * | `tool_choice` auto / required / named    | no `toolChoice` (auto) / `{any}` / `{tool: {name}}`|
 * | `tool_choice: none`                      | no `toolConfig` at all (below)                     |
 * | `response_format` json_schema / json_    | a forced tool, below                               |
 * | object                                   |                                                    |
 * | `reasoning_effort` (Claude models)       | `additionalModelRequestFields.thinking`, below     |
 * | `n: 1`                                   | — (one answer is what Converse gives)              |
 *
 * Without `max_tokens` Converse applies the model's own default, as OpenAI does, so none is sent
 * (except with thinking, which needs one to budget within).
 *
 * `temperature`: Converse takes 0..1, OpenAI 0..2. A value above 1 is answered with a 400 rather
 * than clamped or rescaled, which would change sampling without the client knowing.
 *
 * `tool_choice: none` sends no tools, since Converse has no way to offer tools and forbid them.
 * Converse refuses tool calls and results in a conversation without `toolConfig`, so `none` (or no
 * `tools`) while the conversation holds them is a 400 naming `tool_choice` (or `tools`).
 *
 * `response_format`: Converse has no JSON mode, so — as the AWS SDK examples do — a single tool
 * `json_response` whose input schema is the client's JSON schema (`json_schema`; its top level
 * must be an object) or any object (`json_object`) is forced with `toolChoice: {tool}`; the
 * response side returns the tool's input as the message content, finish reason `stop`. It cannot
 * be combined with client tools (400), and needs a model that supports forced tool choice (Claude,
 * Nova, Mistral Large; others answer Bedrock's own 400).
 *
 * `reasoning_effort` on an Anthropic Claude model (`anthropic.claude-…`, with or without an
 * inference-profile prefix) → `additionalModelRequestFields.thinking {type: 'enabled',
 * budget_tokens}` with the Anthropic adapter's budgets and rules (`../anthropic/request.ts`): the
 * budget fits within `maxTokens` (the model's output limit when the client set none), a tool loop
 * in progress goes without thinking (`reasoning_effort` named in `dropped`, since Bedrock, like
 * Anthropic, wants the signed thinking block back), and a forced JSON tool cannot think (400). On
 * other models thinking is model-specific and not translated: `reasoning_effort` is dropped and
 * named, the answer simply has no reasoning.
 *
 * Refused with a 400 (the client would silently get something else): `n` > 1, `logprobs: true`,
 * `top_logprobs` > 0, `audio` or an `audio` modality, `web_search_options`, the deprecated
 * `functions`/`function_call`, custom tools and `allowed_tools`, embeddings (`index.ts`).
 *
 * Dropped and listed in `dropped` (no Converse equivalent; the answer is still what was asked for):
 * every other non-null field — e.g. `user`, `safety_identifier`, `seed`, `frequency_penalty`,
 * `presence_penalty`, `logit_bias`, `metadata`, `store`, `service_tier`, `prompt_cache_key`,
 * `parallel_tool_calls`, `verbosity`, `prediction`, `top_k`, `modalities: ['text']`, and fields
 * unknown to both APIs. A function tool's `strict` has no Converse counterpart and is not sent.
 */
import {
  fitThinkingBudget,
  functionTools,
  rejectUnsupported,
  responseFormatType,
  showsReasoning,
  thinkingBudgetOf,
  type Door,
  type ResponsePlan,
} from '../anthropic/claude'
import { defaultMaxTokens } from '../anthropic/request'
import {
  invalid,
  isRecord,
  maxTokensAt,
  maxTokensParam,
  numberField,
  stringAt,
  unsupported,
  type Json,
} from '../fields'
import { hasToolBlocks, inToolLoop, translateMessages } from './messages'
import type { ConverseRequest, ToolChoice, ToolSpec } from './types'
import type { ParsedRequest } from '../../types'

/** The forced tool that carries a `response_format` answer. */
export const JSON_TOOL_NAME = 'json_response'

export type BedrockPrepared = {
  readonly body: ConverseRequest
  /** Top-level client fields that were dropped (see the module doc). */
  readonly dropped: readonly string[]
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
  'tools',
  'tool_choice',
  'response_format',
  'reasoning_effort',
  'n',
  'logprobs',
  'top_logprobs',
])

/** How Bedrock is named in the 400s shared with Anthropic's API (`anthropic/claude.ts`). */
const BEDROCK: Door = {
  returns: "Bedrock's Converse API returns",
  doesNot: "Bedrock's Converse API does not",
  where: 'on Bedrock',
  forWhom: 'for Bedrock',
  thinker: 'Claude',
}

/** The Claude model name inside a Bedrock id (`us.anthropic.claude-…-v1:0` → `claude-…-v1`). */
export const claudeModel = (modelId: string): string | undefined =>
  /^(?:[a-z-]+\.)?anthropic\.(claude-[^:]+)/.exec(modelId)?.[1]

const wantsJson = (format: unknown): boolean =>
  isRecord(format) && (format.type === 'json_object' || format.type === 'json_schema')

export const responsePlan = (body: Readonly<Json>): ResponsePlan => {
  return {
    showReasoning: showsReasoning(body),
    jsonTool: wantsJson(body.response_format) ? JSON_TOOL_NAME : undefined,
  }
}

export const toConverseRequest = (request: ParsedRequest, modelId: string): BedrockPrepared => {
  const body = request.body
  rejectUnsupported(body, BEDROCK)
  const dropped = Object.keys(body).filter(
    (key) => !TRANSLATED.has(key) && body[key] !== null && body[key] !== undefined,
  )
  const { system, messages } = translateMessages(body.messages)
  const out: ConverseRequest = { messages }
  if (system.length > 0) out.system = system

  const inference: NonNullable<ConverseRequest['inferenceConfig']> = {}
  const maxTokensSetBy = maxTokensParam(body)
  let maxTokens = maxTokensSetBy === undefined ? undefined : maxTokensAt(body, maxTokensSetBy)
  const temperature = numberField(body, 'temperature')
  if (temperature !== undefined) {
    if (temperature < 0 || temperature > 1) {
      throw unsupported(
        `Bedrock's Converse API takes a temperature from 0 to 1; ${temperature} was sent.`,
        'temperature',
      )
    }
    inference.temperature = temperature
  }
  const topP = numberField(body, 'top_p')
  if (topP !== undefined) inference.topP = topP
  const stop = body.stop
  if (typeof stop === 'string') inference.stopSequences = [stop]
  else if (Array.isArray(stop)) {
    inference.stopSequences = stop.map((s, i) => stringAt(s, `stop.${i}`))
  } else if (stop != null) throw invalid(`'stop' must be a string or an array of strings.`, 'stop')

  const toolConfig = translateTools(body)
  if (toolConfig !== undefined) out.toolConfig = toolConfig
  else if (hasToolBlocks(messages)) {
    const param = body.tool_choice === 'none' ? 'tool_choice' : 'tools'
    throw unsupported(
      `Bedrock needs the tools defined while the conversation holds tool calls or results; ` +
        (param === 'tools' ? `send 'tools'.` : `'tool_choice: none' cannot be honoured there.`),
      param,
    )
  }

  const claude = claudeModel(modelId)
  const asked = thinkingBudgetOf(body.reasoning_effort)
  if (asked !== undefined) {
    if (claude === undefined || inToolLoop(messages)) dropped.push('reasoning_effort')
    else {
      if (toolConfig?.tools.some((t) => t.toolSpec.name === JSON_TOOL_NAME) === true) {
        throw unsupported(
          `'response_format' cannot be combined with 'reasoning_effort' on Claude models: ` +
            'a forced tool cannot think.',
          'response_format',
        )
      }
      maxTokens ??= defaultMaxTokens(claude)
      const budget = fitThinkingBudget(asked, maxTokens, maxTokensSetBy, BEDROCK)
      out.additionalModelRequestFields = { thinking: { type: 'enabled', budget_tokens: budget } }
    }
  }
  if (maxTokens !== undefined) inference.maxTokens = maxTokens
  if (Object.keys(inference).length > 0) out.inferenceConfig = inference
  return { body: out, dropped }
}

// ---------------------------------------------------------------------------------------------
// Tools and response format

const toolSpecs = (raw: unknown): ToolSpec[] =>
  functionTools(raw, BEDROCK).map(({ name, fn }): ToolSpec => {
    const parameters = isRecord(fn.parameters)
      ? { ...fn.parameters, type: 'object' }
      : { type: 'object', properties: {} }
    const spec: ToolSpec['toolSpec'] = { name, inputSchema: { json: parameters } }
    if (typeof fn.description === 'string' && fn.description !== '') {
      spec.description = fn.description
    }
    return { toolSpec: spec }
  })

const toolChoiceOf = (raw: unknown): ToolChoice | undefined => {
  if (raw == null || raw === 'auto') return undefined // Converse's default
  if (raw === 'required') return { any: {} }
  if (isRecord(raw) && raw.type === 'function' && isRecord(raw.function)) {
    return { tool: { name: stringAt(raw.function.name, 'tool_choice.function.name') } }
  }
  throw unsupported(
    `'tool_choice' must be auto, none, required or a named function for Bedrock.`,
    'tool_choice',
  )
}

/** The forced tool for `response_format`, or `undefined` when no JSON was asked for. */
const jsonTool = (format: unknown): ToolSpec | undefined => {
  const type = responseFormatType(format)
  if (type === undefined || type === 'text' || !isRecord(format)) return undefined
  const named = isRecord(format.json_schema) ? format.json_schema : undefined
  const schema = type === 'json_schema' && isRecord(named?.schema) ? named.schema : undefined
  if (schema !== undefined && schema.type !== undefined && schema.type !== 'object') {
    throw unsupported(
      `'response_format.json_schema.schema' must describe an object for Bedrock (the answer ` +
        'comes as a tool input, which is an object).',
      'response_format.json_schema.schema',
    )
  }
  const description =
    typeof named?.description === 'string' && named.description !== ''
      ? named.description
      : 'Give the answer as a JSON object: the input of this tool is the answer.'
  return {
    toolSpec: {
      name: JSON_TOOL_NAME,
      description,
      inputSchema: {
        json: schema === undefined ? { type: 'object' } : { ...schema, type: 'object' },
      },
    },
  }
}

const translateTools = (body: Readonly<Json>): ConverseRequest['toolConfig'] => {
  const tools = toolSpecs(body.tools)
  const forced = jsonTool(body.response_format)
  if (forced !== undefined) {
    if (tools.length > 0) {
      throw unsupported(
        `'response_format' cannot be combined with tools on Bedrock (it is answered through a ` +
          'forced tool of its own).',
        'response_format',
      )
    }
    return { tools: [forced], toolChoice: { tool: { name: JSON_TOOL_NAME } } }
  }
  if (body.tool_choice === 'none' || tools.length === 0) {
    // `none` has no Converse form: the tools are simply not offered. A choice without tools
    // leaves nothing to choose from, as OpenAI treats it.
    if (tools.length === 0 && body.tool_choice != null && body.tool_choice !== 'none') {
      toolChoiceOf(body.tool_choice)
    }
    return undefined
  }
  const toolChoice = toolChoiceOf(body.tool_choice)
  return toolChoice === undefined ? { tools } : { tools, toolChoice }
}
