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

  it('should keep its own copy of a chunk whose buffer is reused', () => {
    const sink = headSink(16)
    const buffer = bytes('abcd')
    sink.take(buffer)
    buffer.set(bytes('wxyz'))
    expect(sink.head(16).text).toBe('abcd')
  })
})
