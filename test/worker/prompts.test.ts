/**
 * Prompt templates through the pipeline inside workerd, from the embedded store
 * (`FLOOPY_TENANTS`): `floopy-prompt-id` selects a prompt by label or number, `inputs` fill it
 * strictly, the request's own fields win, `inputs` never reaches the provider, another
 * organisation's prompt is invisible, the render endpoint answers without a model call, and the
 * log row names the prompt and version.
 */
import { createClient } from '@clickhouse/client-web'
import { describe, expect, inject, it } from 'vitest'
import type { PromptRow, PromptVersionRow } from '../../src/stores/embedded/tenants-file'
import { CLICKHOUSE_PASSWORD, CLICKHOUSE_USER } from '../support/bindings'
import { mergeTenants, NOW, tenantsFile } from '../support/tenants-file'
import { parseSse, received, uniqueTag, withBindings } from './helpers'

const prompt = (
  orgId: string,
  promptId: string,
  labels: Record<string, number>,
  templates: unknown[],
): { prompts: PromptRow[]; prompt_versions: PromptVersionRow[] } => ({
  prompts: [
    {
      id: `p_${orgId}_${promptId}`,
      org_id: orgId,
      prompt_id: promptId,
      labels,
      created_at: NOW,
      updated_at: NOW,
    },
  ],
  prompt_versions: templates.map((template, i) => ({
    prompt: `p_${orgId}_${promptId}`,
    version: i + 1,
    template,
    created_at: NOW,
  })),
})

const support = prompt('org_prompts', 'support.reply', { production: 2, staging: 3 }, [
  { messages: [{ role: 'system', content: 'v1 for {{customer}}' }] },
  {
    model: 'openai/gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You help {{ customer }} with {{product}}.' },
      { role: 'user', content: [{ type: 'text', text: 'Order {{order}}: {{details}}' }] },
    ],
    params: {
      temperature: 0.1,
      max_tokens: 50,
      response_format: { type: 'json_object' },
      tools: [
        {
          type: 'function',
          function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
        },
      ],
    },
  },
  { messages: [{ role: 'system', content: 'v3 staging' }] },
])

const setup = async () => {
  const mine = await tenantsFile('org_prompts', support)
  const other = await tenantsFile(
    'org_other',
    prompt('org_other', 'secret', {}, [{ messages: [{ role: 'system', content: 'secret' }] }]),
  )
  const bindings = {
    FLOOPY_TENANTS: JSON.stringify(mergeTenants(mine.file, other.file)),
    FLOOPY_DEV_API_KEY: undefined,
  }
  const send = (
    path: string,
    body: unknown,
    headers: Record<string, string>,
    key = mine.key,
  ): Promise<Response> =>
    withBindings(
      bindings,
      new Request(`http://gateway${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    )
  return { send, otherKey: other.key }
}

const inputs = { customer: 'Ada', product: 'Floopy', order: 42, details: { rush: true } }

type ErrorBody = { error: { code: string; message: string; param: string | null } }

describe('prompt templates', () => {
  it('should fill the production version and send it with the request’s own messages after', async () => {
    const { send } = await setup()
    const tag = uniqueTag()
    const res = await send(
      '/v1/chat/completions',
      { inputs, messages: [{ role: 'user', content: 'and more' }], temperature: 0.7 },
      { 'floopy-prompt-id': 'support.reply', 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-prompt-id')).toBe('support.reply')
    expect(res.headers.get('floopy-prompt-version')).toBe('2')
    const [sent] = await received(tag)
    expect(sent?.body).toEqual({
      model: 'gpt-4o-mini',
      temperature: 0.7, // the request's own field wins over the template's 0.1
      max_tokens: 50,
      response_format: { type: 'json_object' },
      tools: [
        {
          type: 'function',
          function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
        },
      ],
      messages: [
        { role: 'system', content: 'You help Ada with Floopy.' },
        { role: 'user', content: [{ type: 'text', text: 'Order 42: {"rush":true}' }] },
        { role: 'user', content: 'and more' },
      ],
    })
  })

  it.each([
    ['1', '1', 'v1 for Ada'],
    ['3', '3', 'v3 staging'],
    ['staging', '3', 'v3 staging'],
    ['production', '2', 'You help Ada with Floopy.'],
  ])('should resolve floopy-prompt-version %s to version %s', async (selector, version, text) => {
    const { send } = await setup()
    const tag = uniqueTag()
    const res = await send(
      '/v1/chat/completions',
      { model: 'openai/gpt-4o-mini', inputs },
      { 'floopy-prompt-id': 'support.reply', 'floopy-prompt-version': selector, 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-prompt-version')).toBe(version)
    const [sent] = await received(tag)
    expect((sent?.body as { messages: { content: unknown }[] }).messages[0]?.content).toBe(text)
  })

  it('should stream a templated request', async () => {
    const { send } = await setup()
    const res = await send(
      '/v1/chat/completions',
      { inputs, stream: true },
      { 'floopy-prompt-id': 'support.reply' },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-prompt-version')).toBe('2')
    const events = parseSse(await res.text())
    expect(events.at(-1)?.data).toBe('[DONE]')
  })

  it('should name every missing variable in one 400 and call no provider', async () => {
    const { send } = await setup()
    const tag = uniqueTag()
    const res = await send(
      '/v1/chat/completions',
      { inputs: { customer: 'Ada', extra: 'unused' } },
      { 'floopy-prompt-id': 'support.reply', 'x-fake-tag': tag },
    )
    expect(res.status).toBe(400)
    const body = await res.json<ErrorBody>()
    expect(body.error.code).toBe('PROMPT_VARIABLE_MISSING')
    expect(body.error.param).toBe('inputs')
    for (const name of ['product', 'order', 'details']) expect(body.error.message).toContain(name)
    expect(body.error.message).not.toContain("'customer'")
    expect(await received(tag)).toHaveLength(0)
  })

  it.each([
    [{ 'floopy-prompt-id': 'nope' }, {}, 404, 'PROMPT_NOT_FOUND'],
    [
      { 'floopy-prompt-id': 'support.reply', 'floopy-prompt-version': '9' },
      {},
      404,
      'PROMPT_NOT_FOUND',
    ],
    [
      { 'floopy-prompt-id': 'support.reply', 'floopy-prompt-version': 'beta' },
      {},
      404,
      'PROMPT_NOT_FOUND',
    ],
    [{ 'floopy-prompt-id': 'secret' }, {}, 404, 'PROMPT_NOT_FOUND'],
    [{ 'floopy-prompt-id': 'Bad Id' }, {}, 400, 'INVALID_REQUEST'],
    [
      { 'floopy-prompt-id': 'support.reply', 'floopy-prompt-version': 'v 1' },
      {},
      400,
      'INVALID_REQUEST',
    ],
    [{ 'floopy-prompt-id': 'support.reply' }, { inputs: ['x'] }, 400, 'INVALID_REQUEST'],
    [{ 'floopy-prompt-id': 'support.reply' }, { inputs: 'x' }, 400, 'INVALID_REQUEST'],
  ])('should refuse %j with body %j as %s %s', async (headers, body, status, code) => {
    const { send } = await setup()
    const tag = uniqueTag()
    const res = await send('/v1/chat/completions', body, { ...headers, 'x-fake-tag': tag })
    expect(res.status).toBe(status)
    expect((await res.json<ErrorBody>()).error.code).toBe(code)
    expect(await received(tag)).toHaveLength(0)
  })

  it('should not serve another organisation’s prompt, even to its own key ids', async () => {
    const { send, otherKey } = await setup()
    const res = await send(
      '/v1/chat/completions',
      { inputs },
      { 'floopy-prompt-id': 'support.reply' },
      otherKey,
    )
    expect(res.status).toBe(404)
  })

  it('should refuse a prompt on embeddings', async () => {
    const { send } = await setup()
    const res = await send(
      '/v1/embeddings',
      { model: 'openai/text-embedding-3-small', input: 'x' },
      { 'floopy-prompt-id': 'support.reply' },
    )
    expect(res.status).toBe(400)
    expect((await res.json<ErrorBody>()).error.code).toBe('INVALID_REQUEST')
  })

  it('should still require model and messages without a prompt', async () => {
    const { send } = await setup()
    const res = await send('/v1/chat/completions', { inputs }, {})
    expect(res.status).toBe(400)
    expect((await res.json<ErrorBody>()).error.param).toBe('model')
  })
})

describe('POST /v1/prompts/{id}/render', () => {
  it('should answer the filled messages, model and parameters without calling a model', async () => {
    const { send } = await setup()
    const tag = uniqueTag()
    const res = await send('/v1/prompts/support.reply/render', { inputs }, { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      object: 'prompt.render',
      prompt_id: 'support.reply',
      version: 2,
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You help Ada with Floopy.' },
        { role: 'user', content: [{ type: 'text', text: 'Order 42: {"rush":true}' }] },
      ],
      params: {
        temperature: 0.1,
        max_tokens: 50,
        response_format: { type: 'json_object' },
        tools: [
          {
            type: 'function',
            function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
          },
        ],
      },
    })
    expect(await received(tag)).toHaveLength(0)
  })

  it('should render a version by number or label', async () => {
    const { send } = await setup()
    const res = await send('/v1/prompts/support.reply/render', { inputs, version: 'staging' }, {})
    expect(await res.json()).toMatchObject({ version: 3, model: null, params: {} })
    const one = await send('/v1/prompts/support.reply/render', { inputs, version: 1 }, {})
    expect(await one.json()).toMatchObject({ version: 1 })
  })

  it.each([
    ['support.reply', { inputs: {} }, 400, 'PROMPT_VARIABLE_MISSING'],
    ['nope', { inputs }, 404, 'PROMPT_NOT_FOUND'],
    ['secret', { inputs }, 404, 'PROMPT_NOT_FOUND'],
    ['support.reply', { inputs: 3 }, 400, 'INVALID_REQUEST'],
    ['support.reply', { inputs, version: true }, 400, 'INVALID_REQUEST'],
  ])('should refuse %s with %j as %s %s', async (id, body, status, code) => {
    const { send } = await setup()
    const res = await send(`/v1/prompts/${id}/render`, body, {})
    expect(res.status).toBe(status)
    expect((await res.json<ErrorBody>()).error.code).toBe(code)
  })
})

describe('the log row of a templated request', () => {
  it('should name the prompt and the version used', async () => {
    const { send } = await setup()
    const res = await send(
      '/v1/chat/completions',
      { inputs },
      { 'floopy-prompt-id': 'support.reply' },
    )
    expect(res.status).toBe(200)
    const id = res.headers.get('x-request-id') ?? ''
    const clickhouse = createClient({
      url: inject('clickhouseUrl'),
      username: CLICKHOUSE_USER,
      password: CLICKHOUSE_PASSWORD,
      database: 'floopy',
    })
    let rows: { prompt_id: string; prompt_version: number }[] = []
    for (let i = 0; i < 120 && rows.length === 0; i++) {
      const result = await clickhouse.query({
        query: 'SELECT prompt_id, prompt_version FROM request_logs WHERE request_id = {id:String}',
        query_params: { id },
        format: 'JSONEachRow',
      })
      rows = await result.json()
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 500))
    }
    expect(rows).toEqual([{ prompt_id: 'support.reply', prompt_version: 2 }])
  }, 90_000)
})
