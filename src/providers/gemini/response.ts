/**
 * @module Translates Gemini's `GenerateContentResponse` into an OpenAI `chat.completion`.
 *
 * | Gemini                                   | OpenAI                                           |
 * | ---------------------------------------- | ------------------------------------------------ |
 * | `responseId`                             | `id` (else a generated `chatcmpl-…`)             |
 * | `modelVersion`                           | `model` (else the requested model)               |
 * | `candidates[]`, by `index`               | `choices[]`, with `logprobs: null`               |
 * | text parts, concatenated                 | `message.content` (`null` when there are none)   |
 * | thought parts (`thought: true`)          | `message.reasoning_content`, only when the       |
 * |                                          | client asked for reasoning                       |
 * | `functionCall` parts                     | `message.tool_calls` (ids: `tool-call-id.ts`)    |
 * | other parts (inline data, code, …)       | not represented                                  |
 * | `finishReason` STOP                      | `stop`, or `tool_calls` after a function call    |
 * | MAX_TOKENS, CONTINUATION                 | `length`                                         |
 * | SAFETY, RECITATION, BLOCKLIST, SPII,     | `content_filter`                                 |
 * | PROHIBITED_CONTENT, IMAGE_SAFETY,        |                                                  |
 * | IMAGE_PROHIBITED_CONTENT,                |                                                  |
 * | IMAGE_RECITATION                         |                                                  |
 * | any other reason (OTHER, LANGUAGE,       | `stop`                                           |
 * | MALFORMED_FUNCTION_CALL, …)              |                                                  |
 * | no candidates (`promptFeedback.          | one choice per requested `n`, `content: null`,   |
 * | blockReason`: the prompt was blocked)    | `finish_reason: content_filter`                  |
 * | `usageMetadata`                          | `usage` (below)                                  |
 *
 * A blocked prompt is answered as a completion rather than an error, as OpenAI reports its own
 * content filtering (`finish_reason: content_filter`): the request was valid, and a 4xx would tell
 * the client to change it, a 5xx to retry it.
 *
 * Usage: `prompt_tokens` = `promptTokenCount` + `toolUsePromptTokenCount`, `completion_tokens` =
 * `candidatesTokenCount` + `thoughtsTokenCount` (both are billed as output), `total_tokens` =
 * `totalTokenCount`, `prompt_tokens_details.cached_tokens` = `cachedContentTokenCount`,
 * `completion_tokens_details.reasoning_tokens` = `thoughtsTokenCount`. Gemini omits zero counts
 * (proto3 JSON), so every missing count is 0.
 */
import type { ChatCompletionMessageFunctionToolCall } from 'openai/resources/chat/completions'
import type { CompletionUsage } from 'openai/resources/completions'
import type {
  ChatCompletionWithReasoning,
  FinishReason,
  ReasoningChoice,
  ReasoningMessage,
} from '../completion'
import { toolCallId } from './tool-call-id'
import type { GeminiCandidate, GeminiPart, GeminiResponse, GeminiUsage } from './types'

/** What a translation needs besides the Gemini answer. */
export type ReplyContext = {
  /** The completion id when Gemini sends no `responseId`. */
  readonly id: string
  /** Unix seconds. */
  readonly created: number
  /** The model name when Gemini sends no `modelVersion`. */
  readonly model: string
  /** The client asked for reasoning (`reasoning_effort`): thoughts become `reasoning_content`. */
  readonly showReasoning: boolean
  /** Tool-call ids are this prefix plus a sequence number (`randomCallPrefix`). */
  readonly callPrefix: string
  /** Choices to report for a blocked prompt (the request's `n`). */
  readonly choices: number
}

export type FunctionCallOut = { name: string; arguments: string; signature: string | undefined }

export type CandidateParts = {
  content: string | undefined
  reasoning: string | undefined
  calls: FunctionCallOut[]
}

const append = (text: string | undefined, more: string): string =>
  text === undefined ? more : text + more

/** Text, thoughts and function calls of a candidate's parts (or a stream chunk's). */
export const readParts = (
  parts: readonly GeminiPart[] | undefined,
  showReasoning: boolean,
): CandidateParts => {
  const out: CandidateParts = { content: undefined, reasoning: undefined, calls: [] }
  for (const part of parts ?? []) {
    if (part.functionCall !== undefined) {
      out.calls.push({
        name: part.functionCall.name ?? '',
        arguments: JSON.stringify(part.functionCall.args ?? {}),
        signature: part.thoughtSignature,
      })
    } else if (typeof part.text === 'string') {
      if (part.thought !== true) out.content = append(out.content, part.text)
      else if (showReasoning) out.reasoning = append(out.reasoning, part.text)
    }
  }
  return out
}

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  CONTINUATION: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
  IMAGE_RECITATION: 'content_filter',
}

/** OpenAI's finish reason for a Gemini one; a plain stop after function calls is `tool_calls`. */
export const finishReasonOf = (reason: string, calledFunction: boolean): FinishReason => {
  const mapped = FINISH_REASONS[reason] ?? 'stop'
  return mapped === 'stop' && calledFunction ? 'tool_calls' : mapped
}

/** OpenAI's `CompletionUsage` for Gemini's `usageMetadata`. */
export const openAIUsage = (usage: GeminiUsage): CompletionUsage => {
  const prompt = (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0)
  const thoughts = usage.thoughtsTokenCount ?? 0
  const completion = (usage.candidatesTokenCount ?? 0) + thoughts
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.totalTokenCount ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: usage.cachedContentTokenCount ?? 0 },
    completion_tokens_details: { reasoning_tokens: thoughts },
  }
}

/** Candidates in choice order (`index`, else their position). */
export const candidatesOf = (
  response: GeminiResponse,
): { index: number; candidate: GeminiCandidate }[] =>
  (Array.isArray(response.candidates) ? response.candidates : [])
    .map((candidate, position) => ({ index: candidate.index ?? position, candidate }))
    .sort((a, b) => a.index - b.index)

const toolCall = (call: FunctionCallOut, id: string): ChatCompletionMessageFunctionToolCall => ({
  id: toolCallId(id, call.signature),
  type: 'function',
  function: { name: call.name, arguments: call.arguments },
})

const blockedChoice = (index: number): ReasoningChoice => ({
  index,
  message: { role: 'assistant', content: null, refusal: null },
  finish_reason: 'content_filter',
  logprobs: null,
})

/** The `chat.completion` for a (non-streamed) Gemini answer. */
export const toChatCompletion = (
  response: GeminiResponse,
  context: ReplyContext,
): ChatCompletionWithReasoning => {
  let calls = 0
  const candidates = candidatesOf(response)
  const choices =
    candidates.length > 0
      ? candidates.map(({ index, candidate }): ReasoningChoice => {
          const parts = readParts(candidate.content?.parts, context.showReasoning)
          const message: ReasoningMessage = {
            role: 'assistant',
            content: parts.content ?? null,
            refusal: null,
          }
          if (parts.reasoning !== undefined) message.reasoning_content = parts.reasoning
          if (parts.calls.length > 0) {
            message.tool_calls = parts.calls.map((call) =>
              toolCall(call, `${context.callPrefix}${calls++}`),
            )
          }
          return {
            index,
            message,
            finish_reason: finishReasonOf(candidate.finishReason ?? 'STOP', parts.calls.length > 0),
            logprobs: null,
          }
        })
      : Array.from({ length: Math.max(1, context.choices) }, (_, index) => blockedChoice(index))
  const body: ChatCompletionWithReasoning = {
    id: response.responseId ?? context.id,
    object: 'chat.completion',
    created: context.created,
    model: response.modelVersion ?? context.model,
    choices,
  }
  if (response.usageMetadata !== undefined) body.usage = openAIUsage(response.usageMetadata)
  return body
}
