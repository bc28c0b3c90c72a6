/**
 * The response cache's bodies judged by OpenAI's own schema (`test/fixtures/openai/openapi.yaml`):
 * a stored answer — assembled from a recorded OpenAI stream, from a stream of tool calls, or kept
 * as a non-streamed completion — is a valid `CreateChatCompletionResponse`; a hit replayed as a
 * stream is a sequence of valid `CreateChatCompletionStreamResponse` chunks, for the recorded
 * answers and for any completion (a seeded property). Runs in Node: the validator reads the spec
 * from disk, which workerd cannot; the rest of the cache's unit tests are in `src/cache`.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { storableAnswer } from '../../src/cache/entry.ts'
import { completionAsSse } from '../../src/cache/replay.ts'
import { assembleChatStream } from '../../src/providers/assemble.ts'
import type { AnswerEnd, Usage } from '../../src/types.ts'
import { expectValid } from '../support/e2e.ts'

type Json = Record<string, unknown>

const USAGE: Usage = {
  promptTokens: 12,
  completionTokens: 5,
  totalTokens: 17,
  cachedTokens: 0,
  reasoningTokens: 0,
}

const ended = (text: string): AnswerEnd => ({
  outcome: { usage: USAGE, end: 'done' },
  head: { text, truncated: false },
})

const recorded = (name: string): string =>
  readFileSync(new URL(`../fixtures/openai/fixtures/${name}`, import.meta.url), 'utf8')

const RECORDED = [
  'stream_text_with_usage_e2aad469b71d.sse',
  'stream_max_tokens_length_4cc50a6135d2.sse',
  'stream_single_tool_call_with_usage_2018feb66ae1.sse',
  'stream_parallel_tool_calls_with_usage_f82268f2fefd.sse',
]

/** The stored body of an answer, failing the test when it would not be stored. */
const storedBody = (streamed: boolean, text: string): Json => {
  const answer = storableAnswer('chat', streamed, ended(text))
  if (answer === undefined) throw new Error('expected the answer to be stored')
  return JSON.parse(answer.body) as Json
}

/** The chunks of an SSE text, `[DONE]` checked last and dropped. */
const chunksOf = (sse: string): unknown[] => {
  const blocks = sse.trimEnd().split('\n\n')
  expect(blocks.at(-1)).toBe('data: [DONE]')
  return blocks.slice(0, -1).map((block) => JSON.parse(block.slice('data: '.length)) as unknown)
}

const expectValidStream = (sse: string): void => {
  for (const chunk of chunksOf(sse)) expectValid('CreateChatCompletionStreamResponse', chunk)
}

const chunk = (delta: Json, finish: string | null = null): string =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-x',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  })}\n\n`

describe('a stored answer', () => {
  it.each(RECORDED)('should be a valid chat completion when assembled from %s', (name) => {
    const body = storedBody(true, recorded(name))
    expectValid('CreateChatCompletionResponse', body)
  })

  it('should be valid from a stream without a usage chunk (the outcome’s usage filled in)', () => {
    const stream = `${chunk({ role: 'assistant', content: '' })}${chunk({ content: 'Hi' })}${chunk({}, 'stop')}data: [DONE]\n\n`
    const body = storedBody(true, stream)
    expect(body.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 })
    expectValid('CreateChatCompletionResponse', body)
  })

  it('should be valid from a stream of tool calls only (content null)', () => {
    const stream =
      chunk({ role: 'assistant', content: null }) +
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } },
        ],
      }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }) +
      chunk({}, 'tool_calls') +
      'data: [DONE]\n\n'
    const body = storedBody(true, stream)
    expect((body.choices as Json[])[0]).toMatchObject({ message: { content: null } })
    expectValid('CreateChatCompletionResponse', body)
  })

  it('should be valid when kept from a non-streamed completion', () => {
    const completion = {
      id: 'chatcmpl-y',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          message: { role: 'assistant', content: 'Paris.' },
        },
      ],
    }
    expectValid('CreateChatCompletionResponse', storedBody(false, JSON.stringify(completion)))
  })
})

describe('a hit replayed as a stream', () => {
  it.each(RECORDED)(
    'should be valid chunks for the answer of %s, with and without usage',
    (name) => {
      const stored = storedBody(true, recorded(name))
      expectValidStream(completionAsSse(stored, true))
      expectValidStream(completionAsSse(stored, false))
    },
  )

  it.each(RECORDED)('should reassemble into what %s assembled into', (name) => {
    const original = assembleChatStream(recorded(name))
    const replayed = assembleChatStream(completionAsSse(storedBody(true, recorded(name)), true))
    expect(replayed.choices).toEqual(original.choices)
    expect(replayed.usage).toEqual(original.usage)
  })

  it('should be valid chunks for any stored completion', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 30 })
    const toolCall = fc.record({
      id: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }),
      type: fc.constant('function'),
      function: fc.record({
        name: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 10 }),
        arguments: text,
      }),
    })
    const choice = fc.record({
      message: fc.record(
        {
          role: fc.constant('assistant'),
          content: fc.option(text, { nil: null }),
          refusal: fc.option(text, { nil: null }),
          reasoning_content: text,
          tool_calls: fc.array(toolCall, { minLength: 1, maxLength: 2 }),
        },
        { requiredKeys: ['role', 'content'] },
      ),
      finish_reason: fc.constantFrom('stop', 'length', 'tool_calls'),
    })
    fc.assert(
      fc.property(
        fc.array(choice, { minLength: 1, maxLength: 2 }),
        fc.boolean(),
        (choices, usage) => {
          const stored = storedBody(
            false,
            JSON.stringify({
              id: 'chatcmpl-z',
              object: 'chat.completion',
              created: 1_700_000_000,
              model: 'gpt-4o-mini',
              choices: choices.map((c, index) => ({ index, ...c })),
            }),
          )
          expectValid('CreateChatCompletionResponse', stored)
          expectValidStream(completionAsSse(stored, usage))
        },
      ),
      { seed: 20_260_310, numRuns: 100 },
    )
  })
})
