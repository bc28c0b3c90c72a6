/**
 * @module Translates an Anthropic `Message` into an OpenAI `chat.completion`, and Anthropic token
 * usage into OpenAI's `CompletionUsage` (shared with the stream translator). Pure functions.
 *
 * - `text` blocks, concatenated, are `message.content` (`null` when the answer is only tool calls).
 * - `tool_use` blocks are `tool_calls`, keeping Anthropic's `toolu_…` ids (the client sends them
 *   back as `tool_call_id`, which the request side turns into `tool_use_id`), with
 *   `arguments = JSON.stringify(input)`. The forced `json_response` tool of a
 *   `response_format: json_object` request is the content instead (see `request.ts`).
 * - `thinking` blocks are `message.reasoning_content` (DeepSeek's field, which OpenAI SDKs keep)
 *   only when the client asked for reasoning; redacted thinking and server-tool blocks have no
 *   OpenAI form and are left out.
 * - `stop_reason` → `finish_reason`: end_turn, stop_sequence, pause_turn → stop; max_tokens,
 *   model_context_window_exceeded → length; tool_use → tool_calls (stop when no tool call is
 *   shown); refusal → content_filter. `pause_turn` only follows server tools, which the gateway
 *   never sends, so `stop` is the closest meaning.
 * - Usage: `prompt_tokens` = input + cache read + cache creation tokens (Anthropic's "total input",
 *   specs/anthropic/NOTES.md), `prompt_tokens_details.cached_tokens` = cache read tokens,
 *   `completion_tokens` = output tokens, `completion_tokens_details.reasoning_tokens` = thinking
 *   tokens when Anthropic reports them.
 */
import type {
  ContentBlock,
  Message,
  MessageDeltaUsage,
  StopReason,
  Usage as AnthropicUsage,
} from '@anthropic-ai/sdk/resources/messages'
import type { ChatCompletionMessageFunctionToolCall } from 'openai/resources/chat/completions'
import type { CompletionUsage } from 'openai/resources/completions'
import {
  oneChoiceCompletion,
  type ChatCompletionWithReasoning,
  type FinishReason,
} from '../completion'
import { isRecord } from '../fields'
import type { ResponsePlan } from './claude'
import type { Usage } from '../../types'

/** The token counts Anthropic reports, cumulative over a stream. */
export type TokenCounts = {
  readonly input: number
  readonly output: number
  readonly cacheRead: number
  readonly cacheCreation: number
  /** Thinking tokens, when reported (`output_tokens_details.thinking_tokens`). */
  readonly thinking: number | undefined
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined

/**
 * Reads Anthropic usage (`Message.usage` or a `message_delta`'s cumulative usage) over the counts
 * known so far: a field that is absent or null keeps its previous value.
 */
export const tokenCounts = (
  usage: Partial<AnthropicUsage | MessageDeltaUsage> | null | undefined,
  previous?: TokenCounts,
): TokenCounts => ({
  input: count(usage?.input_tokens) ?? previous?.input ?? 0,
  output: count(usage?.output_tokens) ?? previous?.output ?? 0,
  cacheRead: count(usage?.cache_read_input_tokens) ?? previous?.cacheRead ?? 0,
  cacheCreation: count(usage?.cache_creation_input_tokens) ?? previous?.cacheCreation ?? 0,
  thinking: count(usage?.output_tokens_details?.thinking_tokens) ?? previous?.thinking,
})

export const openAIUsage = (counts: TokenCounts): CompletionUsage => {
  const prompt = counts.input + counts.cacheRead + counts.cacheCreation
  const usage: CompletionUsage = {
    prompt_tokens: prompt,
    completion_tokens: counts.output,
    total_tokens: prompt + counts.output,
    prompt_tokens_details: { cached_tokens: counts.cacheRead },
  }
  if (counts.thinking !== undefined) {
    usage.completion_tokens_details = { reasoning_tokens: counts.thinking }
  }
  return usage
}

/** The gateway's own usage record (for logs and metering). */
export const gatewayUsage = (counts: TokenCounts): Usage => {
  const prompt = counts.input + counts.cacheRead + counts.cacheCreation
  return {
    promptTokens: prompt,
    completionTokens: counts.output,
    totalTokens: prompt + counts.output,
    cachedTokens: counts.cacheRead,
    reasoningTokens: counts.thinking ?? 0,
  }
}

const FINISH_REASONS: Readonly<Record<StopReason, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
}

/** The OpenAI finish reason; `tool_calls` only when tool calls were actually shown. */
export const finishReason = (
  stopReason: string | null | undefined,
  toolCallsShown: boolean,
): FinishReason => {
  const mapped =
    stopReason != null && Object.hasOwn(FINISH_REASONS, stopReason)
      ? FINISH_REASONS[stopReason as StopReason]
      : 'stop'
  return mapped === 'tool_calls' && !toolCallsShown ? 'stop' : mapped
}

/** The parts of a `Message` the translation reads (Anthropic adds fields over time). */
export type AnthropicMessage = Pick<Message, 'id' | 'model' | 'stop_reason'> & {
  readonly content: readonly ContentBlock[]
  readonly usage?: Partial<AnthropicUsage> | null
}

export type Translated = {
  readonly completion: ChatCompletionWithReasoning
  readonly counts: TokenCounts
}

export const toChatCompletion = (
  message: AnthropicMessage,
  plan: ResponsePlan,
  created: number,
): Translated => {
  const texts: string[] = []
  const thinking: string[] = []
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = []
  for (const block of message.content) {
    switch (block.type) {
      case 'text':
        texts.push(block.text)
        break
      case 'thinking':
        thinking.push(block.thinking)
        break
      case 'tool_use':
        if (block.name === plan.jsonTool) {
          texts.push(JSON.stringify(block.input))
        } else {
          toolCalls.push({
            id: block.id,
            type: 'function',
            function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
          })
        }
        break
      default:
        break // redacted thinking, server tools: nothing an OpenAI client can read
    }
  }
  const counts = tokenCounts(message.usage)
  return {
    counts,
    completion: oneChoiceCompletion(
      { id: message.id, created, model: message.model },
      { texts, reasoning: thinking, toolCalls, showReasoning: plan.showReasoning },
      finishReason(message.stop_reason, toolCalls.length > 0),
      openAIUsage(counts),
    ),
  }
}

/** Whether a parsed body has the shape of an Anthropic `Message` as far as it is read. */
export const isAnthropicMessage = (value: unknown): value is AnthropicMessage =>
  isRecord(value) &&
  value.type === 'message' &&
  typeof value.id === 'string' &&
  typeof value.model === 'string' &&
  Array.isArray(value.content) &&
  value.content.every((block: unknown) => isRecord(block) && typeof block.type === 'string')
