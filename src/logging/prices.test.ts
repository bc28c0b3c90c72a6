/**
 * The price table prices known models from their usage (cached input at its own rate), finds
 * dated and `-latest` names, and reports unknown models or missing usage as unknown, never zero.
 */
import { describe, expect, it } from 'vitest'
import { PRICE_VERSION, costOf } from './prices'
import type { Usage } from '../types'

const usage = (prompt: number, completion: number, cached = 0): Usage => ({
  promptTokens: prompt,
  completionTokens: completion,
  totalTokens: prompt + completion,
  cachedTokens: cached,
  reasoningTokens: 0,
})

describe('costOf', () => {
  it('should price input and output per million tokens', () => {
    // gpt-4o-mini: $0.15 in, $0.60 out per 1M.
    expect(costOf('openai', 'gpt-4o-mini', usage(1_000_000, 1_000_000))).toBe('0.750000000')
    expect(costOf('openai', 'gpt-4o-mini', usage(1000, 500))).toBe('0.000450000')
  })

  it('should bill cached prompt tokens at the cached rate', () => {
    // claude-sonnet-4-5: $3 in, $0.30 cached, $15 out.
    expect(costOf('anthropic', 'claude-sonnet-4-5', usage(10_000, 0, 8_000))).toBe('0.008400000')
  })

  it('should never bill more cached tokens than prompt tokens', () => {
    expect(costOf('openai', 'gpt-4o', usage(100, 0, 1_000))).toBe(
      costOf('openai', 'gpt-4o', usage(100, 0, 100)),
    )
  })

  it.each([
    ['openai', 'gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['mistral', 'mistral-small-latest', 'mistral-small'],
  ])('should price %s/%s as %s', (provider, dated, base) => {
    expect(costOf(provider, dated, usage(1234, 567))).toBe(costOf(provider, base, usage(1234, 567)))
    expect(costOf(provider, dated, usage(1234, 567))).not.toBeNull()
  })

  it('should report an unknown model, an unknown provider or missing usage as unknown', () => {
    expect(costOf('openai', 'gpt-unknown', usage(10, 10))).toBeNull()
    expect(costOf('local', 'llama3.2', usage(10, 10))).toBeNull()
    expect(costOf('openai', 'gpt-4o-mini', undefined)).toBeNull()
  })

  it('should price zero tokens as zero, not unknown', () => {
    expect(costOf('openai', 'gpt-4o-mini', usage(0, 0))).toBe('0.000000000')
  })

  it('should carry a dated price version', () => {
    expect(PRICE_VERSION).toMatch(/^\d{4}-\d{2}-\d{2}$/)
  })
})
