import { describe, expect, it } from 'vitest'
import { GatewayError, type OpenAIErrorType } from '../errors'
import {
  errorMessage,
  mapStatus,
  providerError,
  providerErrorFrom,
  redactSecrets,
} from './upstream-error'

const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })

describe('mapStatus', () => {
  it.each([
    [400, 400],
    [401, 401],
    [402, 402],
    [403, 403],
    [404, 404],
    [408, 504],
    [409, 409],
    [413, 413],
    [422, 400],
    [429, 429],
    [500, 502],
    [501, 502],
    [502, 502],
    [503, 503],
    [504, 504],
    [520, 502],
    [529, 503],
  ])('should map a provider %i to %i', (upstream, client) => {
    expect(mapStatus(upstream)).toBe(client)
  })
})

describe('providerErrorFrom', () => {
  it.each<[number, number, OpenAIErrorType]>([
    [400, 400, 'invalid_request_error'],
    [401, 401, 'authentication_error'],
    [403, 403, 'permission_error'],
    [404, 404, 'not_found_error'],
    [408, 504, 'api_error'],
    [422, 400, 'invalid_request_error'],
    [429, 429, 'rate_limit_error'],
    [500, 502, 'api_error'],
    [502, 502, 'api_error'],
    [503, 503, 'api_error'],
    [504, 504, 'api_error'],
    [529, 503, 'api_error'],
  ])('should answer a provider %i with %i and type %s', (upstream, status, type) => {
    const error = providerErrorFrom('openai', upstream, undefined, undefined, [])
    expect(error).toBeInstanceOf(GatewayError)
    expect(error.code).toBe('PROVIDER_ERROR')
    expect(error.status).toBe(status)
    expect(error.type).toBe(type)
  })

  it("should keep the provider's message and param, prefixed with the provider id", () => {
    const body = {
      error: {
        message: "Invalid value for 'temperature': must be at most 2.",
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      },
    }
    const error = providerErrorFrom('openai', 400, body, undefined, [])
    expect(error.message).toBe("openai: Invalid value for 'temperature': must be at most 2.")
    expect(error.param).toBe('temperature')
    expect(error.toBody('req-1')).toEqual({
      error: {
        message: "openai: Invalid value for 'temperature': must be at most 2.",
        type: 'invalid_request_error',
        code: 'PROVIDER_ERROR',
        param: 'temperature',
      },
      request_id: 'req-1',
    })
  })

  it('should use a generic message when the body has none', () => {
    const error = providerErrorFrom('groq', 503, { unexpected: true }, undefined, [])
    expect(error.message).toBe('groq: The provider answered HTTP 503.')
    expect(error.param).toBeNull()
  })

  describe('Retry-After', () => {
    it.each(['30', '0', 'Wed, 21 Oct 2015 07:28:00 GMT'])('should relay %j', (value) => {
      const headers = new Headers({ 'retry-after': value })
      const error = providerErrorFrom('openai', 429, undefined, headers, [])
      expect(error.status).toBe(429)
      expect(error.headers).toEqual({ 'retry-after': value })
      expect(error.toResponse(undefined).headers.get('retry-after')).toBe(value)
    })

    it.each(['30; evil=1', '<script>', '"30"', 'x'.repeat(65), '1 s/2'])(
      'should not relay the odd value %j',
      (value) => {
        const headers = new Headers({ 'retry-after': value })
        const error = providerErrorFrom('openai', 429, undefined, headers, [])
        expect(error.headers).toEqual({})
        expect(error.toResponse(undefined).headers.get('retry-after')).toBeNull()
      },
    )

    it('should send no Retry-After when the provider sent none', () => {
      const error = providerErrorFrom('openai', 429, undefined, new Headers(), [])
      expect(error.headers).toEqual({})
    })
  })
})

describe('errorMessage', () => {
  it('should read the OpenAI error shape', () => {
    expect(
      errorMessage({ error: { message: 'Bad model', type: 'x', param: 'model', code: null } }),
    ).toEqual({ message: 'Bad model', param: 'model' })
  })

  it('should read an OpenAI error without a param', () => {
    expect(errorMessage({ error: { message: 'Rate limited', param: null } })).toEqual({
      message: 'Rate limited',
    })
  })

  it('should read an error given as a string', () => {
    expect(errorMessage({ error: 'model not found' })).toEqual({ message: 'model not found' })
  })

  it('should read a top-level message', () => {
    expect(errorMessage({ object: 'error', message: 'Unauthorized' })).toEqual({
      message: 'Unauthorized',
    })
  })

  it("should read Mistral's FastAPI validation errors", () => {
    expect(
      errorMessage({
        detail: [
          {
            type: 'missing',
            loc: ['body', 'messages', 0, 'content'],
            msg: 'Field required',
            input: {},
          },
          {
            type: 'extra_forbidden',
            loc: ['body', 'logprobs'],
            msg: 'Extra inputs are not permitted',
          },
        ],
      }),
    ).toEqual({
      message:
        'body.messages.0.content: Field required; body.logprobs: Extra inputs are not permitted',
    })
  })

  it('should read a FastAPI detail string', () => {
    expect(errorMessage({ detail: 'Not Found' })).toEqual({ message: 'Not Found' })
  })

  it('should read a FastAPI detail entry without a location', () => {
    expect(errorMessage({ detail: [{ msg: 'Invalid model' }] })).toEqual({
      message: 'Invalid model',
    })
  })

  it.each([undefined, null, 'text', 42, [], {}, { detail: [] }, { error: {} }])(
    'should find no message in %j',
    (body) => {
      expect(errorMessage(body)).toEqual({})
    },
  )
})

describe('providerError', () => {
  it('should read the JSON body of a provider response', async () => {
    const res = jsonResponse(404, {
      error: { message: 'The model `gpt-9` does not exist', param: 'model' },
    })
    const error = await providerError('openai', res, [])
    expect(error.status).toBe(404)
    expect(error.type).toBe('not_found_error')
    expect(error.message).toBe('openai: The model `gpt-9` does not exist')
    expect(error.param).toBe('model')
  })

  it('should map a Mistral 422 to 400 with its validation message', async () => {
    const res = jsonResponse(422, {
      detail: [{ loc: ['body', 'seed'], msg: 'Extra inputs are not permitted' }],
    })
    const error = await providerError('mistral', res, [])
    expect(error.status).toBe(400)
    expect(error.type).toBe('invalid_request_error')
    expect(error.message).toBe('mistral: body.seed: Extra inputs are not permitted')
  })

  it('should fall back to the status for a body that is not JSON', async () => {
    const res = new Response('<html><body>502 Bad Gateway</body></html>', {
      status: 502,
      headers: { 'content-type': 'text/html' },
    })
    const error = await providerError('together', res, [])
    expect(error.status).toBe(502)
    expect(error.type).toBe('api_error')
    expect(error.message).toBe('together: The provider answered HTTP 502.')
  })

  it('should fall back to the status for an empty body', async () => {
    const error = await providerError('deepseek', new Response(null, { status: 500 }), [])
    expect(error.status).toBe(502)
    expect(error.message).toBe('deepseek: The provider answered HTTP 500.')
  })

  it('should keep Retry-After from a 429', async () => {
    const res = jsonResponse(
      429,
      { error: { message: 'Rate limit reached for requests', type: 'requests' } },
      { 'retry-after': '20' },
    )
    const error = await providerError('groq', res, [])
    const response = error.toResponse('req-2')
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe('20')
    expect(await response.json()).toEqual({
      error: {
        message: 'groq: Rate limit reached for requests',
        type: 'rate_limit_error',
        code: 'PROVIDER_ERROR',
        param: null,
      },
      request_id: 'req-2',
    })
  })

  it('should redact the provider key echoed in the message', async () => {
    const key = 'Zx81kLmQpR7tYv3nBw9sH2cJ4dF6gA0e'
    const res = jsonResponse(401, { message: `Invalid API key: ${key}` })
    const error = await providerError('mistral', res, [key])
    expect(error.status).toBe(401)
    expect(error.message).toBe('mistral: Invalid API key: [REDACTED]')
  })
})

describe('redactSecrets', () => {
  it.each([
    ['an OpenAI key', 'sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD'],
    ['an OpenAI project key', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_AbC-dEf'],
    ['a masked OpenAI key', 'sk-proj-********************************************1xYz'],
    ['a Groq key', 'gsk_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAbCdEfGhIjKlMnOp'],
    ['a gateway key', 'flo_sk_live_Ab3dEf6hIj9kLm2nOp5qRs8t'],
    ['a Google key', 'AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW'],
  ])('should redact %s', (_name, secret) => {
    const out = redactSecrets(`Incorrect API key provided: ${secret}. See the docs.`)
    expect(out).toBe('Incorrect API key provided: [REDACTED]. See the docs.')
    expect(out).not.toContain(secret)
  })

  it('should redact a bearer token', () => {
    const out = redactSecrets('header was Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc-def_')
    expect(out).toBe('header was Authorization: [REDACTED]')
  })

  it('should redact a known secret anywhere in the text, every time it appears', () => {
    const key = 'Zx81kLmQpR7tYv3nBw9sH2cJ4dF6gA0e'
    const text = `key=${key}&again=${key}x and (${key})`
    expect(redactSecrets(text, [key])).toBe('key=[REDACTED]&again=[REDACTED]x and ([REDACTED])')
  })

  it('should redact a known secret without any recognisable prefix', () => {
    const key = 'together-0123456789abcdef'
    expect(redactSecrets(`bad key ${key}`, [key])).toBe('bad key [REDACTED]')
  })

  it('should leave ordinary text alone', () => {
    const text = "Invalid value for 'max_tokens': expected an integer, got 'risk-free'."
    expect(redactSecrets(text, ['unrelated-secret'])).toBe(text)
  })

  it('should redact secrets in the client-facing error', () => {
    const groqKey = 'gsk_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAbCdEfGhIjKlMnOp'
    const error = providerErrorFrom(
      'groq',
      401,
      { error: { message: `Invalid API Key ${groqKey} (Bearer ${groqKey})` } },
      undefined,
      [groqKey],
    )
    expect(error.message).not.toContain(groqKey)
    expect(error.message).not.toContain('gsk_')
    expect(JSON.stringify(error.toBody(undefined))).not.toContain(groqKey)
  })
})
