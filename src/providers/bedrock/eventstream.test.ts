import { EventStreamCodec } from '@smithy/eventstream-codec'
import { describe, expect, it } from 'vitest'
import { EventStreamDecoder, EventStreamError, type EventMessage } from './eventstream'
import { concatBytes, event, exception, frame } from './test-frames'

const text = (message: EventMessage | undefined): string =>
  new TextDecoder().decode(message?.body ?? new Uint8Array())

/** Every message `bytes` decodes to when fed in the given pieces. */
const decodeAll = (pieces: readonly Uint8Array[]): EventMessage[] => {
  const decoder = new EventStreamDecoder()
  const out: EventMessage[] = []
  for (const piece of pieces) {
    decoder.push(piece)
    for (let m = decoder.next(); m !== undefined; m = decoder.next()) out.push(m)
  }
  expect(decoder.pending).toBe(0)
  return out
}

const thrownBy = (bytes: Uint8Array): EventStreamError => {
  const decoder = new EventStreamDecoder()
  decoder.push(bytes)
  try {
    decoder.next()
  } catch (err) {
    if (err instanceof EventStreamError) return err
    throw err
  }
  throw new Error('expected an EventStreamError')
}

const START = event('messageStart', { role: 'assistant' })
const DELTA = event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello' } })
const STOP = event('messageStop', { stopReason: 'end_turn' })

describe('the test frames', () => {
  it("should be byte for byte what AWS's own encoder makes", () => {
    const codec = new EventStreamCodec(
      (bytes: Uint8Array) => new TextDecoder().decode(bytes),
      (value: string) => new TextEncoder().encode(value),
    )
    const headers = { ':event-type': 'messageStop', ':message-type': 'event' }
    const body = '{"stopReason":"end_turn"}'
    const encoded = codec.encode({
      headers: {
        ':event-type': { type: 'string', value: 'messageStop' },
        ':message-type': { type: 'string', value: 'event' },
      },
      body: new TextEncoder().encode(body),
    })
    expect([...frame(headers, body)]).toEqual([...encoded])
  })
})

describe('EventStreamDecoder', () => {
  it('should decode a frame into its string headers and payload', () => {
    const [message] = decodeAll([DELTA])
    expect(message?.headers).toEqual({
      ':event-type': 'contentBlockDelta',
      ':content-type': 'application/json',
      ':message-type': 'event',
    })
    expect(JSON.parse(text(message))).toEqual({
      contentBlockIndex: 0,
      delta: { text: 'Hello' },
      p: 'abcdefghij',
    })
  })

  it('should decode several frames from one read, in order', () => {
    const messages = decodeAll([concatBytes(START, DELTA, STOP)])
    expect(messages.map((m) => m.headers[':event-type'])).toEqual([
      'messageStart',
      'contentBlockDelta',
      'messageStop',
    ])
  })

  it('should decode the same messages whichever byte a read splits the stream at', () => {
    const stream = concatBytes(START, DELTA, STOP)
    const whole = decodeAll([stream])
    for (let at = 0; at <= stream.byteLength; at++) {
      const split = decodeAll([stream.subarray(0, at), stream.subarray(at)])
      expect(split, `split at ${at}`).toEqual(whole)
    }
  })

  it('should decode a stream fed one byte per read', () => {
    const stream = concatBytes(START, DELTA, STOP)
    const bytes = [...stream].map((b) => Uint8Array.of(b))
    expect(decodeAll(bytes)).toEqual(decodeAll([stream]))
  })

  it('should hand out nothing, and hold the bytes, until a frame is complete', () => {
    const decoder = new EventStreamDecoder()
    decoder.push(DELTA.subarray(0, DELTA.byteLength - 1))
    expect(decoder.next()).toBeUndefined()
    expect(decoder.pending).toBe(DELTA.byteLength - 1)
    decoder.push(DELTA.subarray(DELTA.byteLength - 1))
    expect(decoder.next()?.headers[':event-type']).toBe('contentBlockDelta')
    expect(decoder.pending).toBe(0)
  })

  it('should decode an exception frame with its type', () => {
    const [message] = decodeAll([exception('throttlingException', 'Too many requests')])
    expect(message?.headers[':message-type']).toBe('exception')
    expect(message?.headers[':exception-type']).toBe('throttlingException')
    expect(JSON.parse(text(message))).toEqual({ message: 'Too many requests' })
  })

  it('should refuse a frame whose prelude checksum does not match', () => {
    expect(thrownBy(event('messageStop', {}, { prelude: true })).message).toBe(
      'prelude checksum mismatch',
    )
  })

  it('should refuse a frame whose message checksum does not match', () => {
    expect(thrownBy(event('messageStop', {}, { message: true })).message).toBe(
      'message checksum mismatch',
    )
  })

  it('should refuse a frame whose payload was altered after it was checksummed', () => {
    const altered = DELTA.slice()
    const at = altered.byteLength - 10
    altered[at] = (altered[at] ?? 0) ^ 0x20
    expect(thrownBy(altered).message).toBe('message checksum mismatch')
  })

  it('should refuse impossible lengths at once rather than wait for them', () => {
    const prelude = (total: number, headers: number): Uint8Array => {
      const bytes = new Uint8Array(12)
      const view = new DataView(bytes.buffer)
      view.setUint32(0, total)
      view.setUint32(4, headers)
      return bytes
    }
    expect(thrownBy(prelude(8, 0)).message).toBe('message lengths out of bounds')
    expect(thrownBy(prelude(64 * 1024 * 1024, 0)).message).toBe('message lengths out of bounds')
    expect(thrownBy(prelude(40, 30)).message).toBe('message lengths out of bounds')
  })

  it('should keep the bytes of a cut frame as pending (the body ended mid-frame)', () => {
    const decoder = new EventStreamDecoder()
    decoder.push(concatBytes(START, DELTA.subarray(0, 20)))
    expect(decoder.next()?.headers[':event-type']).toBe('messageStart')
    expect(decoder.next()).toBeUndefined()
    expect(decoder.pending).toBe(20)
  })
})
