import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { StageEnv } from '../../env'
import type { BodyVariables } from '../body-limit'
import { GatewayError, toGatewayError } from '../../errors'
import { decodeBody, parseRequest, toParsedRequest } from '.'
import type { EndpointKind } from '../../types'

const user = { role: 'user', content: 'hi' }

/** The error `toParsedRequest` throws; fails the test when it throws anything else. */
const rejection = (kind: EndpointKind, body: unknown): GatewayError => {
  let thrown: unknown
  try {
    toParsedRequest(kind, body)
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(GatewayError)
  if (!(thrown instanceof GatewayError)) throw new Error('toParsedRequest did not reject')
  expect(thrown.code).toBe('INVALID_REQUEST')
  expect(thrown.status).toBe(400)
  expect(thrown.type).toBe('invalid_request_error')
  return thrown
}

describe('toParsedRequest', () => {
  describe('for chat', () => {
    it('should read a minimal request', () => {
      const body = { model: 'gpt-4o', messages: [user] }
      expect(toParsedRequest('chat', body)).toEqual({
        kind: 'chat',
        body: { model: 'gpt-4o', messages: [user] },
        model: 'gpt-4o',
        stream: false,
        includeUsage: false,
      })
    })

    it('should keep unknown fields in the body', () => {
      const body = {
        model: 'openai/gpt-4o',
        messages: [{ role: 'user', content: 'hi', x_note: 1 }],
        verbosity: 'low',
        x_vendor: { nested: true },
      }
      const parsed = toParsedRequest('chat', body)
      expect(parsed.body).toEqual({
        model: 'openai/gpt-4o',
        messages: [{ role: 'user', content: 'hi', x_note: 1 }],
        verbosity: 'low',
        x_vendor: { nested: true },
      })
      expect(parsed.model).toBe('openai/gpt-4o')
    })

    it.each<[string, Record<string, unknown>, boolean, boolean]>([
      [
        'stream with include_usage',
        { stream: true, stream_options: { include_usage: true } },
        true,
        true,
      ],
      ['stream without stream_options', { stream: true }, true, false],
      [
        'stream with include_usage false',
        { stream: true, stream_options: { include_usage: false } },
        true,
        false,
      ],
      ['stream with null stream_options', { stream: true, stream_options: null }, true, false],
      [
        'stream with other stream_options',
        { stream: true, stream_options: { include_obfuscation: true } },
        true,
        false,
      ],
      [
        'no stream with include_usage',
        { stream: false, stream_options: { include_usage: true } },
        false,
        false,
      ],
      ['stream null', { stream: null }, false, false],
      ['no stream field', {}, false, false],
    ])('should read %s', (_name, fields, stream, includeUsage) => {
      const parsed = toParsedRequest('chat', { model: 'gpt-4o', messages: [user], ...fields })
      expect(parsed.stream).toBe(stream)
      expect(parsed.includeUsage).toBe(includeUsage)
    })

    it.each<[string, unknown]>([
      ['a string', '{"model":"gpt-4o"}'],
      ['null', null],
      ['an array', [{ model: 'gpt-4o' }]],
      ['a number', 42],
    ])('should reject %s as the body', (_name, body) => {
      const error = rejection('chat', body)
      expect(error.message).toBe('The request body must be a JSON object.')
      expect(error.param).toBeNull()
    })

    const chatBase = { model: 'gpt-4o', messages: [user] }
    it.each<[string, string, Record<string, unknown>]>([
      ['a missing model', 'model', { messages: [user] }],
      ['a model that is not a string', 'model', { model: 4, messages: [user] }],
      ['an empty model', 'model', { model: '', messages: [user] }],
      ['missing messages', 'messages', { model: 'gpt-4o' }],
      ['empty messages', 'messages', { model: 'gpt-4o', messages: [] }],
      ['messages that are not an array', 'messages', { model: 'gpt-4o', messages: 'hi' }],
      ['a message without a role', 'messages.1.role', { ...chatBase, messages: [user, {}] }],
      ['a stream flag that is not a boolean', 'stream', { ...chatBase, stream: 'true' }],
      [
        'an include_usage that is not a boolean',
        'stream_options.include_usage',
        { ...chatBase, stream: true, stream_options: { include_usage: 'yes' } },
      ],
      [
        'stream_options that are not an object',
        'stream_options',
        { ...chatBase, stream_options: 1 },
      ],
    ])('should reject %s, naming %s', (_name, param, body) => {
      const error = rejection('chat', body)
      expect(error.param).toBe(param)
      expect(error.message).toContain(`'${param}'`)
    })

    it('should report the first problem when there are several', () => {
      expect(rejection('chat', { messages: [] }).param).toBe('model')
    })
  })

  describe('for embeddings', () => {
    it.each<[string, unknown]>([
      ['a string', 'hello'],
      ['an array of strings', ['a', 'b']],
      ['tokens', [1, 2, 3]],
      ['token arrays', [[1, 2], [3]]],
    ])('should accept %s as input', (_name, input) => {
      const body = { model: 'text-embedding-3-small', input, dimensions: 256 }
      expect(toParsedRequest('embeddings', body)).toEqual({
        kind: 'embeddings',
        body: { model: 'text-embedding-3-small', input, dimensions: 256 },
        model: 'text-embedding-3-small',
        stream: false,
        includeUsage: false,
      })
    })

    it('should never stream, whatever the body says', () => {
      const parsed = toParsedRequest('embeddings', {
        model: 'text-embedding-3-small',
        input: 'x',
        stream: true,
        stream_options: { include_usage: true },
      })
      expect(parsed.stream).toBe(false)
      expect(parsed.includeUsage).toBe(false)
    })

    it.each<[string, unknown]>([
      ['missing', undefined],
      ['an empty array', []],
      ['a number', 5],
      ['mixed strings and numbers', ['a', 1]],
    ])('should reject input that is %s', (_name, input) => {
      const error = rejection('embeddings', { model: 'text-embedding-3-small', input })
      expect(error.param).toBe('input')
    })

    it('should point into input for an empty token array', () => {
      const error = rejection('embeddings', { model: 'text-embedding-3-small', input: [[]] })
      expect(error.param?.startsWith('input')).toBe(true)
    })

    it('should reject a missing model', () => {
      expect(rejection('embeddings', { input: 'x' }).param).toBe('model')
    })
  })
})

describe('parseRequest', () => {
  const app = new Hono<StageEnv<BodyVariables>>()
  // The body-limit stage reads the body before this stage runs.
  app.use(async (c, next) => {
    c.set('rawBody', await c.req.text())
    await next()
  })
  app.post('/chat', parseRequest('chat'), (c) => c.json(c.var.request))
  app.onError((err) => toGatewayError(err).toResponse(undefined))

  const encoder = new TextEncoder()
  /** Posts `body` as bytes, so no content type is implied unless one is given. */
  const post = (body: string, headers: Record<string, string> = {}): Promise<Response> =>
    Promise.resolve(app.request('/chat', { method: 'POST', body: encoder.encode(body), headers }))

  it('should parse a JSON body and hand it to the next handler', async () => {
    const res = await post(JSON.stringify({ model: 'gpt-4o', messages: [user], stream: true }), {
      'content-type': 'application/json; charset=utf-8',
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      kind: 'chat',
      body: { model: 'gpt-4o', messages: [user], stream: true },
      model: 'gpt-4o',
      stream: true,
      includeUsage: false,
    })
  })

  it('should accept a body sent without a content type', async () => {
    const res = await post(JSON.stringify({ model: 'gpt-4o', messages: [user] }))
    expect(res.status).toBe(200)
  })

  it('should answer 415 for a body that is not declared as JSON', async () => {
    const res = await post(JSON.stringify({ model: 'gpt-4o', messages: [user] }), {
      'content-type': 'text/plain',
    })
    expect(res.status).toBe(415)
    expect(await res.json()).toEqual({
      error: {
        message: 'Send the request body as application/json.',
        type: 'invalid_request_error',
        code: 'UNSUPPORTED_MEDIA_TYPE',
        param: null,
      },
    })
  })

  it('should answer 400 INVALID_JSON for malformed JSON', async () => {
    const res = await post('{"model": "gpt-4o",', { 'content-type': 'application/json' })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({
      error: {
        message: 'The request body is not valid JSON.',
        type: 'invalid_request_error',
        code: 'INVALID_JSON',
        param: null,
      },
    })
  })

  it('should answer 400 INVALID_REQUEST naming the field', async () => {
    const res = await post(JSON.stringify({ model: 'gpt-4o', messages: [] }), {
      'content-type': 'application/json',
    })
    expect(res.status).toBe(400)
    const body: { error: { code: string; param: string | null } } = await res.json()
    expect(body.error.code).toBe('INVALID_REQUEST')
    expect(body.error.param).toBe('messages')
  })
})

describe('decodeBody', () => {
  it.each([
    ['{"temperature": 1e309}', 'temperature'],
    ['{"frequency_penalty": -1e309}', 'frequency_penalty'],
    ['{"a": {"b": [1, 2, 1E+999]}}', 'a.b.2'],
    [`{"n": ${'9'.repeat(309)}}`, 'n'],
  ])('should refuse %s naming the field', (text, param) => {
    let thrown: unknown
    try {
      decodeBody(text)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect(thrown).toMatchObject({ code: 'INVALID_REQUEST', status: 400, param })
  })

  it('should keep finite numbers, and text that only looks like an overflow', () => {
    expect(decodeBody('{"t": 1e308, "s": "1e309", "u": 1e-999}')).toEqual({
      t: 1e308,
      s: '1e309',
      u: 0,
    })
  })

  it('should refuse text that is not JSON as INVALID_JSON', () => {
    expect(() => decodeBody('{"model": ')).toThrow(GatewayError)
    expect(() => decodeBody('{"model": ')).toThrow(/not valid JSON/)
  })
})
