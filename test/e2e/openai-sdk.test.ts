/**
 * End to end: the production bundle under plain workerd, driven by the official `openai` SDK, with
 * every provider pointed at the fake providers. Every response the SDK receives is validated
 * against the OpenAI spec's response schemas (test/fixtures/openai/openapi.yaml).
 */
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { expectValid as valid, useGateway } from '../support/e2e.ts'

const e2e = useGateway()
const weatherTool: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
}

const MODELS = [
  'openai/gpt-4o-mini',
  'gpt-4o-mini',
  'groq/llama-3.3-70b-versatile',
  'mistral/mistral-small-latest',
  'deepseek/deepseek-chat',
  'together/meta-llama/Llama-3.3-70B-Instruct-Turbo',
  'local/llama3.2',
  // Converse through the SigV4-checking fake: the id's `:` and `.` pass unchanged.
  'bedrock/anthropic.claude-3-haiku-20240307-v1:0',
]

const question: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is the weather in New York City?' },
]

describe.each(MODELS)('the openai SDK through the gateway to %s', (model) => {
  it('should complete a plain chat', async () => {
    const { data, response } = await e2e()
      .client.chat.completions.create({ model, messages: question })
      .withResponse()
    valid('CreateChatCompletionResponse', data)
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0)
    expect(data.choices[0]?.finish_reason).toBe('stop')
    expect(data.usage?.total_tokens).toBeGreaterThan(0)
    expect(response.headers.get('x-request-id')).toBeTruthy()
    expect(response.headers.get('floopy-provider')).toBe(
      model.includes('/') ? model.split('/')[0] : 'openai',
    )
  })

  it('should stream a chat with usage when asked', async () => {
    const stream = await e2e().client.chat.completions.create({
      model,
      messages: question,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let usage: OpenAI.CompletionUsage | null | undefined
    let finish: string | null | undefined
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      text += chunk.choices[0]?.delta.content ?? ''
      finish ??= chunk.choices[0]?.finish_reason
      if (chunk.usage) usage = chunk.usage
    }
    expect(text.length).toBeGreaterThan(0)
    expect(finish).toBe('stop')
    expect(usage?.total_tokens).toBeGreaterThan(0)
  })

  it('should stream a chat without a usage chunk when not asked', async () => {
    const stream = await e2e().client.chat.completions.create({
      model,
      messages: question,
      stream: true,
    })
    let usageChunks = 0
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      if (chunk.usage) usageChunks++
    }
    expect(usageChunks).toBe(0)
  })

  it('should complete a two-step tool-calling conversation', async () => {
    const first = await e2e().client.chat.completions.create({
      model,
      messages: question,
      tools: [weatherTool],
    })
    valid('CreateChatCompletionResponse', first)
    const message = first.choices[0]?.message
    expect(first.choices[0]?.finish_reason).toBe('tool_calls')
    const call = message?.tool_calls?.[0]
    if (call?.type !== 'function') throw new Error('expected a function tool call')
    expect(call.function.name).toBe('get_weather')
    expect(JSON.parse(call.function.arguments)).toHaveProperty('city')

    const second = await e2e().client.chat.completions.create({
      model,
      tools: [weatherTool],
      messages: [
        ...question,
        message as OpenAI.Chat.Completions.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temp_c: 21 }) },
      ],
    })
    valid('CreateChatCompletionResponse', second)
    expect(second.choices[0]?.finish_reason).toBe('stop')
    expect(second.choices[0]?.message.content?.length).toBeGreaterThan(0)
  })

  it('should stream tool calls whose arguments assemble into JSON', async () => {
    const stream = await e2e().client.chat.completions.create({
      model,
      messages: question,
      tools: [weatherTool],
      stream: true,
    })
    const args = new Map<number, string>()
    let finish: string | null | undefined
    for await (const chunk of stream) {
      valid('CreateChatCompletionStreamResponse', chunk)
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        args.set(call.index, (args.get(call.index) ?? '') + (call.function?.arguments ?? ''))
      }
      finish ??= chunk.choices[0]?.finish_reason
    }
    expect(finish).toBe('tool_calls')
    expect(args.size).toBeGreaterThan(0)
    for (const json of args.values()) expect(() => JSON.parse(json) as unknown).not.toThrow()
  })
})

describe.each(['openai/text-embedding-3-small', 'mistral/mistral-embed', 'local/nomic-embed-text'])(
  'embeddings through the gateway to %s',
  (model) => {
    it('should embed a batch (the SDK asks for base64 and decodes it)', async () => {
      const res = await e2e().client.embeddings.create({ model, input: ['first', 'second'] })
      valid('CreateEmbeddingResponse', res)
      expect(res.data).toHaveLength(2)
      expect(res.data[0]?.embedding.every((x) => typeof x === 'number')).toBe(true)
    })

    it('should embed with float encoding and honour dimensions', async () => {
      const res = await e2e().client.embeddings.create({
        model,
        input: 'one',
        encoding_format: 'float',
        dimensions: 12,
      })
      valid('CreateEmbeddingResponse', res)
      expect(res.data[0]?.embedding).toHaveLength(12)
    })
  },
)

describe('models and errors', () => {
  it('should list models as a valid ListModelsResponse', async () => {
    const page = await e2e().client.models.list()
    valid('ListModelsResponse', { object: 'list', data: page.data })
    for (const model of page.data) valid('Model', model)
    expect(page.data.map((m) => m.id)).toContain('groq/llama-3.3-70b-versatile')
  })

  it('should surface gateway errors as SDK APIErrors with a valid error body', async () => {
    const error = await e2e()
      .client.chat.completions.create({ model: 'no-such-model', messages: question })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    const apiError = error as InstanceType<typeof OpenAI.BadRequestError>
    valid('ErrorResponse', { error: apiError.error })
    expect(apiError.requestID).toBeTruthy()
  })

  it('should surface a provider 429 as a RateLimitError', async () => {
    const error = await e2e()
      .client.chat.completions.create(
        { model: 'openai/gpt-4o-mini', messages: question },
        { headers: { 'x-fake-status': '429', 'x-fake-retry-after': '1' } },
      )
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
  })

  it('should make a stream cut mid-way an error in the SDK, never a clean end', async () => {
    const stream = await e2e().client.chat.completions.create(
      { model: 'openai/gpt-4o-mini', messages: question, stream: true },
      { headers: { 'x-fake-cut-after': '2' } },
    )
    let chunks = 0
    const consume = async (): Promise<void> => {
      for await (const chunk of stream) {
        valid('CreateChatCompletionStreamResponse', chunk)
        chunks++
      }
    }
    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError)
    expect(chunks).toBe(2)
  })

  it('should reject an oversized body with 413 before it reaches a provider', async () => {
    const error = await e2e()
      .client.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'x'.repeat(10 * 1024 * 1024 + 10) }],
      })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413)
  })
})
