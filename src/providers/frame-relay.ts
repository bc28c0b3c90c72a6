/**
 * @module The relay loop for a provider whose stream is not SSE but binary frames (Bedrock's
 * `application/vnd.amazon.eventstream`): the same pull loop as `relaySse` (`relay.ts`) — reads
 * pulled as the client reads, so backpressure reaches the provider; the end reported once, however
 * the stream ends; a complete stream's tail drained so the connection can be reused, anything else
 * cancelled — around a source that turns each read's bytes into OpenAI SSE text itself.
 */
import type { SseRelayOptions, StreamEnd } from './relay'
import type { Usage } from '../types'

/**
 * One stream's decoding and translation, as the loop drives it. Each method returns the text to
 * send to the client (possibly empty); `done` and `broken` must leave `end` set.
 */
export type FrameSource = {
  /** How the stream ended, once it has: nothing the provider sends after that is read. */
  readonly end: StreamEnd | undefined
  /** One read of the body: whatever frames it completes (a frame may span reads). */
  read(bytes: Uint8Array): string
  /** The body ended (bytes of an unfinished frame still held mean it was cut). */
  done(): string
  /** The connection to the provider broke. */
  broken(): string
  /** The usage to report when the stream ends, however it ends. */
  usage(): Usage | undefined
}

export type FrameRelayOptions = Omit<SseRelayOptions, 'passThrough'>

/** Pipes upstream bytes through `source`; a client that goes away cancels the upstream request. */
export const relayFrames = (
  upstream: ReadableStream<Uint8Array>,
  source: FrameSource,
  options: FrameRelayOptions,
): ReadableStream<Uint8Array> => {
  const reader = upstream.getReader()
  const encoder = new TextEncoder()
  let first = options.onFirstChunk
  const send = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    text: string,
    ended: StreamEnd | undefined,
  ): void => {
    const chunk = encoder.encode(text)
    if (first !== undefined) {
      first(ended !== undefined && ended !== 'done')
      first = undefined
    }
    options.tap?.(chunk)
    controller.enqueue(chunk)
  }
  let reported = false
  const report = (end: StreamEnd): void => {
    if (reported) return
    reported = true
    options.onEnd({ end, usage: source.usage() })
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let read: ReadableStreamReadResult<Uint8Array> | undefined
        try {
          read = await reader.read()
        } catch {
          read = undefined // the connection to the provider broke
        }
        if (read === undefined || read.done) {
          const out = read === undefined ? source.broken() : source.done()
          // A source that left the end open has not seen a complete stream.
          const end = source.end ?? 'interrupted'
          if (out.length > 0) send(controller, out, end)
          report(end)
          controller.close()
          return
        }
        const out = source.read(read.value)
        const end = source.end
        if (out.length > 0) send(controller, out, end)
        if (end !== undefined) {
          // Complete, or a provider error was relayed: nothing after it is for the client.
          if (end === 'done') void drain(reader)
          else reader.cancel().catch(ignore)
          report(end)
          controller.close()
          return
        }
        // Nothing to send yet (a partial frame): read on rather than hand the client nothing.
        if (out.length > 0) return
      }
    },
    cancel(reason) {
      report('cancelled')
      return reader.cancel(reason)
    },
  })
}

const ignore = (): void => undefined

const drain = async (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> => {
  try {
    for (let i = 0; i < 16; i++) if ((await reader.read()).done) return
    await reader.cancel()
  } catch {
    // The provider closed the connection first; nothing to release.
  }
}
