import { AwsV4Signer } from 'aws4fetch'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { builtinProvider, parseConfig } from '../config'
import { GatewayError } from '../errors'
import { toParsedRequest } from '../stages/parse-request'
import { bedrock } from './bedrock'
import { credentialsText } from './bedrock/credentials'
import { callProvider, listModels } from './client'
import { PROVIDERS } from './registry'
import { TEST_DEV_API_KEY } from '../../test/support/bindings'
import type { ProviderConfig, Target } from '../types'

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE'
const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0'

/** The operator's Bedrock, exactly as `config.ts` makes it from AWS variables. */
const operatorBedrock = (): ProviderConfig => {
  const provider = parseConfig({
    FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET,
  }).providers.get('bedrock')
  if (provider === undefined) throw new Error('bedrock not configured')
  return provider
}

const targetFor = (provider: ProviderConfig, stream = false): Target => ({
  provider,
  model: HAIKU,
  url: bedrock.endpoint({ kind: 'chat', stream }, provider, HAIKU),
  key: 'operator',
  healthId: `bedrock/${HAIKU}`,
})

const chat = toParsedRequest('chat', {
  model: `bedrock/${HAIKU}`,
  messages: [{ role: 'user', content: 'Hi' }],
})

const CONVERSE_ANSWER = {
  output: { message: { role: 'assistant', content: [{ text: 'Hello!' }] } },
  stopReason: 'end_turn',
  usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 },
}

type Sent = { url: string; method: string; headers: Headers; body: string }

/** Stubs `fetch`: records what was sent, answers `answer`. */
const stubFetch = (answer: () => Response): Sent[] => {
  const sent: Sent[] = []
  vi.stubGlobal('fetch', async (input: URL | string, init: RequestInit = {}) => {
    sent.push({
      url: String(input),
      method: init.method ?? 'GET',
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? init.body : '',
    })
    return Promise.resolve(answer())
  })
  return sent
}

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('callProvider with Bedrock', () => {
  it("should send the translated body signed over the final request, and answer in OpenAI's shape", async () => {
    const sent = stubFetch(() => Response.json(CONVERSE_ANSWER))
    const provider = operatorBedrock()
    const headers = new Headers({ 'x-stainless-lang': 'js', 'x-amz-security-token': 'forged' })
    const response = await callProvider(targetFor(provider), chat, {
      requestId: 'req-1',
      apiKey: provider.apiKey,
      timeoutMs: 5_000,
      headers,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('floopy-provider')).toBe('bedrock')
    const body = await response.json<{
      model: string
      choices: { message: { content: string } }[]
    }>()
    expect(body.model).toBe(HAIKU)
    expect(body.choices[0]?.message.content).toBe('Hello!')

    expect(sent).toHaveLength(1)
    const [request] = sent
    if (request === undefined) throw new Error('nothing sent')
    expect(request.url).toBe(
      'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    )
    expect(request.method).toBe('POST')
    expect(JSON.parse(request.body)).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
    })
    expect(request.headers.get('content-type')).toBe('application/json')
    expect(request.headers.get('accept')).toBe('application/json')
    expect(request.headers.get('x-amz-security-token')).toBeNull()
    const authorization = request.headers.get('authorization') ?? ''
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=accept;host;x-amz-date;x-stainless-lang, Signature=[0-9a-f]{64}$/,
    )
    // Re-signing exactly what went on the wire gives the same signature: nothing was changed after
    // signing (URL, headers, body).
    const unsigned = new Headers(request.headers)
    unsigned.delete('authorization')
    const again = new AwsV4Signer({
      method: 'POST',
      url: request.url,
      headers: unsigned,
      body: request.body,
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
      service: 'bedrock',
      region: 'us-east-1',
      datetime: request.headers.get('x-amz-date') ?? '',
    })
    expect(await again.authHeader()).toBe(authorization)
  })

  it("should send an organisation's credential to its own Region", async () => {
    const sent = stubFetch(() => Response.json(CONVERSE_ANSWER))
    const spec = PROVIDERS.find((p) => p.id === 'bedrock')
    if (spec === undefined) throw new Error('no bedrock spec')
    // An organisation's own key at the built-in default, as route resolves it.
    const provider = builtinProvider(spec, undefined, undefined)
    const credential = credentialsText({ region: 'eu-central-1', apiKey: 'ABSKorgkeyorgkeyorgkey' })
    await callProvider({ ...targetFor(provider), key: 'organization' }, chat, {
      requestId: 'req-2',
      apiKey: credential,
      timeoutMs: 5_000,
    })
    expect(sent[0]?.url).toBe(
      'https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    )
    expect(sent[0]?.headers.get('authorization')).toBe('Bearer ABSKorgkeyorgkeyorgkey')
  })

  it('should map an AWS error by its kind and redact the credential from it', async () => {
    stubFetch(
      () =>
        new Response(JSON.stringify({ message: `Rate exceeded for ${KEY_ID} (${SECRET})` }), {
          status: 400,
          headers: { 'x-amzn-ErrorType': 'ThrottlingException:http://internal.amazon.com/coral/' },
        }),
    )
    const provider = operatorBedrock()
    let thrown: unknown
    try {
      await callProvider(targetFor(provider), chat, {
        requestId: 'req-3',
        apiKey: provider.apiKey,
        timeoutMs: 5_000,
      })
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    const error = thrown as GatewayError
    expect([error.status, error.type]).toEqual([429, 'rate_limit_error'])
    expect(error.message).toBe(
      'bedrock: ThrottlingException: Rate exceeded for [REDACTED] ([REDACTED])',
    )
  })

  it("should leave other providers as they were: the registry's header carries the key", async () => {
    const sent = stubFetch(() =>
      Response.json({
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o',
        choices: [],
      }),
    )
    const spec = PROVIDERS.find((p) => p.id === 'openai')
    if (spec === undefined) throw new Error('no openai spec')
    const provider = builtinProvider(spec, 'sk-test-key-123456', undefined)
    await callProvider(
      {
        provider,
        model: 'gpt-4o',
        url: new URL('https://api.openai.com/v1/chat/completions'),
        key: 'operator',
        healthId: 'openai/gpt-4o',
      },
      toParsedRequest('chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }),
      { requestId: 'req-4', apiKey: 'sk-test-key-123456', timeoutMs: 5_000 },
    )
    expect(sent[0]?.headers.get('authorization')).toBe('Bearer sk-test-key-123456')
    expect(sent[0]?.headers.get('content-type')).toBe('application/json')
    expect(sent[0]?.headers.get('accept')).toBe('application/json')
  })
})

describe('listModels with Bedrock', () => {
  it('should answer the fixed list without a call', async () => {
    const sent = stubFetch(() => new Response('unexpected', { status: 500 }))
    const models = await listModels(operatorBedrock(), 1_000)
    expect(models.map((m) => m.id)).toContain(HAIKU)
    expect(sent).toEqual([])
  })
})

describe('callProvider with a stream committed to on its first chunk', () => {
  it('should release a provider that sends no content in time at once, not at its next write', async () => {
    // Headers, then nothing: only the gateway dropping the answer can end this body.
    let cancelledWith: (reason: unknown) => void = () => undefined
    const cancelled = new Promise<unknown>((resolve) => {
      cancelledWith = resolve
    })
    stubFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            cancel(reason) {
              cancelledWith(reason)
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    )
    const spec = PROVIDERS.find((p) => p.id === 'openai')
    if (spec === undefined) throw new Error('no openai spec')
    const provider = builtinProvider(spec, 'sk-test-key-123456', undefined)
    const call = callProvider(
      {
        provider,
        model: 'gpt-4o',
        url: new URL('https://api.openai.com/v1/chat/completions'),
        key: 'operator',
        healthId: 'openai/gpt-4o',
      },
      toParsedRequest('chat', {
        model: 'gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
      { requestId: 'req-5', apiKey: 'sk-test-key-123456', timeoutMs: 50, commitOnFirstByte: true },
    )
    await expect(call).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT' })
    // The provider never writes again, so nothing but the release can cancel its body.
    expect(await cancelled).toBe('released by the gateway')
  })
})
