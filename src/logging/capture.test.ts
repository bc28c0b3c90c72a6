/**
 * The log's copy of a response body: the client gets every byte unchanged, the copy stops at the
 * limit and says it was truncated, multi-byte characters split across chunks decode correctly.
 */
import { describe, expect, it } from 'vitest'
import { captureBody } from './capture'

const streamOf = (...chunks: Uint8Array[]): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

const readAll = async (body: ReadableStream<Uint8Array> | ArrayBuffer): Promise<string> =>
  new Response(body).text()

describe('captureBody', () => {
  it('should pass a stream through unchanged and copy it whole under the limit', async () => {
    const capture = captureBody(streamOf(bytes('hello '), bytes('world')), 1024)
    expect(await readAll(capture.body)).toBe('hello world')
    expect(capture.captured()).toEqual({ text: 'hello world', truncated: false })
  })

  it('should stop copying at the limit while the client still gets everything', async () => {
    const capture = captureBody(streamOf(bytes('abcdef'), bytes('ghijkl'), bytes('mnop')), 8)
    expect(await readAll(capture.body)).toBe('abcdefghijklmnop')
    expect(capture.captured()).toEqual({ text: 'abcdefgh', truncated: true })
  })

  it('should decode a character split across chunks', async () => {
    const euro = bytes('€') // 3 bytes
    const capture = captureBody(streamOf(euro.slice(0, 1), euro.slice(1)), 1024)
    await readAll(capture.body)
    expect(capture.captured().text).toBe('€')
  })

  it('should copy a buffered body up to the limit without changing it', () => {
    const buffer = new ArrayBuffer(10)
    new Uint8Array(buffer).set(bytes('0123456789'))
    const capture = captureBody(buffer, 4)
    expect(capture.body).toBe(buffer)
    expect(capture.captured()).toEqual({ text: '0123', truncated: true })
  })

  it('should not flag an exact fit as truncated', async () => {
    const capture = captureBody(streamOf(bytes('abcd')), 4)
    await readAll(capture.body)
    expect(capture.captured()).toEqual({ text: 'abcd', truncated: false })
  })
})
