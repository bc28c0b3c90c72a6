/**
 * @module Builds AWS event-stream frames for the Bedrock tests, independently of the codec the
 * gateway decodes them with: the framing written out from AWS's description ("Event stream
 * encoding") with the CRC32 of `@aws-crypto/crc32`. Test support only (no production import).
 */
import { crc32 } from '@aws-crypto/crc32'

const encoder = new TextEncoder()

/** String headers (type 7): name length u8, name, 7, value length u16, value. */
const encodeHeaders = (headers: Readonly<Record<string, string>>): Uint8Array => {
  const parts: number[] = []
  for (const [name, value] of Object.entries(headers)) {
    const n = encoder.encode(name)
    const v = encoder.encode(value)
    parts.push(n.byteLength, ...n, 7, v.byteLength >> 8, v.byteLength & 0xff, ...v)
  }
  return Uint8Array.from(parts)
}

export type Corruption = { readonly prelude?: boolean; readonly message?: boolean }

/** One frame: prelude (lengths, CRC), headers, payload, message CRC. */
export const frame = (
  headers: Readonly<Record<string, string>>,
  payload: string | Uint8Array,
  corrupt: Corruption = {},
): Uint8Array => {
  const head = encodeHeaders(headers)
  const body = typeof payload === 'string' ? encoder.encode(payload) : payload
  const total = 12 + head.byteLength + body.byteLength + 4
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(0, total)
  view.setUint32(4, head.byteLength)
  view.setUint32(8, (crc32(out.subarray(0, 8)) ^ (corrupt.prelude === true ? 1 : 0)) >>> 0)
  out.set(head, 12)
  out.set(body, 12 + head.byteLength)
  view.setUint32(
    total - 4,
    (crc32(out.subarray(0, total - 4)) ^ (corrupt.message === true ? 1 : 0)) >>> 0,
  )
  return out
}

/** A ConverseStream event frame (`:message-type: event`) with a JSON payload. */
export const event = (type: string, payload: unknown, corrupt?: Corruption): Uint8Array =>
  frame(
    { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
    // Bedrock pads every event with a random `p` field against length side channels.
    JSON.stringify({ ...(payload as object), p: 'abcdefghij' }),
    corrupt,
  )

/** A ConverseStream exception frame (`:message-type: exception`). */
export const exception = (type: string, message: string): Uint8Array =>
  frame(
    { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
    JSON.stringify({ message }),
  )

export const concatBytes = (...parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}
