/**
 * The taps' copy of an answer: the copy stops at the limit and says it was truncated, each tap
 * gets the start it asked for, multi-byte characters split across chunks decode correctly.
 */
import { describe, expect, it } from 'vitest'
import { headSink } from './head'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('headSink', () => {
  it('should copy everything under the limit', () => {
    const sink = headSink(1024)
    sink.take(bytes('hello '))
    sink.take(bytes('world'))
    expect(sink.head(1024)).toEqual({ text: 'hello world', truncated: false })
  })

  it('should stop copying at the limit and flag the copy as truncated', () => {
    const sink = headSink(8)
    for (const part of ['abcdef', 'ghijkl', 'mnop']) sink.take(bytes(part))
    expect(sink.head(8)).toEqual({ text: 'abcdefgh', truncated: true })
  })

  it('should give a smaller start to a tap that asked for less', () => {
    const sink = headSink(8)
    sink.take(bytes('abcdef'))
    expect(sink.head(4)).toEqual({ text: 'abcd', truncated: true })
    expect(sink.head(6)).toEqual({ text: 'abcdef', truncated: false })
  })

  it('should decode a character split across chunks', () => {
    const euro = bytes('€') // 3 bytes
    const sink = headSink(1024)
    sink.take(euro.slice(0, 1))
    sink.take(euro.slice(1))
    expect(sink.head(1024).text).toBe('€')
  })

  it('should not flag an exact fit as truncated', () => {
    const sink = headSink(4)
    sink.take(bytes('abcd'))
    expect(sink.head(4)).toEqual({ text: 'abcd', truncated: false })
  })

  it('should keep a whole answer as a view, to the limit, and flag what is beyond it', () => {
    const answer = bytes('{"id":"x","choices":[]}')
    const sink = headSink(8)
    sink.keep(answer)
    expect(sink.head(8)).toEqual({ text: '{"id":"x', truncated: true })
    const whole = headSink(1024)
    whole.keep(answer)
    expect(whole.head(1024)).toEqual({ text: '{"id":"x","choices":[]}', truncated: false })
    // A view, not a copy: the answer is one that nobody changes afterwards.
    answer.set(bytes('['))
    expect(whole.head(1)).toEqual({ text: '[', truncated: true })
  })

  it('should end a head cut inside a character the same way, in one piece or in chunks', () => {
    const text = 'ab€cd'
    const one = headSink(4)
    one.keep(bytes(text))
    const chunked = headSink(4)
    chunked.take(bytes('ab'))
    chunked.take(bytes('€cd'))
    expect(one.head(4)).toEqual(chunked.head(4))
    expect(one.head(4)).toEqual({ text: 'ab\uFFFD', truncated: true })
  })

  it('should keep its own copy of a chunk whose buffer is reused', () => {
    const sink = headSink(16)
    const buffer = bytes('abcd')
    sink.take(buffer)
    buffer.set(bytes('wxyz'))
    expect(sink.head(16).text).toBe('abcd')
  })
})
