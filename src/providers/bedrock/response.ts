/**
 * @module Translates a Converse answer into an OpenAI `chat.completion`, and Converse token usage
 * into OpenAI's `CompletionUsage` (shared with the stream translator). Pure functions.
 *
 * | Converse                                 | OpenAI                                             |
 * | ---------------------------------------- | -------------------------------------------------- |
 * | —                                        | `id` (`chatcmpl-…`, made up: Converse has none),   |
 * |                                          | `model` (the model id the request was sent to)     |
 * | `text` blocks, concatenated              | `message.content` (`null` when only tool calls)    |
 * | `toolUse` blocks                         | `tool_calls`, Bedrock's `toolUseId` as the id      |
 * |                                          | (sent back as `tool_call_id`, it becomes the       |
 * |                                          | `toolResult.toolUseId`), `arguments` the input as  |
 * |                                          | JSON; the forced `json_response` tool is the       |
 * |                                          | content instead (`request.ts`)                     |
 * | `reasoningContent.reasoningText`         | `message.reasoning_content`, when the client asked |
 * |                                          | for reasoning (redacted reasoning is left out)     |
 * | `stopReason` end_turn, stop_sequence     | `finish_reason` `stop`                             |
 * | max_tokens, model_context_window_exceeded | `length`                                          |
 * | tool_use                                 | `tool_calls` (`stop` when no tool call is shown)   |
 * | content_filtered, guardrail_intervened   | `content_filter`                                   |
 * | malformed_model_output, malformed_tool_  | `stop` (no OpenAI counterpart; the content is what |
 * | use, anything else                       | the model produced)                                |
 *
 * Usage: `inputTokens` excludes the cached prompt (Bedrock's `totalTokens` is input + output +
 * cache read + cache write), so `prompt_tokens` = input + cache read + cache write,
 * `prompt_tokens_details.cached_tokens` = cache read, `completion_tokens` = output tokens
 * (reasoning included: Converse does not count it apart).
 */
import type { ChatCompletionMessageFunctionToolCall } from 'openai/resources/chat/completions'
import type { CompletionUsage } from 'openai/resources/completions'
import type { ResponsePlan } from '../anthropic/claude'
import {
  oneChoiceCompletion,
  type ChatCompletionWithReasoning,
  type FinishReason,
} from '../completion'
import { isRecord } from '../fields'
import type { ConverseResponse, ConverseUsage } from './types'
import type { Usage } from '../../types'

/** What a translation needs besides the answer. */
export type ReplyPlan = ResponsePlan & {
  /** The completion id (Converse has none). */
  readonly id: string
  /** Unix seconds. */
  readonly created: number
  /** The Bedrock model id the request went to. */
  readonly model: string
}

export type TokenCounts = {
  readonly input: number
  readonly output: number
  readonly cacheRead: number
  readonly cacheWrite: number
}

const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0

export const tokenCounts = (usage: ConverseUsage | undefined): TokenCounts => ({
  input: count(usage?.inputTokens),
  output: count(usage?.outputTokens),
  cacheRead: count(usage?.cacheReadInputTokens),
  cacheWrite: count(usage?.cacheWriteInputTokens),
})

export const openAIUsage = (counts: TokenCounts): CompletionUsage => {
  const prompt = counts.input + counts.cacheRead + counts.cacheWrite
  return {
    prompt_tokens: prompt,
    completion_tokens: counts.output,
    total_tokens: prompt + counts.output,
    prompt_tokens_details: { cached_tokens: counts.cacheRead },
  }
}

/** The gateway's own usage record (for logs and metering). */
export const gatewayUsage = (counts: TokenCounts): Usage => {
  const prompt = counts.input + counts.cacheRead + counts.cacheWrite
  return {
    promptTokens: prompt,
    completionTokens: counts.output,
    totalTokens: prompt + counts.output,
    cachedTokens: counts.cacheRead,
    reasoningTokens: 0,
  }
}

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  content_filtered: 'content_filter',
  guardrail_intervened: 'content_filter',
}

/** The OpenAI finish reason; `tool_calls` only when tool calls were actually shown. */
export const finishReason = (
  stopReason: string | undefined,
  toolCallsShown: boolean,
): FinishReason => {
  const mapped =
    stopReason !== undefined && Object.hasOwn(FINISH_REASONS, stopReason)
      ? (FINISH_REASONS[stopReason] ?? 'stop')
      : 'stop'
  return mapped === 'tool_calls' && !toolCallsShown ? 'stop' : mapped
}

export type Translated = {
  readonly completion: ChatCompletionWithReasoning
  readonly counts: TokenCounts
}

export const toChatCompletion = (answer: ConverseResponse, plan: ReplyPlan): Translated => {
  const texts: string[] = []
  const reasoning: string[] = []
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = []
  for (const block of answer.output?.message?.content ?? []) {
    if (!isRecord(block)) continue
    if (typeof block.text === 'string') texts.push(block.text)
    const thought = block.reasoningContent?.reasoningText?.text
    if (typeof thought === 'string') reasoning.push(thought)
    const use = block.toolUse
    if (isRecord(use) && typeof use.name === 'string') {
      const input = JSON.stringify(use.input ?? {})
      if (use.name === plan.jsonTool) texts.push(input)
      else {
        toolCalls.push({
          id: typeof use.toolUseId === 'string' ? use.toolUseId : `call_${toolCalls.length}`,
          type: 'function',
          function: { name: use.name, arguments: input },
        })
      }
    }
  }
  const counts = tokenCounts(answer.usage)
  return {
    counts,
    completion: oneChoiceCompletion(
      plan,
      { texts, reasoning, toolCalls, showReasoning: plan.showReasoning },
      finishReason(answer.stopReason, toolCalls.length > 0),
      openAIUsage(counts),
    ),
  }
}

/** Whether a parsed body has the shape of a Converse answer as far as it is read. */
export const isConverseResponse = (value: unknown): value is ConverseResponse =>
  isRecord(value) &&
  isRecord(value.output) &&
  isRecord(value.output.message) &&
  Array.isArray(value.output.message.content)
