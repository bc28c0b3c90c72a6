/**
 * The OpenAI-compatible family's quirks (specs/providers/NOTES.md), checked against fakes that
 * validate what they receive against each provider's published schema.
 */
import { describe, expect, it } from 'vitest'
import { chat, chunksOf, parseSse, post, received, uniqueTag, usageChunks } from './helpers'

describe('groq', () => {
  it('should never send stream_options, and emulate the usage chunk from x_groq', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat('groq/llama-3.3-70b-versatile', {
        stream: true,
        stream_options: { include_usage: true },
      }),
      { 'x-fake-tag': tag },
    )
    const events = parseSse(await res.text())
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect(seen?.body).not.toHaveProperty('stream_options')
    const chunks = chunksOf(events)
    const usage = usageChunks(chunks)
    expect(usage).toHaveLength(1)
    expect(usage[0]?.choices).toEqual([])
    expect(usage[0]?.usage).toMatchObject({ prompt_tokens: expect.any(Number) as number })
    expect(chunks.at(-1)).toBe(usage[0])
    expect(events.at(-1)?.data).toBe('[DONE]')
  })

  it('should show no usage chunk when the client did not ask', async () => {
    const res = await post(
      '/v1/chat/completions',
      chat('groq/llama-3.3-70b-versatile', { stream: true }),
    )
    expect(usageChunks(chunksOf(parseSse(await res.text())))).toHaveLength(0)
  })

  it('should refuse embeddings with a clear 400', async () => {
    const res = await post('/v1/embeddings', { model: 'groq/llama-3.3-70b-versatile', input: 'x' })
    expect(res.status).toBe(400)
    const body = await res.json<{ error: { code: string; message: string } }>()
    expect(body.error.code).toBe('UNSUPPORTED_BY_PROVIDER')
    expect(body.error.message).toContain('groq')
  })
})

describe('mistral', () => {
  const history = [
    { role: 'developer', content: 'Answer briefly.' },
    { role: 'user', content: 'Weather in Paris?', name: 'alice' },
    {
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        {
          id: 'call_4XzlGBLtUe9dy3GVNV4jhq7h',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ],
    },
    { role: 'tool', tool_call_id: 'call_4XzlGBLtUe9dy3GVNV4jhq7h', content: '{"temp":21}' },
  ]

  it('should make an OpenAI-SDK-shaped request valid under Mistral strict schema', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      {
        model: 'mistral/mistral-small-latest',
        messages: history,
        max_completion_tokens: 50,
        seed: 7,
        user: 'u-1',
        logprobs: false,
        store: false,
        tools: [{ type: 'function', function: { name: 'get_weather' } }],
      },
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-dropped-params')?.split(', ').sort()).toEqual([
      'logprobs',
      'store',
      'user',
    ])
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    const body = seen?.body as {
      max_tokens: number
      random_seed: number
      messages: Record<string, unknown>[]
      tools: { function: { parameters: unknown } }[]
    }
    expect(body.max_tokens).toBe(50)
    expect(body.random_seed).toBe(7)
    expect(body.messages[0]).toEqual({ role: 'system', content: 'Answer briefly.' })
    expect(body.messages[1]).toEqual({ role: 'user', content: 'Weather in Paris?' })
    const callId = (body.messages[2]?.tool_calls as { id: string }[])[0]?.id
    expect(callId).toMatch(/^[A-Za-z0-9]{9}$/)
    expect(body.messages[3]?.tool_call_id).toBe(callId)
    expect(body.tools[0]?.function.parameters).toEqual({ type: 'object', properties: {} })
  })

  it('should move usage off the final content chunk into a trailing usage chunk', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat('mistral/mistral-small-latest', {
        stream: true,
        stream_options: { include_usage: true },
      }),
      { 'x-fake-tag': tag },
    )
    const chunks = chunksOf(parseSse(await res.text()))
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    const usage = usageChunks(chunks)
    expect(usage).toHaveLength(1)
    expect(usage[0]?.choices).toEqual([])
    expect(chunks.filter((c) => (c.choices as unknown[]).length > 0 && 'usage' in c)).toEqual([])
  })

  it('should translate a Mistral 422 into a 400 with its message', async () => {
    const res = await post('/v1/chat/completions', chat('mistral/mistral-small-latest'), {
      'x-fake-status': '422',
    })
    expect(res.status).toBe(400)
    const body = await res.json<{ error: { type: string; message: string } }>()
    expect(body.error.type).toBe('invalid_request_error')
    expect(body.error.message).toMatch(/^mistral: .+/)
  })
})

describe('deepseek', () => {
  it('should pass reasoning_content through and tolerate keep-alive comments', async () => {
    const res = await post(
      '/v1/chat/completions',
      chat('deepseek/deepseek-reasoner', { stream: true, stream_options: { include_usage: true } }),
    )
    const text = await res.text()
    expect(text).toContain(': keep-alive')
    const chunks = chunksOf(parseSse(text))
    const reasoning = chunks.flatMap((c) =>
      (c.choices as { delta: { reasoning_content?: string } }[]).flatMap(
        (choice) => choice.delta.reasoning_content ?? [],
      ),
    )
    expect(reasoning.join('').length).toBeGreaterThan(0)
    expect(usageChunks(chunks)).toHaveLength(1)
  })

  it('should send reasoning_content back on assistant turns with tool calls, as DeepSeek requires', async () => {
    const tag = uniqueTag()
    const assistant = {
      role: 'assistant',
      content: null,
      reasoning_content: 'The user wants the weather; call the tool.',
      tool_calls: [
        {
          id: 'call_00_abc',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ],
    }
    const res = await post(
      '/v1/chat/completions',
      {
        model: 'deepseek/deepseek-chat',
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          assistant,
          { role: 'tool', tool_call_id: 'call_00_abc', content: '{"temp":21}' },
        ],
      },
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect((seen?.body as { messages: unknown[] }).messages[1]).toEqual(assistant)
  })

  it('should keep reasoning_content on non-streamed answers', async () => {
    const res = await post('/v1/chat/completions', chat('deepseek/deepseek-reasoner'))
    const body = await res.json<{ choices: { message: { reasoning_content?: string } }[] }>()
    expect(body.choices[0]?.message.reasoning_content).toBeTruthy()
  })
})

describe('together and custom endpoints', () => {
  it('should reach Together with its model naming', async () => {
    const res = await post(
      '/v1/chat/completions',
      chat('meta-llama/Llama-3.3-70B-Instruct-Turbo', { stream: true }),
    )
    expect(res.headers.get('floopy-provider')).toBe('together')
    expect(parseSse(await res.text()).at(-1)?.data).toBe('[DONE]')
  })

  it('should reach an operator-configured endpoint on a private address', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat('local/llama3.2'), { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    const [seen] = await received(tag)
    expect(seen?.headers.authorization).toBe('Bearer test-local-upstream-secret')
  })
})
