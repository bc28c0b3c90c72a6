/**
 * @module The relay for a provider whose stream is not SSE but binary frames (Bedrock's
 * `application/vnd.amazon.eventstream`): `relaySse`'s loop (`relayReads` in `relay.ts`) around a
 * source that turns each read's bytes into OpenAI SSE text itself. The source may hold a read's
 * bytes until its frame is complete, so each read gets its own buffer.
 */
import { encoded, relayReads, type SseRelayOptions, type StreamEnd } from './relay'
import type { Usage } from '../types'

/**
 * One stream's decoding and translation, as the loop drives it. Each method returns the text to
 * send to the client (possibly empty); `done` and `broken` must leave `end` set.
 */
export type FrameSource = {
  /** How the stream ended, once it has: nothing the provider sends after that is read. */
  end(): StreamEnd | undefined
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
  return relayReads(
    upstream,
    {
      end: () => source.end(),
      read: (bytes) => encoded(source.read(bytes)),
      done: () => encoded(source.done()),
      broken: () => encoded(source.broken()),
      usage: () => source.usage(),
    },
    options,
  )
}
