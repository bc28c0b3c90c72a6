import { describe, expect, it } from 'vitest'
import type { ReasoningChoice } from '../completion'
import { finishReasonOf, openAIUsage, toChatCompletion, type ReplyContext } from './response'
import {
  exchange,
  mockUnaryBlocked,
  mockUnaryShort,
  mockUnarySafety,
  recordings,
} from './test-fixtures'
import type { GeminiResponse } from './types'

const context: ReplyContext = {
  id: 'chatcmpl-local',
  created: 1_700_000_000,
  model: 'gemini-requested',
  showReasoning: false,
  callPrefix: 'call_TESTPREFIX',
  choices: 1,
}

const recorded = (list: Parameters<typeof exchange>[0], index = 0): GeminiResponse => {
  const [response] = exchange(list, index).responses
  if (response === undefined) throw new Error('no recorded response')
  return response
}

const mock = (text: string): GeminiResponse => JSON.parse(text) as GeminiResponse

const only = (choices: readonly ReasoningChoice[]): ReasoningChoice => {
  const [choice] = choices
  if (choice === undefined || choices.length !== 1) throw new Error('expected one choice')
  return choice
}

const ZERO_DETAILS = {
  prompt_tokens_details: { cached_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0 },
}

describe('toChatCompletion', () => {
  describe('with the js-genai recordings', () => {
    it('should translate a text answer with thinking usage', () => {
      expect(toChatCompletion(recorded(recordings.unarySystem), context)).toEqual({
        id: 'hi77aOvyCJ-jvr0P8syDgQw',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'gemini-2.5-flash',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'low', refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 9,
          completion_tokens: 21,
          total_tokens: 30,
          prompt_tokens_details: { cached_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 20 },
        },
      })
    })

    it('should translate a function call into tool_calls with a synthesised id', () => {
      const body = toChatCompletion(recorded(recordings.unaryFunctionCalling, 0), context)
      expect(body.choices).toEqual([
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: 'call_TESTPREFIX0',
                type: 'function',
                function: { name: 'customDivide', arguments: '{"denominator":2,"numerator":10}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ])
      expect(body.usage).toEqual({
        prompt_tokens: 17,
        completion_tokens: 6,
        total_tokens: 23,
        ...ZERO_DETAILS,
      })
    })

    it('should translate the answer that follows a tool result', () => {
      const choice = only(
        toChatCompletion(recorded(recordings.unaryFunctionCalling, 1), context).choices,
      )
      expect(choice.message.content).toBe(
        "I've divided 10 by 2 using the customDivide function, and the result is 42.\n",
      )
      expect(choice.finish_reason).toBe('stop')
    })

    it('should return thoughts as reasoning_content only when the client asked', () => {
      const response = recorded(recordings.unaryThinking)
      const thought = response.candidates?.[0]?.content?.parts?.[0]?.text
      expect(thought).toMatch(/^\*\*Breaking Down/)

      const shown = only(toChatCompletion(response, { ...context, showReasoning: true }).choices)
      expect(shown.message).toEqual({
        role: 'assistant',
        content: null,
        refusal: null,
        reasoning_content: thought,
      })
      expect(shown.finish_reason).toBe('length')

      const hidden = only(toChatCompletion(response, context).choices)
      expect(hidden.message).toEqual({ role: 'assistant', content: null, refusal: null })
    })
  })

  describe('with the generative-ai-js mocks', () => {
    it('should fall back to the generated id and requested model, and omit unknown usage', () => {
      const body = toChatCompletion(mock(mockUnaryShort), context)
      expect(body).toEqual({
        id: 'chatcmpl-local',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'gemini-requested',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Helena', refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
      })
    })

    it('should report a candidate stopped for safety as content_filter', () => {
      const choice = only(toChatCompletion(mock(mockUnarySafety), context).choices)
      expect(choice.message.content).toBe('No')
      expect(choice.finish_reason).toBe('content_filter')
    })

    it('should answer a blocked prompt with an empty content_filter choice per requested n', () => {
      expect(toChatCompletion(mock(mockUnaryBlocked), context).choices).toEqual([
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null },
          finish_reason: 'content_filter',
          logprobs: null,
        },
      ])
      const two = toChatCompletion(mock(mockUnaryBlocked), { ...context, choices: 2 }).choices
      expect(two.map((c) => [c.index, c.finish_reason])).toEqual([
        [0, 'content_filter'],
        [1, 'content_filter'],
      ])
    })
  })

  describe('with constructed answers', () => {
    it('should order candidates by index and number tool calls across them', () => {
      const body = toChatCompletion(
        {
          candidates: [
            {
              index: 1,
              content: { role: 'model', parts: [{ functionCall: { name: 'b', args: {} } }] },
              finishReason: 'STOP',
            },
            {
              index: 0,
              content: {
                role: 'model',
                parts: [
                  { text: 'Checking ' },
                  { text: 'both.' },
                  { functionCall: { name: 'a', args: { x: 1 } } },
                  { functionCall: { name: 'a', args: { x: 2 } } },
                ],
              },
              finishReason: 'MAX_TOKENS',
            },
          ],
        },
        context,
      )
      expect(
        body.choices.map((c) => [
          c.index,
          c.message.content,
          c.message.tool_calls?.map((t) => t.id),
          c.finish_reason,
        ]),
      ).toEqual([
        [0, 'Checking both.', ['call_TESTPREFIX0', 'call_TESTPREFIX1'], 'length'],
        [1, null, ['call_TESTPREFIX2'], 'tool_calls'],
      ])
    })

    it('should carry a thought signature in the tool-call id', () => {
      const body = toChatCompletion(
        {
          candidates: [
            {
              content: {
                parts: [
                  { functionCall: { name: 'f', args: {} }, thoughtSignature: 'ab+/cd==' },
                  { functionCall: { name: 'g', args: {} } },
                ],
              },
              finishReason: 'STOP',
            },
          ],
        },
        context,
      )
      expect(only(body.choices).message.tool_calls?.map((t) => t.id)).toEqual([
        'call_TESTPREFIX0__thought__ab-_cd',
        'call_TESTPREFIX1',
      ])
    })
  })
})

describe('finishReasonOf', () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', true, 'length'],
    ['CONTINUATION', false, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', false, 'content_filter'],
    ['OTHER', false, 'stop'],
    ['MALFORMED_FUNCTION_CALL', false, 'stop'],
    ['SOMETHING_NEW', true, 'tool_calls'],
  ])('should map %s (function called: %s) to %s', (reason, called, expected) => {
    expect(finishReasonOf(reason, called)).toBe(expected)
  })
})

describe('openAIUsage', () => {
  it('should count tool-use prompts as prompt and thoughts as completion', () => {
    expect(
      openAIUsage({
        promptTokenCount: 100,
        toolUsePromptTokenCount: 20,
        cachedContentTokenCount: 64,
        candidatesTokenCount: 30,
        thoughtsTokenCount: 50,
        totalTokenCount: 200,
      }),
    ).toEqual({
      prompt_tokens: 120,
      completion_tokens: 80,
      total_tokens: 200,
      prompt_tokens_details: { cached_tokens: 64 },
      completion_tokens_details: { reasoning_tokens: 50 },
    })
  })

  it('should read omitted counts as zero and sum a missing total', () => {
    expect(openAIUsage({ promptTokenCount: 17, thoughtsTokenCount: 19 })).toEqual({
      prompt_tokens: 17,
      completion_tokens: 19,
      total_tokens: 36,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 19 },
    })
  })
})
