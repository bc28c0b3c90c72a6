/**
 * The prompt stage: without `floopy-prompt-id` the request passes untouched and the resolver is
 * not asked; with it, the named version of the caller's organisation is applied (template messages
 * first, request fields winning, `inputs` removed), the trace and the answer's headers name the
 * version, and each refusal has its status and code before any later stage runs.
 */
import { Hono } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import type { PromptResolver } from '../../prompts/resolver'
import type { ResolvedPrompt } from '../../prompts/template'
import type { Tenant } from '../../tenancy/tenant'
import { newTrace, type ParsedRequest, type Trace } from '../../types'
import type { AuthVariables } from '../authenticate'
import { toParsedRequest, type ParsedVariables } from '../parse-request'
import { prompt } from '.'

const tenant = { orgId: 'org_1' } as Tenant

const greeting: ResolvedPrompt = {
  prompt_id: 'greet',
  version: 3,
  template: {
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'system', content: 'Greet {{name}} in {{lang}}.' }],
    params: { temperature: 0.2, max_tokens: 10 },
  },
}

type Resolve = PromptResolver['resolve']

const rig = (answer: ResolvedPrompt | null = greeting) => {
  const resolve = vi.fn<Resolve>(() => Promise.resolve(answer))
  const seen: { request: ParsedRequest; trace: Trace }[] = []
  const app = new Hono<StageEnv<AuthVariables & ParsedVariables>>()
  app.use(async (c, next) => {
    const body: unknown = await c.req.json()
    c.set('requestId', 'req_1')
    c.set('trace', newTrace('req_1', undefined))
    c.set('taps', [])
    c.set('tenant', tenant)
    const kind = c.req.path.endsWith('embeddings') ? 'embeddings' : 'chat'
    c.set('request', toParsedRequest(kind, body, c.req.header('floopy-prompt-id') !== undefined))
    await next()
  })
  app.use(prompt({ resolver: { resolve, peek: () => undefined } }))
  app.post('*', (c) => {
    seen.push({ request: c.get('request'), trace: c.get('trace') })
    return c.json({ ok: true })
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  const send = (
    body: unknown,
    headers: Record<string, string> = {},
    path = '/v1/chat/completions',
  ) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  return { send, resolve, seen }
}

const errorOf = async (res: Response) =>
  (await res.json<{ error: { code: string; message: string; param: string | null } }>()).error

describe('prompt', () => {
  it('should pass a request without the header untouched, asking nothing', async () => {
    const r = rig()
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], inputs: { x: 1 } }
    const res = await r.send(body)
    expect(res.status).toBe(200)
    expect(r.resolve).not.toHaveBeenCalled()
    expect(r.seen[0]?.request.body).toEqual(body)
    expect(r.seen[0]?.trace.prompt).toBeUndefined()
    expect(res.headers.get('floopy-prompt-id')).toBeNull()
  })

  it('should apply the version for the caller’s organisation and name it', async () => {
    const r = rig()
    const res = await r.send(
      {
        inputs: { name: 'Ada', lang: 'fr' },
        temperature: 0.9,
        messages: [{ role: 'user', content: 'hi' }],
      },
      { 'floopy-prompt-id': 'greet', 'floopy-prompt-version': 'staging' },
    )
    expect(res.status).toBe(200)
    expect(r.resolve).toHaveBeenCalledWith('org_1', 'greet', 'staging', expect.any(Function))
    expect(r.seen[0]?.request).toEqual({
      kind: 'chat',
      model: 'openai/gpt-4o-mini',
      stream: false,
      includeUsage: false,
      body: {
        model: 'openai/gpt-4o-mini',
        temperature: 0.9,
        max_tokens: 10,
        messages: [
          { role: 'system', content: 'Greet Ada in fr.' },
          { role: 'user', content: 'hi' },
        ],
      },
    })
    expect(r.seen[0]?.trace.prompt).toEqual({ id: 'greet', version: 3 })
    expect(res.headers.get('floopy-prompt-id')).toBe('greet')
    expect(res.headers.get('floopy-prompt-version')).toBe('3')
  })

  it('should let the request’s own model win and keep streaming switches', async () => {
    const r = rig()
    await r.send(
      { model: 'anthropic/claude-sonnet-4-5', stream: true, inputs: { name: 'A', lang: 'B' } },
      { 'floopy-prompt-id': 'greet' },
    )
    expect(r.seen[0]?.request).toMatchObject({ model: 'anthropic/claude-sonnet-4-5', stream: true })
  })

  it.each([
    [{ 'floopy-prompt-id': 'greet' }, { inputs: { name: 'A' } }, 400, 'PROMPT_VARIABLE_MISSING'],
    [{ 'floopy-prompt-id': 'Greet!' }, { inputs: {} }, 400, 'INVALID_REQUEST'],
    [{ 'floopy-prompt-id': 'greet', 'floopy-prompt-version': '-1' }, {}, 400, 'INVALID_REQUEST'],
    [
      { 'floopy-prompt-version': '2' },
      { model: 'm', messages: [{ role: 'user', content: 'x' }] },
      400,
      'INVALID_REQUEST',
    ],
    [{ 'floopy-prompt-id': 'greet' }, { inputs: [1] }, 400, 'INVALID_REQUEST'],
    [{ 'floopy-prompt-id': 'greet' }, { inputs: 'name=A' }, 400, 'INVALID_REQUEST'],
  ])('should refuse %j with %j as %s %s', async (headers, body, status, code) => {
    const r = rig()
    const res = await r.send(body, headers)
    expect(res.status).toBe(status)
    expect((await errorOf(res)).code).toBe(code)
    expect(r.seen).toHaveLength(0)
  })

  it('should name every missing variable with param inputs', async () => {
    const r = rig()
    const error = await errorOf(await r.send({ inputs: {} }, { 'floopy-prompt-id': 'greet' }))
    expect(error).toMatchObject({ code: 'PROMPT_VARIABLE_MISSING', param: 'inputs' })
    expect(error.message).toContain("'name', 'lang'")
  })

  it('should answer 404 for a prompt or version the organisation does not have', async () => {
    const r = rig(null)
    const res = await r.send(
      { inputs: {} },
      { 'floopy-prompt-id': 'greet', 'floopy-prompt-version': '9' },
    )
    expect(res.status).toBe(404)
    expect(await errorOf(res)).toMatchObject({ code: 'PROMPT_NOT_FOUND' })
  })

  it('should refuse a prompt on embeddings without asking the resolver', async () => {
    const r = rig()
    const res = await r.send(
      { model: 'm', input: 'x' },
      { 'floopy-prompt-id': 'greet' },
      '/v1/embeddings',
    )
    expect(res.status).toBe(400)
    expect(r.resolve).not.toHaveBeenCalled()
  })

  it('should check the applied request as a chat completion: a template without a model needs one', async () => {
    const r = rig({ ...greeting, template: { messages: greeting.template.messages } })
    const res = await r.send({ inputs: { name: 'A', lang: 'B' } }, { 'floopy-prompt-id': 'greet' })
    expect(res.status).toBe(400)
    expect(await errorOf(res)).toMatchObject({ code: 'INVALID_REQUEST', param: 'model' })
  })
})
