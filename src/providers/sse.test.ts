/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest'
import maxTokensStream from '../../test/fixtures/openai/fixtures/stream_max_tokens_length_4cc50a6135d2.sse?raw'
import parallelToolsStream from '../../test/fixtures/openai/fixtures/stream_parallel_tool_calls_with_usage_f82268f2fefd.sse?raw'
import singleToolStream from '../../test/fixtures/openai/fixtures/stream_single_tool_call_with_usage_2018feb66ae1.sse?raw'
import textStream from '../../test/fixtures/openai/fixtures/stream_text_with_usage_e2aad469b71d.sse?raw'
import { SseSplitter, type SseEvent } from './sse'
import { seededRandom } from '../../test/support/unit'

const FIXTURES: readonly (readonly [string, string, number])[] = [
  ['text with usage', textStream, 34],
  ['single tool call', singleToolStream, 11],
  ['parallel tool calls', parallelToolsStream, 26],
  ['max tokens', maxTokensStream, 5],
]

const randomSlices = (text: string, seed: number, maxLength: number): string[] => {
  const next = seededRandom(seed)
  const slices: string[] = []
  for (let i = 0; i < text.length;) {
    const length = 1 + Math.floor(next() * maxLength)
    slices.push(text.slice(i, i + length))
    i += length
  }
  return slices
}

/** One chunk per UTF-16 code unit. */
const units = (text: string): string[] =>
  Array.from({ length: text.length }, (_, i) => text.charAt(i))

const feed = (chunks: readonly string[]): { events: SseEvent[]; rest: string } => {
  const splitter = new SseSplitter()
  const events = chunks.flatMap((chunk) => splitter.push(chunk))
  return { events, rest: splitter.rest() }
}

/** The events of a recorded stream whose every event is one `data: …` line. */
const expectedEvents = (text: string): SseEvent[] =>
  text
    .split('\n\n')
    .filter((raw) => raw.length > 0)
    .map((raw) => ({ raw, event: undefined, data: raw.slice('data: '.length) }))

describe('SseSplitter', () => {
  describe.each(FIXTURES)('with the recorded %s stream', (_name, text, count) => {
    const expected = expectedEvents(text)

    it('should hold the recorded number of events ending with [DONE]', () => {
      expect(expected).toHaveLength(count)
      expect(expected.at(-1)?.data).toBe('[DONE]')
    })

    it('should split the stream fed in one piece', () => {
      expect(feed([text])).toEqual({ events: expected, rest: '' })
    })

    it('should split the stream fed one character at a time', () => {
      expect(feed(units(text))).toEqual({ events: expected, rest: '' })
    })

    it.each([1, 2, 3, 4, 5])('should split the stream fed in random slices (seed %i)', (seed) => {
      expect(feed(randomSlices(text, seed, 97))).toEqual({ events: expected, rest: '' })
    })

    it('should split the stream with CRLF line endings fed one character at a time', () => {
      expect(feed(units(text.replaceAll('\n', '\r\n')))).toEqual({ events: expected, rest: '' })
    })

    it('should split the stream with CRLF line endings fed in random slices', () => {
      const crlf = text.replaceAll('\n', '\r\n')
      expect(feed(randomSlices(crlf, 11, 40))).toEqual({ events: expected, rest: '' })
    })

    it('should split the stream with CR line endings fed in random slices', () => {
      // Ends with a trailing blank line so every event, including [DONE], is terminated by a
      // line that follows it.
      const cr = `${text.replaceAll('\n', '\r')}: end\r\r`
      const { events } = feed(randomSlices(cr, 7, 40))
      expect(events.slice(0, count)).toEqual(expected)
    })
  })

  describe('line endings', () => {
    it('should join a CRLF split between the CR and the LF into one line break', () => {
      expect(feed(['data: a\r', '\n\r', '\ndata: b\r\n\r\n'])).toEqual({
        events: [
          { raw: 'data: a', event: undefined, data: 'a' },
          { raw: 'data: b', event: undefined, data: 'b' },
        ],
        rest: '',
      })
    })

    it('should not read a CRLF split across chunks as two line breaks', () => {
      // `\r` + `\n` is one line end; were they counted twice the first event would end early.
      expect(feed(['data: a\r', '\ndata: b\r\n\r\n']).events).toEqual([
        { raw: 'data: a\ndata: b', event: undefined, data: 'a\nb' },
      ])
    })

    it('should treat a lone CR as a line end', () => {
      expect(feed(['event: x\rdata: 1\rdata: 2\r\rdata: next']).events).toEqual([
        { raw: 'event: x\ndata: 1\ndata: 2', event: 'x', data: '1\n2' },
      ])
    })

    it('should mix LF, CRLF and CR line endings in one stream', () => {
      expect(feed(['data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n']).events).toEqual([
        { raw: 'data: a', event: undefined, data: 'a' },
        { raw: 'data: b', event: undefined, data: 'b' },
        { raw: 'data: c', event: undefined, data: 'c' },
        { raw: 'data: d', event: undefined, data: 'd' },
      ])
    })

    it('should complete an event whose CR-only blank line ends the chunk', () => {
      // WHATWG §9.2.6: CR alone is a line end, so `\r\r` is the blank line that dispatches the
      // event; nothing that follows can change that.
      expect(feed(['data: a\r\r']).events).toEqual([
        { raw: 'data: a', event: undefined, data: 'a' },
      ])
    })
  })

  describe('fields', () => {
    it('should read data with and without the space after the colon', () => {
      expect(feed(['data: {"a":1}\n\ndata:{"a":2}\n\ndata:  x\n\n']).events).toEqual([
        { raw: 'data: {"a":1}', event: undefined, data: '{"a":1}' },
        { raw: 'data:{"a":2}', event: undefined, data: '{"a":2}' },
        // Only the first space is part of the syntax.
        { raw: 'data:  x', event: undefined, data: ' x' },
      ])
    })

    it('should strip only the first space of each field value in a multi-line event', () => {
      expect(feed(['event:  x\ndata:  a\ndata:b \n\n']).events).toEqual([
        { raw: 'event:  x\ndata:  a\ndata:b ', event: ' x', data: ' a\nb ' },
      ])
    })

    it('should join multi-line data with LF', () => {
      expect(feed(['data: {"a":\ndata:1,\ndata: "b":2}\n\n']).events).toEqual([
        { raw: 'data: {"a":\ndata:1,\ndata: "b":2}', event: undefined, data: '{"a":\n1,\n"b":2}' },
      ])
    })

    it('should read the event field with and without the space', () => {
      expect(feed(['event: error\ndata: {}\n\nevent:ping\ndata: 1\n\n']).events).toEqual([
        { raw: 'event: error\ndata: {}', event: 'error', data: '{}' },
        { raw: 'event:ping\ndata: 1', event: 'ping', data: '1' },
      ])
    })

    it('should give a comment-only event no data and keep its text', () => {
      expect(feed([': keep-alive\n\n']).events).toEqual([
        { raw: ': keep-alive', event: undefined, data: undefined },
      ])
    })

    it('should skip comment lines inside an event', () => {
      expect(feed([': note\ndata: x\n: more\n\n']).events).toEqual([
        { raw: ': note\ndata: x\n: more', event: undefined, data: 'x' },
      ])
    })

    it('should read a bare data field as empty data', () => {
      expect(feed(['data\n\n']).events).toEqual([{ raw: 'data', event: undefined, data: '' }])
    })

    it('should ignore id, retry and unknown fields', () => {
      expect(feed(['id: 7\nretry: 100\nfoo: bar\ndata: x\n\n']).events).toEqual([
        { raw: 'id: 7\nretry: 100\nfoo: bar\ndata: x', event: undefined, data: 'x' },
      ])
    })

    it('should give an event without data fields undefined data', () => {
      expect(feed(['event: ping\n\n']).events).toEqual([
        { raw: 'event: ping', event: 'ping', data: undefined },
      ])
    })
  })

  describe('buffering', () => {
    it('should skip blank lines between events', () => {
      expect(feed(['\n\n\n\ndata: a\n\n\n\n\n\ndata: b\n\n']).events).toEqual([
        { raw: 'data: a', event: undefined, data: 'a' },
        { raw: 'data: b', event: undefined, data: 'b' },
      ])
    })

    it('should return nothing until the blank line arrives', () => {
      const splitter = new SseSplitter()
      expect(splitter.push('data: {"a"')).toEqual([])
      expect(splitter.push(':1}\n')).toEqual([])
      expect(splitter.push('\n')).toEqual([
        { raw: 'data: {"a":1}', event: undefined, data: '{"a":1}' },
      ])
    })

    it('should report an unterminated final event as the rest', () => {
      const splitter = new SseSplitter()
      expect(splitter.push('data: a\n\ndata: [DON')).toHaveLength(1)
      expect(splitter.rest()).toBe('data: [DON')
    })

    it('should have no rest after a complete stream', () => {
      const splitter = new SseSplitter()
      splitter.push('data: a\n\n')
      expect(splitter.rest()).toBe('')
    })
  })
})
