import { describe, expect, it } from 'vitest'
import { SseSplitter } from '../sse'
import { usage } from '../../../test/support/unit'
import {
  finish,
  initialState,
  relayGeminiStream,
  step,
  type StreamEvents,
  type StreamPlan,
} from './stream'
import {
  exchange,
  mockStreamBlocked,
  mockStreamEmptyContent,
  mockStreamFunctionCall,
  mockStreamLong,
  mockStreamSafety,
  mockStreamShort,
  mockUnaryImageRejected,
  recordings,
  sseOf,
} from './test-fixtures'
import type { ResponseOutcome } from '../../types'

const plan = (fields: Partial<StreamPlan> = {}): StreamPlan => ({
  id: 'chatcmpl-local',
  created: 1_700_000_000,
  model: 'gemini-requested',
  showReasoning: false,
  callPrefix: 'call_T',
  choices: 1,
  showUsage: false,
  ...fields,
})

const events: StreamEvents = {
  providerError: (error) => `event: error\ndata: ${JSON.stringify({ relayed: error })}\n\n`,
  interrupted: () => 'event: error\ndata: {"error":{"code":"STREAM_INTERRUPTED"}}\n\n',
}
const INTERRUPTED = { event: 'error', data: { error: { code: 'STREAM_INTERRUPTED' } } }

type Out = Record<string, unknown> | '[DONE]' | { event: 'error'; data: unknown }

/** The client-side events of translated text: chunk objects, `[DONE]` and error events. */
const parse = (text: string): Out[] =>
  text
    .split('\n\n')
    .filter((raw) => raw.length > 0)
    .map((raw): Out => {
      if (raw.startsWith('event: error\ndata: ')) {
        return { event: 'error', data: JSON.parse(raw.slice('event: error\ndata: '.length)) }
      }
      if (!raw.startsWith('data: ')) throw new Error(`not an SSE data event: ${raw}`)
      const data = raw.slice('data: '.length)
      return data === '[DONE]' ? data : (JSON.parse(data) as Record<string, unknown>)
    })

/** Runs the pure translator over a whole upstream text: every event, then the end. */
const translate = (upstream: string, streamPlan = plan()) => {
  const state = initialState(streamPlan)
  const splitter = new SseSplitter()
  const perEvent = splitter.push(upstream).map((event) => parse(step(state, event, events)))
  const end = parse(finish(state, splitter.rest(), events))
  return { state, perEvent, end, all: [...perEvent.flat(), ...end] }
}

const head = (id = 'chatcmpl-local', model = 'gemini-requested') => ({
  id,
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model,
})

const choice = (
  index: number,
  delta: Record<string, unknown>,
  finishReason: string | null = null,
) => ({
  index,
  delta,
  logprobs: null,
  finish_reason: finishReason,
})

const ROLE = { role: 'assistant', content: '' }

/** Text of the candidate parts of recorded stream events (the expected content deltas). */
const textsOf = (responses: readonly Record<string, unknown>[]): string[] =>
  responses.map((response) => {
    const candidates = response.candidates as { content: { parts: { text: string }[] } }[]
    return candidates.map((c) => c.content.parts.map((p) => p.text).join('')).join('')
  })

describe('Gemini stream translation', () => {
  describe('with the recorded js-genai text stream (6 events, cumulative usage)', () => {
    const recorded = exchange(recordings.streamSystem)
    const texts = textsOf(recorded.responses)
    const h = head('tS77aIl-4ZvV7w_A9rTBBg', 'gemini-2.5-flash')

    it('should emit the role, then one content chunk per event, event by event', () => {
      const { perEvent } = translate(sseOf(recorded.responses), plan({ showUsage: true }))
      expect(perEvent).toHaveLength(6)
      expect(perEvent[0]).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, { content: texts[0] })] },
      ])
      for (let i = 1; i < 6; i++) {
        expect(perEvent[i]).toEqual([{ ...h, choices: [choice(0, { content: texts[i] })] }])
      }
    })

    it('should end with the finish chunk, the last usage when asked, and [DONE]', () => {
      const { end, state } = translate(sseOf(recorded.responses), plan({ showUsage: true }))
      expect(end).toEqual([
        { ...h, choices: [choice(0, {}, 'stop')] },
        {
          ...h,
          choices: [],
          usage: {
            prompt_tokens: 20,
            completion_tokens: 513,
            total_tokens: 533,
            prompt_tokens_details: { cached_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: 260 },
          },
        },
        '[DONE]',
      ])
      expect(state.end).toBe('done')
    })

    it('should leave the usage chunk out when the client did not ask', () => {
      const { end } = translate(sseOf(recorded.responses))
      expect(end).toEqual([{ ...h, choices: [choice(0, {}, 'stop')] }, '[DONE]'])
    })

    it('should read LF-framed events the same as CRLF-framed ones', () => {
      expect(translate(sseOf(recorded.responses, '\n\n')).all).toEqual(
        translate(sseOf(recorded.responses)).all,
      )
    })
  })

  describe('with the recorded js-genai function-call stream', () => {
    it('should emit the whole call with a synthesised id, then finish with tool_calls', () => {
      const recorded = exchange(recordings.streamFunctionCall)
      const h = head('xtSfaIRs8_Sf2Q-skYe5Dg', 'gemini-2.0-flash')
      expect(translate(sseOf(recorded.responses)).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        {
          ...h,
          choices: [
            choice(0, {
              tool_calls: [
                {
                  index: 0,
                  id: 'call_T0',
                  type: 'function',
                  function: {
                    name: 'customDivide',
                    arguments: '{"denominator":2,"numerator":100}',
                  },
                },
              ],
            }),
          ],
        },
        { ...h, choices: [choice(0, {}, 'tool_calls')] },
        '[DONE]',
      ])
    })
  })

  describe('with the generative-ai-js raw SSE mocks (CRLF framing, no usage)', () => {
    const h = head()

    it('should translate a one-event reply', () => {
      expect(translate(mockStreamShort, plan({ showUsage: true })).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, { content: 'Cheyenne' })] },
        { ...h, choices: [choice(0, {}, 'stop')] },
        '[DONE]',
      ])
    })

    it('should finish once, at the end, although every event repeats finishReason STOP', () => {
      const { perEvent, end } = translate(mockStreamLong)
      const content = perEvent
        .flat()
        .map((chunk) => {
          const choices = typeof chunk === 'object' && 'choices' in chunk ? chunk.choices : []
          const [first] = choices as { delta: { content?: string } }[]
          return first?.delta.content ?? ''
        })
        .join('')
      expect(content).toMatch(/^\*\*Cats:\*\*\n\n- \*\*Physical Characteristics:\*\*/)
      expect(content.length).toBeGreaterThan(2000)
      const finishes = perEvent.flat().filter((chunk) => JSON.stringify(chunk).includes('"stop"'))
      expect(finishes).toEqual([])
      expect(end).toEqual([{ ...h, choices: [choice(0, {}, 'stop')] }, '[DONE]'])
    })

    it('should translate a function call', () => {
      expect(translate(mockStreamFunctionCall).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        {
          ...h,
          choices: [
            choice(0, {
              tool_calls: [
                {
                  index: 0,
                  id: 'call_T0',
                  type: 'function',
                  function: { name: 'getTemperature', arguments: '{"city":"San Jose"}' },
                },
              ],
            }),
          ],
        },
        { ...h, choices: [choice(0, {}, 'tool_calls')] },
        '[DONE]',
      ])
    })

    it('should end a reply stopped for safety with content_filter', () => {
      expect(translate(mockStreamSafety).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, { content: 'No' })] },
        { ...h, choices: [choice(0, {}, 'content_filter')] },
        '[DONE]',
      ])
    })

    it('should answer a blocked prompt with an empty content_filter choice', () => {
      const { perEvent, end } = translate(mockStreamBlocked, plan({ showUsage: true }))
      expect(perEvent).toEqual([[]])
      expect(end).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, {}, 'content_filter')] },
        '[DONE]',
      ])
    })

    it('should report a stream that ends without a finishReason as interrupted', () => {
      const { all, state } = translate(mockStreamEmptyContent)
      expect(all).toEqual([{ ...h, choices: [choice(0, ROLE)] }, INTERRUPTED])
      expect(state.end).toBe('interrupted')
    })
  })

  describe('when the stream breaks', () => {
    const recorded = exchange(recordings.streamSystem)
    const upstream = sseOf(recorded.responses)
    const cutAt = (n: number): string => upstream.split('\r\n\r\n').slice(0, n).join('\r\n\r\n')

    it('should end a stream cut between events with STREAM_INTERRUPTED and no [DONE]', () => {
      const { all } = translate(`${cutAt(3)}\r\n\r\n`)
      expect(all).toHaveLength(5)
      expect(all.at(-1)).toEqual(INTERRUPTED)
      expect(all).not.toContain('[DONE]')
    })

    it('should drop a half-received event and report the interruption', () => {
      const whole = cutAt(3)
      const { all } = translate(`${whole}\r\n\r\n${cutAt(4).slice(whole.length + 4, -40)}`)
      expect(all).toHaveLength(5)
      expect(all.at(-1)).toEqual(INTERRUPTED)
    })

    it('should report an empty body as interrupted', () => {
      expect(translate('').all).toEqual([INTERRUPTED])
    })
  })

  describe('with an error inside the stream', () => {
    const recorded = exchange(recordings.streamSystem)
    const firstTwo = sseOf(recorded.responses.slice(0, 2))
    // js-genai's own unit test of a mid-stream error (test/unit/api_client_test.ts).
    const bare = '{"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}'
    const relayed = {
      event: 'error',
      data: { relayed: { code: 500, message: 'Internal error', status: 'INTERNAL' } },
    }

    it('should relay a bare JSON error object as an error event and stop', () => {
      const { all, perEvent, state } = translate(`${firstTwo}${bare}\r\n\r\n${firstTwo}`)
      expect(perEvent[2]).toEqual([relayed])
      expect(perEvent.slice(3)).toEqual([[], []])
      expect(all.at(-1)).toEqual(relayed)
      expect(all).not.toContain('[DONE]')
      expect(state.end).toBe('provider_error')
    })

    it('should relay a bare error that ends the body without a blank line', () => {
      const { all, state } = translate(`${firstTwo}${bare}`)
      expect(all).toHaveLength(4)
      expect(all.at(-1)).toEqual(relayed)
      expect(state.end).toBe('provider_error')
    })

    it('should relay a pretty-printed error object (several lines)', () => {
      const { all } = translate(`${firstTwo}${mockUnaryImageRejected}\n`)
      expect(all.at(-1)).toEqual({
        event: 'error',
        data: {
          relayed: expect.objectContaining({
            code: 400,
            message: 'Request contains an invalid argument.',
            status: 'INVALID_ARGUMENT',
          }) as unknown,
        },
      })
    })

    it('should relay an error sent as a data event', () => {
      const [error] = exchange(recordings.streamError).responses
      const { all } = translate(sseOf([error]))
      expect(all).toEqual([
        {
          event: 'error',
          data: { relayed: expect.objectContaining({ code: 404, status: 'NOT_FOUND' }) as unknown },
        },
      ])
    })

    it('should treat an event that is not JSON as a provider error', () => {
      const { all, state } = translate(`${firstTwo}data: <html>oops</html>\r\n\r\n`)
      expect(all.at(-1)).toEqual({
        event: 'error',
        data: { relayed: { message: 'The provider sent a stream event that is not JSON.' } },
      })
      expect(state.end).toBe('provider_error')
    })
  })

  describe('with constructed streams', () => {
    const h = head('resp-1', 'gemini-3-flash')
    const event = (parts: unknown[], fields: Record<string, unknown> = {}) => ({
      candidates: [{ content: { role: 'model', parts }, index: 0, ...fields }],
      modelVersion: 'gemini-3-flash',
      responseId: 'resp-1',
    })

    it('should give parallel calls their own indexes and ids, signature in the first', () => {
      const upstream = sseOf([
        event([
          {
            functionCall: { name: 'weather', args: { city: 'Paris' } },
            thoughtSignature: 'c2ln+/8=',
          },
          { functionCall: { name: 'weather', args: { city: 'Rome' } } },
        ]),
        event([{ functionCall: { name: 'time', args: {} } }], { finishReason: 'STOP' }),
      ])
      const call = (index: number, id: string, name: string, args: string) => ({
        index,
        id,
        type: 'function',
        function: { name, arguments: args },
      })
      expect(translate(upstream).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        {
          ...h,
          choices: [
            choice(0, {
              tool_calls: [
                call(0, 'call_T0__thought__c2ln-_8', 'weather', '{"city":"Paris"}'),
                call(1, 'call_T1', 'weather', '{"city":"Rome"}'),
              ],
            }),
          ],
        },
        { ...h, choices: [choice(0, { tool_calls: [call(2, 'call_T2', 'time', '{}')] })] },
        { ...h, choices: [choice(0, {}, 'tool_calls')] },
        '[DONE]',
      ])
    })

    const thinking = sseOf([
      event([{ text: 'Let me think', thought: true }]),
      event([{ text: ' harder.', thought: true }, { text: 'Four.' }]),
      { ...event([], { finishReason: 'STOP' }), usageMetadata: { promptTokenCount: 5 } },
    ])

    it('should stream thoughts as reasoning_content when the client asked for reasoning', () => {
      expect(translate(thinking, plan({ showReasoning: true })).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, { reasoning_content: 'Let me think' })] },
        { ...h, choices: [choice(0, { reasoning_content: ' harder.', content: 'Four.' })] },
        { ...h, choices: [choice(0, {}, 'stop')] },
        '[DONE]',
      ])
    })

    it('should leave thoughts out when the client did not ask', () => {
      expect(translate(thinking).all).toEqual([
        { ...h, choices: [choice(0, ROLE)] },
        { ...h, choices: [choice(0, { content: 'Four.' })] },
        { ...h, choices: [choice(0, {}, 'stop')] },
        '[DONE]',
      ])
    })

    it('should accept a last event whose content has no parts', () => {
      const upstream = sseOf([
        event([{ text: 'Hi' }]),
        { candidates: [{ content: { role: 'model' }, finishReason: 'MAX_TOKENS', index: 0 }] },
      ])
      expect(translate(upstream).end).toEqual([
        { ...h, choices: [choice(0, {}, 'length')] },
        '[DONE]',
      ])
    })

    it('should keep the choices of several candidates apart', () => {
      const both = (a: string, b: string, fields: Record<string, unknown> = {}) => ({
        candidates: [
          { content: { parts: [{ text: a }] }, index: 0, ...fields },
          { content: { parts: [{ text: b }] }, index: 1, ...fields },
        ],
      })
      const h0 = head()
      expect(
        translate(
          sseOf([both('A', 'B'), both('a', 'b', { finishReason: 'STOP' })]),
          plan({ choices: 2 }),
        ).all,
      ).toEqual([
        { ...h0, choices: [choice(0, ROLE)] },
        { ...h0, choices: [choice(0, { content: 'A' })] },
        { ...h0, choices: [choice(1, ROLE)] },
        { ...h0, choices: [choice(1, { content: 'B' })] },
        { ...h0, choices: [choice(0, { content: 'a' })] },
        { ...h0, choices: [choice(1, { content: 'b' })] },
        { ...h0, choices: [choice(0, {}, 'stop')] },
        { ...h0, choices: [choice(1, {}, 'stop')] },
        '[DONE]',
      ])
    })

    it('should not finish while one candidate is still open', () => {
      const upstream = sseOf([
        {
          candidates: [
            { content: { parts: [{ text: 'A' }] }, index: 0, finishReason: 'STOP' },
            { content: { parts: [{ text: 'B' }] }, index: 1 },
          ],
        },
      ])
      expect(translate(upstream).end).toEqual([INTERRUPTED])
    })
  })
})

describe('relayGeminiStream', () => {
  const encoder = new TextEncoder()
  const recorded = exchange(recordings.streamSystem)
  const upstreamText = sseOf(recorded.responses)

  const upstreamOf = (
    chunks: readonly Uint8Array[],
    ending: { error: unknown } | 'close' = 'close',
  ): ReadableStream<Uint8Array> => {
    let i = 0
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[i++]
        if (chunk !== undefined) controller.enqueue(chunk)
        else if (ending === 'close') controller.close()
        else controller.error(ending.error)
      },
    })
  }

  const relay = async (
    upstream: ReadableStream<Uint8Array>,
    streamPlan = plan(),
  ): Promise<{ text: string; ends: ResponseOutcome[] }> => {
    const ends: ResponseOutcome[] = []
    const out = relayGeminiStream(upstream, {
      plan: streamPlan,
      events,
      onEnd: (outcome) => ends.push(outcome),
    })
    return { text: await new Response(out).text(), ends }
  }

  /** The pure translator's output for the whole recorded stream. */
  const expectedText = (): string => {
    const s = initialState(plan())
    const splitter = new SseSplitter()
    let text = ''
    for (const event of splitter.push(upstreamText)) text += step(s, event, events)
    return text + finish(s, splitter.rest(), events)
  }

  it('should relay the translation and report the last usage, even when not shown', async () => {
    const { text, ends } = await relay(upstreamOf([encoder.encode(upstreamText)]))
    expect(text).toBe(expectedText())
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(ends).toEqual([{ end: 'done', usage: usage(20, 513, 533, 0, 260) }])
  })

  it('should give the same output when fed one byte at a time', async () => {
    const bytes = Array.from(encoder.encode(upstreamText), (b) => Uint8Array.of(b))
    const { text, ends } = await relay(upstreamOf(bytes))
    expect(text).toBe(expectedText())
    expect(ends).toEqual([{ end: 'done', usage: usage(20, 513, 533, 0, 260) }])
  })

  it('should end a broken connection with STREAM_INTERRUPTED, reporting usage so far', async () => {
    const twoEvents = sseOf(recorded.responses.slice(0, 2))
    const { text, ends } = await relay(
      upstreamOf([encoder.encode(twoEvents)], { error: new Error('reset') }),
    )
    expect(parse(text).at(-1)).toEqual(INTERRUPTED)
    expect(text).not.toContain('[DONE]')
    expect(ends).toEqual([{ end: 'interrupted', usage: usage(20, 360, 380, 0, 260) }])
  })

  it('should stop reading and cancel the upstream after a relayed provider error', async () => {
    let cancelled = false
    const chunks = [
      encoder.encode(sseOf(recorded.responses.slice(0, 1))),
      encoder.encode('{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}\n\n'),
      encoder.encode(sseOf(recorded.responses.slice(1))),
    ]
    let next = 0
    const upstream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[next++]
        if (chunk === undefined) controller.close()
        else controller.enqueue(chunk)
      },
      cancel() {
        cancelled = true
      },
    })
    const { text, ends } = await relay(upstream)
    expect(parse(text)).toEqual([
      expect.objectContaining({ choices: [choice(0, ROLE)] }),
      expect.objectContaining({
        choices: [choice(0, { content: textsOf(recorded.responses)[0] })],
      }),
      {
        event: 'error',
        data: { relayed: { code: 429, message: 'Quota', status: 'RESOURCE_EXHAUSTED' } },
      },
    ])
    expect(cancelled).toBe(true)
    expect(ends).toEqual([{ end: 'provider_error', usage: usage(20, 310, 330, 0, 260) }])
  })

  it('should report a client that goes away as cancelled', async () => {
    let released!: () => void
    const cancelled = new Promise<void>((resolve) => {
      released = resolve
    })
    const upstream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encoder.encode(sseOf(recorded.responses.slice(0, 1))))
      },
      cancel() {
        released()
      },
    })
    const ends: ResponseOutcome[] = []
    const out = relayGeminiStream(upstream, { plan: plan(), events, onEnd: (o) => ends.push(o) })
    const reader = out.getReader()
    await reader.read()
    await reader.cancel('gone')
    // Heard at the relay's next write (workerd's IdentityTransformStream).
    await cancelled
    expect(ends).toEqual([{ end: 'cancelled', usage: usage(20, 310, 330, 0, 260) }])
  })
})
