/**
 * @module Self-tests of the test doubles: the schema validator (`test/support/openapi.ts`) against
 * the recorded upstream payloads, and the fake providers (`test/support/fake-providers.ts`) against
 * the providers' schemas and the wire behaviour the gateway's tests rely on (usage placement,
 * strict Mistral validation, abrupt cuts, base64 embeddings).
 */
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureNames, startFakeProviders } from '../support/fake-providers.ts'
import type { FakeProviders, RecordedRequest } from '../support/fake-providers.ts'
import { validateMistral, validateOpenAI } from '../support/openapi.ts'

const FIXTURES = new URL('../fixtures/openai/fixtures/', import.meta.url)
const AUTH = { authorization: 'Bearer test-upstream-key', 'content-type': 'application/json' }
const USER = [{ role: 'user', content: 'What is the weather in Paris?' }]
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'lookup_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  },
  { type: 'function', function: { name: 'lookup_stock', parameters: { type: 'object' } } },
]

const CHAT = {
  openai: '/openai/v1/chat/completions',
  groq: '/groq/openai/v1/chat/completions',
  mistral: '/mistral/v1/chat/completions',
  deepseek: '/deepseek/chat/completions',
  together: '/together/v1/chat/completions',
  custom: '/custom/v1/chat/completions',
} as const
type ProviderName = keyof typeof CHAT
const PROVIDER_NAMES = Object.keys(CHAT) as ProviderName[]

const MODELS: Record<ProviderName, string> = {
  openai: '/openai/v1/models',
  groq: '/groq/openai/v1/models',
  mistral: '/mistral/v1/models',
  deepseek: '/deepseek/models',
  together: '/together/v1/models',
  custom: '/custom/v1/models',
}

type Chunk = {
  id?: string
  model?: string
  choices: Array<{
    index: number
    delta: {
      content?: string | null
      reasoning_content?: string | null
      tool_calls?: Array<{
        index: number
        id?: string
        function?: { name?: string; arguments?: string }
      }>
    }
    finish_reason: string | null
  }>
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null
  x_groq?: {
    id?: string
    usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  }
}

type Sse = { chunks: Chunk[]; comments: string[]; other: string[]; done: boolean }

/** Splits an SSE body into JSON chunks, `:` comments, and anything else (`[DONE]` is noted). */
const parseSse = (text: string): Sse => {
  const sse: Sse = { chunks: [], comments: [], other: [], done: false }
  for (const block of text.split('\n\n').filter((part) => part.trim() !== '')) {
    if (block.startsWith(':')) sse.comments.push(block.slice(1).trim())
    else if (block === 'data: [DONE]') sse.done = true
    else if (block.startsWith('data: ')) sse.chunks.push(JSON.parse(block.slice(6)) as Chunk)
    else sse.other.push(block)
  }
  return sse
}

const content = (chunks: Chunk[]): string =>
  chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '')).join('')

const toolCalls = (chunks: Chunk[]): Map<number, { id: string; name: string; args: string }> => {
  const calls = new Map<number, { id: string; name: string; args: string }>()
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      for (const call of choice.delta.tool_calls ?? []) {
        const entry = calls.get(call.index) ?? { id: '', name: '', args: '' }
        entry.id = call.id ?? entry.id
        entry.name = call.function?.name ?? entry.name
        entry.args += call.function?.arguments ?? ''
        calls.set(call.index, entry)
      }
    }
  }
  return calls
}

const recorded = (name: string): Sse => parseSse(readFileSync(new URL(name, FIXTURES), 'utf8'))

const stem = (name: string): string => name.replace(/_[0-9a-f]{12}\.sse$/, '')

let fake: FakeProviders

beforeAll(async () => {
  fake = await startFakeProviders()
})

afterAll(async () => {
  await fake.close()
})

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
  })

const readJson = async (res: Response): Promise<unknown> => (await res.json()) as unknown

const recordedWithTag = async (tag: string): Promise<RecordedRequest[]> => {
  const res = await fetch(`${fake.url}/__fake/requests?tag=${encodeURIComponent(tag)}`)
  return (await readJson(res)) as RecordedRequest[]
}

describe('openapi validator', () => {
  it.each(fixtureNames())('should accept every recorded chunk of %s', (name) => {
    const { chunks, done } = recorded(name)
    expect(chunks.length).toBeGreaterThan(2)
    expect(done).toBe(true)
    for (const chunk of chunks) {
      expect(validateOpenAI('CreateChatCompletionStreamResponse', chunk)).toEqual([])
    }
  })

  it.each(['embeddings-float-response.json', 'embeddings-base64-response.json'])(
    'should accept the recorded %s as CreateEmbeddingResponse',
    (name) => {
      const body: unknown = JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'))
      expect(validateOpenAI('CreateEmbeddingResponse', body)).toEqual([])
    },
  )

  it('should reject chunks and embeddings the schema forbids', () => {
    const [first] = recorded('stream_text_with_usage_e2aad469b71d.sse').chunks
    const badFinish = { ...first, choices: [{ index: 0, delta: {}, finish_reason: 'done' }] }
    expect(validateOpenAI('CreateChatCompletionStreamResponse', badFinish)).not.toEqual([])
    expect(
      validateOpenAI('CreateChatCompletionStreamResponse', { ...first, choices: undefined }),
    ).toEqual([expect.stringContaining("required property 'choices'")])
    const toolChunk = {
      ...first,
      choices: [{ index: 0, delta: { tool_calls: [{ id: 'x' }] }, finish_reason: null }],
    }
    expect(validateOpenAI('CreateChatCompletionStreamResponse', toolChunk).join()).toContain(
      "'index'",
    )
    const embedding = { object: 'list', model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } }
    const notBase64 = { ...embedding, data: [{ object: 'embedding', index: 0, embedding: 'a b!' }] }
    expect(validateOpenAI('CreateEmbeddingResponse', notBase64)).not.toEqual([])
  })

  it('should validate the other OpenAI schemas the suites use', () => {
    const error = {
      error: { message: 'm', type: 'invalid_request_error', param: null, code: null },
    }
    expect(validateOpenAI('ErrorResponse', error)).toEqual([])
    expect(validateOpenAI('ErrorResponse', { error: { message: 'm' } })).not.toEqual([])
    const model = { id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'system' }
    expect(validateOpenAI('Model', model)).toEqual([])
    expect(validateOpenAI('ListModelsResponse', { object: 'list', data: [model] })).toEqual([])
    expect(validateOpenAI('Model', { ...model, created: '1' })).not.toEqual([])
    expect(validateOpenAI('CreateEmbeddingRequest', { model: 'm', input: ['a'] })).toEqual([])
    expect(validateOpenAI('CreateEmbeddingRequest', { model: 'm', input: 'a', x: 1 })).not.toEqual(
      [],
    )
    expect(validateOpenAI('CreateChatCompletionRequest', { model: 'm', messages: [] })).not.toEqual(
      [],
    )
    expect(() => validateOpenAI('NoSuchSchema', {})).toThrow(/no schema named NoSuchSchema/)
  })

  it('should reject OpenAI-only request fields under the strict Mistral schema', () => {
    const base = { model: 'mistral-small-latest', messages: USER }
    expect(validateMistral('ChatCompletionRequest', base)).toEqual([])
    expect(validateOpenAI('CreateChatCompletionRequest', { ...base, user: 'u' })).toEqual([])
    for (const extra of [
      { stream_options: { include_usage: true } },
      { user: 'u' },
      { max_completion_tokens: 5 },
    ]) {
      const [field] = Object.keys(extra)
      expect(validateMistral('ChatCompletionRequest', { ...base, ...extra })).toEqual([
        expect.stringContaining(`'${field}'`),
      ])
    }
    expect(validateMistral('EmbeddingRequest', { model: 'mistral-embed', input: ['a'] })).toEqual(
      [],
    )
    expect(
      validateMistral('EmbeddingRequest', { model: 'mistral-embed', input: 'a', dimensions: 4 }),
    ).not.toEqual([])
  })
})

describe('fake providers: chat streams', () => {
  const cases = PROVIDER_NAMES.flatMap((provider) =>
    fixtureNames().map((name) => [provider, name] as const),
  )

  it.each(cases)(
    'should replay through %s the recorded %s as valid chunks',
    async (provider, name) => {
      // Groq and Mistral reject stream_options; the others get the usage chunk.
      const options =
        provider === 'groq' || provider === 'mistral'
          ? {}
          : { stream_options: { include_usage: true } }
      const model = `model-for-${provider}`
      const res = await post(
        CHAT[provider],
        { model, messages: USER, tools: TOOLS, stream: true, ...options },
        { 'x-fake-fixture': stem(name) },
      )
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const sse = parseSse(await res.text())
      expect(sse.done).toBe(true)
      expect(sse.other).toEqual([])
      for (const chunk of sse.chunks) {
        expect(validateOpenAI('CreateChatCompletionStreamResponse', chunk)).toEqual([])
        if (provider === 'mistral') expect(validateMistral('CompletionChunk', chunk)).toEqual([])
        expect(chunk.model).toBe(model)
      }
      const original = recorded(name).chunks
      expect(content(sse.chunks)).toBe(content(original))
      const replayedCalls = [...toolCalls(sse.chunks).values()]
      const originalCalls = [...toolCalls(original).values()]
      expect(replayedCalls.map((call) => call.args)).toEqual(originalCalls.map((call) => call.args))
      expect(replayedCalls.map((call) => call.name)).toEqual(
        originalCalls.map((_, index) => TOOLS[index]?.function.name),
      )
    },
  )

  it('should answer with a call of the first request tool, and with text after a tool result', async () => {
    const tools = [{ type: 'function', function: { name: 'find_order', parameters: {} } }]
    const streamed = parseSse(
      await (
        await post(CHAT.openai, { model: 'gpt-4o-mini', messages: USER, tools, stream: true })
      ).text(),
    )
    const [call] = toolCalls(streamed.chunks).values()
    expect(call?.name).toBe('find_order')
    expect(call?.id).toMatch(/^call_/)
    expect(JSON.parse(call?.args ?? '')).toEqual({ city: 'New York City' })
    const plain = await readJson(
      await post(CHAT.openai, { model: 'gpt-4o-mini', messages: USER, tools }),
    )
    expect(validateOpenAI('CreateChatCompletionResponse', plain)).toEqual([])
    expect(plain).toMatchObject({
      choices: [
        {
          finish_reason: 'tool_calls',
          message: {
            content: null,
            tool_calls: [{ type: 'function', function: { name: 'find_order' } }],
          },
        },
      ],
    })
    const afterTool = [
      ...USER,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'find_order', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ]
    const text = await readJson(
      await post(CHAT.openai, { model: 'gpt-4o-mini', messages: afterTool, tools }),
    )
    expect(validateOpenAI('CreateChatCompletionResponse', text)).toEqual([])
    expect(text).toMatchObject({ choices: [{ finish_reason: 'stop' }] })
    expect(text).toHaveProperty(
      'choices.0.message.content',
      content(recorded('stream_text_with_usage_e2aad469b71d.sse').chunks),
    )
  })

  it('should send the usage chunk only when stream_options.include_usage is true', async () => {
    const body = { model: 'gpt-4o-mini', messages: USER, stream: true }
    const without = parseSse(await (await post(CHAT.openai, body)).text())
    expect(
      without.chunks.every((chunk) => chunk.choices.length > 0 && chunk.usage === undefined),
    ).toBe(true)
    const withUsage = parseSse(
      await (await post(CHAT.openai, { ...body, stream_options: { include_usage: true } })).text(),
    )
    const last = withUsage.chunks.at(-1)
    expect(last?.choices).toEqual([])
    expect(last?.usage).toEqual(
      expect.objectContaining({ prompt_tokens: 14, completion_tokens: 30, total_tokens: 44 }),
    )
    expect(withUsage.chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true)
  })

  it('should put Groq usage under x_groq on the finish chunk and never send a usage chunk', async () => {
    const res = await post(CHAT.groq, {
      model: 'llama-3.3-70b-versatile',
      messages: USER,
      stream: true,
    })
    const { chunks, done } = parseSse(await res.text())
    expect(done).toBe(true)
    expect(chunks.some((chunk) => chunk.choices.length === 0)).toBe(false)
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false)
    expect(chunks[0]?.x_groq?.id).toMatch(/^req_/)
    const finish = chunks.findLast((chunk) =>
      chunk.choices.some((choice) => choice.finish_reason !== null),
    )
    expect(finish).toBe(chunks.at(-1))
    const usage = finish?.x_groq?.usage
    expect(usage).toEqual(
      expect.objectContaining({ prompt_tokens: 14, completion_tokens: 30, total_tokens: 44 }),
    )
    expect(chunks.slice(1, -1).some((chunk) => chunk.x_groq !== undefined)).toBe(false)
  })

  it('should reject stream_options at Groq with a 400 in the OpenAI error shape', async () => {
    const tag = 'groq-stream-options'
    const body = {
      model: 'llama-3.3-70b-versatile',
      messages: USER,
      stream: true,
      stream_options: { include_usage: true },
    }
    const res = await post(CHAT.groq, body, { 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    const error = await readJson(res)
    expect(validateOpenAI('ErrorResponse', error)).toEqual([])
    expect(JSON.stringify(error)).toContain('stream_options')
    const [entry] = await recordedWithTag(tag)
    expect(entry?.violations.join()).toContain('stream_options')
  })

  it('should stream Mistral tool calls with 9-character ids and usage on the final chunk', async () => {
    const res = await post(CHAT.mistral, {
      model: 'mistral-small-latest',
      messages: USER,
      tools: TOOLS,
      stream: true,
    })
    const { chunks, done } = parseSse(await res.text())
    expect(done).toBe(true)
    const [call] = toolCalls(chunks).values()
    expect(call?.id).toMatch(/^[a-zA-Z0-9]{9}$/)
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls')
    expect(chunks.at(-1)?.usage).toEqual({
      prompt_tokens: 44,
      completion_tokens: 16,
      total_tokens: 60,
    })
    expect(chunks.slice(0, -1).some((chunk) => chunk.usage)).toBe(false)
  })

  it('should send DeepSeek keep-alives first and reasoning before content in thinking mode', async () => {
    const body = {
      model: 'deepseek-reasoner',
      messages: USER,
      stream: true,
      stream_options: { include_usage: true },
    }
    const res = await post(CHAT.deepseek, body)
    const text = await res.text()
    expect(text.startsWith(': keep-alive\n\n')).toBe(true)
    const { chunks } = parseSse(text)
    const firstReasoning = chunks.findIndex((chunk) => chunk.choices[0]?.delta.reasoning_content)
    const firstContent = chunks.findIndex((chunk) => chunk.choices[0]?.delta.content)
    expect(firstReasoning).toBeGreaterThan(-1)
    expect(firstReasoning).toBeLessThan(firstContent)
    expect(chunks.at(-1)?.usage).toMatchObject({
      prompt_cache_hit_tokens: 7,
      prompt_cache_miss_tokens: 7,
    })
    const chat = await readJson(
      await post(CHAT.deepseek, { model: 'deepseek-chat', messages: USER }),
    )
    expect(chat).not.toHaveProperty('choices.0.message.reasoning_content')
    const thinking = { model: 'deepseek-chat', messages: USER, thinking: { type: 'enabled' } }
    const reasoned = await readJson(await post(CHAT.deepseek, thinking))
    expect(reasoned).toHaveProperty('choices.0.message.reasoning_content', expect.any(String))
  })
})

describe('fake providers: Mistral strictness', () => {
  it('should answer 422 FastAPI-style to stream_options and record the violation', async () => {
    const tag = 'mistral-stream-options'
    const body = {
      model: 'mistral-small-latest',
      messages: USER,
      stream: true,
      stream_options: { include_usage: true },
    }
    const res = await post(CHAT.mistral, body, { 'x-fake-tag': tag })
    expect(res.status).toBe(422)
    const error = await readJson(res)
    expect(validateMistral('HTTPValidationError', error)).toEqual([])
    expect(error).toEqual({
      detail: [
        {
          loc: ['body', 'stream_options'],
          msg: 'Extra inputs are not permitted',
          type: 'extra_forbidden',
        },
      ],
    })
    const entries = await recordedWithTag(tag)
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      provider: 'mistral',
      method: 'POST',
      path: CHAT.mistral,
      tag,
    })
    expect(entries[0]?.violations).toEqual([expect.stringContaining("'stream_options'")])
    expect(fake.requests.filter((entry) => entry.tag === tag)).toEqual(entries)
  })

  it('should accept the same request without the OpenAI-only field', async () => {
    const res = await post(CHAT.mistral, {
      model: 'mistral-small-latest',
      messages: USER,
      stream: true,
    })
    expect(res.status).toBe(200)
    expect(parseSse(await res.text()).done).toBe(true)
  })

  it('should reject OpenAI-style tool-call ids in the history', async () => {
    const messages = [
      ...USER,
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          {
            id: 'call_PTLP8xhu3uwZk4l3nlnrrJha',
            type: 'function',
            function: { name: 'f', arguments: '{}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_PTLP8xhu3uwZk4l3nlnrrJha', content: 'ok' },
    ]
    const res = await post(CHAT.mistral, { model: 'mistral-small-latest', messages })
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('must be a-z, A-Z, 0-9, with a length of 9')
    const fixed = messages.map(
      (message) =>
        JSON.parse(
          JSON.stringify(message).replaceAll('call_PTLP8xhu3uwZk4l3nlnrrJha', 'D681PevKs'),
        ) as unknown,
    )
    expect(
      (await post(CHAT.mistral, { model: 'mistral-small-latest', messages: fixed })).status,
    ).toBe(200)
  })
})

/** What a raw HTTP client sees of a response: how it ended and the bytes that came before. */
const rawExchange = (path: string, body: unknown, headers: Record<string, string>) =>
  new Promise<{ outcome: 'end' | 'error'; text: string }>((resolve, reject) => {
    const req = request(
      `${fake.url}${path}`,
      { method: 'POST', headers: { ...AUTH, ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (part: string) => {
          text += part
        })
        res.on('end', () => {
          resolve({ outcome: 'end', text })
        })
        res.on('error', () => {
          resolve({ outcome: 'error', text })
        })
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })

describe('fake providers: faults', () => {
  const body = { model: 'gpt-4o-mini', messages: USER, stream: true }

  it('should cut the socket after x-fake-cut-after events, without [DONE]', async () => {
    const clean = await rawExchange(CHAT.openai, body, {})
    expect(clean.outcome).toBe('end')
    expect(parseSse(clean.text).done).toBe(true)
    const cut = await rawExchange(CHAT.openai, body, { 'x-fake-cut-after': '3' })
    expect(cut.outcome).toBe('error')
    const sse = parseSse(cut.text)
    expect(sse.chunks).toHaveLength(3)
    expect(sse.done).toBe(false)
    await expect(
      (await post(CHAT.openai, body, { 'x-fake-cut-after': '3' })).text(),
    ).rejects.toThrow()
  })

  it('should end with an in-stream error event on x-fake-error-event', async () => {
    const res = await post(CHAT.openai, body, { 'x-fake-error-event': '1' })
    const sse = parseSse(await res.text())
    expect(sse.done).toBe(false)
    expect(sse.chunks).toHaveLength(3)
    expect(validateOpenAI('ErrorResponse', sse.chunks.at(-1))).toEqual([])
  })

  it('should write each event as it is produced', async () => {
    const started = Date.now()
    const res = await post(CHAT.openai, body, {
      'x-fake-chunk-delay-ms': '40',
      'x-fake-fixture': 'stream_max_tokens',
    })
    const reader = res.body?.getReader()
    const first = await reader?.read()
    const firstAt = Date.now() - started
    expect(new TextDecoder().decode(first?.value)).toMatch(/^data: /)
    while (!(await reader?.read())?.done) {
      // drain
    }
    const total = Date.now() - started
    expect(total).toBeGreaterThanOrEqual(80)
    expect(firstAt).toBeLessThan(total - 60)
  })

  it('should wait x-fake-latency-ms before answering', async () => {
    const started = Date.now()
    const res = await post(CHAT.openai, { ...body, stream: false }, { 'x-fake-latency-ms': '150' })
    expect(res.status).toBe(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
  })

  it('should answer x-fake-status in each provider error shape, with retry-after', async () => {
    const openai = await post(CHAT.openai, body, {
      'x-fake-status': '429',
      'x-fake-retry-after': '7',
    })
    expect(openai.status).toBe(429)
    expect(openai.headers.get('retry-after')).toBe('7')
    const error = await readJson(openai)
    expect(validateOpenAI('ErrorResponse', error)).toEqual([])
    expect(error).toMatchObject({ error: { code: 'rate_limit_exceeded' } })
    const mistral = await post(
      CHAT.mistral,
      { model: 'm', messages: USER },
      { 'x-fake-status': '503' },
    )
    expect(mistral.status).toBe(503)
    expect(await readJson(mistral)).toMatchObject({ object: 'error', param: null, code: null })
  })

  it('should answer 401 without a bearer token, in each provider error shape', async () => {
    for (const provider of PROVIDER_NAMES) {
      const res = await fetch(`${fake.url}${CHAT[provider]}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(401)
      const error = await readJson(res)
      if (provider === 'mistral') expect(error).toEqual({ detail: 'Unauthorized' })
      else expect(validateOpenAI('ErrorResponse', error)).toEqual([])
    }
  })

  it('should redirect on x-fake-redirect and record every header as sent', async () => {
    const tag = 'redirect-and-headers'
    const res = await fetch(`${fake.url}${CHAT.openai}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        ...AUTH,
        'x-fake-redirect': 'http://169.254.169.254/',
        'x-fake-tag': tag,
        'X-Forwarded-Host': 'evil.example',
      },
      body: JSON.stringify(body),
    })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('http://169.254.169.254/')
    const [entry] = await recordedWithTag(tag)
    expect(entry?.headers).toMatchObject({
      host: new URL(fake.url).host,
      'x-forwarded-host': 'evil.example',
      authorization: AUTH.authorization,
    })
    expect(entry?.body).toEqual(body)
  })
})

describe('fake providers: embeddings and models', () => {
  const decode = (base64: string): number[] => {
    const bytes = Buffer.from(base64, 'base64')
    return Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readFloatLE(index * 4))
  }

  it('should decode base64 embeddings to the same vectors as the float form', async () => {
    const input = ['first input', 'second input']
    const floats = await readJson(
      await post('/openai/v1/embeddings', {
        model: 'text-embedding-3-small',
        input,
        dimensions: 16,
      }),
    )
    const packed = await readJson(
      await post('/openai/v1/embeddings', {
        model: 'text-embedding-3-small',
        input,
        dimensions: 16,
        encoding_format: 'base64',
      }),
    )
    expect(validateOpenAI('CreateEmbeddingResponse', floats)).toEqual([])
    expect(validateOpenAI('CreateEmbeddingResponse', packed)).toEqual([])
    const vectors = (floats as { data: Array<{ embedding: number[] }> }).data.map(
      (item) => item.embedding,
    )
    const decoded = (packed as { data: Array<{ embedding: string }> }).data.map((item) =>
      decode(item.embedding),
    )
    expect(vectors.map((vector) => vector.length)).toEqual([16, 16])
    expect(decoded).toEqual(vectors)
    expect(vectors[0]).not.toEqual(vectors[1])
  })

  it('should give the official SDK (base64 by default) the same vector as a float request', async () => {
    const tag = 'sdk-embeddings'
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: `${fake.url}/openai/v1`,
      defaultHeaders: { 'x-fake-tag': tag },
    })
    const viaSdk = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'hello',
    })
    const floats = await readJson(
      await post('/openai/v1/embeddings', { model: 'text-embedding-3-small', input: 'hello' }),
    )
    expect(viaSdk.data[0]?.embedding).toEqual(
      (floats as { data: Array<{ embedding: number[] }> }).data[0]?.embedding,
    )
    expect(viaSdk.data[0]?.embedding).toHaveLength(8)
    const [entry] = await recordedWithTag(tag)
    expect(entry?.body).toMatchObject({ encoding_format: 'base64' })
  })

  it('should size Mistral vectors by output_dimension and have no Groq embeddings', async () => {
    const mistral = await readJson(
      await post('/mistral/v1/embeddings', {
        model: 'mistral-embed',
        input: 'x',
        output_dimension: 5,
      }),
    )
    expect(validateMistral('EmbeddingResponse', mistral)).toEqual([])
    expect((mistral as { data: Array<{ embedding: number[] }> }).data[0]?.embedding).toHaveLength(5)
    const groq = await post('/groq/openai/v1/embeddings', { model: 'x', input: 'x' })
    expect(groq.status).toBe(404)
  })

  it.each(PROVIDER_NAMES)(
    'should list %s models as a valid ListModelsResponse',
    async (provider) => {
      const res = await fetch(`${fake.url}${MODELS[provider]}`, { headers: AUTH })
      const list = await readJson(res)
      expect(validateOpenAI('ListModelsResponse', list)).toEqual([])
      if (provider === 'mistral') expect(validateMistral('ModelList', list)).toEqual([])
      expect((list as { data: unknown[] }).data.length).toBeGreaterThanOrEqual(2)
    },
  )
})
