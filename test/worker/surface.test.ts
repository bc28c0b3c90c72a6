/**
 * The gateway's own surface: routes, the error envelope, request ids, auth, body limits, config.
 */
import { describe, expect, it } from 'vitest'
import { authHeaders, chat, gatewayFetch, post, received, uniqueTag, withBindings } from './helpers'

type ErrorBody = {
  error: { message: string; type: string; code: string; param: string | null }
  request_id: string
}

const expectError = async (res: Response, status: number, code: string): Promise<ErrorBody> => {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = await res.json<ErrorBody>()
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  return body
}

describe('routes', () => {
  it('should answer /healthz without a key', async () => {
    const res = await gatewayFetch('http://gateway/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('should answer an OpenAI-shaped 404 for unknown paths', async () => {
    const res = await gatewayFetch('http://gateway/v1/completions-that-do-not-exist', {
      headers: authHeaders(),
    })
    const body = await expectError(res, 404, 'NOT_FOUND')
    expect(body.error.type).toBe('not_found_error')
    expect(body.error.message).toContain('/v1/completions-that-do-not-exist')
  })

  it('should answer 404 outside /v1 too', async () => {
    await expectError(await gatewayFetch('http://gateway/'), 404, 'NOT_FOUND')
  })

  it('should answer 405 for the wrong method on a known endpoint', async () => {
    const res = await gatewayFetch('http://gateway/v1/chat/completions', { headers: authHeaders() })
    await expectError(res, 405, 'METHOD_NOT_ALLOWED')
    expect(res.headers.get('allow')).toBe('POST')
  })
})

describe('request ids', () => {
  it('should keep a plain client request id', async () => {
    const res = await gatewayFetch('http://gateway/healthz', {
      headers: { 'x-request-id': 'abc-123' },
    })
    expect(res.headers.get('x-request-id')).toBe('abc-123')
  })

  it('should replace a request id with unsafe characters', async () => {
    const res = await gatewayFetch('http://gateway/healthz', {
      headers: { 'x-request-id': 'a b<script>' },
    })
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('authentication', () => {
  it('should refuse a request without a key', async () => {
    const res = await gatewayFetch('http://gateway/v1/models')
    const body = await expectError(res, 401, 'INVALID_API_KEY')
    expect(body.error.type).toBe('authentication_error')
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('should refuse a wrong key without reaching a provider', async () => {
    const tag = uniqueTag()
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: 'Bearer flo_sk_test_wrong', 'x-fake-tag': tag },
      body: JSON.stringify(chat('openai/gpt-4o-mini')),
    })
    await expectError(res, 401, 'INVALID_API_KEY')
    expect(await received(tag)).toHaveLength(0)
  })

  it('should refuse a non-Bearer scheme', async () => {
    const res = await gatewayFetch('http://gateway/v1/models', {
      headers: { authorization: 'Basic Zm9vOmJhcg==' },
    })
    await expectError(res, 401, 'INVALID_API_KEY')
  })
})

describe('request bodies', () => {
  it('should answer 413 JSON for a body over 10 MiB (declared length)', async () => {
    const tag = uniqueTag()
    const big = 'x'.repeat(10 * 1024 * 1024 + 1)
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders({ 'x-fake-tag': tag }),
      body: big,
    })
    const body = await expectError(res, 413, 'PAYLOAD_TOO_LARGE')
    expect(body.error.type).toBe('invalid_request_error')
    expect(await received(tag)).toHaveLength(0)
  })

  it('should answer 413 for an oversized chunked body (no content-length)', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(1024 * 1024))
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 11) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders(),
      body: stream,
    })
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE')
  })

  it('should accept a body just under the limit', async () => {
    const filler = 'y'.repeat(10 * 1024 * 1024 - 500)
    const res = await post('/v1/chat/completions', chat('openai/gpt-4o-mini', { user: filler }))
    expect(res.status).toBe(200)
  })

  it('should answer 400 INVALID_JSON for malformed JSON', async () => {
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders(),
      body: '{"model": "gpt-4o", ',
    })
    await expectError(res, 400, 'INVALID_JSON')
  })

  it('should answer 415 for a non-JSON content type', async () => {
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: { ...authHeaders(), 'content-type': 'text/plain' },
      body: '{}',
    })
    await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
  })

  it.each([
    [{ messages: [{ role: 'user', content: 'hi' }] }, 'model'],
    [{ model: 'gpt-4o', messages: [] }, 'messages'],
    [{ model: 'gpt-4o' }, 'messages'],
    [{ model: 42, messages: [{ role: 'user', content: 'hi' }] }, 'model'],
    [{ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }, 'stream'],
  ])('should answer 400 naming the bad field for %j', async (body, param) => {
    const res = await post('/v1/chat/completions', body)
    const error = await expectError(res, 400, 'INVALID_REQUEST')
    expect(error.error.param).toBe(param)
  })

  it.each([
    ['"frequency_penalty": -1e309', 'frequency_penalty'],
    ['"temperature": 1e309', 'temperature'],
    ['"logit_bias": {"50256": 1e400}', 'logit_bias.50256'],
    [`"max_tokens": 1${'0'.repeat(310)}`, 'max_tokens'],
  ])(
    'should refuse a number that does not fit a double (%s) before any provider is called',
    async (field, param) => {
      const tag = uniqueTag()
      const res = await gatewayFetch('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'x-fake-tag': tag }),
        body: `{"model": "openai/gpt-4o-mini", ${field}, "messages": [{"role": "user", "content": "hi"}]}`,
      })
      const error = await expectError(res, 400, 'INVALID_REQUEST')
      expect(error.error.param).toBe(param)
      expect(error.error.message).toContain(param)
      expect(await received(tag)).toHaveLength(0)
    },
  )

  it('should pass large finite numbers and number-like text through untouched', async () => {
    const tag = uniqueTag()
    const res = await gatewayFetch('http://gateway/v1/chat/completions', {
      method: 'POST',
      headers: authHeaders({ 'x-fake-tag': tag }),
      body: '{"model": "openai/gpt-4o-mini", "temperature": 1e-300, "presence_penalty": -1e-300, "messages": [{"role": "user", "content": "1e309 is not a number here"}]}',
    })
    expect(res.status).toBe(200)
    const [sent] = await received(tag)
    expect(sent?.body).toMatchObject({ temperature: 1e-300, presence_penalty: -1e-300 })
  })
})

describe('model addressing', () => {
  it('should answer 400 with the provider list for an unresolvable model', async () => {
    const res = await post('/v1/chat/completions', chat('no-such-model'))
    const body = await expectError(res, 400, 'UNKNOWN_MODEL')
    expect(body.error.param).toBe('model')
    expect(body.error.message).toContain("'provider/model'")
    expect(body.error.message).toContain('groq')
  })

  it('should resolve bare names by family and send the name unchanged', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat('gpt-4o-mini'), { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(res.headers.get('floopy-model')).toBe('gpt-4o-mini')
    const [seen] = await received(tag)
    expect(seen?.provider).toBe('openai')
    expect((seen?.body as { model: string }).model).toBe('gpt-4o-mini')
  })

  it('should send everything after the provider prefix unchanged, slashes included', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat('together/meta-llama/Llama-3.3-70B-Instruct-Turbo'),
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    const [seen] = await received(tag)
    expect(seen?.provider).toBe('together')
    expect((seen?.body as { model: string }).model).toBe('meta-llama/Llama-3.3-70B-Instruct-Turbo')
  })

  it('should name the missing key when the resolved provider is not configured', async () => {
    const res = await withBindings(
      { ANTHROPIC_API_KEY: undefined, ANTHROPIC_BASE_URL: undefined },
      new Request('http://gateway/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify(chat('claude-sonnet-4-5')),
      }),
    )
    const body = await expectError(res, 400, 'PROVIDER_NOT_CONFIGURED')
    expect(body.error.message).toContain('ANTHROPIC_API_KEY')
  })

  it('should route bare names declared by a custom endpoint to it', async () => {
    const tag = uniqueTag()
    const res = await post('/v1/chat/completions', chat('local/llama3.2'), { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    const [seen] = await received(tag)
    expect(seen?.provider).toBe('custom')
  })
})

describe('configuration', () => {
  const request = () => new Request('http://gateway/healthz')

  it('should fail loudly naming a bad base URL without echoing its value', async () => {
    const res = await withBindings({ GROQ_BASE_URL: 'ftp://secret-host.example/x' }, request())
    const body = await expectError(res, 500, 'CONFIG_INVALID')
    expect(body.error.message).toContain('GROQ_BASE_URL')
    expect(body.error.message).not.toContain('secret-host')
  })

  it('should name FLOOPY_DEV_API_KEY when no key store is configured', async () => {
    const res = await withBindings({ FLOOPY_DEV_API_KEY: undefined }, request())
    const body = await expectError(res, 500, 'CONFIG_INVALID')
    expect(body.error.message).toContain('FLOOPY_DEV_API_KEY')
  })

  it('should name a malformed FLOOPY_CUSTOM_PROVIDERS', async () => {
    const res = await withBindings({ FLOOPY_CUSTOM_PROVIDERS: '[{"id":"openai"}' }, request())
    const body = await expectError(res, 500, 'CONFIG_INVALID')
    expect(body.error.message).toContain('FLOOPY_CUSTOM_PROVIDERS')
  })
})
