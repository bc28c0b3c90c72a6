/**
 * End to end through translation: the official `openai` SDK talks to the production bundle under
 * plain workerd, which translates to Anthropic's Messages API and Gemini's generateContent (the
 * fakes check each request against those APIs' rules). Every answer is validated against the
 * OpenAI spec; the tool-calling conversations go all the way round: tool call → tool result sent
 * back → final answer.
 */
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { expectValid as valid, useGateway } from '../support/e2e.ts'

const e2e = useGateway()

/** Schema violations the fake recorded for a provider; fails if it recorded no request at all. */
const violationsFor = (provider: string): string[] => {
  const seen = e2e().fake.requests.filter((r) => r.provider === provider)
  expect(seen.length, `requests recorded for ${provider}`).toBeGreaterThan(0)
  return seen.flatMap((r) => r.violations)
}

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

const question: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is the weather in Paris?' },
]

type ToolCall = { id: string; name: string; arguments: string }

/** Streams a completion and assembles it the way an SDK user would. */
const streamed = async (params: OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming) => {
  const stream = await e2e().client.chat.completions.create(params)
  let text = ''
  let finish: string | null | undefined
  let usage: OpenAI.CompletionUsage | null | undefined
  let sawRoleFirst: boolean | undefined
  const calls = new Map<number, ToolCall>()
  for await (const chunk of stream) {
    valid('CreateChatCompletionStreamResponse', chunk)
    const choice = chunk.choices[0]
    if (sawRoleFirst === undefined && choice) sawRoleFirst = choice.delta.role === 'assistant'
    text += choice?.delta.content ?? ''
    for (const call of choice?.delta.tool_calls ?? []) {
      const entry = calls.get(call.index) ?? { id: '', name: '', arguments: '' }
      if (call.id) entry.id = call.id
      if (call.function?.name) entry.name = call.function.name
      entry.arguments += call.function?.arguments ?? ''
      calls.set(call.index, entry)
    }
    finish ??= choice?.finish_reason
    if (chunk.usage) usage = chunk.usage
  }
  return { text, finish, usage, sawRoleFirst, calls: [...calls.values()] }
}

/** The tool input each fake answers with: its provider's recorded example, unchanged. */
const ANTHROPIC_ARGS = { location: 'San Francisco, CA', units: 'f' }
const GEMINI_ARGS = { numerator: 100, denominator: 2 }

describe.each([
  ['anthropic', 'anthropic/claude-sonnet-4-5', ANTHROPIC_ARGS],
  ['anthropic', 'claude-sonnet-4-5', ANTHROPIC_ARGS],
  ['gemini', 'gemini/gemini-2.5-flash', GEMINI_ARGS],
  ['gemini', 'gemini-2.5-flash', GEMINI_ARGS],
])('the openai SDK through translation to %s (%s)', (provider, model, toolArgs) => {
  it('should answer a plain chat with usage', async () => {
    const { data, response } = await e2e()
      .client.chat.completions.create({ model, messages: question })
      .withResponse()
    valid('CreateChatCompletionResponse', data)
    expect(response.headers.get('floopy-provider')).toBe(provider)
    expect(data.choices[0]?.finish_reason).toBe('stop')
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0)
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0)
    expect(data.usage?.completion_tokens).toBeGreaterThan(0)
    expect(violationsFor(provider)).toEqual([])
  })

  it('should stream a chat, role first, and give usage from the stream when asked', async () => {
    const result = await streamed({
      model,
      messages: question,
      stream: true,
      stream_options: { include_usage: true },
    })
    expect(result.sawRoleFirst).toBe(true)
    expect(result.text.length).toBeGreaterThan(0)
    expect(result.finish).toBe('stop')
    expect(result.usage?.total_tokens).toBeGreaterThan(0)
    expect(violationsFor(provider)).toEqual([])
  })

  it('should stream without a usage chunk when not asked', async () => {
    const result = await streamed({ model, messages: question, stream: true })
    expect(result.usage).toBeUndefined()
  })

  it('should complete a two-step tool-calling conversation, not streamed', async () => {
    const first = await e2e().client.chat.completions.create({
      model,
      messages: question,
      tools: [weatherTool],
    })
    valid('CreateChatCompletionResponse', first)
    expect(first.choices[0]?.finish_reason).toBe('tool_calls')
    const message = first.choices[0]?.message
    const call = message?.tool_calls?.[0]
    if (call?.type !== 'function') throw new Error('expected a function tool call')
    expect(call.function.name).toBe('get_weather')
    expect(call.id.length).toBeGreaterThan(0)
    expect(JSON.parse(call.function.arguments)).toEqual(toolArgs)

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
    expect(violationsFor(provider)).toEqual([])
  })

  it('should complete a two-step tool-calling conversation, streamed, with usage', async () => {
    const first = await streamed({
      model,
      messages: question,
      tools: [weatherTool],
      stream: true,
      stream_options: { include_usage: true },
    })
    expect(first.finish).toBe('tool_calls')
    expect(first.usage?.total_tokens).toBeGreaterThan(0)
    const [call] = first.calls
    if (call === undefined) throw new Error('expected a streamed tool call')
    expect(call.name).toBe('get_weather')
    expect(JSON.parse(call.arguments)).toEqual(toolArgs)

    const second = await streamed({
      model,
      tools: [weatherTool],
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        ...question,
        {
          role: 'assistant',
          content: first.text === '' ? null : first.text,
          tool_calls: first.calls.map((c) => ({
            id: c.id,
            type: 'function' as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        },
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temp_c: 21 }) },
      ],
    })
    expect(second.finish).toBe('stop')
    expect(second.text.length).toBeGreaterThan(0)
    expect(second.usage?.total_tokens).toBeGreaterThan(0)
    expect(violationsFor(provider)).toEqual([])
  })
})

describe('embeddings through translation', () => {
  it('should embed a batch with Gemini (the SDK asks for base64)', async () => {
    const res = await e2e().client.embeddings.create({
      model: 'gemini/text-embedding-004',
      input: ['first', 'second'],
    })
    valid('CreateEmbeddingResponse', res)
    expect(res.data).toHaveLength(2)
    expect(res.data.map((d) => d.index)).toEqual([0, 1])
  })

  it('should refuse embeddings on Anthropic with a clear 400', async () => {
    const error = await e2e()
      .client.embeddings.create({ model: 'anthropic/claude-sonnet-4-5', input: 'x' })
      .catch((err: unknown) => err)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
  })
})
