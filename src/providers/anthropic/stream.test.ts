/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import recordedToolStream from '../../../test/fixtures/anthropic/sdk-python/recorded_stream_tool_use_555fb399.sse?raw'
import recordedExchanges from '../../../test/fixtures/anthropic/sdk-python/recorded_stream_tool_use_555fb399.json?raw'
import basicStream from '../../../test/fixtures/anthropic/sdk-typescript/basic_response.txt?raw'
import partialJsonStream from '../../../test/fixtures/anthropic/sdk-typescript/incomplete_partial_json_response.txt?raw'
import refusalStream from '../../../test/fixtures/anthropic/sdk-typescript/stream-a-refusal.sse?raw'
import toolUseStream from '../../../test/fixtures/anthropic/sdk-typescript/tool_use_response.txt?raw'
import { SseSplitter } from '../sse'
import { JSON_TOOL_NAME } from './request'
import {
  initialState,
  relayAnthropicStream,
  step,
  usageOf,
  type RelayResult,
  type StreamPlan,
} from './stream'
import { seededRandom, usage } from '../../../test/support/unit'

const CREATED = 1_700_000_000
const PLAN: StreamPlan = {
  showReasoning: false,
  jsonTool: undefined,
  showUsage: false,
  created: CREATED,
}

const errorEvent = (providerError: unknown): string =>
  `event: error\ndata: ${JSON.stringify({ relayed: providerError })}\n\n`
const INTERRUPTED = 'event: error\ndata: {"error":{"code":"STREAM_INTERRUPTED"}}\n\n'

type Payload = Record<string, unknown> | '[DONE]'

/** The OpenAI payloads in SSE text: `data:` JSON parsed, `[DONE]` kept, error events marked. */
const payloads = (text: string): Payload[] =>
  new SseSplitter().push(text).map((event) => {
    if (event.event === 'error') return { error_event: JSON.parse(event.data ?? '') as unknown }
    return event.data === '[DONE]' ? '[DONE]' : (JSON.parse(event.data ?? '') as Payload)
  })

/** Runs `step` over every event of a recorded stream, returning each event's output. */
const stepAll = (text: string, plan: Partial<StreamPlan> = {}) => {
  const state = initialState({ ...PLAN, ...plan })
  const outputs = new SseSplitter().push(text).map((event) => step(state, event, errorEvent))
  return { state, outputs }
}

const head = (id: string, model: string) => ({
  id,
  object: 'chat.completion.chunk',
  created: CREATED,
  model,
})

/** Builds expected chunks for one stream. */
const chunksFor = (id: string, model: string) => {
  const delta = (value: Record<string, unknown>, finish: string | null = null) => ({
    ...head(id, model),
    choices: [{ index: 0, delta: value, logprobs: null, finish_reason: finish }],
  })
  return {
    role: delta({ role: 'assistant', content: '', refusal: null }),
    content: (content: string) => delta({ content }),
    reasoning: (reasoning_content: string) => delta({ reasoning_content }),
    /** A tool call opening the answer: OpenAI's first-chunk shape. */
    toolFirst: (toolId: string, name: string) =>
      delta({
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: toolId, type: 'function', function: { name, arguments: '' } }],
        refusal: null,
      }),
    toolOpen: (index: number, toolId: string, name: string) =>
      delta({
        tool_calls: [{ index, id: toolId, type: 'function', function: { name, arguments: '' } }],
      }),
    toolArgs: (index: number, args: string) =>
      delta({ tool_calls: [{ index, function: { arguments: args } }] }),
    finish: (reason: string) => delta({}, reason),
    usage: (value: Record<string, unknown>) => ({ ...head(id, model), choices: [], usage: value }),
  }
}

const basic = chunksFor('msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK', 'claude-opus-4-8')

describe('step', () => {
  it('should translate the basic text stream event by event, byte for byte', () => {
    const frame = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`
    const { outputs, state } = stepAll(basicStream)
    expect(outputs).toEqual([
      '', // message_start
      frame(basic.role), // content_block_start (text)
      '', // ping
      frame(basic.content('Hello')),
      frame(basic.content(' there')),
      frame(basic.content('!')),
      '', // content_block_stop
      frame(basic.finish('stop')), // message_delta
      'data: [DONE]\n\n', // message_stop
    ])
    expect(state.end).toBe('done')
    expect(usageOf(state)).toEqual(usage(11, 6, 17))
  })

  it('should add the usage chunk before [DONE] only when the client asked', () => {
    const { outputs } = stepAll(basicStream, { showUsage: true })
    expect(payloads(outputs.at(-1) ?? '')).toEqual([
      basic.usage({
        prompt_tokens: 11,
        completion_tokens: 6,
        total_tokens: 17,
        prompt_tokens_details: { cached_tokens: 0 },
      }),
      '[DONE]',
    ])
  })

  it('should translate text then a tool call, skipping the empty first fragment', () => {
    const c = chunksFor('msg_019Q1hrJbZG26Fb9BQhrkHEr', 'claude-opus-4-8')
    const { outputs, state } = stepAll(toolUseStream, { showUsage: true })
    expect(payloads(outputs.join(''))).toEqual([
      c.role,
      c.content('I'),
      c.content("'ll check the current weather in Paris for you."),
      c.toolOpen(0, 'toolu_01NRLabsLyVHZPKxbKvkfSMn', 'get_weather'),
      c.toolArgs(0, '{"locati'),
      c.toolArgs(0, 'on": "P'),
      c.toolArgs(0, 'ar'),
      c.toolArgs(0, 'is"}'),
      c.finish('tool_calls'),
      c.usage({
        prompt_tokens: 377,
        completion_tokens: 65,
        total_tokens: 442,
        prompt_tokens_details: { cached_tokens: 0 },
      }),
      '[DONE]',
    ])
    expect(state.end).toBe('done')
  })

  it('should translate the recorded live tool stream with its padded data lines', () => {
    const c = chunksFor('msg_01AusY9WEbCaj3N7Tv5J4YjH', 'claude-haiku-4-5-20251001')
    const { outputs, state } = stepAll(recordedToolStream)
    const chunks = payloads(outputs.join(''))
    expect(chunks.slice(0, 2)).toEqual([
      c.toolFirst('toolu_018acGYLtfR52q9yDbWaEdQZ', 'get_weather'),
      c.toolArgs(0, '{"'),
    ])
    expect(chunks.slice(-2)).toEqual([c.finish('tool_calls'), '[DONE]'])
    expect(JSON.parse(argumentsOf(chunks, 0))).toEqual({
      location: 'San Francisco, CA',
      units: 'f',
    })
    // message_delta repeats the input count: cumulative, not added twice.
    expect(usageOf(state)).toEqual(usage(656, 74, 730))
  })

  it('should translate the recorded answer after the tool result', () => {
    const [, second] = JSON.parse(recordedExchanges) as { response: { body: string } }[]
    const { outputs, state } = stepAll(second?.response.body ?? '')
    const chunks = payloads(outputs.join(''))
    expect(contentOf(chunks)).toBe(
      "The weather in San Francisco, CA is currently:\n- **Temperature:** 68°F\n- **Condition:** Sunny\n\nIt's a nice sunny day!",
    )
    expect(chunks.slice(-2)).toEqual([
      chunksFor('msg_016HxyUMAncysqX7dn1kWNRx', 'claude-haiku-4-5-20251001').finish('stop'),
      '[DONE]',
    ])
    expect(state.end).toBe('done')
  })

  it('should finish with length when max_tokens cut a tool call', () => {
    const { outputs } = stepAll(partialJsonStream)
    const chunks = payloads(outputs.join(''))
    expect(argumentsOf(chunks, 0)).toBe(
      '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes',
    )
    const finish = chunksFor('msg_01UdjYBBipA9omjYhicnevgq', 'claude-sonnet-4-5').finish('length')
    expect(chunks.slice(-2)).toEqual([finish, '[DONE]'])
  })

  it('should hide thinking unless reasoning was asked for, and map refusal', () => {
    const c = chunksFor('msg_fixture_a_0001', 'claude-fable-5')
    const hidden = payloads(stepAll(refusalStream).outputs.join(''))
    expect(hidden).toEqual([c.role, c.content('Hi'), c.finish('content_filter'), '[DONE]'])

    const { outputs, state } = stepAll(refusalStream, { showReasoning: true, showUsage: true })
    expect(payloads(outputs.join(''))).toEqual([
      c.role,
      c.reasoning('Simple educ'),
      c.reasoning(
        'ational question about what a solar eclipse is. This is benign general knowledge — definitions are fine. Also the user called',
      ),
      c.reasoning(' me "claudius" — I\'m Claude. Minor correction or just roll with it politely.'),
      c.content('Hi'),
      c.finish('content_filter'),
      c.usage({
        prompt_tokens: 28,
        completion_tokens: 106,
        total_tokens: 134,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 67 },
      }),
      '[DONE]',
    ])
    expect(usageOf(state)).toEqual(usage(28, 106, 134, 0, 67))
  })

  it('should number parallel tool calls in order and interleave their arguments', () => {
    const c = chunksFor('msg_p', 'claude-sonnet-4-5')
    const stream = sse([
      messageStart('msg_p', 'claude-sonnet-4-5', { input_tokens: 50, output_tokens: 1 }),
      toolStart(0, 'toolu_a', 'get_weather'),
      jsonDelta(0, '{"city":'),
      jsonDelta(0, '"Paris"}'),
      blockStop(0),
      toolStart(1, 'toolu_b', 'get_time'),
      jsonDelta(1, ''),
      jsonDelta(1, '{"tz":"CET"}'),
      blockStop(1),
      messageDelta('tool_use', { output_tokens: 40 }),
      { type: 'message_stop' },
    ])
    expect(payloads(stepAll(stream).outputs.join(''))).toEqual([
      c.toolFirst('toolu_a', 'get_weather'),
      c.toolArgs(0, '{"city":'),
      c.toolArgs(0, '"Paris"}'),
      c.toolOpen(1, 'toolu_b', 'get_time'),
      c.toolArgs(1, '{"tz":"CET"}'),
      c.finish('tool_calls'),
      '[DONE]',
    ])
  })

  it('should stream thinking, then text, then a tool call, when reasoning was asked for', () => {
    const c = chunksFor('msg_t', 'claude-opus-4-5')
    const stream = sse([
      messageStart('msg_t', 'claude-opus-4-5', { input_tokens: 9, output_tokens: 1 }),
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      },
      {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: 'Plan.' },
      },
      {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'signature_delta', signature: 'c2ln' },
      },
      blockStop(0),
      textStart(1),
      textDelta(1, 'Looking it up.'),
      blockStop(1),
      toolStart(2, 'toolu_x', 'search'),
      jsonDelta(2, '{}'),
      blockStop(2),
      messageDelta('tool_use', {
        output_tokens: 30,
        output_tokens_details: { thinking_tokens: 12 },
      }),
      { type: 'message_stop' },
    ])
    const { outputs, state } = stepAll(stream, { showReasoning: true })
    expect(payloads(outputs.join(''))).toEqual([
      c.role,
      c.reasoning('Plan.'),
      c.content('Looking it up.'),
      c.toolOpen(0, 'toolu_x', 'search'),
      c.toolArgs(0, '{}'),
      c.finish('tool_calls'),
      '[DONE]',
    ])
    expect(usageOf(state)).toEqual(usage(9, 30, 39, 0, 12))
  })

  it('should stream the forced json tool input as content', () => {
    const c = chunksFor('msg_j', 'claude-haiku-4-5')
    const stream = sse([
      messageStart('msg_j', 'claude-haiku-4-5', { input_tokens: 5, output_tokens: 1 }),
      toolStart(0, 'toolu_j', JSON_TOOL_NAME),
      jsonDelta(0, '{"a":'),
      jsonDelta(0, '1}'),
      blockStop(0),
      messageDelta('tool_use', { output_tokens: 8 }),
      { type: 'message_stop' },
    ])
    expect(payloads(stepAll(stream, { jsonTool: JSON_TOOL_NAME }).outputs.join(''))).toEqual([
      c.role,
      c.content('{"a":'),
      c.content('1}'),
      c.finish('stop'),
      '[DONE]',
    ])
  })

  it('should count cache reads and writes as prompt tokens', () => {
    const stream = sse([
      messageStart('msg_c', 'claude-sonnet-4-5', {
        input_tokens: 4,
        cache_read_input_tokens: 2000,
        cache_creation_input_tokens: 100,
        output_tokens: 1,
      }),
      textStart(0),
      textDelta(0, 'ok'),
      messageDelta('end_turn', { output_tokens: 3 }),
      { type: 'message_stop' },
    ])
    const { outputs, state } = stepAll(stream, { showUsage: true })
    expect(payloads(outputs.at(-1) ?? '')[0]).toMatchObject({
      usage: {
        prompt_tokens: 2104,
        completion_tokens: 3,
        total_tokens: 2107,
        prompt_tokens_details: { cached_tokens: 2000 },
      },
    })
    expect(usageOf(state)).toEqual(usage(2104, 3, 2107, 2000))
  })

  it('should turn an error event into an error event and stop there', () => {
    const stream = sse([
      messageStart('msg_e', 'claude-sonnet-4-5', { input_tokens: 3, output_tokens: 1 }),
      textStart(0),
      textDelta(0, 'Par'),
      { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      textDelta(0, 'is'),
      { type: 'message_stop' },
    ])
    const { outputs, state } = stepAll(stream)
    const chunks = payloads(outputs.join(''))
    expect(chunks.at(-1)).toEqual({
      error_event: {
        relayed: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      },
    })
    expect(chunks).not.toContain('[DONE]')
    expect(contentOf(chunks)).toBe('Par')
    expect(state.end).toBe('provider_error')
  })

  it('should ignore pings, unknown events, comments and unparseable data', () => {
    const { outputs, state } = stepAll(
      ': comment\n\nevent: ping\ndata: {"type": "ping"}\n\n' +
        'event: future\ndata: {"type":"future_event"}\n\ndata: not json\n\n' +
        'data: {"type":"content_block_delta","index":0,' +
        '"delta":{"type":"text_delta","text":"x"}}\n\n',
    )
    expect(outputs.slice(0, 4)).toEqual(['', '', '', ''])
    // The delta belongs to no started block: only the opening role chunk comes out of it.
    expect(payloads(outputs[4] ?? '')).toEqual([chunksFor('', '').role])
    expect(state.end).toBeUndefined()
  })

  it('should open with the role chunk even when message_start is missing', () => {
    const { outputs } = stepAll(sse([textStart(0), textDelta(0, 'Hi')]))
    expect(payloads(outputs.join(''))).toEqual([
      chunksFor('', '').role,
      chunksFor('', '').content('Hi'),
    ])
  })
})

// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder()

const upstreamOf = (
  chunks: readonly Uint8Array[],
  ending: { error: unknown } | 'close' = 'close',
  onCancel?: () => void,
): ReadableStream<Uint8Array> => {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++]
      if (chunk !== undefined) controller.enqueue(chunk)
      else if (ending === 'close') controller.close()
      else controller.error(ending.error)
    },
    cancel() {
      onCancel?.()
    },
  })
}

const whole = (text: string): Uint8Array[] => [encoder.encode(text)]
const byteByByte = (text: string): Uint8Array[] =>
  Array.from(encoder.encode(text), (b) => Uint8Array.of(b))
const randomSlices = (text: string, seed: number): Uint8Array[] => {
  const all = encoder.encode(text)
  const next = seededRandom(seed)
  const out: Uint8Array[] = []
  for (let i = 0; i < all.length;) {
    const size = 1 + Math.floor(next() * 64)
    out.push(all.slice(i, i + size))
    i += size
  }
  return out
}

const relay = async (
  upstream: ReadableStream<Uint8Array>,
  plan: Partial<StreamPlan> = {},
): Promise<{ text: string; ends: RelayResult[] }> => {
  const ends: RelayResult[] = []
  const out = relayAnthropicStream(upstream, {
    plan: { ...PLAN, ...plan },
    providerErrorEvent: errorEvent,
    interruptedEvent: () => INTERRUPTED,
    onEnd: (result) => ends.push(result),
  })
  return { text: await new Response(out).text(), ends }
}

describe('relayAnthropicStream', () => {
  const FIXTURES: readonly (readonly [string, string])[] = [
    ['basic text', basicStream],
    ['text and tool', toolUseStream],
    ['recorded tool', recordedToolStream],
    ['max tokens', partialJsonStream],
    ['thinking and refusal', refusalStream],
  ]

  it.each(FIXTURES)(
    'should relay the %s stream identically however the bytes are split',
    async (_, stream) => {
      const expected = stepAll(stream, { showUsage: true }).outputs.join('')
      for (const chunks of [whole(stream), byteByByte(stream), randomSlices(stream, 7)]) {
        const { text, ends } = await relay(upstreamOf(chunks), { showUsage: true })
        expect(text).toBe(expected)
        expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
        expect(ends).toHaveLength(1)
        expect(ends[0]?.end).toBe('done')
      }
    },
  )

  it('should report usage at the end, with or without the usage chunk', async () => {
    for (const showUsage of [false, true]) {
      const { text, ends } = await relay(upstreamOf(whole(toolUseStream)), { showUsage })
      expect(ends).toEqual([{ end: 'done', usage: usage(377, 65, 442) }])
      expect(text.includes('"choices":[]')).toBe(showUsage)
    }
  })

  it('should end a stream cut before message_stop with an error event, no [DONE]', async () => {
    const cut = basicStream.slice(0, basicStream.indexOf('event: message_delta'))
    const { text, ends } = await relay(upstreamOf(whole(cut)), { showUsage: true })
    expect(text.endsWith(INTERRUPTED)).toBe(true)
    expect(text).not.toContain('[DONE]')
    expect(text).not.toContain('finish_reason":"stop')
    expect(contentOf(payloads(text))).toBe('Hello there!')
    expect(ends).toEqual([{ end: 'interrupted', usage: usage(11, 1, 12) }])
  })

  it('should end a stream cut inside an event the same way', async () => {
    const cut = toolUseStream.slice(0, toolUseStream.indexOf('"is\\"}"') + 3)
    const { text, ends } = await relay(upstreamOf(byteByByte(cut)))
    expect(text.endsWith(INTERRUPTED)).toBe(true)
    expect(argumentsOf(payloads(text), 0)).toBe('{"location": "Par')
    expect(ends[0]?.end).toBe('interrupted')
  })

  it('should end a stream whose connection breaks with an interrupted event', async () => {
    const { text, ends } = await relay(
      upstreamOf(whole(basicStream.slice(0, 400)), { error: new TypeError('network lost') }),
    )
    expect(text.endsWith(INTERRUPTED)).toBe(true)
    expect(ends[0]?.end).toBe('interrupted')
  })

  it('should relay an error event, stop reading and end with provider_error', async () => {
    let cancelled = false
    const stream =
      basicStream.slice(0, basicStream.indexOf('event: content_block_stop')) +
      'event: error\ndata: ' +
      '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    const { text, ends } = await relay(
      upstreamOf([...whole(stream), ...whole(basicStream)], 'close', () => {
        cancelled = true
      }),
    )
    expect(payloads(text).at(-1)).toEqual({
      error_event: {
        relayed: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      },
    })
    expect(text).not.toContain('[DONE]')
    expect(ends).toEqual([{ end: 'provider_error', usage: usage(11, 1, 12) }])
    expect(cancelled).toBe(true)
  })

  it('should cancel the upstream and report cancelled when the client goes away', async () => {
    let released!: () => void
    const cancelled = new Promise<void>((resolve) => {
      released = resolve
    })
    const ends: RelayResult[] = []
    const out = relayAnthropicStream(
      upstreamOf(byteByByte(basicStream), 'close', () => {
        released()
      }),
      {
        plan: PLAN,
        providerErrorEvent: errorEvent,
        interruptedEvent: () => INTERRUPTED,
        onEnd: (r) => ends.push(r),
      },
    )
    const reader = out.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"')
    await reader.cancel()
    // Heard at the relay's next write (workerd's IdentityTransformStream): the upstream is
    // cancelled then, and only then is the end reported.
    await cancelled
    expect(ends).toEqual([{ end: 'cancelled', usage: usage(11, 1, 12) }])
  })
})

// ---------------------------------------------------------------------------------------------
// Constructed Anthropic events, for the cases the recorded fixtures lack.

type Event = { type: string } & Record<string, unknown>

const sse = (events: readonly Event[]): string =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('')

const messageStart = (id: string, model: string, usageFields: Record<string, number>): Event => ({
  type: 'message_start',
  message: {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: usageFields,
  },
})
const textStart = (index: number): Event => ({
  type: 'content_block_start',
  index,
  content_block: { type: 'text', text: '' },
})
const textDelta = (index: number, value: string): Event => ({
  type: 'content_block_delta',
  index,
  delta: { type: 'text_delta', text: value },
})
const toolStart = (index: number, id: string, name: string): Event => ({
  type: 'content_block_start',
  index,
  content_block: { type: 'tool_use', id, name, input: {} },
})
const jsonDelta = (index: number, partial: string): Event => ({
  type: 'content_block_delta',
  index,
  delta: { type: 'input_json_delta', partial_json: partial },
})
const blockStop = (index: number): Event => ({ type: 'content_block_stop', index })
const messageDelta = (stopReason: string, usageFields: Record<string, unknown>): Event => ({
  type: 'message_delta',
  delta: { stop_reason: stopReason, stop_sequence: null },
  usage: usageFields,
})

type Chunk = {
  choices?: {
    delta?: {
      content?: string
      tool_calls?: { index: number; function?: { arguments?: string } }[]
    }
  }[]
}

/** The text content of translated chunks, concatenated. */
function contentOf(chunks: readonly Payload[]): string {
  return chunks
    .map((chunk) =>
      chunk === '[DONE]' ? '' : ((chunk as Chunk).choices?.[0]?.delta?.content ?? ''),
    )
    .join('')
}

/** The arguments streamed for one tool call, concatenated. */
function argumentsOf(chunks: readonly Payload[], index: number): string {
  return chunks
    .flatMap((chunk) =>
      chunk === '[DONE]' ? [] : ((chunk as Chunk).choices?.[0]?.delta?.tool_calls ?? []),
    )
    .filter((call) => call.index === index)
    .map((call) => call.function?.arguments ?? '')
    .join('')
}
