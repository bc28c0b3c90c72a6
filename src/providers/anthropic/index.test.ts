/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import badRequestRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_400_invalid_request_f59a9391.json?raw'
import rateLimitRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_429_then_200_d743d628.json?raw'
import roundtripRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json?raw'
import basicStream from '../../../test/fixtures/anthropic/sdk-typescript/basic_response.txt?raw'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import type { RespondContext } from '../adapter'
import { PROVIDERS } from '../registry'
import { providerError } from '../upstream-error'
import { anthropic } from '.'
import { usage } from '../../../test/support/unit'
import type { ParsedRequest, ProviderConfig, ResponseOutcome } from '../../types'

type Exchange = {
  response: { status_code: number; headers: Record<string, string>; body: unknown }
}
const exchanges = (raw: string): Exchange[] => JSON.parse(raw) as Exchange[]

const spec = PROVIDERS.find((p) => p.id === 'anthropic')
if (spec === undefined) throw new Error('no anthropic provider in the registry')
const PROVIDER: ProviderConfig = {
  spec,
  baseUrl: 'https://api.anthropic.com',
  origin: 'https://api.anthropic.com',
  apiKey: 'sk-ant-api03-secretsecretsecret',
  operatorConfigured: false,
  models: [],
}

const chat = (fields: Record<string, unknown> = {}): ParsedRequest =>
  toParsedRequest('chat', {
    model: 'anthropic/claude-haiku-4-5',
    messages: [{ role: 'user', content: 'Hi' }],
    ...fields,
  })

const contextFor = (outcomes: ResponseOutcome[]): RespondContext => ({
  requestId: 'req-test-1',
  provider: 'anthropic',
  knownSecrets: [PROVIDER.apiKey ?? ''],
  onEnd: (outcome) => outcomes.push(outcome),
})

const jsonResponse = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

const thrown = async (work: () => unknown): Promise<GatewayError> => {
  try {
    await work()
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected a GatewayError')
}

describe('anthropic.endpoint', () => {
  it('should post chat to /v1/messages under the configured base URL', () => {
    const url = anthropic.endpoint({ kind: 'chat', stream: true }, PROVIDER, 'claude-haiku-4-5')
    expect(url.href).toBe('https://api.anthropic.com/v1/messages')
  })

  it('should refuse embeddings with a clear 400', async () => {
    const err = await thrown(() =>
      anthropic.endpoint({ kind: 'embeddings', stream: false }, PROVIDER, 'claude-haiku-4-5'),
    )
    expect([err.status, err.code, err.param]).toEqual([400, 'UNSUPPORTED_BY_PROVIDER', 'model'])
    expect(err.message).toContain('embeddings')
  })
})

describe('anthropic.prepare', () => {
  it('should send the translated body with the anthropic-version header', () => {
    const prepared = anthropic.prepare(chat({ seed: 3 }), PROVIDER, 'claude-haiku-4-5')
    expect(JSON.parse(prepared.body)).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 64000,
      messages: [{ role: 'user', content: 'Hi' }],
    })
    expect(prepared.headers).toEqual({ 'anthropic-version': '2023-06-01' })
    expect(prepared.dropped).toEqual(['seed'])
  })

  it('should refuse an embeddings request', async () => {
    const request = toParsedRequest('embeddings', { model: 'claude-haiku-4-5', input: 'x' })
    const err = await thrown(() => anthropic.prepare(request, PROVIDER, 'claude-haiku-4-5'))
    expect(err.code).toBe('UNSUPPORTED_BY_PROVIDER')
  })
})

describe('anthropic.respond', () => {
  it('should answer a recorded message as an OpenAI chat completion and report usage', async () => {
    const [first] = exchanges(roundtripRecording)
    const outcomes: ResponseOutcome[] = []
    const before = Math.floor(Date.now() / 1000)
    const { body, contentType } = await anthropic.respond(
      jsonResponse(first?.response.body),
      chat(),
      PROVIDER,
      contextFor(outcomes),
    )
    expect(contentType).toBe('application/json')
    expect(body).toBeInstanceOf(ArrayBuffer)
    const completion = await new Response(body).json<{
      object: string
      created: number
      choices: { finish_reason: string; message: { tool_calls: { id: string }[] } }[]
    }>()
    expect(completion.object).toBe('chat.completion')
    expect(completion.created).toBeGreaterThanOrEqual(before)
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls')
    expect(completion.choices[0]?.message.tool_calls[0]?.id).toBe('toolu_013DU6hV4C1M8dJ32ybQFAFi')
    expect(outcomes).toEqual([{ end: 'done', usage: usage(597, 71, 668) }])
  })

  it('should turn a connection broken mid-answer into a 502', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"id":"msg_1","type":"mess'))
        controller.error(new TypeError('connection reset'))
      },
    })
    const outcomes: ResponseOutcome[] = []
    const err = await thrown(() =>
      anthropic.respond(new Response(broken), chat(), PROVIDER, contextFor(outcomes)),
    )
    expect([err.code, err.status]).toEqual(['PROVIDER_ERROR', 502])
    expect(outcomes).toEqual([])
  })

  it('should turn a 2xx answer that is not a message into a 502', async () => {
    const err = await thrown(() =>
      anthropic.respond(new Response('<html>oops</html>'), chat(), PROVIDER, contextFor([])),
    )
    expect([err.code, err.status]).toEqual(['PROVIDER_ERROR', 502])
    const shaped = await thrown(() =>
      anthropic.respond(
        jsonResponse({ type: 'error', error: { type: 'api_error', message: 'Internal' } }),
        chat(),
        PROVIDER,
        contextFor([]),
      ),
    )
    expect(shaped.message).toBe('anthropic: Internal')
  })

  it('should stream OpenAI chunks with the usage chunk the client asked for', async () => {
    const outcomes: ResponseOutcome[] = []
    const { body, contentType } = await anthropic.respond(
      new Response(basicStream, { headers: { 'content-type': 'text/event-stream' } }),
      chat({ stream: true, stream_options: { include_usage: true } }),
      PROVIDER,
      contextFor(outcomes),
    )
    expect(contentType).toBe('text/event-stream; charset=utf-8')
    const text = await new Response(body).text()
    const data = text
      .split('\n\n')
      .filter((event) => event !== '')
      .map((event) => event.slice('data: '.length))
    expect(data.at(-1)).toBe('[DONE]')
    const usageChunk = JSON.parse(data.at(-2) ?? '') as { choices: unknown[]; usage: unknown }
    expect(usageChunk.choices).toEqual([])
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 6 })
    expect(outcomes).toEqual([{ end: 'done', usage: usage(11, 6, 17) }])
  })

  it('should relay an in-stream error as a PROVIDER_ERROR event with the request id', async () => {
    const stream =
      basicStream.slice(0, basicStream.indexOf('event: content_block_stop')) +
      'event: error\ndata: ' +
      '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    const outcomes: ResponseOutcome[] = []
    const { body } = await anthropic.respond(
      new Response(stream),
      chat({ stream: true }),
      PROVIDER,
      contextFor(outcomes),
    )
    const text = await new Response(body).text()
    const last = text.trimEnd().split('\n\n').at(-1) ?? ''
    expect(last.startsWith('event: error\ndata: ')).toBe(true)
    expect(JSON.parse(last.slice('event: error\ndata: '.length))).toEqual({
      error: {
        message: 'anthropic: Overloaded',
        type: 'api_error',
        code: 'PROVIDER_ERROR',
        param: null,
      },
      request_id: 'req-test-1',
    })
    expect(text).not.toContain('[DONE]')
    expect(outcomes[0]?.end).toBe('provider_error')
  })

  it('should type an in-stream rate limit error as a rate limit', async () => {
    const { body } = await anthropic.respond(
      new Response(
        'event: error\ndata: ' +
          '{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}\n\n',
      ),
      chat({ stream: true }),
      PROVIDER,
      contextFor([]),
    )
    expect(await new Response(body).text()).toContain('"type":"rate_limit_error"')
  })

  it('should end a cut stream with a STREAM_INTERRUPTED event', async () => {
    const outcomes: ResponseOutcome[] = []
    const { body } = await anthropic.respond(
      new Response(basicStream.slice(0, basicStream.indexOf('event: message_stop'))),
      chat({ stream: true }),
      PROVIDER,
      contextFor(outcomes),
    )
    const text = await new Response(body).text()
    expect(text).toContain('"finish_reason":"stop"')
    expect(
      text.endsWith('"code":"STREAM_INTERRUPTED","param":null},"request_id":"req-test-1"}\n\n'),
    ).toBe(true)
    expect(text).not.toContain('[DONE]')
    expect(outcomes).toEqual([{ end: 'interrupted', usage: usage(11, 6, 17) }])
  })
})

describe('Anthropic error answers (mapped by dispatch before respond)', () => {
  it.each([
    [badRequestRecording, 400, 'invalid_request_error', 'Each `tool_result` block must have'],
    [rateLimitRecording, 429, 'rate_limit_error', 'would exceed your organization'],
  ])('should keep the recorded %#th error message and status', async (raw, status, type, text) => {
    const failed = exchanges(raw).find(({ response }) => response.status_code >= 400)
    if (failed === undefined) throw new Error('no error in the recording')
    const err = await providerError(
      'anthropic',
      new Response(JSON.stringify(failed.response.body), {
        status: failed.response.status_code,
        headers: failed.response.headers,
      }),
      [],
    )
    expect([err.code, err.status, err.type]).toEqual(['PROVIDER_ERROR', status, type])
    expect(err.message).toContain(text)
  })
})
