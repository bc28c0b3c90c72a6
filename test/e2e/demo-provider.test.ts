/**
 * The demo endpoint `npm run dev` starts when no provider is configured (scripts/demo-provider.ts):
 * the gateway (the production bundle under plain workerd) is configured with it as `dev.ts`
 * configures it — the custom provider `demo` in `FLOOPY_CUSTOM_PROVIDERS`, the dev key, the access
 * log — and the official openai SDK gets a completion, a stream with usage, a tool call and
 * embeddings from `demo/echo`, every answer valid under the OpenAI spec. The endpoint's own raw
 * answers (SSE lines, base64 vectors) are checked against the spec too.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_MODEL, demoCustomProviders, startDemoProvider } from '../../scripts/demo-provider.ts'
import type { DemoProvider } from '../../scripts/demo-provider.ts'
import { jsonForEnvFile } from '../../scripts/dev.ts'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { TEST_DEV_API_KEY } from '../support/bindings.ts'
import { expectValid as valid } from '../support/e2e.ts'

const MODEL = 'demo/echo'

let demo: DemoProvider
let gateway: WorkerdGateway
let client: OpenAI

beforeAll(async () => {
  demo = await startDemoProvider()
  gateway = await startGateway({
    bindings: {
      FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
      FLOOPY_ACCESS_LOG: 'true',
      FLOOPY_CUSTOM_PROVIDERS: jsonForEnvFile(demoCustomProviders(demo.url)),
    },
  })
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: TEST_DEV_API_KEY, maxRetries: 0 })
})

afterAll(async () => {
  await gateway.close()
  await demo.close()
})

const hello: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hello, gateway' },
]

const weatherTool: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer' },
      },
      required: ['city', 'unit'],
    },
  },
}

describe('demo/echo through the gateway with the openai SDK', () => {
  it('should answer a chat completion with the last user message echoed', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: hello })
      .withResponse()
    valid('CreateChatCompletionResponse', data)
    expect(response.headers.get('floopy-provider')).toBe('demo')
    expect(response.headers.get('floopy-model')).toBe(DEMO_MODEL)
    expect(data.choices[0]?.message.content).toBe('Echo: Hello, gateway')
    expect(data.choices[0]?.finish_reason).toBe('stop')
    const usage = data.usage
    expect(usage?.completion_tokens).toBe(Math.ceil('Echo: Hello, gateway'.length / 4))
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0))
  })

  it('should stream the same answer, then a usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      chunks.push(chunk)
    }
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')
    expect(text).toBe('Echo: Hello, gateway')
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(1)
    expect(chunks.flatMap((chunk) => chunk.choices.map((c) => c.finish_reason))).toContain('stop')
    const last = chunks.at(-1)
    expect(last?.choices).toEqual([])
    expect(last?.usage?.completion_tokens).toBe(Math.ceil(text.length / 4))
  })

  it('should stream without a usage chunk when not asked', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: hello,
      stream: true,
    })
    let usageChunks = 0
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      if (chunk.usage) usageChunks++
    }
    expect(usageChunks).toBe(0)
  })

  it('should call the first tool with arguments from its schema, then answer its result', async () => {
    const first = await client.chat.completions.create({
      model: MODEL,
      messages: hello,
      tools: [weatherTool],
    })
    valid('CreateChatCompletionResponse', first)
    expect(first.choices[0]?.finish_reason).toBe('tool_calls')
    const message = first.choices[0]?.message
    const call = message?.tool_calls?.[0]
    if (call?.type !== 'function') throw new Error('expected a function tool call')
    expect(call.function.name).toBe('get_weather')
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'echo', unit: 'celsius' })

    const second = await client.chat.completions.create({
      model: MODEL,
      tools: [weatherTool],
      messages: [
        ...hello,
        message as OpenAI.Chat.Completions.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: call.id, content: '21 °C' },
      ],
    })
    valid('CreateChatCompletionResponse', second)
    expect(second.choices[0]?.finish_reason).toBe('stop')
    expect(second.choices[0]?.message.content).toBe('Echo: the tool said 21 °C')
  })

  it('should stream a tool call whose arguments assemble into the same JSON', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: hello,
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      stream_options: { include_usage: true },
    })
    let args = ''
    let name: string | undefined
    const finishes: (string | null)[] = []
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name ??= call.function?.name
        args += call.function?.arguments ?? ''
      }
      finishes.push(...chunk.choices.map((choice) => choice.finish_reason))
    }
    expect(name).toBe('get_weather')
    expect(JSON.parse(args)).toEqual({ city: 'echo', unit: 'celsius' })
    expect(finishes).toContain('tool_calls')
  })

  it('should embed deterministically (the SDK asks for base64 and decodes it)', async () => {
    const res = await client.embeddings.create({ model: MODEL, input: ['first', 'second'] })
    valid('CreateEmbeddingResponse', res)
    expect(res.data.map((item) => item.embedding.length)).toEqual([16, 16])
    const again = await client.embeddings.create({
      model: MODEL,
      input: 'first',
      encoding_format: 'float',
    })
    valid('CreateEmbeddingResponse', again)
    expect(again.data[0]?.embedding).toEqual(res.data[0]?.embedding)
    expect(res.data[1]?.embedding).not.toEqual(res.data[0]?.embedding)
    const norm = Math.hypot(...(res.data[0]?.embedding ?? []))
    expect(norm).toBeCloseTo(1, 5)
    expect(res.usage.total_tokens).toBeGreaterThan(0)
  })

  it('should honour dimensions', async () => {
    const res = await client.embeddings.create({ model: MODEL, input: 'one', dimensions: 8 })
    valid('CreateEmbeddingResponse', res)
    expect(res.data[0]?.embedding).toHaveLength(8)
  })

  it('should list demo/echo among the models', async () => {
    const page = await client.models.list()
    valid('ListModelsResponse', { object: 'list', data: page.data })
    for (const model of page.data) valid('Model', model)
    expect(page.data.map((model) => model.id)).toEqual([MODEL])
  })

  it('should refuse another model, naming the one it serves', async () => {
    const error = await client.chat.completions
      .create({ model: 'demo/gpt-4o', messages: hello })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    const apiError = error as InstanceType<typeof OpenAI.NotFoundError>
    valid('ErrorResponse', { error: apiError.error })
    expect(apiError.message).toContain('demo/echo')
  })
})

describe('the demo endpoint on its own', () => {
  const post = (path: string, body: unknown): Promise<Response> =>
    fetch(`${demo.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('should send OpenAI SSE: usage: null on every chunk, a usage chunk, then [DONE]', async () => {
    const res = await post('/chat/completions', {
      model: DEMO_MODEL,
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = (await res.text()).split('\n\n').filter((event) => event !== '')
    expect(events.at(-1)).toBe('data: [DONE]')
    const chunks = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.replace(/^data: /, '')) as Record<string, unknown>)
    for (const chunk of chunks) valid('CreateChatCompletionStreamResponse', chunk)
    expect(chunks.slice(0, -1).every((chunk) => chunk['usage'] === null)).toBe(true)
    const last = chunks.at(-1)
    expect(last?.['choices']).toEqual([])
    expect(last?.['usage']).toHaveProperty('total_tokens')
  })

  it('should answer base64 embeddings as the float32 bytes of the float answer', async () => {
    const input = { model: DEMO_MODEL, input: 'same text' }
    const floats = (await (await post('/embeddings', input)).json()) as {
      data: { embedding: number[] }[]
    }
    const encoded = (await (
      await post('/embeddings', { ...input, encoding_format: 'base64' })
    ).json()) as { data: { embedding: string }[] }
    valid('CreateEmbeddingResponse', floats)
    valid('CreateEmbeddingResponse', encoded)
    const bytes = Buffer.from(encoded.data[0]?.embedding ?? '', 'base64')
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4))
    expect(decoded).toEqual(floats.data[0]?.embedding)
  })

  it('should answer OpenAI error envelopes for bad requests', async () => {
    const res = await fetch(`${demo.url}/chat/completions`, { method: 'POST', body: '{nope' })
    expect(res.status).toBe(400)
    valid('ErrorResponse', await res.json())
    const missing = await fetch(`${demo.url}/completions`, { method: 'POST', body: '{}' })
    expect(missing.status).toBe(404)
    valid('ErrorResponse', await missing.json())
  })
})
