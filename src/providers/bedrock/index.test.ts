import { describe, expect, it } from 'vitest'
import { builtinProvider } from '../../config'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import type { RespondContext } from '../adapter'
import { PROVIDERS } from '../registry'
import { providerError } from '../upstream-error'
import { bedrock, modelPath } from '.'
import { BEDROCK_MODELS } from './models'
import { concatBytes, event, exception } from './test-frames'
import type { ParsedRequest, ProviderConfig, ResponseOutcome } from '../../types'

const spec = PROVIDERS.find((p) => p.id === 'bedrock')
if (spec === undefined) throw new Error('no bedrock provider in the registry')

const PROVIDER: ProviderConfig = {
  ...builtinProvider(spec, '{"region":"us-east-1","apiKey":"ABSKsecretsecretsecret"}', undefined),
}

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0'

const chat = (fields: Record<string, unknown> = {}): ParsedRequest =>
  toParsedRequest('chat', {
    model: `bedrock/${HAIKU}`,
    messages: [{ role: 'user', content: 'Hi' }],
    ...fields,
  })

const contextFor = (outcomes: ResponseOutcome[]): RespondContext => ({
  requestId: 'req-test-1',
  provider: 'bedrock',
  model: HAIKU,
  knownSecrets: ['ABSKsecretsecretsecret'],
  onEnd: (outcome) => outcomes.push(outcome),
})

const thrown = async (work: () => unknown): Promise<GatewayError> => {
  try {
    await work()
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected a GatewayError')
}

const streamOf = (...frames: Uint8Array[]): Response =>
  new Response(concatBytes(...frames), {
    headers: { 'content-type': 'application/vnd.amazon.eventstream' },
  })

/** The error envelope of the SSE error event in `text`. */
const sseError = (text: string): { type: string; code: string; message: string } => {
  const data = /event: error\ndata: (.*)\n\n/.exec(text)?.[1]
  if (data === undefined) throw new Error(`no error event in ${text}`)
  return (JSON.parse(data) as { error: { type: string; code: string; message: string } }).error
}

describe('bedrock.endpoint', () => {
  it('should post to /model/{id}/converse with the id percent-encoded', () => {
    expect(bedrock.endpoint({ kind: 'chat', stream: false }, PROVIDER, HAIKU).href).toBe(
      'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    )
  })

  it('should post a stream to /converse-stream, inference profiles and ARNs included', () => {
    expect(
      bedrock.endpoint(
        { kind: 'chat', stream: true },
        PROVIDER,
        'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      ).pathname,
    ).toBe('/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream')
    expect(
      bedrock.endpoint(
        { kind: 'chat', stream: false },
        PROVIDER,
        'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123',
      ).pathname,
    ).toBe(
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse',
    )
  })

  it('should keep the path of an operator-configured base URL', () => {
    const proxy = builtinProvider(spec, undefined, 'http://127.0.0.1:8080/bedrock')
    expect(
      bedrock.endpoint({ kind: 'chat', stream: false }, proxy, 'meta.llama3-1-8b-instruct-v1:0')
        .href,
    ).toBe('http://127.0.0.1:8080/bedrock/model/meta.llama3-1-8b-instruct-v1%3A0/converse')
  })

  it('should refuse ids that could leave the model path, naming the model', async () => {
    for (const model of ['..', '.', '../invoke', 'a b', 'x?y', 'x#y', '%2e%2e', '']) {
      const err = await thrown(() => modelPath(model))
      expect([err.status, err.code, err.param], model).toEqual([400, 'INVALID_REQUEST', 'model'])
    }
  })

  it('should refuse embeddings with a clear 400', async () => {
    const err = await thrown(() =>
      bedrock.endpoint(
        { kind: 'embeddings', stream: false },
        PROVIDER,
        'amazon.titan-embed-text-v2:0',
      ),
    )
    expect([err.status, err.code, err.param]).toEqual([400, 'UNSUPPORTED_BY_PROVIDER', 'model'])
    expect(err.message).toContain('embeddings')
  })
})

describe('bedrock.prepare', () => {
  it('should send the Converse body, the dropped fields and the accept header', () => {
    const prepared = bedrock.prepare(chat({ seed: 1, max_tokens: 20 }), PROVIDER, HAIKU)
    expect(JSON.parse(prepared.body)).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
      inferenceConfig: { maxTokens: 20 },
    })
    expect(prepared.dropped).toEqual(['seed'])
    expect(prepared.headers).toEqual({ accept: 'application/json' })
    expect(bedrock.prepare(chat({ stream: true }), PROVIDER, HAIKU).headers).toEqual({
      accept: 'application/vnd.amazon.eventstream',
    })
  })
})

describe('bedrock.respond', () => {
  it('should answer a Converse reply as a chat completion named after the target model', async () => {
    const outcomes: ResponseOutcome[] = []
    const upstream = Response.json({
      output: { message: { role: 'assistant', content: [{ text: 'Hello!' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 },
    })
    const responded = await bedrock.respond(upstream, chat(), PROVIDER, contextFor(outcomes))
    expect(responded.contentType).toBe('application/json')
    const body = JSON.parse(new TextDecoder().decode(responded.body as ArrayBuffer)) as {
      id: string
      model: string
      choices: { message: { content: string }; finish_reason: string }[]
      usage: { total_tokens: number }
    }
    expect(body.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/)
    expect(body.model).toBe(HAIKU)
    expect(body.choices[0]?.message.content).toBe('Hello!')
    expect(body.choices[0]?.finish_reason).toBe('stop')
    expect(body.usage.total_tokens).toBe(7)
    expect(outcomes).toEqual([
      {
        end: 'done',
        usage: {
          promptTokens: 5,
          completionTokens: 2,
          totalTokens: 7,
          cachedTokens: 0,
          reasoningTokens: 0,
        },
      },
    ])
  })

  it('should answer 502 for a 2xx body that is not a Converse reply', async () => {
    const err = await thrown(() =>
      bedrock.respond(Response.json({ hello: 'world' }), chat(), PROVIDER, contextFor([])),
    )
    expect([err.status, err.code]).toEqual([502, 'PROVIDER_ERROR'])
  })

  it('should stream OpenAI chunks from the event stream', async () => {
    const outcomes: ResponseOutcome[] = []
    const responded = await bedrock.respond(
      streamOf(
        event('messageStart', { role: 'assistant' }),
        event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi!' } }),
        event('messageStop', { stopReason: 'end_turn' }),
        event('metadata', { usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 } }),
      ),
      chat({ stream: true, stream_options: { include_usage: true } }),
      PROVIDER,
      contextFor(outcomes),
    )
    expect(responded.contentType).toBe('text/event-stream; charset=utf-8')
    const text = await new Response(responded.body).text()
    expect(text).toContain('"content":"Hi!"')
    expect(text).toContain(`"model":"${HAIKU}"`)
    expect(text).toContain('"usage":{"prompt_tokens":3')
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(outcomes.map((o) => o.end)).toEqual(['done'])
  })

  it('should map an exception in the stream by its kind, with the secrets redacted', async () => {
    const cases: readonly [string, string][] = [
      ['throttlingException', 'rate_limit_error'],
      ['validationException', 'invalid_request_error'],
      ['modelNotReadyException', 'api_error'],
      ['modelStreamErrorException', 'api_error'],
    ]
    for (const [type, openAIType] of cases) {
      const responded = await bedrock.respond(
        streamOf(
          event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'a' } }),
          exception(type, 'Failed for key ABSKsecretsecretsecret.'),
        ),
        chat({ stream: true }),
        PROVIDER,
        contextFor([]),
      )
      const error = sseError(await new Response(responded.body).text())
      expect(error.type, type).toBe(openAIType)
      expect(error.code).toBe('PROVIDER_ERROR')
      expect(error.message).toContain(
        `${type.charAt(0).toUpperCase()}${type.slice(1)}: Failed for key`,
      )
      expect(error.message).not.toContain('ABSKsecret')
    }
  })

  it('should end a corrupt stream with a provider error event', async () => {
    const responded = await bedrock.respond(
      streamOf(event('messageStop', { stopReason: 'end_turn' }, { message: true })),
      chat({ stream: true }),
      PROVIDER,
      contextFor([]),
    )
    const error = sseError(await new Response(responded.body).text())
    expect(error.type).toBe('api_error')
    expect(error.message).toContain('corrupt (message checksum mismatch)')
  })
})

describe('Bedrock errors before the answer (upstream-error.ts)', () => {
  const awsError = (status: number, type: string, message: string): Response =>
    new Response(JSON.stringify({ message }), {
      status,
      headers: {
        'content-type': 'application/json',
        'x-amzn-ErrorType': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        'x-amzn-RequestId': 'b7f6f9c2-0000-0000-0000-000000000000',
      },
    })

  it('should map each documented exception to the status the client should act on', async () => {
    const cases: readonly [number, string, number, string][] = [
      [400, 'ValidationException', 400, 'invalid_request_error'],
      [403, 'AccessDeniedException', 403, 'permission_error'],
      [403, 'UnrecognizedClientException', 401, 'authentication_error'],
      [404, 'ResourceNotFoundException', 404, 'not_found_error'],
      [429, 'ThrottlingException', 429, 'rate_limit_error'],
      [429, 'ModelNotReadyException', 503, 'api_error'],
      [400, 'ServiceQuotaExceededException', 429, 'rate_limit_error'],
      [503, 'ServiceUnavailableException', 503, 'api_error'],
      [408, 'ModelTimeoutException', 504, 'api_error'],
      [424, 'ModelErrorException', 502, 'api_error'],
      [500, 'InternalServerException', 502, 'api_error'],
      [418, 'SomethingNewException', 418, 'invalid_request_error'],
    ]
    for (const [upstream, type, status, openAIType] of cases) {
      const err = await providerError('bedrock', awsError(upstream, type, 'It failed.'), [])
      expect([err.status, err.type], type).toEqual([status, openAIType])
      expect(err.message).toBe(`bedrock: ${type}: It failed.`)
    }
  })

  it('should read the kind from a body __type and redact AWS key ids', async () => {
    const res = new Response(
      JSON.stringify({
        __type: 'com.amazon.coral.service#UnrecognizedClientException',
        Message: 'The security token included in the request is invalid: AKIAIOSFODNN7EXAMPLE',
      }),
      { status: 403 },
    )
    const err = await providerError('bedrock', res, [])
    expect(err.status).toBe(401)
    expect(err.message).toBe(
      'bedrock: UnrecognizedClientException: The security token included in the request is invalid: [REDACTED]',
    )
  })
})

describe('bedrock.models', () => {
  it('should list a fixed set of Bedrock model ids, by their makers', () => {
    expect(bedrock.models.fixed).toBe(BEDROCK_MODELS)
    const ids = BEDROCK_MODELS.map((m) => m.id)
    expect(ids).toContain(HAIKU)
    expect(ids).toContain('amazon.nova-lite-v1:0')
    expect(ids).toContain('meta.llama3-1-8b-instruct-v1:0')
    expect(new Set(ids).size).toBe(ids.length)
    expect(BEDROCK_MODELS.find((m) => m.id === 'amazon.nova-pro-v1:0')?.ownedBy).toBe('amazon')
    for (const id of ids) expect(() => modelPath(id)).not.toThrow()
  })
})
