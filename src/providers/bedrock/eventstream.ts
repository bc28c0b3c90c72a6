/**
 * @module Splits a ConverseStream body (`application/vnd.amazon.eventstream`) into its messages.
 *
 * The framing (AWS SDK developer guides, "Event stream encoding"; every integer big-endian):
 *
 * ```text
 * total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32
 * ```
 *
 * The prelude CRC covers the two lengths, the message CRC everything before it. Each header is a
 * name (u8 length + UTF-8), a type tag and a value; Bedrock sends strings: `:message-type`
 * (`event`, `exception`, or `error`), `:event-type`, `:exception-type`, `:content-type`, and
 * `:error-code` / `:error-message` on protocol errors.
 *
 * The checksums and the headers are AWS's own codec, `@smithy/eventstream-codec`
 * (`EventStreamCodec.decode`: both CRC32s checked, headers parsed; its CRC32 is plain JavaScript,
 * so it runs on Workers with no Node built-in). This module only finds where one message ends
 * in a byte stream whose reads split messages anywhere: it buffers until the prelude's total
 * length has arrived. The lengths are bounded before they are waited for (16 bytes up to
 * 16 MiB, headers within the message), and the codec then checks the prelude CRC over them, so a
 * corrupt length either fails at once or fails its checksum; it never runs unbounded.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec'

/** A decoded message: its string headers (other header types are not used here) and payload. */
export type EventMessage = {
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/** A frame that cannot be trusted: a checksum mismatch, or lengths out of bounds. */
export class EventStreamError extends Error {
  override readonly name = 'EventStreamError'
}

const PRELUDE_BYTES = 12
/** Prelude plus the message CRC: a message with no headers and no payload. */
const MIN_MESSAGE_BYTES = 16
/** The largest message AWS event streams allow. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024

const utf8Decoder = new TextDecoder()
const utf8Encoder = new TextEncoder()

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => utf8Decoder.decode(bytes),
  (text: string) => utf8Encoder.encode(text),
)

/** What went wrong, in words that name no checksum value. */
const reasonOf = (err: unknown): string => {
  const text = err instanceof Error ? err.message : ''
  if (/prelude checksum/i.test(text)) return 'prelude checksum mismatch'
  if (/message checksum/i.test(text)) return 'message checksum mismatch'
  return 'malformed message'
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.byteLength === 0) return b
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

/** Accumulates reads and hands out complete, verified messages in order. */
export class EventStreamDecoder {
  #buffer: Uint8Array = new Uint8Array(0)

  /** Bytes of a message not yet complete: non-zero when the body ends means it was cut. */
  get pending(): number {
    return this.#buffer.byteLength
  }

  push(bytes: Uint8Array): void {
    this.#buffer = concat(this.#buffer, bytes)
  }

  /**
   * The next complete message, or `undefined` until one has arrived. Throws `EventStreamError`
   * for a message that fails its checks; the stream cannot be resynchronised after that.
   */
  next(): EventMessage | undefined {
    const buffer = this.#buffer
    if (buffer.byteLength < PRELUDE_BYTES) return undefined
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    const total = view.getUint32(0)
    const headersLength = view.getUint32(4)
    if (
      total < MIN_MESSAGE_BYTES ||
      total > MAX_MESSAGE_BYTES ||
      headersLength > total - MIN_MESSAGE_BYTES
    ) {
      throw new EventStreamError('message lengths out of bounds')
    }
    if (buffer.byteLength < total) return undefined
    const frame = buffer.subarray(0, total)
    this.#buffer = buffer.subarray(total)
    let decoded: ReturnType<typeof codec.decode>
    try {
      decoded = codec.decode(frame)
    } catch (err) {
      throw new EventStreamError(reasonOf(err))
    }
    const headers: Record<string, string> = {}
    for (const [name, header] of Object.entries(decoded.headers)) {
      if (header.type === 'string') headers[name] = header.value
    }
    return { headers, body: decoded.body }
  }
}
