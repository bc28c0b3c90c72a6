import { describe, expect, it } from 'vitest'
import { estimatePromptTokens, estimatedUsage, readUsage } from './usage'

describe('readUsage', () => {
  it('should read the OpenAI CompletionUsage shape with details', () => {
    expect(
      readUsage({
        prompt_tokens: 2006,
        completion_tokens: 300,
        total_tokens: 2306,
        prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 192,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      }),
    ).toEqual({
      promptTokens: 2006,
      completionTokens: 300,
      totalTokens: 2306,
      cachedTokens: 1920,
      reasoningTokens: 192,
    })
  })

  it('should read the recorded stream usage chunk', () => {
    expect(
      readUsage({
        prompt_tokens: 44,
        completion_tokens: 16,
        total_tokens: 60,
        completion_tokens_details: { reasoning_tokens: 0 },
      }),
    ).toEqual({
      promptTokens: 44,
      completionTokens: 16,
      totalTokens: 60,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it('should read embeddings usage, which has no completion tokens', () => {
    expect(readUsage({ prompt_tokens: 8, total_tokens: 8 })).toEqual({
      promptTokens: 8,
      completionTokens: 0,
      totalTokens: 8,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it("should read DeepSeek's prompt_cache_hit_tokens as cached tokens", () => {
    expect(
      readUsage({
        prompt_tokens: 100,
        completion_tokens: 20,
        total_tokens: 120,
        prompt_cache_hit_tokens: 64,
        prompt_cache_miss_tokens: 36,
        completion_tokens_details: { reasoning_tokens: 12 },
      }),
    ).toEqual({
      promptTokens: 100,
      completionTokens: 20,
      totalTokens: 120,
      cachedTokens: 64,
      reasoningTokens: 12,
    })
  })

  it('should prefer prompt_tokens_details.cached_tokens when both are present', () => {
    expect(
      readUsage({
        prompt_tokens: 100,
        completion_tokens: 1,
        prompt_tokens_details: { cached_tokens: 80 },
        prompt_cache_hit_tokens: 64,
      })?.cachedTokens,
    ).toBe(80)
  })

  it('should compute a missing total from prompt and completion tokens', () => {
    expect(readUsage({ prompt_tokens: 12, completion_tokens: 3 })).toEqual({
      promptTokens: 12,
      completionTokens: 3,
      totalTokens: 15,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it("should read Groq's usage with its timing fields", () => {
    expect(
      readUsage({
        queue_time: 0.05,
        prompt_tokens: 40,
        prompt_time: 0.002,
        completion_tokens: 7,
        completion_time: 0.03,
        total_tokens: 47,
        total_time: 0.032,
      }),
    ).toEqual({
      promptTokens: 40,
      completionTokens: 7,
      totalTokens: 47,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it('should count fields that are not finite numbers as zero', () => {
    expect(
      readUsage({ prompt_tokens: '12', completion_tokens: null, total_tokens: Number.NaN }),
    ).toEqual({
      promptTokens: 0,
      completionTokens: 0,
      totalTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it.each([undefined, null, 42, 'usage', true])('should return undefined for %j', (raw) => {
    expect(readUsage(raw)).toBeUndefined()
  })
})

describe('estimatePromptTokens', () => {
  it('should count four characters a token, four tokens a message and three for the reply', () => {
    // "Say this is a test": 18 characters, 5 tokens.
    expect(
      estimatePromptTokens({ messages: [{ role: 'user', content: 'Say this is a test' }] }),
    ).toBe(3 + 4 + 5)
  })

  it('should count text parts, images, names, tool calls and tool definitions', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }]
    const body = {
      messages: [
        { role: 'system', content: 'abcd', name: 'abcd' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'abcdabcd' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'ab', arguments: '{}' } }],
        },
      ],
      tools,
    }
    const chars = 4 + 4 + 8 + 2 + 2 + JSON.stringify(tools).length
    expect(estimatePromptTokens(body)).toBe(3 + 3 * 4 + 85 + Math.ceil(chars / 4))
  })

  it('should estimate a body with no messages as the reply priming alone', () => {
    expect(estimatePromptTokens({ input: 'x' })).toBe(3)
    expect(estimatePromptTokens({ messages: 'not a list' })).toBe(3)
  })
})

describe('estimatedUsage', () => {
  it('should count a completion token per event but three, and mark the usage estimated', () => {
    expect(estimatedUsage(14, 33)).toEqual({
      promptTokens: 14,
      completionTokens: 30,
      totalTokens: 44,
      cachedTokens: 0,
      reasoningTokens: 0,
      estimated: true,
    })
    expect(estimatedUsage(5, 2).completionTokens).toBe(0)
  })
})
