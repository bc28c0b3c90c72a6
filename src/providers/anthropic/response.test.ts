/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import roundtripRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json?raw'
import structuredRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_429_then_200_d743d628.json?raw'
import type { ResponsePlan } from './claude'
import { JSON_TOOL_NAME } from './request'
import {
  finishReason,
  gatewayUsage,
  isAnthropicMessage,
  openAIUsage,
  toChatCompletion,
  tokenCounts,
  type AnthropicMessage,
} from './response'

type Exchange = { response: { status_code: number; body: unknown } }

/** The 200 message bodies of a recording, checked to be Anthropic messages. */
const messagesOf = (raw: string): AnthropicMessage[] =>
  (JSON.parse(raw) as Exchange[]).flatMap(({ response }) => {
    if (response.status_code !== 200) return []
    if (!isAnthropicMessage(response.body)) throw new Error('not an Anthropic message')
    return [response.body]
  })

const PLAIN: ResponsePlan = { showReasoning: false, jsonTool: undefined }
const CREATED = 1_760_000_000

const message = (fields: Partial<AnthropicMessage>): AnthropicMessage => ({
  id: 'msg_1',
  model: 'claude-sonnet-4-5-20250929',
  stop_reason: 'end_turn',
  content: [],
  usage: { input_tokens: 10, output_tokens: 5 },
  ...fields,
})

describe('toChatCompletion', () => {
  it('should translate the recorded tool_use answer, keeping the toolu_ id', () => {
    const [first] = messagesOf(roundtripRecording)
    if (first === undefined) throw new Error('missing recording')
    const { completion, counts } = toChatCompletion(first, PLAIN, CREATED)
    expect(completion).toEqual({
      id: 'msg_01M4x4hiFuUdHzu44ih9eCGh',
      object: 'chat.completion',
      created: CREATED,
      model: 'claude-haiku-4-5-20251001',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: 'toolu_013DU6hV4C1M8dJ32ybQFAFi',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"location":"SF","units":"c"}' },
              },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 597,
        completion_tokens: 71,
        total_tokens: 668,
        prompt_tokens_details: { cached_tokens: 0 },
      },
    })
    expect(gatewayUsage(counts)).toEqual({
      promptTokens: 597,
      completionTokens: 71,
      totalTokens: 668,
      cachedTokens: 0,
      reasoningTokens: 0,
    })
  })

  it('should translate the recorded final text answer', () => {
    const [, second] = messagesOf(roundtripRecording)
    if (second === undefined) throw new Error('missing recording')
    const { completion } = toChatCompletion(second, PLAIN, CREATED)
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'The weather in SF is currently **20°C** (68°F) and **Sunny**!',
          refusal: null,
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ])
    expect(completion.usage?.total_tokens).toBe(730)
  })

  it('should return a recorded structured output as the content', () => {
    const [answer] = messagesOf(structuredRecording)
    if (answer === undefined) throw new Error('missing recording')
    const content = toChatCompletion(answer, PLAIN, CREATED).completion.choices[0]?.message.content
    expect(JSON.parse(content ?? '')).toEqual({
      items: [
        { product_name: 'Green Tea', price: 5.5, quantity: 2 },
        { product_name: 'Coffee', price: 3, quantity: 1 },
      ],
      total: 14,
    })
  })

  it('should join text blocks and put tool calls after them', () => {
    const { completion } = toChatCompletion(
      message({
        stop_reason: 'tool_use',
        content: [
          { type: 'text', text: 'Let me ', citations: null },
          { type: 'text', text: 'check.', citations: null },
          { type: 'tool_use', id: 'toolu_a', name: 'a', input: {}, caller: { type: 'direct' } },
          {
            type: 'tool_use',
            id: 'toolu_b',
            name: 'b',
            input: { x: [1] },
            caller: { type: 'direct' },
          },
        ],
      }),
      PLAIN,
      CREATED,
    )
    const choice = completion.choices[0]
    expect(choice?.message.content).toBe('Let me check.')
    expect(choice?.message.tool_calls).toEqual([
      { id: 'toolu_a', type: 'function', function: { name: 'a', arguments: '{}' } },
      { id: 'toolu_b', type: 'function', function: { name: 'b', arguments: '{"x":[1]}' } },
    ])
    expect(choice?.finish_reason).toBe('tool_calls')
  })

  it('should answer an empty string when there is neither text nor a tool call', () => {
    const { completion } = toChatCompletion(message({ stop_reason: 'max_tokens' }), PLAIN, CREATED)
    expect(completion.choices[0]?.message.content).toBe('')
    expect(completion.choices[0]?.finish_reason).toBe('length')
  })

  it('should return thinking as reasoning_content only when reasoning was asked for', () => {
    const thinking = message({
      content: [
        { type: 'thinking', thinking: 'Two plus two…', signature: 'sig' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'text', text: '4', citations: null },
      ],
      usage: {
        input_tokens: 10,
        output_tokens: 50,
        output_tokens_details: { thinking_tokens: 40 },
      },
    })
    const shown = toChatCompletion(thinking, { ...PLAIN, showReasoning: true }, CREATED)
    expect(shown.completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: '4',
      refusal: null,
      reasoning_content: 'Two plus two…',
    })
    expect(shown.completion.usage?.completion_tokens_details).toEqual({ reasoning_tokens: 40 })
    const hidden = toChatCompletion(thinking, PLAIN, CREATED)
    expect(hidden.completion.choices[0]?.message).not.toHaveProperty('reasoning_content')
  })

  it('should return the forced json tool input as content, finishing with stop', () => {
    const { completion } = toChatCompletion(
      message({
        stop_reason: 'tool_use',
        content: [
          {
            type: 'tool_use',
            id: 'toolu_j',
            name: JSON_TOOL_NAME,
            input: { answer: 42 },
            caller: { type: 'direct' },
          },
        ],
      }),
      { ...PLAIN, jsonTool: JSON_TOOL_NAME },
      CREATED,
    )
    expect(completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: '{"answer":42}',
      refusal: null,
    })
    expect(completion.choices[0]?.finish_reason).toBe('stop')
  })

  it('should count cache reads and writes as prompt tokens', () => {
    const { completion, counts } = toChatCompletion(
      message({
        usage: {
          input_tokens: 20,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 300,
          output_tokens: 7,
        },
      }),
      PLAIN,
      CREATED,
    )
    expect(completion.usage).toEqual({
      prompt_tokens: 1320,
      completion_tokens: 7,
      total_tokens: 1327,
      prompt_tokens_details: { cached_tokens: 1000 },
    })
    expect(gatewayUsage(counts)).toMatchObject({ promptTokens: 1320, cachedTokens: 1000 })
  })
})

describe('finishReason', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['something_new', 'stop'],
    [null, 'stop'],
  ])('should map %s to %s', (stopReason, expected) => {
    expect(finishReason(stopReason, true)).toBe(expected)
  })

  it('should not claim tool_calls when none was shown', () => {
    expect(finishReason('tool_use', false)).toBe('stop')
  })

  it('should not read inherited keys as stop reasons', () => {
    expect(finishReason('toString', true)).toBe('stop')
  })
})

describe('tokenCounts', () => {
  it('should keep earlier counts where a cumulative update leaves fields out or null', () => {
    const start = tokenCounts({ input_tokens: 30, cache_read_input_tokens: 5, output_tokens: 1 })
    const later = tokenCounts({ output_tokens: 60, input_tokens: null }, start)
    expect(later).toEqual({
      input: 30,
      output: 60,
      cacheRead: 5,
      cacheCreation: 0,
      thinking: undefined,
    })
    expect(openAIUsage(later)).toEqual({
      prompt_tokens: 35,
      completion_tokens: 60,
      total_tokens: 95,
      prompt_tokens_details: { cached_tokens: 5 },
    })
  })
})

describe('isAnthropicMessage', () => {
  it('should accept a message and refuse other shapes', () => {
    expect(isAnthropicMessage({ ...message({}), type: 'message' })).toBe(true)
    expect(isAnthropicMessage({ type: 'error', error: { type: 'api_error' } })).toBe(false)
    expect(isAnthropicMessage({ ...message({}), type: 'message', content: [null] })).toBe(false)
    expect(isAnthropicMessage('{}')).toBe(false)
  })
})
