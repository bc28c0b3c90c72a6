/**
 * Chat completions through the OpenAI-compatible family, against the fake providers (which check
 * every request against the provider's published schema and replay recorded streams).
 */
import { describe, expect, it } from 'vitest'
import {
  authHeaders,
  chat,
  chunksOf,
  gatewayFetch,
  parseSse,
  post,
  received,
  uniqueTag,
  usageChunks,
  withBindings,
} from './helpers'

const streamed = async (res: Response) => {
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
  return parseSse(await res.text())
}

describe('non-streamed chat', () => {
  it('should pass the body through unchanged except the model, unknown fields included', async () => {
    const tag = uniqueTag()
    const body = chat('openai/gpt-4o-mini', {
      temperature: 0.3,
      metadata: { team: 'search' },
      prompt_cache_key: 'k1',
      verbosity: 'low',
    })
    const res = await post('/v1/chat/completions', body, { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    const json = await res.json<{ object: string; usage: { total_tokens: number } }>()
    expect(json.object).toBe('chat.completion')
    expect(json.usage.total_tokens).toBeGreaterThan(0)
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect(seen?.body).toEqual({ ...body, model: 'gpt-4o-mini' })
  })

  it('should answer with the provider headers and the request id', async () => {
    const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini'), {
      'x-request-id': 'req-chat-1',
    })
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(res.headers.get('floopy-model')).toBe('gpt-4o-mini')
    expect(res.headers.get('x-request-id')).toBe('req-chat-1')
    expect(res.headers.get('floopy-upstream-request-id')).toBeTruthy()
  })
})

describe('streamed chat', () => {
  it('should ask the provider for usage but hide the usage chunk when the client did not, with FLOOPY_STREAM_USAGE=always', async () => {
    const tag = uniqueTag()
    const events = await streamed(
      await withBindings(
        { FLOOPY_STREAM_USAGE: 'always' },
        new Request('http://gateway/v1/chat/completions', {
          method: 'POST',
          headers: authHeaders({ 'x-fake-tag': tag }),
          body: JSON.stringify(chat('openai/gpt-4o-mini', { stream: true })),
        }),
      ),
    )
    const [seen] = await received(tag)
    expect((seen?.body as { stream_options: unknown }).stream_options).toEqual({
      include_usage: true,
    })
    expect(usageChunks(chunksOf(events))).toHaveLength(0)
    expect(events.at(-1)?.data).toBe('[DONE]')
    expect(chunksOf(events).every((c) => Array.isArray(c.choices) && c.choices.length > 0)).toBe(
      true,
    )
  })

  it.each([
    ['by default', undefined],
    ['with FLOOPY_STREAM_USAGE=asked', 'asked'],
  ])('should send the stream as the client asked for it %s', async (_, setting) => {
    const tag = uniqueTag()
    const res = await withBindings(
      { FLOOPY_STREAM_USAGE: setting },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'x-fake-tag': tag }),
        body: JSON.stringify(chat('openai/gpt-4o-mini', { stream: true })),
      }),
    )
    const events = await streamed(res)
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect(seen?.body).not.toHaveProperty('stream_options')
    expect(usageChunks(chunksOf(events))).toHaveLength(0)
    expect(events.at(-1)?.data).toBe('[DONE]')
  })

  it('should show exactly one trailing usage chunk when the client asked', async () => {
    const events = await streamed(
      await post(
        '/v1/chat/completions',
        chat('openai/gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }),
      ),
    )
    const chunks = chunksOf(events)
    const usage = usageChunks(chunks)
    expect(usage).toHaveLength(1)
    expect(usage[0]?.choices).toEqual([])
    expect(chunks.at(-1)).toBe(usage[0])
    expect(events.at(-1)?.data).toBe('[DONE]')
  })

  it('should give streams relayed at the same time each their own bytes', async () => {
    // Read buffers go from one answer to the next (providers/buffers.ts): answers in flight
    // together, each long enough to be handed off, must still each read exactly their own.
    const fixtures = [
      'stream_text_with_usage',
      'stream_parallel_tool_calls_with_usage',
      'stream_single_tool_call_with_usage',
    ]
    const ask = async (fixture: string): Promise<string> => {
      const res = await post(
        '/v1/chat/completions',
        chat('openai/gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }),
        { 'x-fake-fixture': fixture },
      )
      expect(res.status).toBe(200)
      // The fake provider gives every answer, and every tool call, an id and a time of its own.
      return (await res.text())
        .replace(/"id":"chatcmpl-[A-Za-z0-9]+"/g, '"id":"chatcmpl-x"')
        .replace(/"id":"call_[A-Za-z0-9]+"/g, '"id":"call_x"')
        .replace(/"created":\d+/g, '"created":0')
    }
    const alone: string[] = []
    for (const fixture of fixtures) alone.push(await ask(fixture))
    expect(new Set(alone).size).toBe(fixtures.length)
    for (const text of alone) expect(parseSse(text).at(-1)?.data).toBe('[DONE]')
    const together = await Promise.all([...fixtures, ...fixtures, ...fixtures].map(ask))
    expect(together).toEqual([...alone, ...alone, ...alone])
  })

  it('should forward events as they arrive, not after the upstream finished', async () => {
    const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini', { stream: true }), {
      'x-fake-chunk-delay-ms': '150',
      'x-fake-fixture': 'stream_max_tokens_length',
    })
    const reader = res.body?.getReader()
    if (!reader) throw new Error('no body')
    const decoder = new TextDecoder()
    const first: ReadableStreamReadResult<Uint8Array> = await reader.read()
    const firstText = decoder.decode(first.value)
    expect(firstText).toContain('chat.completion.chunk')
    let rest = ''
    for (;;) {
      const read: ReadableStreamReadResult<Uint8Array> = await reader.read()
      if (read.done) break
      rest += decoder.decode(read.value, { stream: true })
    }
    // The recorded stream has more events, each 150 ms after the one before upstream: had the
    // gateway buffered, the first bytes would only have come with the last ones. (No clock is
    // read: what arrived first, and what after, says it.)
    expect(firstText).not.toContain('[DONE]')
    expect(firstText).not.toContain('"finish_reason":"length"')
    expect(rest).toContain('"finish_reason":"length"')
    expect(rest).toContain('data: [DONE]')
  })

  it('should replay tool-call deltas unchanged', async () => {
    const events = await streamed(
      await post(
        '/v1/chat/completions',
        chat('openai/gpt-4o-mini', {
          stream: true,
          tools: [
            {
              type: 'function',
              function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
            },
          ],
        }),
        { 'x-fake-fixture': 'stream_parallel_tool_calls' },
      ),
    )
    const calls = chunksOf(events).flatMap((c) =>
      (c.choices as { delta: { tool_calls?: { index: number; id?: string }[] } }[]).flatMap(
        (choice) => choice.delta.tool_calls ?? [],
      ),
    )
    expect(new Set(calls.map((call) => call.index))).toEqual(new Set([0, 1]))
    expect(calls.filter((call) => call.id !== undefined)).toHaveLength(2)
  })

  it('should end a stream cut mid-way with an error event and no [DONE]', async () => {
    const events = await streamed(
      await post('/v1/chat/completions', chat('openai/gpt-4o-mini', { stream: true }), {
        'x-fake-cut-after': '3',
      }),
    )
    expect(events.some((e) => e.data === '[DONE]')).toBe(false)
    const last = events.at(-1)
    expect(last?.event).toBe('error')
    const error = JSON.parse(last?.data ?? '{}') as { error: { code: string; type: string } }
    expect(error.error).toMatchObject({ code: 'STREAM_INTERRUPTED', type: 'api_error' })
    expect(chunksOf(events)).toHaveLength(3)
  })

  it('should relay an in-stream provider error as an error event and stop', async () => {
    const events = await streamed(
      await post('/v1/chat/completions', chat('openai/gpt-4o-mini', { stream: true }), {
        'x-fake-error-event': '1',
      }),
    )
    expect(events.some((e) => e.data === '[DONE]')).toBe(false)
    expect(events.at(-1)?.event).toBe('error')
    const error = JSON.parse(events.at(-1)?.data ?? '{}') as { error: { code: string } }
    expect(error.error.code).toBe('PROVIDER_ERROR')
  })
})

describe('provider errors before the first byte', () => {
  it.each([
    [400, 400, 'invalid_request_error'],
    [401, 401, 'authentication_error'],
    [403, 403, 'permission_error'],
    [404, 404, 'not_found_error'],
    [500, 502, 'api_error'],
    [502, 502, 'api_error'],
    [503, 503, 'api_error'],
  ])('should map upstream %i to %i (%s)', async (upstream, status, type) => {
    for (const stream of [false, true]) {
      const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini', { stream }), {
        'x-fake-status': String(upstream),
      })
      expect(res.status).toBe(status)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const body = await res.json<{ error: { code: string; type: string; message: string } }>()
      expect(body.error).toMatchObject({ code: 'PROVIDER_ERROR', type })
      expect(body.error.message).toMatch(/^openai: /)
      expect(JSON.stringify(body)).not.toContain('sk-test-openai-upstream-secret')
    }
  })

  it('should keep Retry-After on a provider 429', async () => {
    const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini'), {
      'x-fake-status': '429',
      'x-fake-retry-after': '7',
    })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('7')
    const body = await res.json<{ error: { type: string } }>()
    expect(body.error.type).toBe('rate_limit_error')
  })

  it('should not follow a provider redirect', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini'), {
      'x-fake-tag': tag,
      'x-fake-redirect': 'http://127.0.0.1:9/steal',
    })
    expect(res.status).toBe(502)
    expect((await res.json<{ error: { message: string } }>()).error.message).toContain('redirect')
    expect(await received(tag)).toHaveLength(1)
  })

  it('should answer 504 when the provider sends no headers in time', async () => {
    const res = await withBindings(
      { FLOOPY_UPSTREAM_TIMEOUT_MS: '200' },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'x-fake-latency-ms': '2000' }),
        body: JSON.stringify(chat('openai/gpt-4o-mini')),
      }),
    )
    expect(res.status).toBe(504)
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe('PROVIDER_TIMEOUT')
  })

  it('should answer 502 when the provider cannot be reached', async () => {
    const res = await withBindings(
      { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify(chat('openai/gpt-4o-mini')),
      }),
    )
    expect(res.status).toBe(502)
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe('PROVIDER_ERROR')
  })
})

describe('egress', () => {
  it('should send the provider key, never the client key, and strip sensitive headers', async () => {
    const tag = uniqueTag()
    await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders({
        'x-fake-tag': tag,
        cookie: 'session=secret',
        'x-forwarded-for': '203.0.113.9',
        'proxy-authorization': 'Basic abc',
        'x-api-key': 'client-supplied',
        'floopy-cache-enabled': 'true',
        'openai-organization': 'org-123',
        'x-custom-trace': 'trace-1',
      }),
      body: JSON.stringify(chat('openai/gpt-4o-mini')),
    })
    const [seen] = await received(tag)
    const headers = seen?.headers ?? {}
    expect(headers.authorization).toBe('Bearer sk-test-openai-upstream-secret')
    for (const name of [
      'cookie',
      'x-forwarded-for',
      'proxy-authorization',
      'x-api-key',
      'floopy-cache-enabled',
    ]) {
      expect(headers[name]).toBeUndefined()
    }
    expect(headers['openai-organization']).toBe('org-123')
    expect(headers['x-custom-trace']).toBe('trace-1')
  })

  it('should ignore every request header that could name another destination', async () => {
    const tag = uniqueTag()
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders({
        'x-fake-tag': tag,
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        forwarded: 'host=evil.example',
        'x-original-url': 'http://evil.example/',
        'x-rewrite-url': 'http://evil.example/',
        'floopy-base-url': 'http://evil.example/',
        'x-host': 'evil.example',
      }),
      body: JSON.stringify(chat('openai/gpt-4o-mini')),
    })
    expect(res.status).toBe(200)
    const seen = await received(tag)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.provider).toBe('openai')
    expect(seen[0]?.headers.host).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('should refuse a registry provider whose configured origin is private unless operator-set', async () => {
    // Operator-configured private endpoints are allowed (the whole suite runs on 127.0.0.1); a
    // cloud metadata address never is.
    const res = await withBindings(
      { OPENAI_BASE_URL: 'http://169.254.169.254/v1' },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify(chat('openai/gpt-4o-mini')),
      }),
    )
    expect(res.status).toBe(502)
    const body = await res.json<{ error: { code: string; message: string } }>()
    expect(body.error.code).toBe('DESTINATION_REFUSED')
    expect(body.error.message).not.toContain('169.254')
  })
})

describe('provider connection lost while a non-streamed answer is read', () => {
  it.each(['openai/gpt-4o-mini', 'mistral/mistral-small-latest'])(
    'should answer 502 PROVIDER_ERROR, never a truncated 200 (%s)',
    async (model) => {
      const res = await post('/v1/chat/completions', chat(model), { 'x-fake-cut-after': '40' })
      expect(res.status).toBe(502)
      const body = await res.json<{ error: { code: string; message: string } }>()
      expect(body.error.code).toBe('PROVIDER_ERROR')
      expect(body.error.message).toContain('broke')
    },
  )
})
