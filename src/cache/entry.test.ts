/**
 * What the cache stores of an answer and how it serves it: only a complete successful answer is
 * stored (ended normally, every choice finished with stop, length or tool_calls, whole, at most
 * 1 MiB); a stream is stored as the chat completion it assembles into, made whole as OpenAI's
 * schema wants it (logprobs, refusal, tool calls, usage from the outcome when the stream had
 * none); a hit is served as the stored JSON, or as a stream when the request streams. (The stored
 * bodies are checked against OpenAI's schema in `test/e2e/cache-schema.test.ts`: the validator
 * reads the spec from disk, which workerd cannot.)
 */
import { describe, expect, it } from 'vitest'
import { usage } from '../../test/support/unit'
import { assembleChatStream } from '../providers/assemble'
import type { CacheEntry } from '../stores'
import type { AnswerEnd, AnswerEndState, Usage } from '../types'
import { MAX_ENTRY_BYTES, servedFrom, storableAnswer } from './entry'

type Json = Record<string, unknown>

const USAGE = usage(12, 5, 17, 2, 1)

const ended = (
  text: string,
  options: { end?: AnswerEndState; truncated?: boolean; usage?: Usage } = {},
): AnswerEnd => ({
  outcome: { usage: options.usage ?? USAGE, end: options.end ?? 'done' },
  head: { text, truncated: options.truncated ?? false },
})

const completion = (choices: Json[], extra: Json = {}): Json => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices,
  ...extra,
})

const choice = (content: string | null, finish: string | null = 'stop', index = 0): Json => ({
  index,
  message: { role: 'assistant', content },
  finish_reason: finish,
})

/** An OpenAI stream of `chunks` (each a chunk's `choices[0]` fields, or a whole chunk). */
const sse = (chunks: Json[], done = true): string =>
  chunks
    .map(
      (chunk) =>
        `data: ${JSON.stringify({
          id: 'chatcmpl-2',
          object: 'chat.completion.chunk',
          created: 1_700_000_001,
          model: 'gpt-4o-mini',
          ...chunk,
        })}\n\n`,
    )
    .join('') + (done ? 'data: [DONE]\n\n' : '')

const delta = (fields: Json, finish: string | null = null, index = 0): Json => ({
  choices: [{ index, delta: fields, logprobs: null, finish_reason: finish }],
})

const TEXT_STREAM = sse([
  delta({ role: 'assistant', content: '' }),
  delta({ content: 'Paris ' }),
  delta({ content: 'is the capital.' }),
  delta({}, 'stop'),
])

const TOOL_STREAM = sse([
  delta({ role: 'assistant', content: null }),
  delta({
    tool_calls: [
      {
        index: 0,
        id: 'call_a',
        type: 'function',
        function: { name: 'get_weather', arguments: '' },
      },
    ],
  }),
  delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  delta({
    tool_calls: [
      { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
    ],
  }),
  delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  delta({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
  delta({}, 'tool_calls'),
])

/** The stored body as JSON, failing the test when nothing would be stored. */
const stored = (kind: 'chat' | 'embeddings', streamed: boolean, answer: AnswerEnd) => {
  const result = storableAnswer(kind, streamed, answer)
  if (result === undefined) throw new Error('expected the answer to be stored')
  return { body: JSON.parse(result.body) as Json, usage: result.usage }
}

describe('storableAnswer', () => {
  describe('a non-streamed chat completion', () => {
    it.each(['stop', 'length', 'tool_calls'])('should store one finished with %s', (finish) => {
      const body = completion([choice('Paris.', finish)])
      const result = stored('chat', false, ended(JSON.stringify(body)))
      expect(result.body).toMatchObject({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            finish_reason: finish,
            logprobs: null,
            message: { role: 'assistant', content: 'Paris.', refusal: null },
          },
        ],
      })
      expect(result.usage).toEqual(USAGE)
    })

    it('should keep the usage the provider reported, and fill it only when it is missing', () => {
      const reported = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }
      const withUsage = stored(
        'chat',
        false,
        ended(JSON.stringify(completion([choice('x')], { usage: reported }))),
      )
      expect(withUsage.body.usage).toEqual(reported)
      const without = stored('chat', false, ended(JSON.stringify(completion([choice('x')]))))
      expect(without.body.usage).toEqual({
        prompt_tokens: 12,
        completion_tokens: 5,
        total_tokens: 17,
        prompt_tokens_details: { cached_tokens: 2 },
        completion_tokens_details: { reasoning_tokens: 1 },
      })
    })

    it('should keep logprobs and a refusal the provider sent', () => {
      const logprobs = { content: [], refusal: null }
      const body = completion([
        {
          index: 0,
          logprobs,
          finish_reason: 'stop',
          message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
        },
      ])
      const result = stored('chat', false, ended(JSON.stringify(body)))
      expect(result.body.choices).toEqual([
        {
          index: 0,
          logprobs,
          finish_reason: 'stop',
          message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
        },
      ])
    })

    it('should store only when every choice finished completely', () => {
      const body = completion([choice('a', 'stop', 0), choice('b', 'content_filter', 1)])
      expect(storableAnswer('chat', false, ended(JSON.stringify(body)))).toBeUndefined()
      const both = completion([choice('a', 'stop', 0), choice('b', 'length', 1)])
      expect(storableAnswer('chat', false, ended(JSON.stringify(both)))).toBeDefined()
    })

    it.each([
      ['finished by the content filter', completion([choice('x', 'content_filter')])],
      ['with no finish reason', completion([choice('x', null)])],
      ['with an unknown finish reason', completion([choice('x', 'function_call')])],
      ['with no choices', completion([])],
      ['with choices that are not objects', completion(['x' as unknown as Json])],
      ['an error body', { error: { message: 'overloaded', type: 'server_error' } }],
      ['an error beside choices', completion([choice('x')], { error: { message: 'partial' } })],
      ['without choices', { id: 'x', object: 'chat.completion' }],
    ])('should refuse an answer %s', (_, body) => {
      expect(storableAnswer('chat', false, ended(JSON.stringify(body)))).toBeUndefined()
    })

    it.each([
      ['not JSON', 'Bad Gateway'],
      ['a JSON array', '[]'],
      ['empty', ''],
      ['JSON null', 'null'],
    ])('should refuse a body that is %s', (_, text) => {
      expect(storableAnswer('chat', false, ended(text))).toBeUndefined()
    })
  })

  describe('how the answer ended', () => {
    const body = JSON.stringify(completion([choice('Paris.')]))

    it.each(['interrupted', 'provider_error', 'cancelled'] as const)(
      'should refuse an answer that ended %s',
      (end) => {
        expect(storableAnswer('chat', false, ended(body, { end }))).toBeUndefined()
        expect(storableAnswer('chat', true, ended(TEXT_STREAM, { end }))).toBeUndefined()
      },
    )

    it('should refuse a truncated head, or none', () => {
      expect(storableAnswer('chat', false, ended(body, { truncated: true }))).toBeUndefined()
      expect(
        storableAnswer('chat', false, { outcome: { usage: USAGE, end: 'done' }, head: undefined }),
      ).toBeUndefined()
    })

    it('should store up to 1 MiB and refuse anything larger', () => {
      const sized = (size: number): string => {
        const shell = JSON.stringify(completion([choice('')]))
        const text = JSON.stringify(completion([choice('x'.repeat(size - shell.length))]))
        expect(text).toHaveLength(size)
        return text
      }
      expect(MAX_ENTRY_BYTES).toBe(1024 * 1024)
      expect(storableAnswer('chat', false, ended(sized(MAX_ENTRY_BYTES)))).toBeDefined()
      expect(storableAnswer('chat', false, ended(sized(MAX_ENTRY_BYTES + 1)))).toBeUndefined()
    })
  })

  describe('a streamed chat completion', () => {
    it('should store the chat completion it assembles into', () => {
      const result = stored('chat', true, ended(TEXT_STREAM))
      expect(result.body).toEqual({
        id: 'chatcmpl-2',
        object: 'chat.completion',
        created: 1_700_000_001,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            logprobs: null,
            finish_reason: 'stop',
            message: { role: 'assistant', content: 'Paris is the capital.', refusal: null },
          },
        ],
        usage: {
          prompt_tokens: 12,
          completion_tokens: 5,
          total_tokens: 17,
          prompt_tokens_details: { cached_tokens: 2 },
          completion_tokens_details: { reasoning_tokens: 1 },
        },
      })
    })

    it('should keep the stream’s own usage chunk over the outcome’s', () => {
      const reported = { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 }
      const stream = sse([
        delta({ role: 'assistant', content: 'Hi' }),
        delta({}, 'stop'),
        { choices: [], usage: reported },
      ])
      expect(stored('chat', true, ended(stream)).body.usage).toEqual(reported)
    })

    it('should leave the usage out when neither the stream nor the outcome has it', () => {
      const result = storableAnswer('chat', true, {
        outcome: { usage: undefined, end: 'done' },
        head: { text: TEXT_STREAM, truncated: false },
      })
      expect(result?.usage).toBeUndefined()
      expect(JSON.parse(result?.body ?? '{}')).not.toHaveProperty('usage')
    })

    it('should store an estimated usage in the body as OpenAI spells usage, and marked in the entry', () => {
      // The provider reported none (a stream nobody asked usage for): a non-streamed hit still
      // answers with the usage OpenAI's clients read, and the entry says it was estimated.
      const estimated = { ...usage(20, 7, 27), estimated: true as const }
      const result = storableAnswer('chat', true, {
        outcome: { usage: estimated, end: 'done' },
        head: { text: TEXT_STREAM, truncated: false },
      })
      expect(result?.usage).toEqual(estimated)
      expect(JSON.parse(result?.body ?? '{}')).toMatchObject({
        usage: { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 },
      })
      expect(JSON.stringify(JSON.parse(result?.body ?? '{}'))).not.toContain('estimated')
    })

    it('should assemble tool calls per index, with content null', () => {
      const result = stored('chat', true, ended(TOOL_STREAM))
      expect(result.body.choices).toEqual([
        {
          index: 0,
          logprobs: null,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: 'call_a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
        },
      ])
    })

    it('should assemble several choices, in index order', () => {
      const stream = sse([
        delta({ role: 'assistant', content: 'B' }, null, 1),
        delta({ role: 'assistant', content: 'A' }, null, 0),
        delta({}, 'stop', 1),
        delta({}, 'length', 0),
      ])
      const choices = stored('chat', true, ended(stream)).body.choices as Json[]
      expect(choices.map((c) => [c.index, (c.message as Json).content, c.finish_reason])).toEqual([
        [0, 'A', 'length'],
        [1, 'B', 'stop'],
      ])
    })

    it('should refuse a stream with an error event', () => {
      const stream =
        sse([delta({ role: 'assistant', content: 'Par' })], false) +
        `event: error\ndata: ${JSON.stringify({ error: { message: 'upstream failed' } })}\n\n`
      expect(storableAnswer('chat', true, ended(stream))).toBeUndefined()
      const inline = sse([delta({ content: 'x' }), { error: { message: 'x' } }, delta({}, 'stop')])
      expect(storableAnswer('chat', true, ended(inline))).toBeUndefined()
    })

    it('should refuse a stream cut before its finish reason', () => {
      const cut = sse([delta({ role: 'assistant', content: 'Paris ' })], false)
      expect(storableAnswer('chat', true, ended(cut))).toBeUndefined()
    })

    it('should refuse a stream finished by the content filter', () => {
      const filtered = sse([delta({ content: 'x' }), delta({}, 'content_filter')])
      expect(storableAnswer('chat', true, ended(filtered))).toBeUndefined()
    })

    it('should refuse a stream with no events', () => {
      expect(storableAnswer('chat', true, ended('data: [DONE]\n\n'))).toBeUndefined()
    })

    it('should store a streamed and a non-streamed answer alike', () => {
      const fromStream = stored('chat', true, ended(TEXT_STREAM)).body
      const plain = completion([choice('Paris is the capital.')], {
        id: 'chatcmpl-2',
        created: 1_700_000_001,
      })
      expect(stored('chat', false, ended(JSON.stringify(plain))).body).toEqual(fromStream)
    })
  })

  describe('embeddings', () => {
    const body = {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 2, total_tokens: 2 },
    }

    it('should store the answer as it came', () => {
      const text = JSON.stringify(body)
      expect(storableAnswer('embeddings', false, ended(text))).toEqual({ body: text, usage: USAGE })
    })

    it('should refuse an embeddings answer without data', () => {
      const error = JSON.stringify({ error: { message: 'x' } })
      expect(storableAnswer('embeddings', false, ended(error))).toBeUndefined()
      expect(storableAnswer('embeddings', false, ended('oops'))).toBeUndefined()
      const text = JSON.stringify(body)
      expect(
        storableAnswer('embeddings', false, ended(text, { end: 'interrupted' })),
      ).toBeUndefined()
    })
  })
})

describe('servedFrom', () => {
  const entry = (body: string): CacheEntry => ({
    body,
    storedAt: 0,
    prompt: 'q',
    provider: 'openai',
    model: 'gpt-4o-mini',
    usage: USAGE,
  })
  const stored = storableAnswer('chat', true, ended(TEXT_STREAM))?.body ?? ''

  it('should serve the stored body as JSON to a request that does not stream', () => {
    expect(stored).not.toBe('')
    expect(servedFrom(entry(stored), { kind: 'chat', stream: false, includeUsage: false })).toEqual(
      { body: stored, contentType: 'application/json' },
    )
  })

  it('should serve embeddings as JSON', () => {
    const body = JSON.stringify({ object: 'list', data: [] })
    expect(
      servedFrom(entry(body), { kind: 'embeddings', stream: false, includeUsage: false }),
    ).toEqual({ body, contentType: 'application/json' })
  })

  it('should serve a streamed request an SSE stream that assembles into the stored answer', () => {
    const served = servedFrom(entry(stored), { kind: 'chat', stream: true, includeUsage: true })
    expect(served?.contentType).toBe('text/event-stream; charset=utf-8')
    expect(served?.body.endsWith('data: [DONE]\n\n')).toBe(true)
    const again = assembleChatStream(served?.body ?? '')
    const original = JSON.parse(stored) as Json
    expect(again.choices).toEqual([
      {
        index: 0,
        finish_reason: 'stop',
        message: { role: 'assistant', content: 'Paris is the capital.' },
      },
    ])
    expect(again.usage).toEqual(original.usage)
    expect(again.id).toBe(original.id)
  })

  it('should leave the usage chunk out unless the request asked for it', () => {
    const served = servedFrom(entry(stored), { kind: 'chat', stream: true, includeUsage: false })
    expect(served?.body).not.toContain('"usage"')
  })

  it('should serve nothing to a streamed request when the stored body is not an object', () => {
    expect(
      servedFrom(entry('not json'), { kind: 'chat', stream: true, includeUsage: false }),
    ).toBeUndefined()
    expect(
      servedFrom(entry('[1]'), { kind: 'chat', stream: true, includeUsage: false }),
    ).toBeUndefined()
  })
})
