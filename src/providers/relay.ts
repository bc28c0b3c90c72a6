/**
 * @module Reading a provider's answer, for every family: the pull loop that relays an SSE stream
 * through a family's translator, and the whole-body read of a non-streamed answer.
 *
 * Each family's stream translation stays a pure function over its own state; what the loop does
 * around it — decoding, SSE framing, backpressure, ending the stream once, releasing the upstream
 * connection — is the same for all of them, so it lives here once.
 */
import { GatewayError } from '../errors'
import type { Responded } from './adapter'
import { SseSplitter, type SseEvent } from './sse'
import type { ResponseOutcome, Usage } from '../types'

export type StreamEnd = ResponseOutcome['end']

/** What a relayed stream reports when it ends. */
export type RelayResult = ResponseOutcome

/** What an adapter hands its family's stream relay. */
export type StreamRelayOptions<Plan> = {
  readonly plan: Plan
  /** Renders the provider's in-stream error as an OpenAI SSE error event. */
  readonly providerErrorEvent: (providerError: unknown) => string
  /** The SSE error event sent when the stream breaks before its provider-defined end. */
  readonly interruptedEvent: () => string
  readonly onEnd: (result: RelayResult) => void
  /** Sees every chunk sent to the client (the taps' copy), as `SseRelayOptions.tap`. */
  readonly tap?: ((chunk: Uint8Array) => void) | undefined
  /** As `SseRelayOptions.onFirstChunk`. */
  readonly onFirstChunk?: ((failed: boolean) => void) | undefined
}

/**
 * One stream's translation, as the relay drives it. Each method returns the text to send to the
 * client (possibly empty); `finish` and `broken` must leave `end` set.
 */
export type StreamTranslator = {
  /** How the stream ended, once it has: nothing the provider sends after that is read. */
  readonly end: StreamEnd | undefined
  /**
   * One complete upstream event: the text to send, or `null` when the event goes to the client
   * exactly as received (`${event.raw}\n\n`), so a read of such events is sent as the provider's
   * own bytes with no text built for it.
   */
  step(event: SseEvent): string | null
  /** The upstream body ended; `rest` is an unterminated final event, if any. */
  finish(rest: string): string
  /** The connection to the provider broke. */
  broken(): string
  /** The usage to report when the stream ends, however it ends. */
  usage(): Usage | undefined
}

export type SseRelayOptions = {
  /**
   * The translator relays most events unchanged: when a read's output equals its input, the
   * provider's own bytes are sent rather than a re-encoded copy, which halves the garbage a long
   * stream leaves behind.
   */
  readonly passThrough?: boolean
  /** Called exactly once, when the stream ends or the client goes away. */
  readonly onEnd: (outcome: ResponseOutcome) => void
  /**
   * Sees every chunk as it is sent to the client, before the client may read it: the answer's
   * taps' bounded copy, taken here rather than by another stream around this one.
   */
  readonly tap?: ((chunk: Uint8Array) => void) | undefined
  /**
   * Called once, with the first chunk queued for the client: `failed` when the stream also ended
   * in it without completing — the provider sent no content, only an error or an early close —
   * so a caller that has not answered yet may still try elsewhere. The stream is pulled as soon
   * as it is made (a `ReadableStream` with a pull source fills its queue of one chunk at once,
   * WHATWG Streams §4.5.13 "ReadableStreamDefaultControllerCallPullIfNeeded"), so this comes
   * without the client reading.
   */
  readonly onFirstChunk?: ((failed: boolean) => void) | undefined
}

/**
 * Pipes upstream SSE bytes through `translator`. Pull-based, so backpressure reaches the provider,
 * and a client that goes away cancels the upstream request.
 */
export const relaySse = (
  upstream: ReadableStream<Uint8Array>,
  translator: StreamTranslator,
  options: SseRelayOptions,
): ReadableStream<Uint8Array> => {
  const reader = upstream.getReader()
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  const splitter = new SseSplitter()
  const tap = options.tap
  let first = options.onFirstChunk
  const send = (
    controller: ReadableStreamDefaultController<Uint8Array>,
    chunk: Uint8Array,
    ended?: StreamEnd,
  ): void => {
    if (first !== undefined) {
      first(ended !== undefined && ended !== 'done')
      first = undefined
    }
    tap?.(chunk)
    controller.enqueue(chunk)
  }
  let reported = false
  const report = (end: StreamEnd): void => {
    if (reported) return
    reported = true
    options.onEnd({ end, usage: translator.usage() })
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
          let out = ''
          if (read === undefined) out = translator.broken()
          else {
            for (const event of splitter.push(decoder.decode())) {
              out += translator.step(event) ?? `${event.raw}\n\n`
            }
            out += translator.finish(splitter.rest())
          }
          // A translator that left the end open has not seen a complete stream.
          const end = translator.end ?? 'interrupted'
          if (out.length > 0) send(controller, encoder.encode(out), end)
          report(end)
          controller.close()
          return
        }
        const text = decoder.decode(read.value, { stream: true })
        const wasEmpty = splitter.rest() === ''
        const events = splitter.push(text)
        // The text to send; `null` while every event so far goes out as received.
        let out: string | null = null
        let used = 0
        for (const event of events) {
          const step = translator.step(event)
          if (step !== null) out ??= rawOf(events, used)
          if (out !== null) out += step ?? `${event.raw}\n\n`
          used++
          if (translator.end !== undefined) break
        }
        const end = translator.end
        let sent = false
        if (out === null && used > 0) {
          if (
            options.passThrough === true &&
            wasEmpty &&
            splitter.rest() === '' &&
            used === events.length
          ) {
            // Every event of this read, whole and unchanged: the provider's own bytes.
            send(controller, read.value, end)
            sent = true
          } else {
            out = rawOf(events, used)
          }
        }
        if (out !== null && out.length > 0) {
          send(controller, encoder.encode(out), end)
          sent = true
        }
        if (end !== undefined) {
          // The stream is complete or a provider error was relayed: nothing after it is for the
          // client. Reading the tail of a complete stream lets the runtime reuse the connection;
          // anything else is simply dropped.
          if (end === 'done') void drain(reader)
          else reader.cancel().catch(ignore)
          report(end)
          controller.close()
          return
        }
        // Nothing to send yet (pings, partial events): read on rather than hand the client nothing.
        if (sent) return
      }
    },
    cancel(reason) {
      report('cancelled')
      return reader.cancel(reason)
    },
  })
}

/** An adapter's answer for a stream it relayed with `relaySse` (which fed `context.head`). */
export const streamed = (body: ReadableStream<Uint8Array>): Responded => ({
  body,
  contentType: 'text/event-stream; charset=utf-8',
})

const ignore = (): void => undefined

/** The first `count` events as they were received. */
const rawOf = (events: readonly SseEvent[], count: number): string => {
  let text = ''
  for (let i = 0; i < count; i++) text += `${events[i]?.raw ?? ''}\n\n`
  return text
}

const drain = async (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> => {
  try {
    for (let i = 0; i < 16; i++) if ((await reader.read()).done) return
    await reader.cancel()
  } catch {
    // The provider closed the connection first; nothing to release.
  }
}

/**
 * Reads a whole answer before anything is sent, so a connection that breaks mid-body is still an
 * error the client can be told about with a status: 502, never a truncated 200.
 */
export const readWhole = async <T>(
  upstream: Response,
  read: (res: Response) => Promise<T>,
): Promise<T> => {
  try {
    return await read(upstream)
  } catch (err) {
    throw new GatewayError(
      'PROVIDER_ERROR',
      'The connection to the provider broke while its answer was being read.',
      { cause: err },
    )
  }
}

/** A response body as bytes (the runtime types it loosely); an empty stream when absent. */
export const bytesOf = (res: Response): ReadableStream<Uint8Array> =>
  (res.body as ReadableStream<Uint8Array> | null) ??
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.close()
    },
  })

/** The SSE error event that ends a stream the provider broke off before its end. */
export const interruptedEvent = (provider: string, requestId: string): string =>
  new GatewayError(
    'STREAM_INTERRUPTED',
    `The stream from '${provider}' ended before it was complete.`,
  ).toSseEvent(requestId)
