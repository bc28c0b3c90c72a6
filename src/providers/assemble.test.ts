/**
 * A streamed answer as the gateway sent it assembles into the `chat.completion` a non-streamed
 * request gets: content and tool-call arguments joined per choice, finish reason and usage kept,
 * error events kept, a truncated capture tolerated.
 */
import { describe, expect, it } from 'vitest'
import { assembleChatStream } from './assemble'

const sse = (...events: unknown[]): string =>
  events.map((e) => (typeof e === 'string' ? e : `data: ${JSON.stringify(e)}\n\n`)).join('')

const chunk = (delta: unknown, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: null, ...extra }],
})

describe('assembleChatStream', () => {
  it('should join content and keep the finish reason and usage', () => {
    const text = sse(
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hello' }),
      chunk({ content: ', world' }),
      chunk({}, { finish_reason: 'stop' }),
      { id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } },
      'data: [DONE]\n\n',
    )
    expect(assembleChatStream(text)).toEqual({
      object: 'chat.completion',
      id: 'chatcmpl-1',
      created: 1,
      model: 'gpt-4o-mini',
      usage: { prompt_tokens: 3, completion_tokens: 2 },
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello, world' },
          finish_reason: 'stop',
        },
      ],
    })
  })

  it('should join tool-call arguments per call index', () => {
    const text = sse(
      chunk({
        role: 'assistant',
        tool_calls: [
          {
            index: 0,
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({
        tool_calls: [
          { index: 1, id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, { finish_reason: 'tool_calls' }),
    )
    const message = (assembleChatStream(text).choices as { message: { tool_calls: unknown } }[])[0]
      ?.message
    expect(message?.tool_calls).toEqual([
      {
        id: 'call_a',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { id: 'call_b', type: 'function', function: { name: 'now', arguments: '{}' } },
    ])
  })

  it('should keep several choices apart and in order', () => {
    const text = sse(
      { id: 'x', choices: [{ index: 1, delta: { content: 'B' }, finish_reason: null }] },
      { id: 'x', choices: [{ index: 0, delta: { content: 'A' }, finish_reason: 'stop' }] },
    )
    const choices = assembleChatStream(text).choices as {
      index: number
      message: { content: string }
    }[]
    expect(choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, 'A'],
      [1, 'B'],
    ])
  })

  it('should keep an error event and what came before it', () => {
    const text =
      sse(chunk({ content: 'partial' })) +
      `event: error\ndata: ${JSON.stringify({ error: { message: 'cut', code: 'STREAM_INTERRUPTED' } })}\n\n`
    const assembled = assembleChatStream(text)
    expect(assembled.error).toEqual({ message: 'cut', code: 'STREAM_INTERRUPTED' })
    expect((assembled.choices as { message: { content: string } }[])[0]?.message.content).toBe(
      'partial',
    )
  })

  it('should tolerate a capture cut in the middle of an event', () => {
    const whole = sse(chunk({ content: 'one' }), chunk({ content: 'two' }))
    const assembled = assembleChatStream(whole.slice(0, whole.length - 20))
    expect((assembled.choices as { message: { content: string } }[])[0]?.message.content).toBe(
      'one',
    )
  })

  it('should keep DeepSeek reasoning content', () => {
    const text = sse(
      chunk({ reasoning_content: 'think ' }),
      chunk({ reasoning_content: 'more', content: 'ok' }),
    )
    const message = (assembleChatStream(text).choices as { message: Record<string, unknown> }[])[0]
      ?.message
    expect(message).toMatchObject({ reasoning_content: 'think more', content: 'ok' })
  })
})
