/**
 * The Responses API end to end: the production bundle under plain workerd, driven by the official
 * `openai` SDK's `responses.create` and `responses.stream`, for OpenAI-, Anthropic-, Gemini- and
 * Groq-routed models on the fake providers. Every `response` object and every stream event is
 * validated against the OpenAI spec's schemas (`Response`, `ResponseStreamEvent`), and the
 * sequence numbers and event order are checked.
 */
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { TEST_DEV_API_KEY } from '../support/bindings.ts'
import { expectValid as valid, useGateway } from '../support/e2e.ts'

const e2e = useGateway()

const MODELS = [
  'openai/gpt-4o-mini',
  'anthropic/claude-sonnet-4-5',
  'gemini/gemini-2.5-flash',
  'groq/llama-3.3-70b-versatile',
]

const weather: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
}

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

/** Checks the order rules every Responses stream keeps, and returns the final response. */
const checkedStream = (events: OpenAI.Responses.ResponseStreamEvent[]) => {
  events.forEach((event, i) => {
    const schema = EVENT_SCHEMAS[event.type]
    expect(schema, `an event the gateway does not emit: ${event.type}`).toBeDefined()
    valid(schema ?? 'ResponseStreamEvent', event)
    expect(event.sequence_number).toBe(i)
  })
  expect(events[0]?.type).toBe('response.created')
  expect(events[1]?.type).toBe('response.in_progress')
  const last = events.at(-1)
  expect(['response.completed', 'response.incomplete']).toContain(last?.type)
  // Every item added is done, and nothing is said about an item after it is done.
  const added = events.filter((e) => e.type === 'response.output_item.added').length
  const done = events.filter((e) => e.type === 'response.output_item.done').length
  expect(done).toBe(added)
  return last !== undefined && 'response' in last ? last.response : undefined
}

describe.each(MODELS)('responses through the gateway to %s', (model) => {
  it('should answer a string input with a valid response object', async () => {
    const { data, response } = await e2e()
      .client.responses.create({
        model,
        input: 'What is the capital of France?',
        instructions: 'Be terse.',
      })
      .withResponse()
    valid('Response', data)
    expect(data.object).toBe('response')
    expect(data.status).toBe('completed')
    expect(data.output_text.length).toBeGreaterThan(0)
    expect(data.usage?.total_tokens).toBeGreaterThan(0)
    expect(data.instructions).toBe('Be terse.')
    expect((data as { store?: boolean }).store).toBe(true)
    expect(response.headers.get('floopy-provider')).toBe(model.split('/')[0])
  })

  it('should stream the documented events', async () => {
    const events: OpenAI.Responses.ResponseStreamEvent[] = []
    const stream = await e2e().client.responses.create({
      model,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Count to five.' }] }],
      stream: true,
    })
    for await (const event of stream) events.push(event)
    const final = checkedStream(events)
    const text = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.delta)
      .join('')
    expect(text.length).toBeGreaterThan(0)
    expect(final?.output_text ?? text).toBeDefined()
    expect(final?.usage?.output_tokens).toBeGreaterThan(0)
  })

  it('should call a function, then take its output in a second turn', async () => {
    const client = e2e().client
    const first = await client.responses.create({
      model,
      input: 'What is the weather in Paris?',
      tools: [weather],
    })
    valid('Response', first)
    const call = first.output.find((item) => item.type === 'function_call')
    expect(call?.name).toBe('get_weather')
    expect(call?.call_id).toBeTruthy()
    if (call?.type !== 'function_call') return
    const second = await client.responses.create({
      model,
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"celsius": 21}' },
      ],
    })
    valid('Response', second)
    expect(second.output_text.length).toBeGreaterThan(0)
  })

  it('should stream a function call through the helper stream', async () => {
    const events: OpenAI.Responses.ResponseStreamEvent[] = []
    const stream = e2e().client.responses.stream({
      model,
      input: 'What is the weather in Oslo?',
      tools: [weather],
    })
    for await (const event of stream) events.push(event)
    const final = await stream.finalResponse()
    checkedStream(events)
    const call = final.output.find((item) => item.type === 'function_call')
    expect(call?.type).toBe('function_call')
    if (call?.type === 'function_call')
      expect(() => JSON.parse(call.arguments) as unknown).not.toThrow()
    expect(events.some((e) => e.type === 'response.function_call_arguments.done')).toBe(true)
  })

  it('should ask for structured output with a JSON schema', async () => {
    const data = await e2e().client.responses.create({
      model,
      input: 'Give me a city.',
      text: {
        format: {
          type: 'json_schema',
          name: 'city',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' } },
            required: ['name'],
            additionalProperties: false,
          },
          strict: true,
        },
      },
    })
    valid('Response', data)
  })
})

describe('what the gateway refuses', () => {
  it.each([
    [{ previous_response_id: 'resp_unknown' }, 'previous_response_id'],
    [{ conversation: 'conv_1' }, 'conversation'],
    [{ background: true }, 'background'],
    [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ input: [{ type: 'item_reference', id: 'msg_unknown' }] }, 'input[0]'],
  ])('should refuse %j with 400 naming the field', async (extra, param) => {
    const res = await fetch(`${e2e().gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_DEV_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', input: 'Hi', ...extra }),
    })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { param: string; code: string } }
    expect(body.error).toMatchObject({ code: 'INVALID_REQUEST', param })
  })
})
