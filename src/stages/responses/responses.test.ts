/// <reference types="vite/client" />
/**
 * The Responses API entry stage in a small app: the request goes down as the chat completion it
 * translates to; a chat completion answered below comes back as a `response` object, a chat
 * stream as the Responses events; an error answer passes through untouched; the original's
 * `content-length` is never carried over onto the new body. Refusals are answered before anything
 * downstream runs.
 */
import { Hono, type Context } from 'hono'
import { describe, expect, it } from 'vitest'
import textStream from '../../../test/fixtures/openai/fixtures/stream_text_with_usage_e2aad469b71d.sse?raw'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import type { ParsedRequest } from '../../types'
import type { BodyVariables } from '../body-limit'
import type { ParsedVariables } from '../parse-request'
import type { AuthVariables } from '../authenticate'
import type { Tenant } from '../../tenancy/tenant'
import { memoryResponseStore } from '../../stores/embedded/response-store'
import { responses } from '.'

type Json = Record<string, unknown>
type Env = StageEnv<BodyVariables & AuthVariables & ParsedVariables>

const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1727346168,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Paris.', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
}

/** The text of the recorded stream's content deltas. */
const RECORDED_TEXT = textStream
  .split('\n')
  .filter((line) => line.startsWith('data: {'))
  .map((line) => {
    const chunk = JSON.parse(line.slice('data: '.length)) as {
      choices: { delta: { content?: string | null } }[]
    }
    return chunk.choices[0]?.delta.content ?? ''
  })
  .join('')

const bytes = (text: string): number => new TextEncoder().encode(text).length

/** The app: body read into `rawBody`, the stage, then `downstream` in place of the pipeline. */
const rig = (
  downstream: (c: Context<Env>) => Response | Promise<Response>,
  store = memoryResponseStore(),
) => {
  const seen: ParsedRequest[] = []
  const app = new Hono<Env>()
  app.use(async (c, next) => {
    c.set('rawBody', await c.req.text())
    c.set('tenant', { orgId: 'org_acme' } as Tenant)
    await next()
  })
  app.post('/v1/responses', responses({ store }), (c) => {
    seen.push(c.get('request'))
    return downstream(c)
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  const send = (body: unknown, headers: Record<string, string> = {}) =>
    app.request('/v1/responses', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  return { send, seen, store }
}

/** A chat completion JSON answer, with the length header the provider's answer had. */
const jsonAnswer = (body: unknown = COMPLETION): Response => {
  const text = JSON.stringify(body)
  return new Response(text, {
    headers: {
      'content-type': 'application/json',
      'content-length': String(bytes(text)),
      'floopy-provider': 'openai',
      'x-request-id': 'req_1',
    },
  })
}

/** A chat stream answer. */
const sseAnswer = (sse = textStream): Response =>
  new Response(sse, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'floopy-provider': 'openai',
    },
  })

/** The Responses events of a stream answer, parsed. */
const eventsOf = async (res: Response): Promise<Json[]> =>
  (await res.text())
    .split('\n\n')
    .filter((frame) => frame !== '')
    .map((frame) => {
      const data = frame.split('\n').find((line) => line.startsWith('data: ')) ?? 'data: null'
      return JSON.parse(data.slice('data: '.length)) as Json
    })

describe('the responses stage', () => {
  it('should send the request down as its chat completion', async () => {
    const { send, seen } = rig(() => jsonAnswer())
    await send({
      model: 'openai/gpt-4o-mini',
      instructions: 'Be terse.',
      input: 'Capital of France?',
      max_output_tokens: 20,
      store: true,
    })
    expect(seen).toEqual([
      {
        kind: 'chat',
        body: {
          model: 'openai/gpt-4o-mini',
          messages: [
            { role: 'system', content: 'Be terse.' },
            { role: 'user', content: 'Capital of France?' },
          ],
          max_completion_tokens: 20,
        },
        model: 'openai/gpt-4o-mini',
        stream: false,
        includeUsage: false,
      },
    ])
  })

  it('should send a streamed request down streaming, with the usage chunk asked for', async () => {
    const { send, seen } = rig(() => sseAnswer())
    await send({ model: 'openai/gpt-4o-mini', input: 'Hi', stream: true })
    expect(seen[0]).toMatchObject({ stream: true, includeUsage: true })
    expect(seen[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
  })

  it('should answer a chat completion as a response object, without the old content-length', async () => {
    const { send } = rig(() => jsonAnswer())
    const res = await send({
      model: 'openai/gpt-4o-mini',
      input: 'Capital of France?',
      instructions: 'Be terse.',
      metadata: { run: 'r1' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(res.headers.get('x-request-id')).toBe('req_1')
    const text = await res.text()
    // Either no length (the runtime counts it when sending) or the new body's.
    expect(res.headers.get('content-length') ?? String(bytes(text))).toBe(String(bytes(text)))
    expect(res.headers.get('content-length')).not.toBe(String(bytes(JSON.stringify(COMPLETION))))
    const body = JSON.parse(text) as Json
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'gpt-4o-mini-2024-07-18',
      instructions: 'Be terse.',
      metadata: { run: 'r1' },
      store: true,
      output: [{ type: 'message', content: [{ type: 'output_text', text: 'Paris.' }] }],
      usage: { input_tokens: 12, output_tokens: 2, total_tokens: 14 },
    })
  })

  it('should answer a chat stream as the Responses events', async () => {
    const { send } = rig(() => sseAnswer())
    const res = await send({ model: 'openai/gpt-4o-mini', input: 'Hi', stream: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(res.headers.get('content-length')).toBeNull()
    const events = await eventsOf(res)
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i))
    expect(events[0]?.type).toBe('response.created')
    expect(events.at(-1)?.type).toBe('response.completed')
    const text = events
      .filter((event) => event.type === 'response.output_text.delta')
      .map((event) => String(event.delta))
      .join('')
    expect(text).toBe(RECORDED_TEXT)
  })

  it('should not carry a stream’s content-length over onto the events', async () => {
    const { send } = rig(() => {
      const res = sseAnswer()
      res.headers.set('content-length', String(bytes(textStream)))
      return res
    })
    const res = await send({ model: 'openai/gpt-4o-mini', input: 'Hi', stream: true })
    const text = await res.text()
    expect(res.headers.get('content-length') ?? String(bytes(text))).toBe(String(bytes(text)))
    expect(text).toContain('event: response.completed')
  })

  it.each<[number, Json]>([
    [
      429,
      {
        error: {
          message: 'Rate limit reached.',
          type: 'rate_limit_error',
          code: 'RATE_LIMITED',
          param: null,
        },
      },
    ],
    [
      502,
      {
        error: {
          message: 'Upstream failed.',
          type: 'api_error',
          code: 'PROVIDER_ERROR',
          param: null,
        },
      },
    ],
    [
      400,
      {
        error: {
          message: 'Unknown model.',
          type: 'invalid_request_error',
          code: 'UNKNOWN_MODEL',
          param: 'model',
        },
      },
    ],
  ])('should pass a %i answer through untouched', async (status, error) => {
    const text = JSON.stringify(error)
    const { send } = rig(
      () =>
        new Response(text, {
          status,
          headers: {
            'content-type': 'application/json',
            'content-length': String(bytes(text)),
            'retry-after': '7',
          },
        }),
    )
    const res = await send({ model: 'openai/gpt-4o-mini', input: 'Hi' })
    expect(res.status).toBe(status)
    expect(res.headers.get('content-length')).toBe(String(bytes(text)))
    expect(res.headers.get('retry-after')).toBe('7')
    expect(await res.text()).toBe(text)
  })

  it('should pass an answer without a body through', async () => {
    const { send } = rig(() => new Response(null, { status: 200 }))
    const res = await send({ model: 'openai/gpt-4o-mini', input: 'Hi' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('should let a prompted request without input down without messages', async () => {
    const { send, seen } = rig(() => jsonAnswer())
    const res = await send({ inputs: { name: 'Ada' } }, { 'floopy-prompt-id': 'greet' })
    expect(res.status).toBe(200)
    expect(seen[0]?.body).toEqual({ inputs: { name: 'Ada' } })
  })

  describe('refusals, answered before anything downstream', () => {
    it.each<[string, unknown, string]>([
      [
        'previous_response_id',
        { input: 'Hi', previous_response_id: 'resp_1' },
        'previous_response_id',
      ],
      ['a missing input', {}, 'input'],
      ['a hosted tool', { input: 'Hi', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      ['an item_reference', { input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0]'],
    ])('should refuse %s with 400 naming the field', async (_name, fields, param) => {
      const { send, seen } = rig(() => jsonAnswer())
      const res = await send({ model: 'openai/gpt-4o-mini', ...(fields as Json) })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_REQUEST', param } })
      expect(seen).toEqual([])
    })

    it('should refuse a body that is not an object', async () => {
      const { send, seen } = rig(() => jsonAnswer())
      const res = await send('[1, 2]')
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_REQUEST', param: 'body' } })
      expect(seen).toEqual([])
    })

    it('should refuse a body that is not JSON', async () => {
      const { send, seen } = rig(() => jsonAnswer())
      const res = await send('{"model":')
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_JSON' } })
      expect(seen).toEqual([])
    })

    it('should refuse a body that is not sent as JSON', async () => {
      const { send, seen } = rig(() => jsonAnswer())
      const res = await send('model=x', { 'content-type': 'application/x-www-form-urlencoded' })
      expect(res.status).toBe(415)
      expect(await res.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } })
      expect(seen).toEqual([])
    })
  })
})

describe('stored responses', () => {
  it('should resolve previous_response_id and item references from what it stored', async () => {
    const { send, seen } = rig(() => jsonAnswer())
    const first = await (
      await send({ model: 'm', input: 'Capital of France?' })
    ).json<{
      id: string
      output: { id: string }[]
    }>()
    const messageId = first.output[0]?.id ?? ''
    await send({ model: 'm', previous_response_id: first.id, input: 'And Germany?' })
    expect(seen[1]?.body.messages).toEqual([
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'And Germany?' },
    ])
    await send({
      model: 'm',
      input: [
        { role: 'user', content: 'Capital of France?' },
        { type: 'item_reference', id: messageId },
        { role: 'user', content: 'Sure?' },
      ],
    })
    expect(seen[2]?.body.messages).toEqual([
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'Sure?' },
    ])
  })

  it('should keep nothing with store: false, and refuse an unknown reference naming it', async () => {
    const { send } = rig(() => jsonAnswer())
    const first = await (
      await send({ model: 'm', input: 'Hi', store: false })
    ).json<{
      id: string
      store: boolean
    }>()
    expect(first.store).toBe(false)
    const res = await send({ model: 'm', previous_response_id: first.id, input: 'Again' })
    expect(res.status).toBe(400)
    expect((await res.json<{ error: { param: string } }>()).error.param).toBe(
      'previous_response_id',
    )
    const ref = await send({ model: 'm', input: [{ type: 'item_reference', id: 'msg_nope' }] })
    expect((await ref.json<{ error: { param: string } }>()).error.param).toBe('input[0]')
  })
})
