/**
 * Amazon Bedrock through the whole gateway inside workerd, against the fake Bedrock Runtime
 * (`test/support/fakes/bedrock.ts`), which verifies every SigV4 signature (scope `bedrock`, the
 * canonical URI double-encoded) and checks every Converse body against the service model and the
 * conversation rules Bedrock enforces: what it records as violations must stay empty.
 */
import { describe, expect, it } from 'vitest'
import { parseKeyring, sealProviderKey } from '../../src/security/vault'
import { BEDROCK_API_KEY, BEDROCK_REGION, BEDROCK_SESSION_CREDENTIALS } from '../support/bindings'
import { NOW, tenantsFile } from '../support/tenants-file'
import {
  authHeaders,
  chat,
  chunksOf,
  fakeUrl,
  gatewayWithBindings,
  parseSse,
  post,
  received,
  uniqueTag,
  usageChunks,
  withBindings,
} from './helpers'

const HAIKU = 'bedrock/anthropic.claude-3-haiku-20240307-v1:0'
const NOVA = 'bedrock/us.amazon.nova-lite-v1:0'
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

type Completion = {
  model: string
  choices: {
    message: {
      content: string | null
      tool_calls?: { id: string; function: { name: string; arguments: string } }[]
    }
    finish_reason: string
  }[]
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
}

const request = (body: unknown, headers: Record<string, string> = {}): Request =>
  new Request('http://gateway/v1/chat/completions', {
    method: 'POST',
    headers: authHeaders(headers),
    body: JSON.stringify(body),
  })

/** What the fake recorded for `tag`: one request, signed and shaped as Bedrock wants. */
const seenClean = async (tag: string) => {
  const seen = await received(tag)
  expect(seen).toHaveLength(1)
  expect(seen[0]?.violations).toEqual([])
  return seen[0]
}

describe('Bedrock through the gateway', () => {
  it("should answer a chat completion, signed with SigV4 for the operator's credentials", async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat(HAIKU, {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
        ],
        max_tokens: 64,
        temperature: 0.5,
        seed: 7,
      }),
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('bedrock')
    expect(res.headers.get('floopy-model')).toBe('anthropic.claude-3-haiku-20240307-v1:0')
    expect(res.headers.get('floopy-dropped-params')).toBe('seed')
    const body = await res.json<Completion>()
    expect(body.model).toBe('anthropic.claude-3-haiku-20240307-v1:0')
    expect(typeof body.choices[0]?.message.content).toBe('string')
    expect(body.choices[0]?.finish_reason).toBe('stop')
    expect(body.usage.total_tokens).toBeGreaterThan(0)
    const seen = await seenClean(tag)
    expect(seen?.body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
      system: [{ text: 'Be brief.' }],
      inferenceConfig: { maxTokens: 64, temperature: 0.5 },
    })
  })

  it('should stream chunks with the usage chunk and [DONE]', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat(NOVA, { stream: true, stream_options: { include_usage: true } }),
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const messages = parseSse(await res.text())
    expect(messages.at(-1)?.data).toBe('[DONE]')
    expect(messages.some((m) => m.event === 'error')).toBe(false)
    const chunks = chunksOf(messages)
    const text = chunks
      .flatMap((c) =>
        (c.choices as { delta: { content?: string } }[]).map((ch) => ch.delta.content ?? ''),
      )
      .join('')
    expect(text.length).toBeGreaterThan(0)
    expect(usageChunks(chunks)).toHaveLength(1)
    await seenClean(tag)
  })

  it('should run a tool round trip, results answering the calls', async () => {
    const first = uniqueTag()
    const res = await post('/v1/chat/completions', chat(HAIKU, { tools: [weatherTool] }), {
      'x-fake-tag': first,
    })
    const body = await res.json<Completion>()
    expect(body.choices[0]?.finish_reason).toBe('tool_calls')
    const calls = body.choices[0]?.message.tool_calls ?? []
    expect(calls.length).toBeGreaterThan(0)
    await seenClean(first)

    const second = uniqueTag()
    const reply = await post(
      '/v1/chat/completions',
      chat(HAIKU, {
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: calls.map((c) => ({ ...c, type: 'function' })),
          },
          ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: '18°C, sunny' })),
        ],
      }),
      { 'x-fake-tag': second },
    )
    expect(reply.status).toBe(200)
    expect((await reply.json<Completion>()).choices[0]?.finish_reason).toBe('stop')
    await seenClean(second)
  })

  it('should send images as bytes and a JSON schema as a forced tool', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/chat/completions',
      chat(NOVA, {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe it as JSON.' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            ],
          },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'd',
            schema: { type: 'object', properties: { d: { type: 'string' } } },
          },
        },
      }),
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    const body = await res.json<Completion>()
    expect(body.choices[0]?.message.tool_calls).toBeUndefined()
    expect(() => JSON.parse(body.choices[0]?.message.content ?? '') as unknown).not.toThrow()
    await seenClean(tag)
  })

  it('should refuse a remote image URL before calling Bedrock', async () => {
    const res = await post(
      '/v1/chat/completions',
      chat(NOVA, {
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }],
          },
        ],
      }),
    )
    expect(res.status).toBe(400)
    const body = await res.json<{ error: { code: string; param: string } }>()
    expect(body.error).toMatchObject({
      code: 'UNSUPPORTED_BY_PROVIDER',
      param: 'messages.0.content.0.image_url.url',
    })
  })

  it('should answer embeddings with UNSUPPORTED_BY_PROVIDER', async () => {
    const res = await post('/v1/embeddings', {
      model: 'bedrock/amazon.titan-embed-text-v2:0',
      input: 'x',
    })
    expect(res.status).toBe(400)
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe(
      'UNSUPPORTED_BY_PROVIDER',
    )
  })

  it('should sign in with a Bedrock API key, and with temporary credentials', async () => {
    const apiKey = uniqueTag()
    const byKey = await withBindings(
      {
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_BEARER_TOKEN_BEDROCK: BEDROCK_API_KEY,
      },
      request(chat(HAIKU), { 'x-fake-tag': apiKey }),
    )
    expect(byKey.status).toBe(200)
    await seenClean(apiKey)

    const session = uniqueTag()
    const bySession = await withBindings(
      {
        AWS_ACCESS_KEY_ID: BEDROCK_SESSION_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: BEDROCK_SESSION_CREDENTIALS.secretAccessKey,
        AWS_SESSION_TOKEN: BEDROCK_SESSION_CREDENTIALS.sessionToken,
      },
      request(chat(HAIKU, { stream: true }), { 'x-fake-tag': session }),
    )
    expect(bySession.status).toBe(200)
    expect(await bySession.text()).toContain('data: [DONE]')
    await seenClean(session)
  })

  it('should refuse a wrong secret with the mapped AWS error and nothing secret', async () => {
    const res = await withBindings(
      { AWS_SECRET_ACCESS_KEY: 'not-the-secret-at-all-0000000000000000000' },
      request(chat(HAIKU)),
    )
    // AWS answers 403; a credential the provider refuses is a 401 to the client, as elsewhere.
    expect(res.status).toBe(401)
    const text = await res.text()
    expect(text).toContain('InvalidSignatureException')
    expect(text).toContain('authentication_error')
    expect(text).not.toContain('not-the-secret-at-all')
  })

  it('should map throttling to 429 and a loading model to a retryable status', async () => {
    const throttled = await post('/v1/chat/completions', chat(HAIKU), { 'x-fake-status': '429' })
    expect(throttled.status).toBe(429)
    expect(
      (await throttled.json<{ error: { type: string; message: string } }>()).error,
    ).toMatchObject({
      type: 'rate_limit_error',
      message: expect.stringContaining('ThrottlingException') as unknown,
    })
    const unavailable = await post('/v1/chat/completions', chat(HAIKU), { 'x-fake-status': '503' })
    expect(unavailable.status).toBe(503)
  })

  it('should end a stream with an error event on an exception, a bad CRC or a cut frame', async () => {
    const stream = chat(HAIKU, { stream: true })
    const exception = await post('/v1/chat/completions', stream, {
      'x-fake-exception': 'throttlingException',
    })
    const thrown = parseSse(await exception.text())
    expect(thrown.at(-1)?.event).toBe('error')
    expect(thrown.at(-1)?.data).toContain('rate_limit_error')

    const corrupt = await post('/v1/chat/completions', stream, { 'x-fake-bad-crc': '3' })
    const corrupted = parseSse(await corrupt.text())
    expect(corrupted.at(-1)?.event).toBe('error')
    expect(corrupted.at(-1)?.data).toContain('message checksum mismatch')

    const cut = await post('/v1/chat/completions', stream, {
      'x-fake-cut-after': '3',
      'x-fake-cut-mid-frame': '1',
    })
    const cutShort = parseSse(await cut.text())
    expect(cutShort.at(-1)?.event).toBe('error')
    expect(cutShort.at(-1)?.data).toContain('STREAM_INTERRUPTED')
    expect(cutShort.some((m) => m.data === '[DONE]')).toBe(false)
  })

  it('should list Bedrock models in /v1/models', async () => {
    const res = await withBindings(
      {},
      new Request('http://gateway/v1/models', { headers: authHeaders() }),
    )
    const ids = (await res.json<{ data: { id: string }[] }>()).data.map((m) => m.id)
    expect(ids).toContain('bedrock/anthropic.claude-3-haiku-20240307-v1:0')
    expect(ids).toContain('bedrock/amazon.nova-pro-v1:0')
  })
})

/** Sets fault headers on every request the fake providers get for `model` (a body's model). */
const fault = async (model: string, headers: Record<string, string>): Promise<void> => {
  const res = await fetch(`${fakeUrl()}/__fake/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, headers }),
  })
  expect(res.status).toBe(200)
}

const heal = async (model: string): Promise<void> => {
  const res = await fetch(`${fakeUrl()}/__fake/faults?model=${encodeURIComponent(model)}`, {
    method: 'DELETE',
  })
  await res.body?.cancel()
}

describe("Bedrock as a routing target and with an organisation's own credentials", () => {
  const KEYRING = JSON.stringify({ current: 'k1', keys: { k1: btoa('k'.repeat(32)) } })

  const tenantGateway = async (
    targets: { provider: string; model: string }[],
    providerKey?: string,
    settings: Record<string, string> = {},
  ) => {
    const orgId = `org_${uniqueTag()}`
    const { key, file: tenants } = await tenantsFile(orgId, {
      provider_keys:
        providerKey === undefined
          ? []
          : [
              {
                id: `pk_${orgId}`,
                org_id: orgId,
                provider: 'bedrock',
                envelope: sealProviderKey(
                  parseKeyring(KEYRING),
                  { orgId, provider: 'bedrock' },
                  providerKey,
                ),
                created_at: NOW,
                updated_at: NOW,
              },
            ],
      routing_rules: [
        {
          id: `rule_${orgId}`,
          org_id: orgId,
          api_key_id: null,
          model: null,
          strategy: 'fallback',
          targets,
          created_at: NOW,
          updated_at: NOW,
        },
      ],
    })
    const gateway = gatewayWithBindings({
      FLOOPY_TENANTS: JSON.stringify(tenants),
      FLOOPY_DEV_API_KEY: undefined,
      FLOOPY_VAULT_KEKS: KEYRING,
      ...settings,
    })
    return (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      gateway(
        new Request('http://gateway/v1/chat/completions', {
          method: 'POST',
          headers: { ...authHeaders(headers), authorization: `Bearer ${key}` },
          body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], ...body }),
        }),
      )
  }

  it('should fall over to Bedrock from a failing target', async () => {
    const failing = `gpt-4o-mini-${uniqueTag().slice(0, 8)}`
    await fault(failing, { 'x-fake-status': '503' })
    try {
      const tag = uniqueTag()
      const chatWith = await tenantGateway([
        { provider: 'openai', model: failing },
        { provider: 'bedrock', model: 'amazon.nova-lite-v1:0' },
      ])
      const res = await chatWith({ model: 'any', stream: true }, { 'x-fake-tag': tag })
      expect(res.status).toBe(200)
      expect(res.headers.get('floopy-provider')).toBe('bedrock')
      expect(Number(res.headers.get('floopy-attempts'))).toBeGreaterThan(1)
      expect(await res.text()).toContain('data: [DONE]')
      const bedrockCalls = (await received(tag)).filter((r) => r.provider === 'bedrock')
      expect(bedrockCalls.map((r) => r.violations)).toEqual([[]])
    } finally {
      await heal(failing)
    }
  })

  it('should fall over from a Bedrock target that cannot be reached', async () => {
    const chatWith = await tenantGateway(
      [
        { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0' },
        { provider: 'openai', model: 'gpt-4o-mini' },
      ],
      undefined,
      // Nothing can listen on port 0: the connection is refused at once.
      { BEDROCK_BASE_URL: 'http://127.0.0.1:0/bedrock' },
    )
    const res = await chatWith({ model: 'any' })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
    expect(Number(res.headers.get('floopy-attempts'))).toBeGreaterThan(1)
  })

  it("should sign with the organisation's stored credentials", async () => {
    const tag = uniqueTag()
    const chatWith = await tenantGateway(
      [{ provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0' }],
      JSON.stringify({ region: BEDROCK_REGION, apiKey: BEDROCK_API_KEY }),
    )
    const res = await chatWith({ model: 'any' }, { 'x-fake-tag': tag })
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('bedrock')
    const seen = await seenClean(tag)
    expect(seen?.headers.authorization).toBe(`Bearer ${BEDROCK_API_KEY}`)
  })
})
