/**
 * @module Token usage in one shape, whatever the provider reported.
 *
 * OpenAI's `CompletionUsage` is the reference; DeepSeek reports cache hits as
 * `prompt_cache_hit_tokens`, Groq nests usage under `x_groq` in streams.
 */

import type { Usage } from '../types'

const num = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0

const field = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined

/** Reads an OpenAI-style usage object; `undefined` when `raw` is not one. */
export const readUsage = (raw: unknown): Usage | undefined => {
  if (typeof raw !== 'object' || raw === null) return undefined
  const promptTokens = num(field(raw, 'prompt_tokens'))
  const completionTokens = num(field(raw, 'completion_tokens'))
  const cached =
    num(field(field(raw, 'prompt_tokens_details'), 'cached_tokens')) ||
    num(field(raw, 'prompt_cache_hit_tokens'))
  return {
    promptTokens,
    completionTokens,
    totalTokens: num(field(raw, 'total_tokens')) || promptTokens + completionTokens,
    cachedTokens: cached,
    reasoningTokens: num(field(field(raw, 'completion_tokens_details'), 'reasoning_tokens')),
  }
}

/**
 * About four characters of English text per token: OpenAI's own rule of thumb. Estimates are for
 * the request log only, where the provider reported nothing; they are marked as such.
 */
const CHARS_PER_TOKEN = 4
/** What each message adds to a prompt beyond its text, and what the reply's priming adds. */
const TOKENS_PER_MESSAGE = 4
const TOKENS_PER_PROMPT = 3
/** An image part, at the lowest detail OpenAI bills. */
const TOKENS_PER_IMAGE = 85
/**
 * Events in a token stream that carry no token: the first (the role), the last chunk (the finish
 * reason) and `[DONE]`.
 */
const EVENTS_WITHOUT_TOKENS = 3

const textLength = (value: unknown): number => (typeof value === 'string' ? value.length : 0)

/** The characters and images of one message's `content`, string or parts. */
const contentSize = (content: unknown): { chars: number; images: number } => {
  if (typeof content === 'string') return { chars: content.length, images: 0 }
  let chars = 0
  let images = 0
  if (Array.isArray(content)) {
    for (const part of content) {
      const type = field(part, 'type')
      if (type === 'image_url' || type === 'input_image') images++
      else chars += textLength(field(part, 'text'))
    }
  }
  return { chars, images }
}

/**
 * The prompt tokens of a chat request's body, estimated from its messages' text (and its tool
 * definitions, counted as their JSON): what the request log records for a stream the provider
 * was not asked to report usage for.
 */
export const estimatePromptTokens = (body: Readonly<Record<string, unknown>>): number => {
  let chars = 0
  let tokens = TOKENS_PER_PROMPT
  const messages = body.messages
  if (Array.isArray(messages)) {
    for (const message of messages) {
      tokens += TOKENS_PER_MESSAGE
      const { chars: text, images } = contentSize(field(message, 'content'))
      chars += text + textLength(field(message, 'name'))
      tokens += images * TOKENS_PER_IMAGE
      const calls = field(message, 'tool_calls')
      if (Array.isArray(calls)) {
        for (const call of calls) {
          const fn = field(call, 'function')
          chars += textLength(field(fn, 'name')) + textLength(field(fn, 'arguments'))
        }
      }
    }
  }
  if (Array.isArray(body.tools)) chars += JSON.stringify(body.tools).length
  return tokens + Math.ceil(chars / CHARS_PER_TOKEN)
}

/**
 * Usage estimated for a stream that reported none: the prompt as `estimatePromptTokens` made it,
 * and one completion token per event, as OpenAI streams tokens (but the role's first event, the
 * finish reason's and `[DONE]`).
 */
export const estimatedUsage = (promptTokens: number, events: number): Usage => {
  const completionTokens = Math.max(events - EVENTS_WITHOUT_TOKENS, 0)
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    cachedTokens: 0,
    reasoningTokens: 0,
    estimated: true,
  }
}
