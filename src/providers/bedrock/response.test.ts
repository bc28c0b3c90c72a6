import { describe, expect, it } from 'vitest'
import { JSON_TOOL_NAME } from './request'
import {
  finishReason,
  gatewayUsage,
  isConverseResponse,
  openAIUsage,
  toChatCompletion,
  tokenCounts,
  type ReplyPlan,
} from './response'
import type { ConverseResponse } from './types'

const PLAN: ReplyPlan = {
  id: 'chatcmpl-test',
  created: 1_700_000_000,
  model: 'anthropic.claude-3-haiku-20240307-v1:0',
  showReasoning: false,
  jsonTool: undefined,
}

const USAGE = { inputTokens: 12, outputTokens: 7, totalTokens: 19 }

const answer = (
  content: unknown[],
  stopReason = 'end_turn',
  usage: object = USAGE,
): ConverseResponse =>
  ({
    output: { message: { role: 'assistant', content } },
    stopReason,
    usage,
    metrics: { latencyMs: 250 },
  }) as ConverseResponse

describe('toChatCompletion', () => {
  it('should answer a text reply as an OpenAI chat completion', () => {
    const { completion, counts } = toChatCompletion(
      answer([{ text: 'Hello ' }, { text: 'there' }]),
      PLAN,
    )
    expect(completion).toEqual({
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 7,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 0 },
      },
    })
    expect(counts).toEqual({ input: 12, output: 7, cacheRead: 0, cacheWrite: 0 })
  })

  it("should answer toolUse blocks as tool calls keeping Bedrock's ids", () => {
    const { completion } = toChatCompletion(
      answer(
        [
          { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } },
          { toolUse: { toolUseId: 'tooluse_2', name: 'get_time', input: {} } },
        ],
        'tool_use',
      ),
      PLAN,
    )
    expect(completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        {
          id: 'tooluse_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
        { id: 'tooluse_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    })
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls')
  })

  it("should answer the forced JSON tool's input as the content, finish reason stop", () => {
    const { completion } = toChatCompletion(
      answer(
        [{ toolUse: { toolUseId: 't', name: JSON_TOOL_NAME, input: { answer: 42 } } }],
        'tool_use',
      ),
      { ...PLAN, jsonTool: JSON_TOOL_NAME },
    )
    expect(completion.choices[0]?.message.content).toBe('{"answer":42}')
    expect(completion.choices[0]?.message.tool_calls).toBeUndefined()
    expect(completion.choices[0]?.finish_reason).toBe('stop')
  })

  it('should show reasoning text only when the client asked for reasoning', () => {
    const blocks = [
      { reasoningContent: { reasoningText: { text: 'Think.', signature: 'sig' } } },
      { text: 'Answer.' },
    ]
    expect(toChatCompletion(answer(blocks), PLAN).completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: 'Answer.',
      refusal: null,
    })
    expect(
      toChatCompletion(answer(blocks), { ...PLAN, showReasoning: true }).completion.choices[0]
        ?.message.reasoning_content,
    ).toBe('Think.')
  })

  it('should count cached prompt tokens in the prompt and as cached tokens', () => {
    const usage = {
      inputTokens: 4,
      outputTokens: 28,
      totalTokens: 2042,
      cacheReadInputTokens: 1000,
      cacheWriteInputTokens: 1010,
    }
    const { completion, counts } = toChatCompletion(
      answer([{ text: 'ok' }], 'end_turn', usage),
      PLAN,
    )
    expect(completion.usage).toEqual({
      prompt_tokens: 2014,
      completion_tokens: 28,
      total_tokens: 2042,
      prompt_tokens_details: { cached_tokens: 1000 },
    })
    expect(gatewayUsage(counts)).toEqual({
      promptTokens: 2014,
      completionTokens: 28,
      totalTokens: 2042,
      cachedTokens: 1000,
      reasoningTokens: 0,
    })
  })

  it('should read missing or malformed counts as 0', () => {
    expect(tokenCounts(undefined)).toEqual({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 })
    expect(openAIUsage(tokenCounts({ inputTokens: -3, outputTokens: Number.NaN }))).toEqual({
      prompt_tokens: 0,
      completion_tokens: 0,
      total_tokens: 0,
      prompt_tokens_details: { cached_tokens: 0 },
    })
  })

  it('should answer an empty reply with empty content', () => {
    expect(toChatCompletion(answer([]), PLAN).completion.choices[0]?.message.content).toBe('')
  })
})

describe('finishReason', () => {
  it('should map every Converse stop reason', () => {
    const cases: readonly [string | undefined, boolean, string][] = [
      ['end_turn', false, 'stop'],
      ['stop_sequence', false, 'stop'],
      ['max_tokens', false, 'length'],
      ['model_context_window_exceeded', false, 'length'],
      ['tool_use', true, 'tool_calls'],
      ['tool_use', false, 'stop'],
      ['content_filtered', false, 'content_filter'],
      ['guardrail_intervened', false, 'content_filter'],
      ['malformed_model_output', false, 'stop'],
      ['malformed_tool_use', false, 'stop'],
      ['something_new', false, 'stop'],
      ['toString', false, 'stop'],
      [undefined, false, 'stop'],
    ]
    for (const [reason, shown, expected] of cases) {
      expect(finishReason(reason, shown), String(reason)).toBe(expected)
    }
  })
})

describe('isConverseResponse', () => {
  it('should accept an answer with output.message.content and refuse anything else', () => {
    expect(isConverseResponse(answer([]))).toBe(true)
    expect(isConverseResponse({ message: 'ValidationException' })).toBe(false)
    expect(isConverseResponse({ output: { message: { content: 'text' } } })).toBe(false)
    expect(isConverseResponse(null)).toBe(false)
  })
})
