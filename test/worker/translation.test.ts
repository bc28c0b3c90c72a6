/**
 * Anthropic and Gemini through the gateway: provider errors, broken and failing streams, request
 * headers, and the parameters each refuses or drops — against fakes that check every request
 * against the provider's own rules.
 */
import { describe, expect, it } from 'vitest'
import { chat, chunksOf, parseSse, post, received, uniqueTag } from './helpers'

type ErrorBody = { error: { code: string; type: string; message: string; param: string | null } }

const ANTHROPIC = 'anthropic/claude-sonnet-4-5'
const GEMINI = 'gemini/gemini-2.5-flash'

describe.each([
  [ANTHROPIC, 'sk-ant-test-anthropic-upstream-secret'],
  [GEMINI, 'test-gemini-upstream-secret'],
])('provider errors before the first byte (%s)', (model, providerKey) => {
  it.each([
    [400, 400, 'invalid_request_error'],
    [401, 401, 'authentication_error'],
    [403, 403, 'permission_error'],
    [429, 429, 'rate_limit_error'],
    [500, 502, 'api_error'],
    [503, 503, 'api_error'],
  ])('should map upstream %i to %i (%s), streamed or not', async (upstream, status, type) => {
    for (const stream of [false, true]) {
      const res = await post('/v1/chat/completions', chat(model, { stream }), {
        'x-fake-status': String(upstream),
        'x-fake-retry-after': '3',
      })
      expect(res.status).toBe(status)
      const body = await res.json<ErrorBody>()
      expect(body.error).toMatchObject({ code: 'PROVIDER_ERROR', type })
      expect(JSON.stringify(body)).not.toContain(providerKey)
      if (status === 429) expect(res.headers.get('retry-after')).toBe('3')
    }
  })

  it('should end a stream cut mid-way with an error event and no [DONE]', async () => {
    const res = await post('/v1/chat/completions', chat(model, { stream: true }), {
      'x-fake-cut-after': '2',
    })
    const events = parseSse(await res.text())
    expect(events.some((e) => e.data === '[DONE]')).toBe(false)
    expect(events.at(-1)?.event).toBe('error')
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({
      error: { code: 'STREAM_INTERRUPTED' },
    })
  })

  it("should relay the provider's in-stream error as an error event and stop", async () => {
    const res = await post('/v1/chat/completions', chat(model, { stream: true }), {
      'x-fake-error-event': '1',
    })
    const events = parseSse(await res.text())
    expect(events.some((e) => e.data === '[DONE]')).toBe(false)
    expect(events.at(-1)?.event).toBe('error')
    const error = JSON.parse(events.at(-1)?.data ?? '{}') as ErrorBody
    expect(error.error.code).toBe('PROVIDER_ERROR')
    expect(error.error.message).not.toContain(providerKey)
  })
})

describe('anthropic specifics', () => {
  it('should send the provider key as x-api-key with anthropic-version, never the client key', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat(ANTHROPIC), { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    const [seen] = await received(tag)
    expect(seen?.path).toBe('/anthropic/v1/messages')
    expect(seen?.headers['x-api-key']).toBe('sk-ant-test-anthropic-upstream-secret')
    expect(seen?.headers['anthropic-version']).toBe('2023-06-01')
    expect(seen?.headers.authorization).toBeUndefined()
    expect(seen?.violations).toEqual([])
  })

  it('should map 529 overloaded to 503', async () => {
    const res = await post('/v1/chat/completions', chat(ANTHROPIC), { 'x-fake-status': '529' })
    expect(res.status).toBe(503)
  })

  it('should refuse n > 1 with a 400 naming n, before calling Anthropic', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat(ANTHROPIC, { n: 2 }), { 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    expect((await res.json<ErrorBody>()).error.param).toBe('n')
    expect(await received(tag)).toHaveLength(0)
  })

  it('should drop what Anthropic cannot take and say so', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat(ANTHROPIC, { presence_penalty: 0.5, seed: 7 }),
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-dropped-params')?.split(', ').sort()).toEqual([
      'presence_penalty',
      'seed',
    ])
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
  })

  it('should refuse embeddings with a clear 400', async () => {
    const res = await post('/v1/embeddings', { model: ANTHROPIC, input: 'x' })
    expect(res.status).toBe(400)
    expect((await res.json<ErrorBody>()).error.code).toBe('UNSUPPORTED_BY_PROVIDER')
  })
})

describe('gemini specifics', () => {
  it('should put the model in the path and the key in x-goog-api-key', async () => {
    const tag = uniqueTag()
    await post('/v1/chat/completions', chat(GEMINI, { stream: true }), { 'x-fake-tag': tag })
    const [seen] = await received(tag)
    expect(seen?.path).toBe('/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse')
    expect(seen?.headers['x-goog-api-key']).toBe('test-gemini-upstream-secret')
    expect(seen?.headers.authorization).toBeUndefined()
    expect(seen?.violations).toEqual([])
  })

  it.each([
    'gemini/../../v1beta/models/x',
    'gemini/x:generateContent',
    'gemini/a%2Fb',
    'gemini/a?b',
  ])(
    'should refuse a model name that could reshape the URL (%s) without calling Gemini',
    async (model) => {
      const tag = uniqueTag()
      const res = await post('/v1/chat/completions', chat(model), { 'x-fake-tag': tag })
      expect(res.status).toBe(400)
      expect((await res.json<ErrorBody>()).error.param).toBe('model')
      expect(await received(tag)).toHaveLength(0)
    },
  )

  it('should answer a safety-blocked stream with finish_reason content_filter', async () => {
    const res = await post('/v1/chat/completions', chat(GEMINI, { stream: true }), {
      'x-fake-fixture': 'safety-blocked',
    })
    const events = parseSse(await res.text())
    const finishes = chunksOf(events).flatMap((c) =>
      (c.choices as { finish_reason: string | null }[]).map((choice) => choice.finish_reason),
    )
    expect(finishes).toContain('content_filter')
    expect(events.at(-1)?.data).toBe('[DONE]')
  })

  it('should embed with outputDimensionality from dimensions', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/embeddings',
      { model: 'gemini/text-embedding-004', input: ['a', 'b', 'c'], dimensions: 8 },
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    const body = await res.json<{ data: { embedding: number[] }[] }>()
    expect(body.data.map((d) => d.embedding.length)).toEqual([8, 8, 8])
    const [seen] = await received(tag)
    expect(seen?.path).toBe('/gemini/v1beta/models/text-embedding-004:batchEmbedContents')
    expect(seen?.violations).toEqual([])
  })
})
