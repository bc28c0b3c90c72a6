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
import { giveBuffer, takeBuffer } from './buffers'
import { SseSplitter, type SseEvent } from './sse'
import { tail, type Tail } from './tail'
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
  /** As `SseRelayOptions.onRelease`. */
  readonly onRelease?: ((release: () => void) => void) | undefined
}

/**
 * One stream's translation, as the relay drives it. Each method returns the text to send to the
 * client (possibly empty); `finish` and `broken` must leave `end` set.
 */
export type StreamTranslator = {
  /** How the stream ended, once it has: nothing the provider sends after that is read. */
  end(): StreamEnd | undefined
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
   * taps' bounded copy, taken here rather than by another stream around this one. The chunk may be
   * a view of the relay's reused read buffer: what the tap keeps, it copies during the call.
   */
  readonly tap?: ((chunk: Uint8Array) => void) | undefined
  /**
   * Called once, with the first chunk queued for the client: `failed` when the stream also ended
   * in it without completing — the provider sent no content, only an error or an early close —
   * so a caller that has not answered yet may still try elsewhere. The relay reads the provider
   * as soon as it is made, so this comes without the client reading.
   */
  readonly onFirstChunk?: ((failed: boolean) => void) | undefined
  /**
   * Handed, once, as the relay starts, the way to drop this answer before it is sent (no first
   * chunk in time): the provider is released at once, not when it next writes, since an
   * `IdentityTransformStream` tells its writer that its reader left only at the next write. A
   * callback, not a table keyed by the stream: a stream's wrapper lives until a full collection,
   * and what it reached (the whole relay) with it (bench/REPORT.md, "2026-12-08").
   */
  readonly onRelease?: ((release: () => void) => void) | undefined
  /**
   * Every event from the provider goes to the client as received (the translator only listens):
   * in workerd, once a stream is long (`HAND_OFF_READS` reads), the rest of it then goes to the
   * client natively (`relayReads`).
   */
  readonly unchanged?: boolean
  /**
   * The usage to report when the provider sent none, from the number of events it sent (counted
   * only when this is set, in the bytes heard after a hand-off too).
   */
  readonly estimateUsage?: ((events: number) => Usage) | undefined
}

/**
 * Pipes upstream SSE bytes through `translator` (`relayReads`): a read whose events all go out
 * unchanged is sent as the provider's own bytes when `passThrough` is set.
 */
export const relaySse = (
  upstream: ReadableStream<Uint8Array>,
  translator: StreamTranslator,
  options: SseRelayOptions,
): ReadableStream<Uint8Array> => {
  const decoder = new TextDecoder()
  const splitter = new SseSplitter()
  // Whether the last read ended with a whole event: nothing is held back from the client then.
  let whole = false
  // Once handed off, only the stream's tail is kept: its end and usage are all that is left to hear.
  let heardTail: Tail | undefined
  const estimate = options.estimateUsage
  let counted = 0
  const heardEvents = estimate === undefined ? undefined : new EventCounter()
  return relayReads(
    upstream,
    {
      end: () => translator.end(),
      unchanged:
        options.unchanged !== true
          ? undefined
          : {
              atEventEnd: () => whole && splitter.rest() === '',
              hear: (bytes) => {
                heardEvents?.count(bytes)
                heardTail ??= tail(HEARD_TAIL_BYTES)
                heardTail.keep(bytes)
              },
              heard() {
                if (heardTail === undefined) return
                const last = heardTail.last()
                let text = new TextDecoder().decode(last.bytes)
                if (last.cut) {
                  // The tail may begin inside an event: it is read from the first whole one.
                  text = text.replace(/\r\n?/g, '\n')
                  const at = text.indexOf('\n\n')
                  text = at < 0 ? '' : text.slice(at + 2)
                }
                for (const event of splitter.push(text)) {
                  translator.step(event)
                  if (translator.end() !== undefined) return
                }
              },
            },
      usage: () => {
        const usage = translator.usage()
        if (usage !== undefined || estimate === undefined) return usage
        return estimate(counted + (heardEvents?.events ?? 0))
      },
      broken: () => encoded(translator.broken()),
      done() {
        let out = ''
        const last = splitter.push(decoder.decode())
        counted += last.length
        for (const event of last) {
          out += translator.step(event) ?? `${event.raw}\n\n`
        }
        return encoded(out + translator.finish(splitter.rest()))
      },
      read(bytes) {
        whole = bytes[bytes.byteLength - 1] === 0x0a
        const wasEmpty = splitter.rest() === ''
        const events = splitter.push(decoder.decode(bytes, { stream: true }))
        counted += events.length
        // The text to send; `null` while every event so far goes out as received.
        let out: string | null = null
        let used = 0
        for (const event of events) {
          const step = translator.step(event)
          if (step !== null) out ??= rawOf(events, used)
          if (out !== null) out += step ?? `${event.raw}\n\n`
          used++
          if (translator.end() !== undefined) break
        }
        if (out === null && used > 0) {
          if (
            options.passThrough === true &&
            wasEmpty &&
            splitter.rest() === '' &&
            used === events.length
          ) {
            return bytes // every event of this read, whole and unchanged: the provider's own bytes
          }
          out = rawOf(events, used)
        }
        return out === null ? undefined : encoded(out)
      },
    },
    {
      onEnd: options.onEnd,
      tap: options.tap,
      onFirstChunk: options.onFirstChunk,
      onRelease: options.onRelease,
      reuse: true,
    },
  )
}

/**
 * Counts the SSE events in bytes the script does not otherwise decode (heard after a hand-off):
 * each ends at a blank line, `\n\n` or `\r\n\r\n`, found across reads too.
 */
export class EventCounter {
  events = 0
  /** The last two bytes of the previous call, newest first. */
  private last = 0
  private beforeLast = 0

  count(bytes: Uint8Array): void {
    const n = bytes.byteLength
    for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) {
      const before = at > 0 ? bytes[at - 1] : this.last
      if (before === 0x0a) this.events++
      else if (before === 0x0d) {
        const twoBefore = at > 1 ? bytes[at - 2] : at === 1 ? this.last : this.beforeLast
        if (twoBefore === 0x0a) this.events++
      }
    }
    if (n === 0) return
    this.beforeLast = n > 1 ? (bytes[n - 2] ?? 0) : this.last
    this.last = bytes[n - 1] ?? 0
  }
}

const encoder = new TextEncoder()

/** `text` as bytes to send; `undefined` for nothing. */
export const encoded = (text: string): Uint8Array | undefined =>
  text.length > 0 ? encoder.encode(text) : undefined

/** One stream's decoding and translation, as `relayReads` drives it. */
export type ReadHandler = {
  /** How the stream ended, once it has: nothing the provider sends after that is read. */
  end(): StreamEnd | undefined
  /**
   * One read of the body: the bytes to send for it (may be `bytes` itself), or `undefined` while
   * nothing is ready (a partial event or frame).
   */
  read(bytes: Uint8Array): Uint8Array | undefined
  /** The body ended; what is left to send. `done` and `broken` must leave `end` set, or the
   * stream counts as interrupted. */
  done(): Uint8Array | undefined
  /** The connection to the provider broke; what to send about it. */
  broken(): Uint8Array | undefined
  /** The usage to report when the stream ends, however it ends. */
  usage(): Usage | undefined
  /** Present when every byte from the provider goes to the client as received. */
  readonly unchanged?:
    | {
        /**
         * Whether all that was read so far has been handed on (no part of an event held back),
         * so that the rest of the stream may go to the client natively.
         */
        atEventEnd(): boolean
        /** Takes in bytes the client has been sent natively (at most their tail is kept). */
        hear(bytes: Uint8Array): void
        /** The stream ended whole: what its tail says (the end, usage) is taken in. */
        heard(): void
      }
    | undefined
}

export type ReadRelayOptions = Omit<SseRelayOptions, 'passThrough' | 'unchanged'> & {
  /**
   * `handler.read` keeps nothing of `bytes` past its call (it decodes or copies them), so the
   * next read may overwrite them: reads then go into one reused buffer.
   */
  readonly reuse?: boolean
}

/**
 * The relay loop every family's stream goes through, with backpressure: the next read from the
 * provider waits until the client has taken the previous write; the end is reported once, however
 * the stream ends; a complete stream's tail is drained so the connection can be reused, anything
 * else cancelled; a client that goes away cancels the upstream request.
 *
 * In workerd the client's side is an `IdentityTransformStream` written from the reads, with no
 * JavaScript stream and, with `reuse`, no new buffer per read: what workerd keeps per chunk that
 * passes through a script's stream, not the bytes, is what grows its memory (bench/REPORT.md, "SSE
 * memory"). The reused buffer starts small and doubles whenever a read fills it, so a slow stream
 * keeps a small one. Elsewhere (Node) a standard `TransformStream` carries fresh buffers. An
 * `IdentityTransformStream` tells its writer that its reader left only at the next write, so
 * `onRelease` hands the caller a way to cancel the provider at once when the gateway itself drops
 * an answer.
 *
 * Each script read still leaves a few KB of workerd's memory until a full collection, and a
 * provider streaming tokens sends one HTTP chunk per event, which is one read each. So when the
 * handler relays every byte unchanged (`unchanged`), a stream that reaches `HAND_OFF_READS` reads
 * goes on natively (`handOff`) at the next event boundary: the rest of the provider's body is
 * `tee()`d, one branch piped by the runtime into the client's stream, the other read here for the
 * handler (usage, the end, the taps' copy) in few large reads, pausing between them
 * (`listenPause`) so that the events sent meanwhile gather into one. The end is reported, and a
 * stream the provider cut short still ends with the handler's closing event, once both have
 * finished.
 */
export const relayReads = (
  upstream: ReadableStream<Uint8Array>,
  handler: ReadHandler,
  options: ReadRelayOptions,
): ReadableStream<Uint8Array> => {
  const source = openSource(upstream, options.reuse === true)
  const tap = options.tap
  let first = options.onFirstChunk
  const { readable, writable } = clientPipe()
  const writer = writable.getWriter()

  let reported = false
  const report = (end: StreamEnd): void => {
    if (reported) return
    reported = true
    options.onEnd({ end, usage: handler.usage() })
  }
  let stopped = false
  /** Lets the provider go: its reader, or the two branches once handed off. */
  let release = (reason?: unknown): void => {
    source.cancel(reason)
  }
  const stop = (reason?: unknown): void => {
    if (stopped) return
    stopped = true
    report('cancelled')
    release(reason)
  }
  options.onRelease?.(() => {
    stop('released by the gateway')
  })
  let handedOff = false
  writer.closed.catch((err: unknown) => {
    if (!handedOff) stop(err) // a writer released for the hand-off rejects `closed` too
  })

  /** Hands `chunk` to the client; false when the client has gone. */
  const send = async (chunk: Uint8Array, ended: StreamEnd | undefined): Promise<boolean> => {
    if (first !== undefined) {
      first(ended !== undefined && ended !== 'done')
      first = undefined
    }
    tap?.(chunk)
    try {
      await writer.write(chunk)
      return true
    } catch (err) {
      stop(err)
      return false
    }
  }
  const close = (end: StreamEnd): void => {
    report(end)
    writer.close().catch(ignore)
  }

  /** The rest of the stream goes to the client natively; the handler only listens. */
  const handOff = async (ear: NonNullable<ReadHandler['unchanged']>): Promise<void> => {
    handedOff = true
    source.release()
    release = (reason) => {
      upstream.cancel(reason).catch(ignore)
    }
    writer.releaseLock()
    const [toClient, heard] = upstream.tee()
    const listener = listen(heard, handler, ear, tap)
    release = (reason) => {
      listener.cancel(reason)
    }
    // The pipe neither closes nor aborts the client's stream: a cut stream still gets its event.
    const piped = await toClient.pipeTo(writable, { preventClose: true, preventAbort: true }).then(
      () => true,
      () => false,
    )
    // The client left, or the provider broke off: nothing more is coming to listen to.
    if (!piped) listener.cancel()
    else listener.hurry()
    const heardAll = await listener.ended
    if (stopped) return
    ear.heard() // what came before a break counts too: usage sent before it, or the end itself
    const out = heardAll ? handler.done() : handler.broken()
    const end = handler.end() ?? 'interrupted'
    const last = writable.getWriter()
    // A write or a close that fails says the client had gone (the pipe failed for that).
    const closing = out === undefined ? last.close() : last.write(out)
    try {
      await closing
    } catch (err) {
      stop(err)
      return
    }
    report(end)
    if (out !== undefined) last.close().catch(ignore)
  }

  const pump = async (): Promise<void> => {
    let reads = 0
    for (;;) {
      let read: ReadableStreamReadResult<Uint8Array> | undefined
      try {
        read = await source.read()
      } catch {
        read = undefined // the connection to the provider broke
      }
      if (stopped) return
      if (read === undefined || read.done) {
        if (read !== undefined) {
          source.done(read.value)
          source.retire()
        }
        const out = read === undefined ? handler.broken() : handler.done()
        // A handler that left the end open has not seen a complete stream.
        const end = handler.end() ?? 'interrupted'
        if (out !== undefined && !(await send(out, end))) return
        close(end)
        return
      }
      const out = handler.read(read.value)
      const end = handler.end()
      if (out !== undefined && !(await send(out, end))) return
      source.done(read.value)
      const ear = handler.unchanged
      if (
        end === undefined &&
        ear !== undefined &&
        NATIVE &&
        ++reads >= HAND_OFF_READS &&
        ear.atEventEnd()
      ) {
        await handOff(ear)
        return
      }
      if (end !== undefined) {
        // The stream is complete or a provider error was relayed: nothing after it is for the
        // client. Reading the tail of a complete stream lets the runtime reuse the connection;
        // anything else is simply dropped.
        if (end === 'done') void source.drain()
        else source.cancel()
        close(end)
        return
      }
    }
  }
  // A handler that throws (a defect: translators return error events instead) must not leave the
  // client waiting on a stream nobody writes: the client's stream errors and the provider is let go.
  pump().catch((err: unknown) => {
    if (stopped) return
    stopped = true
    report('interrupted')
    release(err)
    if (handedOff) writable.abort(err).catch(ignore)
    else writer.abort(err).catch(ignore)
  })
  return readable
}

/** Reads relayed through script before a stream whose bytes go unchanged is handed off. */
const HAND_OFF_READS = 8
/** What a handed-off stream keeps of its end: room for the usage chunk and `[DONE]`, many times. */
const HEARD_TAIL_BYTES = 16 * 1024
/** The listening branch's read buffer; a pause between reads aims to gather half of it. */
const LISTEN_BYTES = 256 * 1024
const LISTEN_AIM_BYTES = LISTEN_BYTES / 2
/** The shortest and the longest pause between reads that do not fill the buffer. */
const LISTEN_PAUSE_MS = 10
const LISTEN_PAUSE_MAX_MS = 100

/**
 * How long the listener waits before its next read, after a read of `bytes` that came
 * `elapsedMs` after the one before: as long as the stream, at that pace, takes to send
 * `LISTEN_AIM_BYTES`, within `LISTEN_PAUSE_MS`…`LISTEN_PAUSE_MAX_MS`; none after a full read
 * (more is waiting). A token stream is then read about ten times a second, not once per event;
 * a stream that speeds up gathers for one pause at most, since the next pause shrinks with the
 * pace. The client does not wait on these pauses: its branch is piped on its own, and the last
 * pause is cut short when that pipe ends (`Listener.hurry`).
 */
export const listenPause = (bytes: number, elapsedMs: number): number => {
  if (bytes >= LISTEN_BYTES) return 0
  const ms = (LISTEN_AIM_BYTES * Math.max(elapsedMs, 0)) / Math.max(bytes, 1)
  return Math.min(LISTEN_PAUSE_MAX_MS, Math.max(LISTEN_PAUSE_MS, Math.round(ms)))
}

type Listener = {
  /** True when the stream ended whole, false when it broke off or was cancelled. */
  readonly ended: Promise<boolean>
  /** The client's branch has ended: the rest is read without pausing, so the end comes at once. */
  hurry(): void
  cancel(reason?: unknown): void
}

/**
 * Reads the listening branch of a handed-off stream to its end, giving each read to the taps'
 * copy and to the handler's `hear` (the client has the bytes already). The
 * pause between reads (`listenPause`) lets the events the runtime pipes to the client gather in
 * this branch, so a token stream costs a read per pause, not one per event.
 */
const listen = (
  stream: ReadableStream<Uint8Array>,
  handler: ReadHandler,
  ear: NonNullable<ReadHandler['unchanged']>,
  tap: ((chunk: Uint8Array) => void) | undefined,
): Listener => {
  const reads = reusedReads(stream, LISTEN_BYTES)
  const state = { cancelled: false, hurried: false }
  let wake: (() => void) | undefined
  const ended = (async (): Promise<boolean> => {
    let readAt = Date.now()
    for (;;) {
      const { done, value } = await reads.read()
      const now = Date.now()
      if (state.cancelled) return false
      if (value !== undefined && value.byteLength > 0) {
        tap?.(value)
        if (handler.end() === undefined) ear.hear(value)
      }
      if (done) {
        reads.release()
        return true
      }
      const ms = state.hurried ? 0 : listenPause(value.byteLength, now - readAt)
      if (ms > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = undefined
      }
      readAt = now
    }
  })().catch(() => false)
  return {
    ended,
    hurry() {
      state.hurried = true
      wake?.()
    },
    cancel(reason) {
      if (state.cancelled) return
      state.cancelled = true
      wake?.()
      reads.cancel(reason)
    },
  }
}

/** Reads of a stream of bytes, as `reusedReads` gives them. */
export type ReusedReads = {
  /** The next read; `full`: wait for a full buffer or the end (workerd's `readAtLeast`). */
  read(full?: boolean): Promise<ReadableStreamReadResult<Uint8Array>>
  cancel(reason?: unknown): void
  /**
   * The reads are over and their bytes handed on: the buffer goes back for another answer
   * (`buffers.ts`). Nothing may use what a read gave after this.
   */
  release(): void
}

/**
 * Reads `stream` into one buffer of `size` bytes, reused for every read, when it is a byte stream
 * (a BYOB reader): what a read gives is valid until the next read, or until `release`, which gives
 * the buffer back for another answer. Elsewhere, the chunks as the stream hands them out. A full
 * read needs workerd's `readAtLeast`; without it, a read gives what has arrived.
 */
export const reusedReads = (stream: ReadableStream<Uint8Array>, size: number): ReusedReads => {
  let byob: ReadableStreamBYOBReader | undefined
  try {
    byob = stream.getReader({ mode: 'byob' })
  } catch {
    byob = undefined // not a byte stream here: read it the default way
  }
  if (byob === undefined) {
    const reader = stream.getReader()
    return {
      read: () => reader.read(),
      cancel(reason) {
        reader.cancel(reason).catch(ignore)
      },
      release: ignore,
    }
  }
  const reader = byob
  // `readAtLeast` is workerd's own (typed as always there).
  const atLeast = typeof (reader as Partial<ReadableStreamBYOBReader>).readAtLeast === 'function'
  // The buffer the next read goes into; `undefined` while a read holds it, or once released.
  let buffer: ArrayBuffer | undefined = takeBuffer(size)
  return {
    async read(full = false) {
      const view = new Uint8Array(buffer ?? new ArrayBuffer(size))
      buffer = undefined
      const result =
        full && atLeast ? await reader.readAtLeast(size, view) : await reader.read(view)
      // The same memory, handed back by the read.
      if (result.value !== undefined) buffer = result.value.buffer
      return result
    },
    cancel(reason) {
      reader.cancel(reason).catch(ignore)
    },
    release() {
      giveBuffer(buffer)
      buffer = undefined
    },
  }
}

type Pipe = { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }

/** Whether the client's side is workerd's native pipe (which copies what is written to it). */
const NATIVE = typeof IdentityTransformStream === 'function'

const clientPipe = (): Pipe =>
  NATIVE ? new IdentityTransformStream() : new TransformStream<Uint8Array, Uint8Array>()

/** The first read buffer; a read that fills it doubles it, up to `MAX_READ_BYTES`. */
const FIRST_READ_BYTES = 16 * 1024
const MAX_READ_BYTES = 256 * 1024

/** Reads of the provider's body: into one reused buffer where that is safe, fresh ones elsewhere. */
type Source = {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>
  /** The chunk `read` gave has been handed on: its buffer may be read into again. */
  done(chunk: Uint8Array | undefined): void
  cancel(reason?: unknown): void
  drain(): Promise<void>
  /** Gives the stream back (no read in flight): its reader lets go of it. */
  release(): void
  /** The stream has ended (no read in flight): the read buffer goes back for another answer. */
  retire(): void
}

const openSource = (upstream: ReadableStream<Uint8Array>, reuse: boolean): Source => {
  let byob: ReadableStreamBYOBReader | undefined
  if (NATIVE && reuse) {
    try {
      byob = upstream.getReader({ mode: 'byob' })
    } catch {
      byob = undefined // not a byte stream
    }
  }
  const reader = byob ?? upstream.getReader()
  // The buffer the next read goes into: `undefined` while a read holds it, and once given back.
  let buffer: Uint8Array | undefined
  let size = FIRST_READ_BYTES
  const read =
    byob === undefined
      ? () => (reader as ReadableStreamDefaultReader<Uint8Array>).read()
      : async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
          const into = buffer ?? new Uint8Array(takeBuffer(size))
          buffer = undefined
          return await byob.read(into)
        }
  const done = (chunk: Uint8Array | undefined): void => {
    if (byob === undefined || chunk === undefined) return
    if (chunk.byteLength >= size && size < MAX_READ_BYTES) {
      giveBuffer(chunk.buffer as ArrayBuffer) // handed on: the next read takes a larger one
      size *= 2 // the read filled the buffer: more was waiting
      return
    }
    // The read's buffer, unless the runtime kept it (detached): then the next read takes a new one.
    if (chunk.buffer.byteLength === size) buffer = new Uint8Array(chunk.buffer as ArrayBuffer)
  }
  /** The reads are over: a buffer no read holds goes back for another answer. */
  const retire = (): void => {
    if (buffer !== undefined) giveBuffer(buffer.buffer as ArrayBuffer)
    buffer = undefined
  }
  return {
    read,
    done,
    cancel(reason) {
      retire()
      reader.cancel(reason).catch(ignore)
    },
    release() {
      retire()
      reader.releaseLock()
    },
    retire,
    async drain() {
      try {
        for (let i = 0; i < 16; i++) {
          const tail = await read()
          done(tail.value) // dropped unread: its buffer serves the next read
          if (tail.done) {
            retire()
            return
          }
        }
        retire()
        await reader.cancel()
      } catch {
        // The provider closed the connection first; nothing to release.
      }
    },
  }
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
