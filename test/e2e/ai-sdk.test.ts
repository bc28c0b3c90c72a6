/**
 * The Vercel AI SDK end to end: the production bundle under plain workerd, driven by
 * `@ai-sdk/openai`'s default factory (`createOpenAI(...)(model)`, which speaks the Responses API)
 * through `ai`'s `generateText`, `streamText` (plain and with a tool loop), `generateObject` and
 * `generateText` with `Output.object`, for an OpenAI- and an Anthropic-routed model on the fake
 * providers.
 *
 * Every answer the SDK receives from the gateway is captured (a `fetch` wrapper) and validated
 * against the OpenAI spec: `response` objects as `Response`, stream events each against its event
 * schema, with the sequence numbers and event order checked. What the SDK sent is checked too: a
 * multi-step tool loop replays the function call and its output, and structured output reaches the
 * provider in its own structured-output form.
 *
 * Where the SDK and the stateless gateway part ways: with the SDK's default `store` (true) a
 * follow-up turn names the earlier answer's message by id (`item_reference`), which the gateway
 * refuses; with `providerOptions.openai.store: false` the message is sent whole and taken. The
 * `it.fails` tests pin two gateway bugs (the echo of a tool without `strict`, the error code of
 * `response.failed`); each flips to a failure once its bug is fixed.
 */
import { createOpenAI } from '@ai-sdk/openai'
import {
  generateObject,
  generateText,
  NoObjectGeneratedError,
  Output,
  stepCountIs,
  streamText,
  tool,
  type LanguageModel,
} from 'ai'
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { TEST_DEV_API_KEY } from '../support/bindings.ts'
import { expectValid as valid, useGateway } from '../support/e2e.ts'

const e2e = useGateway()

const MODELS = ['openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5']

/** Each event type the gateway emits, and its schema in the spec. */
const EVENT_SCHEMAS: Readonly<Record<string, string>> = {
  'response.created': 'ResponseCreatedEvent',
  'response.in_progress': 'ResponseInProgressEvent',
  'response.output_item.added': 'ResponseOutputItemAddedEvent',
  'response.output_item.done': 'ResponseOutputItemDoneEvent',
  'response.content_part.added': 'ResponseContentPartAddedEvent',
  'response.content_part.done': 'ResponseContentPartDoneEvent',
  'response.output_text.delta': 'ResponseTextDeltaEvent',
  'response.output_text.done': 'ResponseTextDoneEvent',
  'response.function_call_arguments.delta': 'ResponseFunctionCallArgumentsDeltaEvent',
  'response.function_call_arguments.done': 'ResponseFunctionCallArgumentsDoneEvent',
  'response.reasoning_summary_part.added': 'ResponseReasoningSummaryPartAddedEvent',
  'response.reasoning_summary_part.done': 'ResponseReasoningSummaryPartDoneEvent',
  'response.reasoning_summary_text.delta': 'ResponseReasoningSummaryTextDeltaEvent',
  'response.reasoning_summary_text.done': 'ResponseReasoningSummaryTextDoneEvent',
  'response.completed': 'ResponseCompletedEvent',
  'response.incomplete': 'ResponseIncompleteEvent',
  'response.failed': 'ResponseFailedEvent',
}

type Json = Record<string, unknown>

/** One request the SDK sent to the gateway and what came back. */
type Exchange = {
  readonly url: string
  readonly request: Json
  readonly status: number
  readonly contentType: string
  /** The answer's body, read from a copy while the SDK reads the original. */
  readonly body: Promise<string>
}

/** The events of a Responses stream, parsed (`event:` must name the data's `type`). */
const eventsOf = (text: string): Json[] =>
  text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const lines = frame.split('\n')
      const name = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length)
      const data = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length)
      const event = JSON.parse(data ?? 'null') as Json
      expect(event.type).toBe(name)
      return event
    })

/** Validates one answer of the gateway against the spec; returns its events when it streamed. */
const checkExchange = async (exchange: Exchange): Promise<Json[] | undefined> => {
  const text = await exchange.body
  expect(exchange.status, `${exchange.url} answered ${text.slice(0, 600)}`).toBe(200)
  if (!exchange.contentType.startsWith('text/event-stream')) {
    valid('Response', JSON.parse(text))
    return undefined
  }
  const events = eventsOf(text)
  events.forEach((event, i) => {
    const schema = EVENT_SCHEMAS[String(event.type)]
    expect(schema, `an event the gateway does not emit: ${String(event.type)}`).toBeDefined()
    valid(schema ?? 'ResponseStreamEvent', event)
    expect(event.sequence_number).toBe(i)
  })
  expect(events.slice(0, 2).map((event) => event.type)).toEqual([
    'response.created',
    'response.in_progress',
  ])
  expect(['response.completed', 'response.incomplete']).toContain(events.at(-1)?.type)
  const count = (type: string) => events.filter((event) => event.type === type).length
  expect(count('response.output_item.done')).toBe(count('response.output_item.added'))
  return events
}

/** The per-test client: the default factory pointed at the gateway, every exchange captured. */
const rig = () => {
  const tag = crypto.randomUUID()
  const exchanges: Exchange[] = []
  const capturing: typeof fetch = async (input, init) => {
    const res = await fetch(input, init)
    const url = input instanceof Request ? input.url : String(input)
    exchanges.push({
      url,
      request: typeof init?.body === 'string' ? (JSON.parse(init.body) as Json) : {},
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      body: res.clone().text(),
    })
    return res
  }
  const openai = createOpenAI({
    baseURL: `${e2e().gateway.url}/v1`,
    apiKey: TEST_DEV_API_KEY,
    // Forwarded by the gateway to the provider: finds this test's provider requests.
    headers: { 'x-fake-tag': tag },
    fetch: capturing,
  })
  /** What the fake providers received for this test, in order. */
  const received = () => e2e().fake.requests.filter((entry) => entry.tag === tag)
  return { openai, exchanges, received }
}

let current: ReturnType<typeof rig> | undefined

/** Every test's exchanges go through the spec, whatever the test itself checked. */
afterEach(async () => {
  const exchanges = current?.exchanges ?? []
  current = undefined
  for (const exchange of exchanges) await checkExchange(exchange)
})

const setUp = () => (current = rig())

/** The weather tool as the SDK declares it by default: without `strict`. */
const weatherDefault = tool({
  description: 'Current weather for a city',
  inputSchema: z.object({ city: z.string() }),
  execute: ({ city }) => Promise.resolve({ city, celsius: 21, sky: 'clear' }),
})

/**
 * The weather tool of the tool loops. Its input takes what the fakes' recorded calls carry (the
 * OpenAI recording asks for a `city`, the Anthropic one for a `location`), so `execute` runs for
 * both; `strict: false` is said outright, since the gateway's echo of a tool without `strict` is
 * not a valid `FunctionTool` (see 'should echo a tool declared without strict validly').
 */
const weather = tool({
  description: 'Current weather for a place',
  inputSchema: z.object({ city: z.string().optional(), location: z.string().optional() }),
  strict: false,
  execute: ({ city, location }) =>
    Promise.resolve({ place: city ?? location, celsius: 21, sky: 'clear' }),
})

const City = z.object({
  name: z.string(),
  country: z.string(),
  population: z.number().int(),
})

/** The properties the JSON schema of `City` requires. */
const CITY_PROPERTIES = ['name', 'country', 'population']

const ASK_CITY = { prompt: 'Give me a city.', maxRetries: 0 } as const

describe.each(MODELS)('the AI SDK through the gateway to %s', (model) => {
  it('should generate a text', async () => {
    const { openai, exchanges } = setUp()
    const result = await generateText({
      model: openai(model),
      system: 'Be terse.',
      prompt: 'What is the capital of France?',
      maxRetries: 0,
    })
    expect(result.text.length).toBeGreaterThan(0)
    expect(result.finishReason).toBe('stop')
    expect(result.usage.inputTokens).toBeGreaterThan(0)
    expect(result.usage.outputTokens).toBeGreaterThan(0)
    expect(exchanges).toHaveLength(1)
    expect(exchanges[0]?.url).toBe(`${e2e().gateway.url}/v1/responses`)
    expect(exchanges[0]?.request).toMatchObject({ model, input: expect.any(Array) as unknown })
    const response = JSON.parse(await (exchanges[0]?.body ?? '')) as Json
    expect(response.status).toBe('completed')
    expect(result.response.id).toBe(response.id)
  })

  it('should stream a text', async () => {
    const { openai, exchanges } = setUp()
    const result = streamText({
      model: openai(model),
      prompt: 'Count to five.',
      maxRetries: 0,
      onError: ({ error }) => {
        throw error
      },
    })
    let text = ''
    for await (const delta of result.textStream) text += delta
    expect(text.length).toBeGreaterThan(0)
    expect(await result.text).toBe(text)
    expect(await result.finishReason).toBe('stop')
    expect((await result.usage).outputTokens).toBeGreaterThan(0)
    expect(exchanges).toHaveLength(1)
    expect(exchanges[0]?.request).toMatchObject({ stream: true })
    const events = (await checkExchange(exchanges[0] as Exchange)) ?? []
    const streamed = events
      .filter((event) => event.type === 'response.output_text.delta')
      .map((event) => String(event.delta))
      .join('')
    expect(streamed).toBe(text)
  })

  it('should run a tool loop: the model calls the tool, the SDK sends its output back', async () => {
    const { openai, exchanges, received } = setUp()
    const result = await generateText({
      model: openai(model),
      tools: { get_weather: weather },
      stopWhen: stepCountIs(3),
      prompt: 'What is the weather in Paris?',
      maxRetries: 0,
    })
    expect(result.steps).toHaveLength(2)
    const [first, second] = result.steps
    expect(first?.finishReason).toBe('tool-calls')
    expect(first?.toolCalls).toHaveLength(1)
    const call = first?.toolCalls[0]
    expect(call?.toolName).toBe('get_weather')
    expect(first?.toolResults).toHaveLength(1)
    expect(first?.toolResults[0]).toMatchObject({
      toolCallId: call?.toolCallId,
      toolName: 'get_weather',
      output: { celsius: 21 },
    })
    expect(second?.finishReason).toBe('stop')
    expect(second?.toolCalls).toEqual([])
    expect(result.text.length).toBeGreaterThan(0)
    expect(result.text).toBe(second?.text)

    // The second request replays the call and its output, as items the gateway takes.
    expect(exchanges).toHaveLength(2)
    const input = exchanges[1]?.request.input as Json[]
    expect(input).toContainEqual(
      expect.objectContaining({ type: 'function_call', call_id: call?.toolCallId }),
    )
    expect(input).toContainEqual(
      expect.objectContaining({ type: 'function_call_output', call_id: call?.toolCallId }),
    )
    expect(input.some((item) => item.type === 'item_reference')).toBe(false)
    // And the provider got the tool's output back.
    const calls = received().filter((entry) => !entry.path.endsWith('/models'))
    expect(calls).toHaveLength(2)
    expect(JSON.stringify(calls[1]?.body)).toContain('celsius')
  })

  it('should stream a tool loop', async () => {
    const { openai, exchanges } = setUp()
    const result = streamText({
      model: openai(model),
      tools: { get_weather: weather },
      stopWhen: stepCountIs(3),
      prompt: 'What is the weather in Oslo?',
      maxRetries: 0,
      onError: ({ error }) => {
        throw error
      },
    })
    let text = ''
    for await (const delta of result.textStream) text += delta
    const steps = await result.steps
    expect(steps).toHaveLength(2)
    expect(steps[0]?.toolCalls.map((c) => c.toolName)).toEqual(['get_weather'])
    expect(steps[0]?.toolResults[0]?.output).toMatchObject({ celsius: 21 })
    expect(text.length).toBeGreaterThan(0)
    expect(exchanges).toHaveLength(2)
    const events = (await checkExchange(exchanges[0] as Exchange)) ?? []
    expect(events.some((event) => event.type === 'response.function_call_arguments.done')).toBe(
      true,
    )
  })

  // The SDK's `store` defaults to true, and with it a follow-up turn names the earlier answer's
  // message by id (`item_reference`) instead of sending it; the gateway keeps no items and says so.
  it('should take a follow-up turn that references the earlier answer by id (the default store)', async () => {
    const { openai, exchanges } = setUp()
    const first = await generateText({
      model: openai(model),
      prompt: 'What is the capital of France?',
      maxRetries: 0,
    })
    const followUp = await generateText({
      model: openai(model),
      messages: [
        { role: 'user', content: 'What is the capital of France?' },
        ...first.response.messages,
        { role: 'user', content: 'And of Germany?' },
      ],
      maxRetries: 0,
    })
    expect(followUp.text.length).toBeGreaterThan(0)
    const answered = JSON.parse(await (exchanges[0]?.body ?? '')) as { output: Json[] }
    expect(answered.output.map((item) => item.type)).toEqual(['message'])
    const second = exchanges.splice(1)
    expect(second).toHaveLength(1)
    // The SDK refers to the stored answer; the gateway resolves it from what it kept.
    expect(second[0]?.request.input).toEqual([
      { role: 'user', content: [{ type: 'input_text', text: 'What is the capital of France?' }] },
      { type: 'item_reference', id: answered.output[0]?.id },
      { role: 'user', content: [{ type: 'input_text', text: 'And of Germany?' }] },
    ])
  })

  it('should take a follow-up turn with store: false, the earlier answer sent whole', async () => {
    const { openai, exchanges } = setUp()
    const first = await generateText({
      model: openai(model),
      prompt: 'What is the capital of France?',
      maxRetries: 0,
    })
    const second = await generateText({
      model: openai(model),
      messages: [
        { role: 'user', content: 'What is the capital of France?' },
        ...first.response.messages,
        { role: 'user', content: 'And of Germany?' },
      ],
      providerOptions: { openai: { store: false } },
      maxRetries: 0,
    })
    expect(second.text.length).toBeGreaterThan(0)
    expect(exchanges[1]?.request).toMatchObject({
      store: false,
      input: [
        { role: 'user' },
        { role: 'assistant', content: [{ type: 'output_text', text: first.text }] },
        { role: 'user' },
      ],
    })
  })

  // Gateway bug: the answer echoes the request's tools as sent, and the spec's `FunctionTool`
  // requires `strict` and `parameters`, which the SDK leaves out by default (OpenAI's own answer
  // fills them in). Flips to a pass once the echo does.
  it('should echo a tool declared without strict validly', async () => {
    const { openai, exchanges } = setUp()
    await generateText({
      model: openai(model),
      tools: { get_weather: weatherDefault },
      prompt: 'What is the weather in Paris?',
      maxRetries: 0,
    })
    const [exchange] = exchanges.splice(0)
    expect(exchange?.request.tools).toEqual([
      expect.not.objectContaining({ strict: expect.anything() as unknown }),
    ])
    valid('Response', JSON.parse(await (exchange?.body ?? '')))
  })

  /** A stream the provider breaks after two events (`x-fake-error-event`), as the SDK saw it. */
  const brokenStream = async () => {
    const { openai, exchanges } = setUp()
    const errors: unknown[] = []
    const result = streamText({
      model: openai(model),
      prompt: 'Count to five.',
      maxRetries: 0,
      headers: { 'x-fake-error-event': '1' },
      onError: ({ error }) => {
        errors.push(error)
      },
    })
    for await (const delta of result.textStream) expect(typeof delta).toBe('string')
    // Its answer is checked here: it does not end the way afterEach expects a stream to end.
    const [exchange] = exchanges.splice(0)
    expect(exchange?.status).toBe(200)
    return { errors, events: eventsOf(await (exchange?.body ?? '')) }
  }

  it('should end a stream the provider breaks with response.failed, which the SDK reports', async () => {
    const { errors, events } = await brokenStream()
    expect(errors.length).toBeGreaterThan(0)
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i))
    expect(events.slice(0, 2).map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
    ])
    expect(events.filter((event) => event.type === 'response.failed')).toHaveLength(1)
    expect(events.at(-1)).toMatchObject({
      type: 'response.failed',
      response: { status: 'failed', error: { message: expect.any(String) as unknown } },
    })
    for (const event of events.slice(0, -1)) {
      valid(EVENT_SCHEMAS[String(event.type)] ?? 'ResponseStreamEvent', event)
    }
  })

  // Gateway bug: `response.failed` carries the gateway's own error code (`PROVIDER_ERROR`), and
  // the spec's `ResponseError.code` is an enum (`server_error`, `rate_limit_exceeded`, …). Flips
  // to a pass once the codes are mapped.
  it('should end a stream the provider breaks with a valid response.failed', async () => {
    const { events } = await brokenStream()
    valid('ResponseFailedEvent', events.at(-1))
  })

  it.each<[string, (model: LanguageModel) => Promise<unknown>]>([
    [
      'generateObject',
      async (m) =>
        // Deprecated in ai 6 for the form below, and still what most code calls.
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        (await generateObject({ model: m, schema: City, schemaName: 'city', ...ASK_CITY })).object,
    ],
    [
      'generateText with Output.object',
      async (m) =>
        (
          await generateText({
            model: m,
            output: Output.object({ schema: City, name: 'city' }),
            ...ASK_CITY,
          })
        ).output,
    ],
  ])('should ask for structured output with the schema (%s)', async (_name, generate) => {
    const { openai, exchanges, received } = setUp()
    let object: unknown
    let failure: unknown
    try {
      object = await generate(openai(model))
    } catch (err) {
      failure = err
    }
    // The gateway was asked for the schema in the Responses form…
    expect(exchanges).toHaveLength(1)
    expect(exchanges[0]?.request.text).toMatchObject({
      format: {
        type: 'json_schema',
        name: 'city',
        strict: true,
        schema: { type: 'object', required: CITY_PROPERTIES },
      },
    })
    // …and the provider got it in its own structured-output form.
    const [sent] = received()
    const body = (sent?.body ?? {}) as Json
    if (model.startsWith('openai/')) {
      expect(body.response_format).toMatchObject({
        type: 'json_schema',
        json_schema: { name: 'city', strict: true, schema: { required: CITY_PROPERTIES } },
      })
    } else {
      expect(body.output_config).toMatchObject({
        format: { type: 'json_schema', schema: { required: CITY_PROPERTIES } },
      })
    }
    // The fakes replay recorded answers, which need not be JSON: a failure is the fake's only when
    // the SDK could not parse the very text the gateway answered.
    if (failure === undefined) {
      expect(City.safeParse(object).success).toBe(true)
      return
    }
    expect(NoObjectGeneratedError.isInstance(failure), String(failure as Error)).toBe(true)
    const { text } = failure as NoObjectGeneratedError
    const response = JSON.parse(await (exchanges[0]?.body ?? '')) as {
      status: string
      output: { content?: { text: string }[] }[]
    }
    expect(response.status).toBe('completed')
    expect(text).toBe(response.output[0]?.content?.[0]?.text)
    expect(() => JSON.parse(text ?? '') as unknown).toThrow()
  })
})

// A model that says something before it calls a tool (Claude often does): with the SDK's default
// `store`, the next step of the tool loop names that text by id, and the gateway refuses the step.
describe('a tool loop whose model speaks before calling the tool', () => {
  const model = 'anthropic/claude-sonnet-4-5'
  /** The Anthropic fake answers a text block, then a tool_use block. */
  const headers = { 'x-fake-fixture': 'text_then_tool_use' }

  it('should run the second step with the SDK’s default store, resolving the reference', async () => {
    const { openai, exchanges } = setUp()
    const loop = await generateText({
      model: openai(model),
      tools: { get_weather: weather },
      stopWhen: stepCountIs(2),
      prompt: 'What is the weather in Paris?',
      headers,
      maxRetries: 0,
    })
    expect(loop.steps).toHaveLength(2)
    const answered = JSON.parse(await (exchanges[0]?.body ?? '')) as { output: Json[] }
    expect(answered.output.map((item) => item.type)).toEqual(['message', 'function_call'])
    const refused = exchanges.splice(1)
    expect(refused).toHaveLength(1)
    expect(refused[0]?.request.input).toEqual([
      { role: 'user', content: [{ type: 'input_text', text: 'What is the weather in Paris?' }] },
      { type: 'item_reference', id: answered.output[0]?.id },
      expect.objectContaining({ type: 'function_call', call_id: answered.output[1]?.call_id }),
      expect.objectContaining({
        type: 'function_call_output',
        call_id: answered.output[1]?.call_id,
      }),
    ])
    expect(JSON.parse(await (refused[0]?.body ?? ''))).toMatchObject({ object: 'response' })
  })

  it('should run the loop with store: false, the text and the call sent whole', async () => {
    const { openai, exchanges, received } = setUp()
    const result = await generateText({
      model: openai(model),
      tools: { get_weather: weather },
      stopWhen: stepCountIs(2),
      prompt: 'What is the weather in Paris?',
      headers,
      providerOptions: { openai: { store: false } },
      maxRetries: 0,
    })
    expect(result.steps).toHaveLength(2)
    const [first] = result.steps
    expect(first?.text.length).toBeGreaterThan(0)
    expect(first?.toolResults[0]?.output).toMatchObject({ celsius: 21 })
    expect(exchanges[1]?.request.input).toMatchObject([
      { role: 'user' },
      { role: 'assistant', content: [{ type: 'output_text', text: first?.text }] },
      { type: 'function_call', call_id: first?.toolCalls[0]?.toolCallId },
      { type: 'function_call_output', call_id: first?.toolCalls[0]?.toolCallId },
    ])
    // The provider took the turn: the text and the call as one assistant turn, then the result.
    const [, second] = received()
    expect(second?.violations).toEqual([])
    const messages = (second?.body as { messages: { role: string }[] }).messages
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user'])
  })
})
