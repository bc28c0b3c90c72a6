import { describe, expect, it } from 'vitest'
import { JSON_TOOL_NAME } from './request'
import { relayBedrockStream, type StreamFailure, type StreamPlan } from './stream'
import { concatBytes, event, exception } from './test-frames'
import type { ResponseOutcome } from '../../types'

const PLAN: StreamPlan = {
  id: 'chatcmpl-s',
  created: 1_700_000_000,
  model: 'amazon.nova-lite-v1:0',
  showReasoning: false,
  jsonTool: undefined,
  showUsage: true,
}

/** A body that delivers `pieces` one read each, then ends (or breaks, with `fail`). */
const body = (pieces: readonly Uint8Array[], fail = false): ReadableStream<Uint8Array> => {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[i++]
      if (piece !== undefined) controller.enqueue(piece)
      else if (fail) controller.error(new Error('connection reset'))
      else controller.close()
    },
  })
}

type Run = { text: string; outcomes: ResponseOutcome[]; tapped: string; first: boolean[] }

const run = async (
  pieces: readonly Uint8Array[],
  plan: Partial<StreamPlan> = {},
  fail = false,
): Promise<Run> => {
  const outcomes: ResponseOutcome[] = []
  const first: boolean[] = []
  let tapped = ''
  const decoder = new TextDecoder()
  const stream = relayBedrockStream(body(pieces, fail), {
    plan: { ...PLAN, ...plan },
    providerErrorEvent: (failure: StreamFailure) =>
      `event: error\ndata: ${JSON.stringify(failure)}\n\n`,
    interruptedEvent: () => 'event: error\ndata: {"interrupted":true}\n\n',
    onEnd: (outcome) => outcomes.push(outcome),
    tap: (chunk) => {
      tapped += decoder.decode(chunk)
    },
    onFirstChunk: (failed) => first.push(failed),
  })
  const text = await new Response(stream).text()
  return { text, outcomes, tapped, first }
}

/** The `data:` payloads of an SSE text, JSON-parsed except `[DONE]`. */
const events = (text: string): unknown[] =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : (JSON.parse(data) as unknown)))

/** Each chunk's delta (`{finish}` for a finish chunk); the usage chunk and `[DONE]` whole. */
const deltas = (text: string): unknown[] =>
  events(text).flatMap((e) => {
    const choices = (e as { choices?: { delta: unknown; finish_reason: unknown }[] }).choices
    if (choices === undefined || choices.length === 0) return [e]
    return choices.map((c) => (c.finish_reason === null ? c.delta : { finish: c.finish_reason }))
  })

const USAGE = { inputTokens: 10, outputTokens: 3, totalTokens: 13 }

const TEXT_ANSWER = [
  event('messageStart', { role: 'assistant' }),
  event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hel' } }),
  event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'lo' } }),
  event('contentBlockStop', { contentBlockIndex: 0 }),
  event('messageStop', { stopReason: 'end_turn' }),
  event('metadata', { usage: USAGE, metrics: { latencyMs: 100 } }),
]

describe('relayBedrockStream', () => {
  it('should translate a text answer into chunks, the usage chunk and [DONE]', async () => {
    const { text, outcomes, tapped, first } = await run(TEXT_ANSWER)
    const all = events(text)
    expect(all[0]).toEqual({
      id: 'chatcmpl-s',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'amazon.nova-lite-v1:0',
      choices: [
        {
          index: 0,
          delta: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ],
    })
    expect(deltas(text)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Hel' },
      { content: 'lo' },
      { finish: 'stop' },
      expect.objectContaining({
        choices: [],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 3,
          total_tokens: 13,
          prompt_tokens_details: { cached_tokens: 0 },
        },
      }),
      '[DONE]',
    ])
    expect(outcomes).toEqual([
      {
        end: 'done',
        usage: {
          promptTokens: 10,
          completionTokens: 3,
          totalTokens: 13,
          cachedTokens: 0,
          reasoningTokens: 0,
        },
      },
    ])
    expect(tapped).toBe(text)
    expect(first).toEqual([false])
  })

  it('should leave the usage chunk out unless asked, and still report the usage', async () => {
    const { text, outcomes } = await run(TEXT_ANSWER, { showUsage: false })
    expect(deltas(text).at(-2)).toEqual({ finish: 'stop' })
    expect(outcomes[0]?.usage?.totalTokens).toBe(13)
  })

  it('should give the same answer whichever byte the reads split the body at', async () => {
    const stream = concatBytes(...TEXT_ANSWER)
    const whole = (await run([stream])).text
    for (let at = 1; at < stream.byteLength; at += 1) {
      const split = await run([stream.subarray(0, at), stream.subarray(at)])
      expect(split.text, `split at ${at}`).toBe(whole)
      expect(split.outcomes[0]?.end).toBe('done')
    }
  })

  it('should open with a tool call carrying content: null and stream its arguments', async () => {
    const { text } = await run([
      event('messageStart', { role: 'assistant' }),
      event('contentBlockStart', {
        contentBlockIndex: 0,
        start: { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather' } },
      }),
      event('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { toolUse: { input: '{"city":' } },
      }),
      event('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { toolUse: { input: '"Paris"}' } },
      }),
      event('contentBlockStop', { contentBlockIndex: 0 }),
      event('messageStop', { stopReason: 'tool_use' }),
      event('metadata', { usage: USAGE }),
    ])
    expect(deltas(text).slice(0, 4)).toEqual([
      {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          {
            index: 0,
            id: 'tooluse_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      { finish: 'tool_calls' },
    ])
  })

  it('should number tool calls after text in order of appearance', async () => {
    const { text } = await run([
      event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Let me check.' } }),
      event('contentBlockStart', {
        contentBlockIndex: 1,
        start: { toolUse: { toolUseId: 'a', name: 'f' } },
      }),
      event('contentBlockStart', {
        contentBlockIndex: 2,
        start: { toolUse: { toolUseId: 'b', name: 'g' } },
      }),
      event('contentBlockDelta', { contentBlockIndex: 2, delta: { toolUse: { input: '{}' } } }),
      event('messageStop', { stopReason: 'tool_use' }),
    ])
    expect(deltas(text)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Let me check.' },
      {
        tool_calls: [
          { index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } },
        ],
      },
      {
        tool_calls: [
          { index: 1, id: 'b', type: 'function', function: { name: 'g', arguments: '' } },
        ],
      },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      { finish: 'tool_calls' },
      '[DONE]',
    ])
  })

  it("should stream the forced JSON tool's input as content, finish reason stop", async () => {
    const { text } = await run(
      [
        event('contentBlockStart', {
          contentBlockIndex: 0,
          start: { toolUse: { toolUseId: 't', name: JSON_TOOL_NAME } },
        }),
        event('contentBlockDelta', {
          contentBlockIndex: 0,
          delta: { toolUse: { input: '{"a":' } },
        }),
        event('contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '1}' } } }),
        event('messageStop', { stopReason: 'tool_use' }),
        event('metadata', { usage: USAGE }),
      ],
      { jsonTool: JSON_TOOL_NAME, showUsage: false },
    )
    expect(deltas(text)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: '{"a":' },
      { content: '1}' },
      { finish: 'stop' },
      '[DONE]',
    ])
  })

  it('should stream reasoning as reasoning_content only when asked for', async () => {
    const answer = [
      event('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { reasoningContent: { text: 'Hmm.' } },
      }),
      event('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { reasoningContent: { signature: 's' } },
      }),
      event('contentBlockDelta', { contentBlockIndex: 1, delta: { text: 'Yes.' } }),
      event('messageStop', { stopReason: 'end_turn' }),
    ]
    expect(deltas((await run(answer, { showUsage: false })).text).slice(0, 2)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Yes.' },
    ])
    expect(
      deltas((await run(answer, { showReasoning: true, showUsage: false })).text).slice(0, 3),
    ).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { reasoning_content: 'Hmm.' },
      { content: 'Yes.' },
    ])
  })

  it('should map every stop reason on the finish chunk', async () => {
    for (const [reason, finish] of [
      ['max_tokens', 'length'],
      ['guardrail_intervened', 'content_filter'],
      ['content_filtered', 'content_filter'],
      ['stop_sequence', 'stop'],
    ]) {
      const { text } = await run([event('messageStop', { stopReason: reason })])
      expect(deltas(text), String(reason)).toContainEqual({ finish })
    }
  })

  it('should end with the provider error event on an exception frame, and no [DONE]', async () => {
    const { text, outcomes } = await run([
      ...TEXT_ANSWER.slice(0, 2),
      exception('throttlingException', 'Too many tokens, please wait.'),
      ...TEXT_ANSWER.slice(2),
    ])
    expect(text).toContain(
      'event: error\ndata: {"type":"throttlingException","message":"Too many tokens, please wait."}',
    )
    expect(text).not.toContain('[DONE]')
    expect(text).not.toContain('"lo"')
    expect(outcomes.map((o) => o.end)).toEqual(['provider_error'])
  })

  it('should end with an error event on a frame whose prelude checksum fails', async () => {
    const { text, outcomes } = await run([
      ...TEXT_ANSWER.slice(0, 2),
      event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'x' } }, { prelude: true }),
    ])
    expect(text).toContain('The event stream is corrupt (prelude checksum mismatch).')
    expect(text).not.toContain('[DONE]')
    expect(outcomes.map((o) => o.end)).toEqual(['provider_error'])
  })

  it('should end with an error event on a frame whose message checksum fails', async () => {
    const { text, outcomes } = await run([
      ...TEXT_ANSWER.slice(0, 4),
      event('messageStop', { stopReason: 'end_turn' }, { message: true }),
    ])
    expect(text).toContain('The event stream is corrupt (message checksum mismatch).')
    expect(text).not.toContain('finish_reason":"stop')
    expect(outcomes.map((o) => o.end)).toEqual(['provider_error'])
  })

  it('should end interrupted when the body is cut in the middle of a frame', async () => {
    const last = TEXT_ANSWER.at(-1) ?? new Uint8Array()
    const { text, outcomes } = await run([
      ...TEXT_ANSWER.slice(0, -1),
      last.subarray(0, last.byteLength - 5),
    ])
    expect(text.endsWith('event: error\ndata: {"interrupted":true}\n\n')).toBe(true)
    expect(text).not.toContain('[DONE]')
    expect(outcomes.map((o) => o.end)).toEqual(['interrupted'])
  })

  it('should end interrupted when the body ends before messageStop', async () => {
    const { text, outcomes } = await run(TEXT_ANSWER.slice(0, 3))
    expect(text).toContain('{"interrupted":true}')
    expect(text).not.toContain('[DONE]')
    expect(outcomes.map((o) => o.end)).toEqual(['interrupted'])
  })

  it('should complete a body that ends cleanly after messageStop without metadata', async () => {
    const { text, outcomes } = await run(TEXT_ANSWER.slice(0, -1))
    expect(deltas(text).slice(-2)).toEqual([{ finish: 'stop' }, '[DONE]'])
    expect(outcomes).toEqual([{ end: 'done', usage: undefined }])
  })

  it('should end interrupted when the connection breaks', async () => {
    const { text, outcomes } = await run(TEXT_ANSWER.slice(0, 2), {}, true)
    expect(text).toContain('{"interrupted":true}')
    expect(outcomes.map((o) => o.end)).toEqual(['interrupted'])
  })

  it('should tell the first chunk failed when nothing but an error came', async () => {
    const { first } = await run([exception('modelNotReadyException', 'Loading.')])
    expect(first).toEqual([true])
  })
})
