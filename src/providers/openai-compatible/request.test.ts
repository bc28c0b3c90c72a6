import { describe, expect, it } from 'vitest'
import { PROVIDERS, customProviderSpec } from '../registry'
import { addsUsageAsk, alnum9, prepareBody } from './request'
import { seededRandom } from '../../../test/support/unit'
import type { OpenAIQuirks, ParsedRequest } from '../../types'

const quirksOf = (id: string): OpenAIQuirks => {
  const spec = PROVIDERS.find((p) => p.id === id)
  if (spec === undefined) throw new Error(`no provider ${id} in the registry`)
  return spec.quirks
}

const OPENAI = quirksOf('openai')
const GROQ = quirksOf('groq')
const MISTRAL = quirksOf('mistral')

type Body = Record<string, unknown>

const chat = (body: Body): ParsedRequest => {
  const stream = body.stream === true
  const options = body.stream_options as { include_usage?: unknown } | undefined
  return {
    kind: 'chat',
    body,
    model: String(body.model),
    stream,
    includeUsage: stream && options?.include_usage === true,
  }
}

const embeddings = (body: Body): ParsedRequest => ({
  kind: 'embeddings',
  body,
  model: String(body.model),
  stream: false,
  includeUsage: false,
})

const prepared = (
  request: ParsedRequest,
  model: string,
  quirks: OpenAIQuirks,
): { body: Body; dropped: readonly string[] } => {
  const result = prepareBody(request, model, quirks)
  return { body: JSON.parse(result.body) as Body, dropped: result.dropped }
}

const user = { role: 'user', content: 'hi' }
const ALNUM9 = /^[A-Za-z0-9]{9}$/

describe('prepareBody', () => {
  describe('for OpenAI', () => {
    it('should replace the model and keep every other field, unknown ones included', () => {
      const body = {
        model: 'openai/gpt-4o',
        messages: [user],
        temperature: 0.2,
        verbosity: 'low',
        web_search_options: { search_context_size: 'low' },
        x_future_param: { nested: [1, 2] },
      }
      expect(prepared(chat(body), 'gpt-4o', OPENAI)).toEqual({
        body: {
          model: 'gpt-4o',
          messages: [user],
          temperature: 0.2,
          verbosity: 'low',
          web_search_options: { search_context_size: 'low' },
          x_future_param: { nested: [1, 2] },
        },
        dropped: [],
      })
    })

    it('should ask for the usage chunk when streaming and the client did not', () => {
      const { body } = prepared(
        chat({ model: 'gpt-4o', messages: [user], stream: true }),
        'gpt-4o',
        OPENAI,
      )
      expect(body.stream_options).toEqual({ include_usage: true })
    })

    it("should keep the client's other stream_options keys", () => {
      const request = chat({
        model: 'gpt-4o',
        messages: [user],
        stream: true,
        stream_options: { include_obfuscation: false },
      })
      expect(prepared(request, 'gpt-4o', OPENAI).body.stream_options).toEqual({
        include_obfuscation: false,
        include_usage: true,
      })
    })

    it('should ask for usage when the client explicitly set include_usage to false', () => {
      const request = chat({
        model: 'gpt-4o',
        messages: [user],
        stream: true,
        stream_options: { include_usage: false },
      })
      expect(prepared(request, 'gpt-4o', OPENAI).body.stream_options).toEqual({
        include_usage: true,
      })
    })

    it('should leave stream_options as sent when the client asked for usage', () => {
      const request = chat({
        model: 'gpt-4o',
        messages: [user],
        stream: true,
        stream_options: { include_usage: true, include_obfuscation: true },
      })
      expect(prepared(request, 'gpt-4o', OPENAI).body.stream_options).toEqual({
        include_usage: true,
        include_obfuscation: true,
      })
    })

    it('should send the stream as the client asked for it when usage is captured only when asked', () => {
      // FLOOPY_STREAM_USAGE=asked: the provider's stream then reaches the client unchanged.
      const streamed = (streamOptions?: Body): ParsedRequest =>
        chat({
          model: 'gpt-4o',
          messages: [user],
          stream: true,
          ...(streamOptions === undefined ? {} : { stream_options: streamOptions }),
        })
      const sent = (request: ParsedRequest): Body =>
        JSON.parse(prepareBody(request, 'gpt-4o', OPENAI, false).body) as Body
      expect(sent(streamed())).not.toHaveProperty('stream_options')
      expect(sent(streamed({ include_usage: false })).stream_options).toEqual({
        include_usage: false,
      })
      expect(sent(streamed({ include_usage: true })).stream_options).toEqual({
        include_usage: true,
      })
      expect(addsUsageAsk(streamed(), OPENAI, false)).toBe(false)
      expect(addsUsageAsk(streamed(), OPENAI)).toBe(true)
      expect(addsUsageAsk(streamed({ include_usage: true }), OPENAI)).toBe(false)
    })

    it('should not add stream_options to a request that does not stream', () => {
      const { body } = prepared(chat({ model: 'gpt-4o', messages: [user] }), 'gpt-4o', OPENAI)
      expect('stream_options' in body).toBe(false)
    })

    it('should pass an embeddings request through with only the model replaced', () => {
      const body = { model: 'openai/text-embedding-3-small', input: ['a', 'b'], dimensions: 256 }
      expect(prepared(embeddings(body), 'text-embedding-3-small', OPENAI)).toEqual({
        body: { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 256 },
        dropped: [],
      })
    })

    it('should leave messages and tools untouched', () => {
      const messages = [
        { role: 'developer', content: 'be brief', name: 'ops' },
        { role: 'user', content: 'hi', name: 'ann' },
        {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            { id: 'call_abc', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_abc', content: '1' },
      ]
      const tools = [{ type: 'function', function: { name: 'f' } }]
      const { body } = prepared(chat({ model: 'gpt-4o', messages, tools }), 'gpt-4o', OPENAI)
      expect(body.messages).toEqual(messages)
      expect(body.tools).toEqual(tools)
    })

    it("should not modify the client's body", () => {
      const body = {
        model: 'openai/gpt-4o',
        messages: [user],
        stream: true,
        stream_options: { include_obfuscation: false },
      }
      const snapshot = structuredClone(body)
      prepareBody(chat(body), 'gpt-4o', OPENAI)
      prepareBody(chat(body), 'mistral-large-latest', MISTRAL)
      expect(body).toEqual(snapshot)
    })
  })

  describe('for providers that reject stream_options', () => {
    it('should remove stream_options for Groq and keep the other fields', () => {
      const request = chat({
        model: 'groq/llama-3.3-70b-versatile',
        messages: [user],
        stream: true,
        stream_options: { include_usage: true },
        reasoning_format: 'hidden',
      })
      expect(prepared(request, 'llama-3.3-70b-versatile', GROQ)).toEqual({
        body: {
          model: 'llama-3.3-70b-versatile',
          messages: [user],
          stream: true,
          reasoning_format: 'hidden',
        },
        dropped: [],
      })
    })

    it('should not add stream_options for Groq when the client did not send any', () => {
      const request = chat({ model: 'llama-3.3-70b-versatile', messages: [user], stream: true })
      expect('stream_options' in prepared(request, 'llama-3.3-70b-versatile', GROQ).body).toBe(
        false,
      )
    })

    it('should remove stream_options for a custom endpoint without stream options', () => {
      const quirks = customProviderSpec('local', 'http://127.0.0.1:8000/v1', false).quirks
      const request = chat({
        model: 'qwen',
        messages: [user],
        stream: true,
        stream_options: { include_usage: true },
      })
      expect('stream_options' in prepared(request, 'qwen', quirks).body).toBe(false)
    })

    it('should ask a custom endpoint with stream options for usage', () => {
      const quirks = customProviderSpec('local', 'http://127.0.0.1:8000/v1', true).quirks
      const request = chat({ model: 'qwen', messages: [user], stream: true })
      expect(prepared(request, 'qwen', quirks).body.stream_options).toEqual({ include_usage: true })
    })
  })

  describe('for Mistral', () => {
    const model = 'mistral-large-latest'

    it('should rename OpenAI fields to their Mistral names', () => {
      const request = chat({ model, messages: [user], max_completion_tokens: 100, seed: 7 })
      expect(prepared(request, model, MISTRAL)).toEqual({
        body: { model, messages: [user], max_tokens: 100, random_seed: 7 },
        dropped: [],
      })
    })

    it('should keep an explicit max_tokens over max_completion_tokens', () => {
      const request = chat({ model, messages: [user], max_tokens: 50, max_completion_tokens: 100 })
      const { body } = prepared(request, model, MISTRAL)
      expect(body.max_tokens).toBe(50)
      expect('max_completion_tokens' in body).toBe(false)
    })

    it('should drop fields Mistral rejects and report them', () => {
      const request = chat({
        model,
        messages: [user],
        temperature: 0.5,
        user: 'u-1',
        logprobs: true,
        top_logprobs: 2,
        logit_bias: { '50256': -100 },
        store: true,
        parallel_tool_calls: false,
        safe_prompt: true,
      })
      const { body, dropped } = prepared(request, model, MISTRAL)
      expect(body).toEqual({
        model,
        messages: [user],
        temperature: 0.5,
        parallel_tool_calls: false,
        safe_prompt: true,
      })
      expect([...dropped].sort()).toEqual([
        'logit_bias',
        'logprobs',
        'store',
        'top_logprobs',
        'user',
      ])
    })

    it('should remove stream_options from a stream', () => {
      const request = chat({
        model,
        messages: [user],
        stream: true,
        stream_options: { include_usage: true },
      })
      const { body, dropped } = prepared(request, model, MISTRAL)
      expect(body).toEqual({ model, messages: [user], stream: true })
      // Usage arrives on Mistral's final chunk anyway, so nothing the client asked for is lost.
      expect(dropped).toEqual([])
    })

    it("should report a dropped field under the client's name", () => {
      // `dimensions` means nothing for chat; renaming it first must not change what the
      // client is told was dropped.
      const request = chat({ model, messages: [user], dimensions: 256 })
      const { body, dropped } = prepared(request, model, MISTRAL)
      expect(body).toEqual({ model, messages: [user] })
      expect(dropped).toEqual(['dimensions'])
    })

    it('should rename dimensions to output_dimension for embeddings and drop the rest', () => {
      const request = embeddings({
        model: 'mistral-embed',
        input: ['a'],
        dimensions: 512,
        encoding_format: 'float',
        user: 'u-1',
      })
      const { body, dropped } = prepared(request, 'mistral-embed', MISTRAL)
      expect(body).toEqual({
        model: 'mistral-embed',
        input: ['a'],
        output_dimension: 512,
        encoding_format: 'float',
      })
      expect(dropped).toEqual(['user'])
    })

    it('should send the developer role as system', () => {
      const request = chat({ model, messages: [{ role: 'developer', content: 'be brief' }, user] })
      expect(prepared(request, model, MISTRAL).body.messages).toEqual([
        { role: 'system', content: 'be brief' },
        user,
      ])
    })

    it('should strip message keys Mistral rejects', () => {
      const request = chat({
        model,
        messages: [
          { role: 'system', content: 's', name: 'ops' },
          { role: 'developer', content: 'd', name: 'ops' },
          { role: 'user', content: 'hi', name: 'ann' },
          {
            role: 'assistant',
            content: 'hello',
            refusal: null,
            annotations: [],
            name: 'bot',
            audio: null,
          },
          { role: 'assistant', content: 'ok', prefix: true },
        ],
      })
      expect(prepared(request, model, MISTRAL).body.messages).toEqual([
        { role: 'system', content: 's' },
        { role: 'system', content: 'd' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'assistant', content: 'ok', prefix: true },
      ])
    })

    it('should keep user content parts as sent', () => {
      const content = [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      ]
      const request = chat({ model, messages: [{ role: 'user', content }] })
      expect(prepared(request, model, MISTRAL).body.messages).toEqual([{ role: 'user', content }])
    })

    describe('tool calls', () => {
      const history = [
        user,
        {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: 'call_JMW1whyEaYG438VE1OIflxA2',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_DNYTawLBoN8fj3KN6qU9N1Ou',
              type: 'function',
              function: { name: 'get_stock_price', arguments: '{"ticker":"AAPL"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_DNYTawLBoN8fj3KN6qU9N1Ou', content: '200' },
        { role: 'tool', tool_call_id: 'call_JMW1whyEaYG438VE1OIflxA2', content: 'sunny' },
      ]

      type Message = {
        role: string
        tool_call_id?: string
        tool_calls?: { id: string; function: unknown }[]
      }
      const rewritten = (): Message[] =>
        prepared(chat({ model, messages: history }), model, MISTRAL).body.messages as Message[]

      it('should rewrite every tool-call id to 9 alphanumeric characters', () => {
        const messages = rewritten()
        const ids = [
          ...(messages[1]?.tool_calls ?? []).map((call) => call.id),
          messages[2]?.tool_call_id,
          messages[3]?.tool_call_id,
        ]
        expect(ids).toHaveLength(4)
        for (const id of ids) expect(id).toMatch(ALNUM9)
      })

      it('should map each call id and its tool message to the same new id', () => {
        const messages = rewritten()
        const [weather, stock] = messages[1]?.tool_calls ?? []
        expect(weather?.id).toBe(alnum9('call_JMW1whyEaYG438VE1OIflxA2'))
        expect(stock?.id).toBe(alnum9('call_DNYTawLBoN8fj3KN6qU9N1Ou'))
        expect(messages[2]?.tool_call_id).toBe(stock?.id)
        expect(messages[3]?.tool_call_id).toBe(weather?.id)
        expect(weather?.id).not.toBe(stock?.id)
      })

      it('should keep the rest of each tool call and strip assistant-only keys', () => {
        const assistant = rewritten()[1]
        expect(assistant).toEqual({
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: expect.stringMatching(ALNUM9) as unknown,
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: expect.stringMatching(ALNUM9) as unknown,
              type: 'function',
              function: { name: 'get_stock_price', arguments: '{"ticker":"AAPL"}' },
            },
          ],
        })
      })

      it('should keep ids that already conform and the tool name on tool messages', () => {
        const request = chat({
          model,
          messages: [
            user,
            {
              role: 'assistant',
              content: '',
              tool_calls: [
                { id: 'D681PevKs', type: 'function', function: { name: 'f', arguments: '{}' } },
              ],
            },
            { role: 'tool', tool_call_id: 'D681PevKs', name: 'f', content: 'x' },
          ],
        })
        expect(prepared(request, model, MISTRAL).body.messages).toEqual([
          user,
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              { id: 'D681PevKs', type: 'function', function: { name: 'f', arguments: '{}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'D681PevKs', name: 'f', content: 'x' },
        ])
      })
    })

    it('should add parameters to function tools that lack them', () => {
      const withParams = {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      }
      const request = chat({
        model,
        messages: [user],
        tools: [{ type: 'function', function: { name: 'now', description: 'time' } }, withParams],
      })
      expect(prepared(request, model, MISTRAL).body.tools).toEqual([
        {
          type: 'function',
          function: {
            name: 'now',
            description: 'time',
            parameters: { type: 'object', properties: {} },
          },
        },
        withParams,
      ])
    })
  })
})

describe('alnum9', () => {
  const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const openAIStyleIds = (count: number, seed: number): string[] => {
    const next = seededRandom(seed)
    const ids = new Set<string>()
    while (ids.size < count) {
      let id = 'call_'
      for (let i = 0; i < 24; i++) id += CHARS[Math.floor(next() * CHARS.length)] ?? 'A'
      ids.add(id)
    }
    return [...ids]
  }

  const expectInjective = (ids: readonly string[]): void => {
    const mapped = new Map<string, string>()
    const collisions: string[] = []
    for (const id of ids) {
      const out = alnum9(id)
      expect(out).toMatch(ALNUM9)
      const previous = mapped.get(out)
      if (previous !== undefined) collisions.push(`${previous} and ${id} -> ${out}`)
      mapped.set(out, id)
    }
    expect(collisions).toEqual([])
  }

  it('should keep ids that are already 9 alphanumeric characters', () => {
    for (const id of ['D681PevKs', 'abcdefghi', '123456789', 'ZZZZZZZZZ'])
      expect(alnum9(id)).toBe(id)
  })

  it.each(['call_1234', 'abcdefgh', 'abcdefghij', 'call_4XzlGBLtUe9dy3GVNV4jhq7h', '', 'tool-1'])(
    'should rewrite the non-conforming id %j',
    (id) => {
      const out = alnum9(id)
      expect(out).toMatch(ALNUM9)
      expect(out).not.toBe(id)
    },
  )

  it('should be deterministic', () => {
    const ids = openAIStyleIds(100, 3)
    expect(ids.map(alnum9)).toEqual(ids.map(alnum9))
  })

  it('should map 10,000 distinct OpenAI-style ids to distinct ids', () => {
    expectInjective(openAIStyleIds(10_000, 42))
  })

  it('should map 10,000 sequential ids to distinct ids', () => {
    expectInjective(Array.from({ length: 10_000 }, (_, i) => `call_${i}`))
  })

  it('should map ids differing in one character to distinct ids', () => {
    const base = 'call_4XzlGBLtUe9dy3GVNV4jhq7h'
    const variants = Array.from(CHARS, (c) => `${base.slice(0, -1)}${c}`)
    expectInjective(variants)
  })
})
