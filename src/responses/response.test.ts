/// <reference types="vite/client" />
/**
 * A chat completion's answer as a Responses API answer: the `response` object (`chatToResponse`)
 * and the event stream (`responsesStream`), fed the recorded OpenAI chat streams of
 * `test/fixtures/openai/fixtures` and chunks built here. The stream's events come in the
 * documented order with `sequence_number`s counting from 0 without gaps; deltas add up to the done
 * texts and arguments; a broken chat stream (an in-stream error event, no `[DONE]`, `[DONE]`
 * without a finish) ends with `response.failed` and nothing after it.
 */
import { describe, expect, it } from 'vitest'
import maxTokensStream from '../../test/fixtures/openai/fixtures/stream_max_tokens_length_4cc50a6135d2.sse?raw'
import parallelToolsStream from '../../test/fixtures/openai/fixtures/stream_parallel_tool_calls_with_usage_f82268f2fefd.sse?raw'
import singleToolStream from '../../test/fixtures/openai/fixtures/stream_single_tool_call_with_usage_2018feb66ae1.sse?raw'
import textStream from '../../test/fixtures/openai/fixtures/stream_text_with_usage_e2aad469b71d.sse?raw'
import { seededRandom } from '../../test/support/unit'
import { responsesToChat, type ResponseEcho } from './request'
import { chatToResponse, responsesStream, usageOf } from './response'

type Json = Record<string, unknown>

/** One Responses stream event, as parsed from the wire. */
type Event = Json & { type: string; sequence_number: number }

const ECHO: ResponseEcho = responsesToChat({ model: 'openai/gpt-4o-mini', input: 'Hi' }).echo

const encoder = new TextEncoder()

// --- the recorded chat streams ------------------------------------------------------------------

/** The `data:` payloads of a recorded chat stream, `[DONE]` left out. */
const chunksOf = (sse: string): Json[] =>
  sse
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map((line) => JSON.parse(line.slice('data: '.length)) as Json)

type Delta = {
  content?: string | null
  tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[]
}

/** What a recorded chat stream adds up to: its text, its tool calls by index, its last usage. */
const assembled = (sse: string) => {
  let text = ''
  const calls: { id: string; name: string; arguments: string }[] = []
  let usage: unknown = undefined
  let finish: unknown = undefined
  for (const chunk of chunksOf(sse)) {
    if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
    const choices = chunk.choices as { delta: Delta; finish_reason: unknown }[]
    for (const choice of choices) {
      text += choice.delta.content ?? ''
      for (const call of choice.delta.tool_calls ?? []) {
        const open = (calls[call.index] ??= { id: '', name: '', arguments: '' })
        open.id = call.id ?? open.id
        open.name = call.function?.name ?? open.name
        open.arguments += call.function?.arguments ?? ''
      }
      finish = choice.finish_reason ?? finish
    }
  }
  return { text, calls, usage, finish }
}

// --- running the stream -------------------------------------------------------------------------

/** An SSE chat stream of `chunks` (objects become `data:` events), ending with `[DONE]` or not. */
const chatSse = (chunks: readonly (Json | string)[], done = true): string =>
  [...chunks, ...(done ? ['[DONE]'] : [])]
    .map((chunk) => `data: ${typeof chunk === 'string' ? chunk : JSON.stringify(chunk)}\n\n`)
    .join('')

/** A chat completion chunk with `delta` (and a finish reason, when given). */
const chunk = (delta: Json, finish: string | null = null, extra: Json = {}): Json => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1727346168,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...extra,
})

/** Splits bytes into slices of random lengths (1 to `max`), from `seed`. */
const randomSlices = (bytes: Uint8Array, seed: number, max: number): Uint8Array[] => {
  const next = seededRandom(seed)
  const slices: Uint8Array[] = []
  for (let i = 0; i < bytes.length;) {
    const length = 1 + Math.floor(next() * max)
    slices.push(bytes.slice(i, i + length))
    i += length
  }
  return slices
}

/** One slice per byte. */
const byteSlices = (bytes: Uint8Array): Uint8Array[] =>
  Array.from(bytes, (_, i) => bytes.slice(i, i + 1))

/** The frames `responsesStream` writes for the chat stream `pieces`, parsed; checks the framing. */
const run = async (
  pieces: string | readonly Uint8Array[],
  echo: ResponseEcho = ECHO,
): Promise<Event[]> => {
  const parts = typeof pieces === 'string' ? [encoder.encode(pieces)] : pieces
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part)
      controller.close()
    },
  })
  const raw = await new Response(source.pipeThrough(responsesStream(echo))).text()
  expect(raw.endsWith('\n\n')).toBe(true)
  return raw
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      const lines = frame.split('\n')
      expect(lines).toHaveLength(2)
      const [eventLine = '', dataLine = ''] = lines
      expect(eventLine).toMatch(/^event: /)
      expect(dataLine).toMatch(/^data: /)
      const event = JSON.parse(dataLine.slice('data: '.length)) as Event
      expect(event.type).toBe(eventLine.slice('event: '.length))
      return event
    })
}

const types = (events: readonly Event[]): string[] => events.map((event) => event.type)

const ofType = (events: readonly Event[], type: string): Event[] =>
  events.filter((event) => event.type === type)

const deltas = (events: readonly Event[], type: string, outputIndex?: number): string =>
  ofType(events, type)
    .filter((event) => outputIndex === undefined || event.output_index === outputIndex)
    .map((event) => String(event.delta))
    .join('')

/** The `response` of the last event. */
const finalResponse = (events: readonly Event[]): Json => {
  const last = events.at(-1)
  expect(last).toHaveProperty('response')
  return (last?.response ?? {}) as Json
}

/**
 * The rules every stream keeps: sequence numbers 0, 1, 2… without gaps; created then in_progress
 * first; one terminal event, last; every item added once and done once, with nothing said about
 * it after it is done (unless the stream failed, which leaves items open).
 */
const checkStream = (events: readonly Event[]): void => {
  expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i))
  expect(types(events).slice(0, 2)).toEqual(['response.created', 'response.in_progress'])
  const terminal = ['response.completed', 'response.incomplete', 'response.failed']
  const ends = events.filter((event) => terminal.includes(event.type))
  expect(ends).toHaveLength(1)
  expect(events.at(-1)).toBe(ends[0])
  const failed = ends[0]?.type === 'response.failed'
  const added = new Set<unknown>()
  const done = new Set<unknown>()
  for (const event of events) {
    if (event.output_index === undefined) continue
    expect(done.has(event.output_index), `${event.type} after its item is done`).toBe(false)
    if (event.type === 'response.output_item.added') {
      expect(added.has(event.output_index)).toBe(false)
      added.add(event.output_index)
    } else {
      expect(added.has(event.output_index), `${event.type} before its item is added`).toBe(true)
    }
    if (event.type === 'response.output_item.done') done.add(event.output_index)
  }
  if (!failed) expect([...done].sort()).toEqual([...added].sort())
  const response = ends[0]?.response as Json | undefined
  expect(response?.object).toBe('response')
  for (const event of ofType(events, 'response.output_item.done')) {
    const output = response?.output as Json[] | undefined
    expect(output?.[Number(event.output_index)]).toEqual(event.item)
  }
}

// --- chatToResponse -----------------------------------------------------------------------------

const completion = (message: Json, finish = 'stop', extra: Json = {}): Json => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1727346168,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
  ...extra,
})

describe('chatToResponse', () => {
  it('should answer a text with one completed message item', () => {
    const response = chatToResponse(completion({ content: 'Paris.' }), ECHO)
    expect(response).toMatchObject({
      object: 'response',
      created_at: 1727346168,
      status: 'completed',
      model: 'gpt-4o-mini-2024-07-18',
      error: null,
      incomplete_details: null,
      output: [
        {
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Paris.', annotations: [], logprobs: [] }],
        },
      ],
    })
    expect(response.id).toMatch(/^resp_[0-9a-f]{48}$/)
    expect((response.output as Json[])[0]?.id).toMatch(/^msg_[0-9a-f]{48}$/)
    expect(typeof response.completed_at).toBe('number')
  })

  it('should answer tool calls with one function_call item each, call_id the tool call id', () => {
    const response = chatToResponse(
      completion(
        {
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_b',
              type: 'function',
              function: { name: 'get_stock_price', arguments: '{"ticker":"AAPL"}' },
            },
          ],
        },
        'tool_calls',
      ),
      ECHO,
    )
    expect(response.status).toBe('completed')
    const output = response.output as Json[]
    expect(output).toEqual([
      {
        id: expect.stringMatching(/^fc_/) as unknown,
        type: 'function_call',
        status: 'completed',
        call_id: 'call_a',
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
      },
      {
        id: expect.stringMatching(/^fc_/) as unknown,
        type: 'function_call',
        status: 'completed',
        call_id: 'call_b',
        name: 'get_stock_price',
        arguments: '{"ticker":"AAPL"}',
      },
    ])
    expect(output[0]?.id).not.toBe(output[1]?.id)
  })

  it('should put the text before the calls when an answer has both', () => {
    const response = chatToResponse(
      completion(
        {
          content: 'Let me look.',
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
        'tool_calls',
      ),
      ECHO,
    )
    expect((response.output as Json[]).map((item) => item.type)).toEqual([
      'message',
      'function_call',
    ])
  })

  it.each(['reasoning_content', 'reasoning'])(
    'should make %s a first reasoning item with a summary',
    (field) => {
      const response = chatToResponse(
        completion({ content: 'Hi!', [field]: 'The user greets me.' }),
        ECHO,
      )
      expect(response.output).toEqual([
        {
          id: expect.stringMatching(/^rs_/) as unknown,
          type: 'reasoning',
          summary: [{ type: 'summary_text', text: 'The user greets me.' }],
        },
        expect.objectContaining({ type: 'message' }),
      ])
    },
  )

  it('should leave out an empty reasoning', () => {
    const response = chatToResponse(completion({ content: 'Hi!', reasoning_content: '' }), ECHO)
    expect((response.output as Json[]).map((item) => item.type)).toEqual(['message'])
  })

  it('should answer a refusal as the message text', () => {
    const response = chatToResponse(completion({ content: null, refusal: 'I can’t.' }), ECHO)
    expect(response.output).toMatchObject([{ content: [{ text: 'I can’t.' }] }])
  })

  it('should answer an empty message for an answer without content or calls', () => {
    const response = chatToResponse(completion({ content: null }), ECHO)
    expect(response.output).toMatchObject([{ type: 'message', content: [{ text: '' }] }])
  })

  it('should make finish_reason length an incomplete response for max_output_tokens', () => {
    const response = chatToResponse(completion({ content: '{"' }, 'length'), ECHO)
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    })
    expect(response).not.toHaveProperty('completed_at')
  })

  it('should make finish_reason content_filter an incomplete response for content_filter', () => {
    const response = chatToResponse(completion({ content: '' }, 'content_filter'), ECHO)
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
    })
  })

  it('should count usage as the Responses API does, cached and reasoning tokens included', () => {
    const response = chatToResponse(
      completion({ content: 'Hi' }, 'stop', {
        usage: {
          prompt_tokens: 1200,
          completion_tokens: 300,
          total_tokens: 1500,
          prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 256, audio_tokens: 0 },
        },
      }),
      ECHO,
    )
    expect(response.usage).toEqual({
      input_tokens: 1200,
      input_tokens_details: { cached_tokens: 1024, cache_write_tokens: 0 },
      output_tokens: 300,
      output_tokens_details: { reasoning_tokens: 256 },
      total_tokens: 1500,
    })
  })

  it('should leave usage out when the completion has none', () => {
    const response = chatToResponse(
      completion({ content: 'Hi' }, 'stop', { usage: undefined }),
      ECHO,
    )
    expect(response).not.toHaveProperty('usage')
  })

  it('should fall back to the echo’s model and the current time', () => {
    const before = Math.floor(Date.now() / 1000)
    const response = chatToResponse(
      { choices: [{ message: { content: 'Hi' }, finish_reason: 'stop' }] },
      ECHO,
    )
    expect(response.model).toBe('openai/gpt-4o-mini')
    expect(response.created_at).toBeGreaterThanOrEqual(before)
  })

  it('should echo the request’s parameters', () => {
    const tools = [{ type: 'function', name: 'f', parameters: {}, strict: false }]
    const text = { format: { type: 'json_object' } }
    const { echo } = responsesToChat({
      model: 'openai/gpt-4o-mini',
      input: 'Hi',
      instructions: 'Be terse.',
      tools,
      tool_choice: 'required',
      parallel_tool_calls: false,
      text,
      temperature: 0.3,
      top_p: 0.8,
      max_output_tokens: 77,
      reasoning: { effort: 'low' },
      metadata: { run: 'r1' },
      user: 'u_1',
      store: true,
    })
    expect(chatToResponse(completion({ content: '{}' }), echo)).toMatchObject({
      background: false,
      instructions: 'Be terse.',
      max_output_tokens: 77,
      parallel_tool_calls: false,
      previous_response_id: null,
      reasoning: { effort: 'low' },
      store: true,
      temperature: 0.3,
      text,
      tool_choice: 'required',
      tools,
      top_p: 0.8,
      truncation: 'disabled',
      user: 'u_1',
      metadata: { run: 'r1' },
    })
  })

  it('should echo the defaults for a minimal request', () => {
    const response = chatToResponse(completion({ content: 'Hi' }), ECHO)
    expect(response).toMatchObject({
      instructions: null,
      max_output_tokens: null,
      parallel_tool_calls: true,
      reasoning: { effort: null, summary: null },
      temperature: 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [],
      top_p: 1,
      metadata: {},
    })
    expect(response).not.toHaveProperty('user')
  })
})

describe('usageOf', () => {
  it('should add up the total when the provider leaves it out', () => {
    expect(usageOf({ prompt_tokens: 3, completion_tokens: 4 })?.total_tokens).toBe(7)
  })

  it.each([null, undefined, 'usage', 3])('should give null for %j', (usage) => {
    expect(usageOf(usage)).toBeNull()
  })
})

// --- responsesStream ----------------------------------------------------------------------------

describe('responsesStream', () => {
  describe('with the recorded text stream', () => {
    const recorded = assembled(textStream)

    it('should emit the documented events in order', async () => {
      const events = await run(textStream)
      checkStream(events)
      const textDeltas = chunksOf(textStream).filter((c) => {
        const choices = c.choices as { delta: Delta }[]
        return (choices[0]?.delta.content ?? '') !== ''
      }).length
      expect(types(events)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        ...Array<string>(textDeltas).fill('response.output_text.delta'),
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ])
    })

    it('should add the deltas up to the done text, the recorded text', async () => {
      const events = await run(textStream)
      const text = deltas(events, 'response.output_text.delta')
      expect(text).toBe(recorded.text)
      expect(ofType(events, 'response.output_text.done')[0]?.text).toBe(text)
      expect(ofType(events, 'response.content_part.done')[0]?.part).toEqual({
        type: 'output_text',
        text,
        annotations: [],
        logprobs: [],
      })
      const response = finalResponse(events)
      expect(response).toMatchObject({
        status: 'completed',
        model: 'gpt-4o-2024-08-06',
        output: [{ type: 'message', status: 'completed', content: [{ text }] }],
        usage: usageOf(recorded.usage),
      })
    })

    it('should address every event of the message to its item', async () => {
      const events = await run(textStream)
      const added = ofType(events, 'response.output_item.added')[0]
      const item = added?.item as Json
      expect(item).toEqual({
        id: expect.stringMatching(/^msg_/) as unknown,
        type: 'message',
        status: 'in_progress',
        role: 'assistant',
        content: [],
      })
      for (const event of events.slice(3, -2)) {
        expect(event).toMatchObject({ item_id: item.id, output_index: 0, content_index: 0 })
      }
    })

    it('should say the response is in progress, with no output yet, at the start', async () => {
      const events = await run(textStream)
      for (const event of events.slice(0, 2)) {
        const response = event.response as Json
        expect(response).toMatchObject({ status: 'in_progress', output: [], store: true })
        expect(response.id).toBe(finalResponse(events).id)
      }
    })

    it.each([1, 2, 3])(
      'should emit the same events fed in random slices (seed %i)',
      async (seed) => {
        const whole = await run(textStream)
        const sliced = await run(randomSlices(encoder.encode(textStream), seed, 60))
        expect(types(sliced)).toEqual(types(whole))
        expect(deltas(sliced, 'response.output_text.delta')).toBe(recorded.text)
      },
    )

    it('should emit the same events fed one byte at a time, with CRLF line endings', async () => {
      const whole = await run(textStream)
      const crlf = textStream.replaceAll('\n', '\r\n')
      const events = await run(byteSlices(encoder.encode(crlf)))
      expect(types(events)).toEqual(types(whole))
      expect(deltas(events, 'response.output_text.delta')).toBe(recorded.text)
    })
  })

  it('should keep multi-byte characters split across reads', async () => {
    const text = 'Grüße 🙂 — 東京'
    const sse = chatSse([chunk({ role: 'assistant', content: text }), chunk({}, 'stop')])
    const events = await run(byteSlices(encoder.encode(sse)))
    checkStream(events)
    expect(deltas(events, 'response.output_text.delta')).toBe(text)
  })

  describe('with the recorded single tool call stream', () => {
    const recorded = assembled(singleToolStream)

    it('should emit one function_call item whose argument deltas add up to the arguments', async () => {
      const events = await run(singleToolStream)
      checkStream(events)
      const argumentDeltas = types(events).filter(
        (t) => t === 'response.function_call_arguments.delta',
      ).length
      expect(argumentDeltas).toBeGreaterThan(1)
      expect(types(events)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        ...Array<string>(argumentDeltas).fill('response.function_call_arguments.delta'),
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.completed',
      ])
      const call = recorded.calls[0]
      const args = deltas(events, 'response.function_call_arguments.delta')
      expect(args).toBe(call?.arguments)
      expect(ofType(events, 'response.function_call_arguments.done')[0]).toMatchObject({
        name: call?.name,
        arguments: args,
        output_index: 0,
      })
      expect(ofType(events, 'response.output_item.added')[0]?.item).toMatchObject({
        type: 'function_call',
        status: 'in_progress',
        call_id: call?.id,
        name: call?.name,
        arguments: '',
      })
      expect(finalResponse(events)).toMatchObject({
        status: 'completed',
        output: [
          {
            type: 'function_call',
            status: 'completed',
            call_id: call?.id,
            name: call?.name,
            arguments: call?.arguments,
          },
        ],
        usage: usageOf(recorded.usage),
      })
    })
  })

  describe('with the recorded parallel tool calls stream', () => {
    const recorded = assembled(parallelToolsStream)

    it('should emit one function_call item per call, each with its own arguments', async () => {
      const events = await run(parallelToolsStream)
      checkStream(events)
      expect(recorded.calls).toHaveLength(2)
      const added = ofType(events, 'response.output_item.added')
      expect(added.map((event) => event.output_index)).toEqual([0, 1])
      recorded.calls.forEach((call, i) => {
        expect(added[i]?.item).toMatchObject({ call_id: call.id, name: call.name })
        expect(deltas(events, 'response.function_call_arguments.delta', i)).toBe(call.arguments)
        const done = ofType(events, 'response.function_call_arguments.done').find(
          (event) => event.output_index === i,
        )
        expect(done).toMatchObject({ name: call.name, arguments: call.arguments })
      })
      expect(finalResponse(events).output).toMatchObject(
        recorded.calls.map((call) => ({
          type: 'function_call',
          status: 'completed',
          call_id: call.id,
          name: call.name,
          arguments: call.arguments,
        })),
      )
    })

    it('should emit the same events fed one byte at a time', async () => {
      const whole = await run(parallelToolsStream)
      const events = await run(byteSlices(encoder.encode(parallelToolsStream)))
      expect(types(events)).toEqual(types(whole))
      recorded.calls.forEach((call, i) => {
        expect(deltas(events, 'response.function_call_arguments.delta', i)).toBe(call.arguments)
      })
    })
  })

  describe('with the recorded max tokens stream', () => {
    it('should end with response.incomplete for max_output_tokens', async () => {
      const events = await run(maxTokensStream)
      checkStream(events)
      expect(assembled(maxTokensStream).finish).toBe('length')
      expect(events.at(-1)?.type).toBe('response.incomplete')
      expect(finalResponse(events)).toMatchObject({
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
        output: [{ type: 'message', content: [{ text: assembled(maxTokensStream).text }] }],
      })
    })
  })

  it('should end with response.incomplete for a content filter', async () => {
    const events = await run(
      chatSse([chunk({ role: 'assistant', content: 'Sure' }), chunk({}, 'content_filter')]),
    )
    checkStream(events)
    expect(finalResponse(events)).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
    })
  })

  it('should stream reasoning as a reasoning item before the message', async () => {
    const events = await run(
      chatSse([
        chunk({ role: 'assistant', reasoning_content: 'The user' }),
        chunk({ reasoning_content: ' greets me.' }),
        chunk({ content: 'Hello' }),
        chunk({ content: '!' }),
        chunk({}, 'stop'),
        chunk({}, null, {
          choices: [],
          usage: {
            prompt_tokens: 5,
            completion_tokens: 9,
            total_tokens: 14,
            completion_tokens_details: { reasoning_tokens: 4 },
          },
        }),
      ]),
    )
    checkStream(events)
    expect(types(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(deltas(events, 'response.reasoning_summary_text.delta')).toBe('The user greets me.')
    expect(ofType(events, 'response.reasoning_summary_text.done')[0]?.text).toBe(
      'The user greets me.',
    )
    expect(finalResponse(events)).toMatchObject({
      output: [
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'The user greets me.' }] },
        { type: 'message', content: [{ text: 'Hello!' }] },
      ],
      usage: { output_tokens: 9, output_tokens_details: { reasoning_tokens: 4 } },
    })
  })

  it('should stream a text and then a tool call as a message item and a function_call item', async () => {
    const events = await run(
      chatSse([
        chunk({ role: 'assistant', content: 'Checking.' }),
        chunk({
          tool_calls: [
            { index: 0, id: 'call_x', type: 'function', function: { name: 'f', arguments: '' } },
          ],
        }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
        chunk({}, 'tool_calls'),
      ]),
    )
    checkStream(events)
    expect(finalResponse(events).output).toMatchObject([
      { type: 'message', content: [{ text: 'Checking.' }] },
      { type: 'function_call', call_id: 'call_x', name: 'f', arguments: '{"a":1}' },
    ])
  })

  it('should answer an empty message for a stream without content', async () => {
    const events = await run(chatSse([chunk({ role: 'assistant' }), chunk({}, 'stop')]))
    checkStream(events)
    expect(finalResponse(events)).toMatchObject({
      status: 'completed',
      output: [{ type: 'message', status: 'completed', content: [{ text: '' }] }],
    })
  })

  it('should echo the request’s parameters in every response it carries', async () => {
    const { echo } = responsesToChat({
      model: 'anthropic/claude-sonnet-4-5',
      input: 'Hi',
      instructions: 'Be terse.',
      metadata: { run: 'r1' },
    })
    const events = await run(textStream, echo)
    for (const event of events.filter((e) => e.response !== undefined)) {
      expect(event.response).toMatchObject({ instructions: 'Be terse.', metadata: { run: 'r1' } })
    }
  })

  describe('a chat stream that breaks', () => {
    const started = [
      chunk({ role: 'assistant', content: 'Hel' }),
      chunk({ content: 'lo' }),
    ] as const

    /** The error event the gateway's relay ends a broken stream with (`interruptedEvent`). */
    const interrupted = `event: error\ndata: ${JSON.stringify({
      error: {
        message: "The stream from 'openai' ended before it was complete.",
        type: 'api_error',
        code: 'STREAM_INTERRUPTED',
        param: null,
      },
      request_id: 'req_1',
    })}\n\n`
    /** What a chat stream might still send after its error event. */
    const after = chatSse([chunk({ content: ' again' }), chunk({}, 'stop')])

    it.each<[string, (sse: string) => Uint8Array[]]>([
      ['in one read', (sse) => [encoder.encode(sse)]],
      ['one byte at a time', (sse) => byteSlices(encoder.encode(sse))],
    ])('should end with response.failed at an in-stream error event (%s)', async (_name, split) => {
      const events = await run(split(chatSse(started, false) + interrupted))
      checkStream(events)
      expect(events.at(-1)?.type).toBe('response.failed')
      expect(deltas(events, 'response.output_text.delta')).toBe('Hello')
      expect(finalResponse(events)).toMatchObject({
        status: 'failed',
        error: { message: "The stream from 'openai' ended before it was complete." },
      })
    })

    it('should say nothing after response.failed of what comes in later reads', async () => {
      const sse = chatSse(started, false) + interrupted + after
      // One read per event: the error event's read ends the stream; later reads are ignored.
      const reads = sse
        .split('\n\n')
        .filter((frame) => frame !== '')
        .map((frame) => encoder.encode(`${frame}\n\n`))
      const events = await run(reads)
      checkStream(events)
      expect(events.at(-1)?.type).toBe('response.failed')
      expect(deltas(events, 'response.output_text.delta')).toBe('Hello')
    })

    // Gateway bug: the lines after the one that failed the stream are still read when they came
    // in the same read (`transform` checks `ended` once per read, `line`/`chunk` never do), so a
    // delta follows `response.failed`. Flips to a pass once fixed.
    it('should say nothing after response.failed of what came in the same read', async () => {
      const events = await run(chatSse(started, false) + interrupted + after)
      expect(events.at(-1)?.type).toBe('response.failed')
      expect(deltas(events, 'response.output_text.delta')).toBe('Hello')
    })

    it('should say server_error for an error event without a code', async () => {
      const events = await run(chatSse([...started, '{"error":{"message":"boom"}}']))
      expect(finalResponse(events)).toMatchObject({
        status: 'failed',
        error: { code: 'server_error', message: 'boom' },
      })
    })

    it('should fail at an error event before any chunk, after created and in_progress', async () => {
      const events = await run(chatSse(['{"error":{"message":"boom","code":"server_error"}}']))
      checkStream(events)
      expect(types(events)).toEqual(['response.created', 'response.in_progress', 'response.failed'])
    })

    // The spec's `ResponseError.code` is an enum (`server_error`, `rate_limit_exceeded`, …):
    // codes such as the gateway's own `STREAM_INTERRUPTED` or `stream_interrupted` make the
    // `response.failed` event invalid. Flips to a pass once the codes are mapped.
    it('should give response.failed an error code of the spec’s enum', async () => {
      const ends = [
        await run(
          chatSse([
            ...started,
            '{"error":{"message":"x","type":"api_error","code":"STREAM_INTERRUPTED"}}',
          ]),
        ),
        await run(chatSse(started, false)),
      ]
      for (const events of ends) {
        expect(['server_error', 'rate_limit_exceeded']).toContain(
          (finalResponse(events).error as Json).code,
        )
      }
    })

    it('should end with response.failed when the stream ends without [DONE]', async () => {
      const events = await run(chatSse([...started, chunk({}, 'stop')], false))
      checkStream(events)
      expect(events.at(-1)?.type).toBe('response.failed')
      expect(deltas(events, 'response.output_text.delta')).toBe('Hello')
      expect(finalResponse(events)).toMatchObject({
        status: 'failed',
        error: { message: expect.any(String) as unknown },
      })
    })

    it('should end with response.failed when [DONE] comes without a finish', async () => {
      const events = await run(chatSse(started))
      checkStream(events)
      expect(events.at(-1)?.type).toBe('response.failed')
    })

    it('should end with response.failed for an empty stream', async () => {
      const events = await run('')
      checkStream(events)
      expect(types(events)).toEqual(['response.created', 'response.in_progress', 'response.failed'])
    })

    it('should parse the lines it got of a stream cut in the middle of a line', async () => {
      const sse = textStream
      const lines = sse.split('\n')
      // Cut in the middle of the sixth data line (five whole events before it).
      const cutLine = lines.findIndex(
        (line, i) =>
          line.startsWith('data: ') &&
          lines.slice(0, i).filter((l) => l.startsWith('data: ')).length === 5,
      )
      const cut = lines.slice(0, cutLine).join('\n').length + 1 + 40
      const events = await run(sse.slice(0, cut))
      checkStream(events)
      const whole = chunksOf(sse)
        .slice(0, 5)
        .map((c) => (c.choices as { delta: Delta }[])[0]?.delta.content ?? '')
        .join('')
      expect(deltas(events, 'response.output_text.delta')).toBe(whole)
      expect(events.at(-1)?.type).toBe('response.failed')
    })

    it('should parse a last line that lost only its newline', async () => {
      const sse = chatSse([...started, chunk({ content: '!' })], false).trimEnd()
      const events = await run(sse)
      expect(deltas(events, 'response.output_text.delta')).toBe('Hello!')
      expect(events.at(-1)?.type).toBe('response.failed')
    })

    it('should complete a stream whose [DONE] lost its newline', async () => {
      const events = await run(textStream.trimEnd())
      checkStream(events)
      expect(events.at(-1)?.type).toBe('response.completed')
    })
  })
})
