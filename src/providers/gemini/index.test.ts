import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import { usage } from '../../../test/support/unit'
import type { RespondContext } from '../adapter'
import { PROVIDERS } from '../registry'
import { gemini } from '.'
import { exchange, recordings, sseOf } from './test-fixtures'
import { signatureOf, toolCallId } from './tool-call-id'
import type { EndpointKind, ProviderConfig, ResponseOutcome } from '../../types'

const spec = PROVIDERS.find((p) => p.id === 'gemini')
if (spec === undefined) throw new Error('no gemini entry in the registry')

const provider: ProviderConfig = {
  spec,
  baseUrl: 'https://generativelanguage.googleapis.com',
  origin: 'https://generativelanguage.googleapis.com',
  apiKey: 'AIzaSyTEST-gemini-upstream-key-000000',
  operatorConfigured: false,
  models: [],
}

const parsed = (kind: EndpointKind, body: Record<string, unknown>) => toParsedRequest(kind, body)

const respondContext = (ends: ResponseOutcome[]): RespondContext => ({
  requestId: 'req-1',
  provider: 'gemini',
  knownSecrets: [provider.apiKey ?? ''],
  onEnd: (outcome) => ends.push(outcome),
})

const failure = async (promise: Promise<unknown>): Promise<GatewayError> => {
  try {
    await promise
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected a GatewayError')
}

const text = (body: ReadableStream<Uint8Array> | ArrayBuffer): Promise<string> =>
  new Response(body).text()

describe('gemini adapter', () => {
  describe('endpoint', () => {
    const url = (kind: EndpointKind, stream: boolean, model: string): string =>
      gemini.endpoint({ kind, stream }, provider, model).href

    it('should build the generateContent, SSE and batch-embedding URLs', () => {
      const base = 'https://generativelanguage.googleapis.com/v1beta'
      expect(url('chat', false, 'gemini-2.5-flash')).toBe(
        `${base}/models/gemini-2.5-flash:generateContent`,
      )
      expect(url('chat', true, 'gemini-2.5-flash')).toBe(
        `${base}/models/gemini-2.5-flash:streamGenerateContent?alt=sse`,
      )
      expect(url('embeddings', false, 'gemini-embedding-001')).toBe(
        `${base}/models/gemini-embedding-001:batchEmbedContents`,
      )
    })

    it('should accept models/ and tunedModels/ resource names', () => {
      expect(url('chat', false, 'models/gemma-3-27b-it')).toMatch(
        /\/v1beta\/models\/gemma-3-27b-it:generateContent$/,
      )
      expect(url('chat', false, 'tunedModels/my_model-1')).toMatch(
        /\/v1beta\/tunedModels\/my_model-1:generateContent$/,
      )
    })

    it.each([
      '../x',
      'a/b',
      'models/../secrets',
      'x..y',
      'gemini?key=1',
      'gemini#frag',
      'gemini%2F..',
      'gemini:generateContent',
      'gemini 2',
      '-flag',
      '',
      'cachedContents/x',
      'models/',
    ])('should refuse the model %j with a 400 on param model', (model) => {
      let caught: unknown
      try {
        gemini.endpoint({ kind: 'chat', stream: false }, provider, model)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(GatewayError)
      expect(caught).toMatchObject({ code: 'INVALID_REQUEST', status: 400, param: 'model' })
    })
  })

  describe('prepare', () => {
    it('should send the translated chat body and report what it dropped', () => {
      const prepared = gemini.prepare(
        parsed('chat', {
          model: 'gemini/gemini-2.5-flash',
          messages: [{ role: 'user', content: 'hi' }],
          user: 'u-1',
        }),
        provider,
        'gemini-2.5-flash',
      )
      expect(JSON.parse(prepared.body)).toEqual({
        contents: [{ parts: [{ text: 'hi' }], role: 'user' }],
        generationConfig: {},
      })
      expect(prepared.dropped).toEqual(['user'])
    })

    it('should send the batch embedding body', () => {
      const prepared = gemini.prepare(
        parsed('embeddings', { model: 'gemini/text-embedding-004', input: ['a'] }),
        provider,
        'text-embedding-004',
      )
      expect(JSON.parse(prepared.body)).toEqual({
        requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] } }],
      })
    })
  })

  describe('respond with a JSON answer', () => {
    const chatRequest = parsed('chat', {
      model: 'gemini/gemini-2.5-flash',
      messages: [{ role: 'user', content: 'high' }],
    })

    it('should answer a chat.completion and report its usage', async () => {
      const [answer] = exchange(recordings.unarySystem).responses
      const ends: ResponseOutcome[] = []
      const result = await gemini.respond(
        new Response(JSON.stringify(answer)),
        chatRequest,
        provider,
        respondContext(ends),
      )
      expect(result.contentType).toBe('application/json')
      expect(result.body).toBeInstanceOf(ArrayBuffer)
      const body = JSON.parse(await text(result.body)) as Record<string, unknown>
      expect(body).toMatchObject({
        id: 'hi77aOvyCJ-jvr0P8syDgQw',
        object: 'chat.completion',
        model: 'gemini-2.5-flash',
        choices: [{ message: { content: 'low' }, finish_reason: 'stop' }],
      })
      expect(Math.abs((body.created as number) - Date.now() / 1000)).toBeLessThan(60)
      expect(ends).toEqual([{ end: 'done', usage: usage(9, 21, 30, 0, 20) }])
    })

    it('should name the requested model, unprefixed, when Gemini names none', async () => {
      const result = await gemini.respond(
        new Response(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'x' }] } }] })),
        chatRequest,
        provider,
        respondContext([]),
      )
      const body = JSON.parse(await text(result.body)) as { id: string; model: string }
      expect(body.model).toBe('gemini-2.5-flash')
      expect(body.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/)
    })

    it('should turn a connection that breaks mid-body into a 502 PROVIDER_ERROR', async () => {
      const broken = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"candidates":['))
          controller.error(new Error('reset'))
        },
      })
      const ends: ResponseOutcome[] = []
      const err = await failure(
        gemini.respond(new Response(broken), chatRequest, provider, respondContext(ends)),
      )
      expect([err.code, err.status]).toEqual(['PROVIDER_ERROR', 502])
      expect(ends).toEqual([])
    })

    it('should turn an error object in a 200 answer into the mapped provider error', async () => {
      const err = await failure(
        gemini.respond(
          new Response(
            JSON.stringify({
              error: {
                code: 429,
                message: `Quota exceeded for key ${provider.apiKey ?? ''}`,
                status: 'RESOURCE_EXHAUSTED',
              },
            }),
          ),
          chatRequest,
          provider,
          respondContext([]),
        ),
      )
      expect([err.code, err.status, err.type]).toEqual(['PROVIDER_ERROR', 429, 'rate_limit_error'])
      expect(err.message).toBe('gemini: Quota exceeded for key [REDACTED]')
    })

    it('should refuse an answer that is not JSON', async () => {
      const err = await failure(
        gemini.respond(new Response('<html>'), chatRequest, provider, respondContext([])),
      )
      expect([err.code, err.status]).toEqual(['PROVIDER_ERROR', 502])
    })

    it('should answer embeddings in base64 when asked, without inventing usage', async () => {
      const ends: ResponseOutcome[] = []
      const result = await gemini.respond(
        new Response(JSON.stringify({ embeddings: [{ values: [1, -2.5] }] })),
        parsed('embeddings', {
          model: 'gemini/gemini-embedding-001',
          input: 'a',
          encoding_format: 'base64',
        }),
        provider,
        respondContext(ends),
      )
      expect(JSON.parse(await text(result.body))).toEqual({
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: 'AACAPwAAIMA=' }],
        model: 'gemini-embedding-001',
        usage: { prompt_tokens: 0, total_tokens: 0 },
      })
      expect(ends).toEqual([{ end: 'done', usage: undefined }])
    })
  })

  describe('respond with a stream', () => {
    const streamRequest = (includeUsage: boolean) =>
      parsed('chat', {
        model: 'gemini-2.5-flash',
        messages: [{ role: 'user', content: 'high' }],
        stream: true,
        stream_options: { include_usage: includeUsage },
      })

    const relay = async (upstream: string, includeUsage = false) => {
      const ends: ResponseOutcome[] = []
      const result = await gemini.respond(
        new Response(upstream),
        streamRequest(includeUsage),
        provider,
        respondContext(ends),
      )
      return { result, body: await text(result.body), ends }
    }

    it('should relay an SSE stream with the usage chunk when asked', async () => {
      const recorded = exchange(recordings.streamSystem)
      const { result, body, ends } = await relay(sseOf(recorded.responses), true)
      expect(result.contentType).toBe('text/event-stream; charset=utf-8')
      expect(body).toContain('"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":513')
      expect(body.endsWith('data: [DONE]\n\n')).toBe(true)
      expect(ends).toEqual([{ end: 'done', usage: usage(20, 513, 533, 0, 260) }])
    })

    it('should relay an in-stream error as an OpenAI error event, secrets redacted', async () => {
      const recorded = exchange(recordings.streamSystem)
      const upstream =
        sseOf(recorded.responses.slice(0, 1)) +
        JSON.stringify({
          error: { code: 500, message: `boom ${provider.apiKey ?? ''}`, status: 'INTERNAL' },
        })
      const { body, ends } = await relay(upstream)
      const last = body.trimEnd().split('\n\n').at(-1) ?? ''
      expect(last.startsWith('event: error\ndata: ')).toBe(true)
      expect(JSON.parse(last.slice('event: error\ndata: '.length))).toEqual({
        error: {
          message: 'gemini: boom [REDACTED]',
          type: 'api_error',
          code: 'PROVIDER_ERROR',
          param: null,
        },
        request_id: 'req-1',
      })
      expect(body).not.toContain('[DONE]')
      expect(ends).toEqual([{ end: 'provider_error', usage: usage(20, 310, 330, 0, 260) }])
    })

    it('should end a cut stream with a STREAM_INTERRUPTED error event', async () => {
      const recorded = exchange(recordings.streamSystem)
      const { body, ends } = await relay(sseOf(recorded.responses.slice(0, 2)))
      const last = body.trimEnd().split('\n\n').at(-1) ?? ''
      expect(JSON.parse(last.slice('event: error\ndata: '.length))).toMatchObject({
        error: { code: 'STREAM_INTERRUPTED', type: 'api_error' },
        request_id: 'req-1',
      })
      expect(ends).toEqual([{ end: 'interrupted', usage: usage(20, 360, 380, 0, 260) }])
    })
  })
})

describe('tool-call ids', () => {
  it('should round-trip a signature through the id in the id alphabet', () => {
    const signature = 'CiQB0e2Kb+/hYz9x1w==' // standard base64 with + / and padding
    const id = toolCallId('call_abc', signature)
    expect(id).toMatch(/^call_abc__thought__[A-Za-z0-9_-]+$/)
    expect(signatureOf(id)).toBe(signature)
  })

  it('should read signatures written in standard base64 (LiteLLM ids)', () => {
    expect(signatureOf('call_x__thought__ab+/cd==')).toBe('ab+/cd==')
  })

  it('should find no signature in plain ids or in a malformed suffix', () => {
    expect(toolCallId('call_abc', undefined)).toBe('call_abc')
    expect(signatureOf('call_4XzlGBLtUe9dy3GVNV4jhq7h')).toBeUndefined()
    expect(signatureOf('call_x__thought__not base64!')).toBeUndefined()
    expect(signatureOf('call_x__thought__')).toBeUndefined()
  })
})
