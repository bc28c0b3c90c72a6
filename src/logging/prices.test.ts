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

  it('should price Bedrock models by id, inference profiles as their model', () => {
    // Claude 3 Haiku on Bedrock: $0.25 in, $1.25 out per 1M; Nova Lite $0.06, $0.015 cached, $0.24.
    const haiku = 'anthropic.claude-3-haiku-20240307-v1:0'
    expect(costOf('bedrock', haiku, usage(1_000_000, 1_000_000))).toBe('1.500000000')
    expect(costOf('bedrock', `us.${haiku}`, usage(1234, 567))).toBe(
      costOf('bedrock', haiku, usage(1234, 567)),
    )
    expect(costOf('bedrock', 'amazon.nova-lite-v1:0', usage(1_000_000, 0, 1_000_000))).toBe(
      '0.015000000',
    )
    expect(
      costOf('bedrock', 'global.anthropic.claude-sonnet-4-5-20250929-v1:0', usage(0, 1_000_000)),
    ).toBe('15.000000000')
    expect(costOf('bedrock', 'meta.llama3-1-8b-instruct-v1:0', usage(1_000_000, 0))).toBe(
      '0.220000000',
    )
    expect(
      costOf('bedrock', 'arn:aws:bedrock:us-east-1:1:provisioned-model/x', usage(1, 1)),
    ).toBeNull()
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
