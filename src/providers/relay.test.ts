/**
 * The SSE relay loop: a read whose events all go out as received is sent as the provider's own
 * bytes (no text built for it); a read with one changed event is re-encoded whole, in order; a
 * read that ends inside an event waits for the rest; the end is reported once. A long stream whose
 * bytes all go out unchanged is handed to the runtime's pipe, with only its tail heard in script.
 */
import { describe, expect, it, vi } from 'vitest'
import { sparesOf, takeBuffer } from './buffers'
import { EventCounter, listenPause, relaySse, type StreamTranslator } from './relay'
import type { StreamEnd } from './relay'

const encoder = new TextEncoder()

const upstreamOf = (chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })

/** Passes every event as received, except `data: change` (sent as `data: changed`). */
const translator = (): StreamTranslator & { steps: number } => {
  let end: StreamEnd | undefined
  const t = {
    steps: 0,
    end: () => end,
    step(event: { raw: string; data: string | undefined }) {
      t.steps++
      if (event.data === '[DONE]') end = 'done'
      return event.data === 'change' ? 'data: changed\n\n' : null
    },
    finish: () => '',
    broken: () => '',
    usage: () => undefined,
  }
  return t
}

const readAll = async (stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> => {
  const out: Uint8Array[] = []
  for await (const chunk of stream) out.push(chunk)
  return out
}

/**
 * `count` events (`data: <tag>00000`…), each its own chunk of a byte stream (as a fetch body is),
 * then what `ending` says.
 */
const eventStream = (
  count: number,
  ending: 'done' | 'cut' | 'error',
  tag = '',
): { stream: ReadableStream<Uint8Array>; sent: string } => {
  const events = Array.from(
    { length: count },
    (_, i) => `data: ${tag}${String(i).padStart(5, '0')}\n\n`,
  )
  const last = ending === 'done' ? 'data: [DONE]\n\n' : ''
  let i = 0
  const stream = new ReadableStream({
    type: 'bytes',
    pull(controller) {
      const event = events[i++]
      if (event !== undefined) controller.enqueue(encoder.encode(event))
      else if (ending === 'error') controller.error(new Error('connection reset'))
      else {
        if (last !== '') controller.enqueue(encoder.encode(last))
        controller.close()
      }
    },
  })
  return { stream, sent: events.join('') + last }
}

describe('relaySse', () => {
  it('should send a read of unchanged, whole events as the bytes received, read by read', async () => {
    const a = encoder.encode('data: one\n\ndata: two\n\n')
    const b = encoder.encode('data: [DONE]\n\n')
    const ends: StreamEnd[] = []
    const out = await readAll(
      relaySse(upstreamOf([a, b]), translator(), {
        passThrough: true,
        onEnd: (o) => ends.push(o.end),
      }),
    )
    expect(out).toEqual([a, b])
    expect(ends).toEqual(['done'])
  })

  it('should read a byte stream into one reused buffer without handing the client a changed chunk', async () => {
    // A byte stream (as a fetch body is): the relay reads it BYOB into one buffer, which the next
    // read overwrites. What the client took must stay as it was read.
    const events = Array.from({ length: 200 }, (_, i) => `data: ${String(i).padStart(5, '0')}\n\n`)
    let i = 0
    const upstream = new ReadableStream({
      type: 'bytes',
      pull(controller) {
        const event = events[i++]
        if (event === undefined) {
          controller.enqueue(encoder.encode('data: [DONE]\n\n'))
          controller.close()
        } else controller.enqueue(encoder.encode(event))
      },
    })
    const chunks = await readAll(
      relaySse(upstream, translator(), { passThrough: true, onEnd: () => undefined }),
    )
    const text = chunks.map((c) => new TextDecoder().decode(c)).join('')
    expect(text).toBe(`${events.join('')}data: [DONE]\n\n`)
  })

  it('should give its read buffer back when the stream ends, to a next stream that reads its own bytes', async () => {
    const size = 16 * 1024 // the relay's first read buffer
    while (sparesOf(size) > 0) takeBuffer(size)
    const relayed = async (upstream: { stream: ReadableStream<Uint8Array> }): Promise<string> => {
      const chunks = await readAll(
        relaySse(upstream.stream, translator(), { passThrough: true, onEnd: () => undefined }),
      )
      return chunks.map((c) => new TextDecoder().decode(c)).join('')
    }
    const first = eventStream(20, 'done', 'a')
    expect(await relayed(first)).toBe(first.sent)
    expect(sparesOf(size)).toBe(1)
    // Two streams at once: one takes the buffer given back, the other a new one.
    const [b, c] = [eventStream(50, 'done', 'b'), eventStream(50, 'done', 'c')]
    expect(await Promise.all([relayed(b), relayed(c)])).toEqual([b.sent, c.sent])
    expect(sparesOf(size)).toBe(2)
  })

  it('should re-encode a read with a changed event, keeping the others in order', async () => {
    const out = await readAll(
      relaySse(
        upstreamOf([
          encoder.encode('data: one\n\ndata: change\n\ndata: three\n\ndata: [DONE]\n\n'),
        ]),
        translator(),
        { passThrough: true, onEnd: () => undefined },
      ),
    )
    expect(new TextDecoder().decode(out[0])).toBe(
      'data: one\n\ndata: changed\n\ndata: three\n\ndata: [DONE]\n\n',
    )
  })

  it('should hold an event split across reads until it is whole', async () => {
    const out = await readAll(
      relaySse(
        upstreamOf([encoder.encode('data: o'), encoder.encode('ne\n\ndata: [DONE]\n\n')]),
        translator(),
        { passThrough: true, onEnd: () => undefined },
      ),
    )
    expect(out.map((c) => new TextDecoder().decode(c)).join('')).toBe(
      'data: one\n\ndata: [DONE]\n\n',
    )
  })

  it('should error the client stream, release the provider and report the end when a translator throws', async () => {
    let cancelled = false
    const upstream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encoder.encode('data: boom\n\n'))
      },
      cancel() {
        cancelled = true
      },
    })
    const ends: StreamEnd[] = []
    const throwing: StreamTranslator = {
      end: () => undefined,
      step() {
        throw new Error('translator defect')
      },
      finish: () => '',
      broken: () => '',
      usage: () => undefined,
    }
    const out = relaySse(upstream, throwing, { onEnd: (o) => ends.push(o.end) })
    await expect(readAll(out)).rejects.toThrow()
    expect(cancelled).toBe(true)
    expect(ends).toEqual(['interrupted'])
  })

  it('should read a complete stream tail to its end (the connection can be reused) and send none of it', async () => {
    // A byte stream, so the tail is read BYOB into the relay's buffer, one read after another.
    const tail = Array.from({ length: 5 }, (_, i) => `data: after ${String(i)}\n\n`)
    const chunks = ['data: one\n\ndata: [DONE]\n\n', ...tail]
    let i = 0
    let cancelled = false
    let closed!: () => void
    const readToEnd = new Promise<void>((resolve) => {
      closed = resolve
    })
    const upstream = new ReadableStream({
      type: 'bytes',
      pull(controller) {
        const chunk = chunks[i++]
        if (chunk === undefined) {
          controller.close()
          closed()
        } else controller.enqueue(encoder.encode(chunk))
      },
      cancel() {
        cancelled = true
      },
    })
    const out = await readAll(
      relaySse(upstream, translator(), { passThrough: true, onEnd: () => undefined }),
    )
    expect(out.map((c) => new TextDecoder().decode(c)).join('')).toBe(
      'data: one\n\ndata: [DONE]\n\n',
    )
    await readToEnd
    expect(i).toBe(chunks.length + 1)
    expect(cancelled).toBe(false)
  })
})

describe('relaySse: a long unchanged stream handed to the runtime', () => {
  const text = (chunks: readonly Uint8Array[]): string => {
    const decoder = new TextDecoder()
    return chunks.map((c) => decoder.decode(c, { stream: true })).join('') + decoder.decode()
  }

  it('should send every byte as received and hear the end from the tail alone', async () => {
    // 3,000 events of 13 bytes: 39 KB, more than the 16 KiB tail a handed-off stream keeps, so a
    // translator that saw every event was not handed off.
    const upstream = eventStream(3000, 'done')
    const listening = 256 * 1024 // the listener's read buffer
    while (sparesOf(listening) > 0) takeBuffer(listening)
    const t = translator()
    const ends: StreamEnd[] = []
    const out = await readAll(
      relaySse(upstream.stream, t, {
        passThrough: true,
        unchanged: true,
        onEnd: (o) => ends.push(o.end),
      }),
    )
    expect(text(out)).toBe(upstream.sent)
    await vi.waitFor(() => {
      expect(ends).toEqual(['done'])
    })
    expect(t.steps).toBeGreaterThan(8)
    expect(t.steps).toBeLessThan(1400)
    // The listener's buffer went back for the next long answer.
    expect(sparesOf(listening)).toBe(1)
  })

  it("should end the stream when the provider has, without waiting out the listener's pause", async () => {
    // Timers that never fire: a listener still waiting out its pause when the provider ended
    // would hold the client's stream open for good.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const upstream = eventStream(3000, 'done')
      let ended!: (end: StreamEnd) => void
      const end = new Promise<StreamEnd>((resolve) => {
        ended = resolve
      })
      const out = await readAll(
        relaySse(upstream.stream, translator(), {
          passThrough: true,
          unchanged: true,
          onEnd: (o) => {
            ended(o.end)
          },
        }),
      )
      expect(text(out)).toBe(upstream.sent)
      expect(await end).toBe('done')
    } finally {
      vi.useRealTimers()
    }
  })

  it("should pause the listener in step with the stream's pace, within 10 and 100 ms", () => {
    expect(listenPause(256 * 1024, 5)).toBe(0) // a full read: more is waiting
    expect(listenPause(128 * 1024, 10)).toBe(10) // a flood: the shortest pause
    expect(listenPause(64 * 1024, 10)).toBe(20) // half the aim came: twice as long
    expect(listenPause(180, 20)).toBe(100) // a token stream: the longest
    expect(listenPause(0, 0)).toBe(10)
  })

  it('should read every event in script when the stream is not unchanged', async () => {
    const upstream = eventStream(3000, 'done')
    const t = translator()
    const out = await readAll(
      relaySse(upstream.stream, t, { passThrough: true, onEnd: () => undefined }),
    )
    expect(text(out)).toBe(upstream.sent)
    expect(t.steps).toBe(3001)
  })

  it('should give the taps every byte the client was sent', async () => {
    const upstream = eventStream(3000, 'done')
    const tapped: Uint8Array[] = []
    await readAll(
      relaySse(upstream.stream, translator(), {
        passThrough: true,
        unchanged: true,
        onEnd: () => undefined,
        tap: (chunk) => tapped.push(chunk.slice()),
      }),
    )
    expect(text(tapped)).toBe(upstream.sent)
  })

  it('should end a stream the provider cut short, after the hand-off, with the closing event', async () => {
    for (const ending of ['cut', 'error'] as const) {
      const upstream = eventStream(3000, ending)
      const ends: StreamEnd[] = []
      const closing: StreamTranslator = {
        ...translator(),
        end: () => undefined,
        finish: () => 'event: error\ndata: cut\n\n',
        broken: () => 'event: error\ndata: broken\n\n',
      }
      const out = await readAll(
        relaySse(upstream.stream, closing, {
          passThrough: true,
          unchanged: true,
          onEnd: (o) => ends.push(o.end),
        }),
      )
      const closed = ending === 'cut' ? 'cut' : 'broken'
      expect(text(out)).toBe(`${upstream.sent}event: error\ndata: ${closed}\n\n`)
      expect(ends).toEqual(['interrupted'])
    }
  })

  it('should let the provider go and report a cancel when the client leaves after the hand-off', async () => {
    let cancelled!: () => void
    const providerReleased = new Promise<void>((resolve) => {
      cancelled = resolve
    })
    // Endless: only a cancel ends it.
    let i = 0
    const upstream = new ReadableStream({
      type: 'bytes',
      pull(controller) {
        controller.enqueue(encoder.encode(`data: ${String(i++).padStart(5, '0')}\n\n`))
      },
      cancel() {
        cancelled()
      },
    })
    const ends: StreamEnd[] = []
    const out = relaySse(upstream, translator(), {
      passThrough: true,
      unchanged: true,
      onEnd: (o) => ends.push(o.end),
    })
    const reader = out.getReader()
    let received = 0
    while (received < 2000) {
      const { done, value } = await reader.read()
      if (done) throw new Error('the relay ended an endless stream')
      received += value.byteLength
    }
    await reader.cancel()
    await providerReleased
    await vi.waitFor(() => {
      expect(ends).toEqual(['cancelled'])
    })
  })
})

describe('EventCounter', () => {
  const counted = (chunks: readonly string[]): number => {
    const counter = new EventCounter()
    for (const chunk of chunks) counter.count(encoder.encode(chunk))
    return counter.events
  }
  const stream =
    'data: a\n\ndata: b\r\n\r\n: comment\n\ndata: multi\ndata: line\n\ndata: [DONE]\n\n'

  it('should count events ending at a blank line, LF or CRLF, not single line ends', () => {
    expect(counted([stream])).toBe(5)
    expect(counted(['data: a\ndata: b\n', 'data: c\r\n'])).toBe(0)
  })

  it('should count events whose blank line falls across reads, however the bytes are cut', () => {
    expect(counted(Array.from(stream))).toBe(5)
    for (let cut = 1; cut < stream.length; cut++) {
      expect(counted([stream.slice(0, cut), stream.slice(cut)])).toBe(5)
    }
    expect(counted(['data: a\r', '\n', '\r', '\n'])).toBe(1)
    expect(counted(['data: a\n', '', '\n'])).toBe(1)
  })
})
