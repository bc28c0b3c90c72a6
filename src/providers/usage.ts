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
