/**
 * @module Gateway API keys: generation, shape and checksum check, and the hash that is stored.
 *
 * Format: `flo_sk_live_<32 base62>_<crc32>` (`flo_sk_test_` for test-mode keys), where `<crc32>`
 * is the CRC-32 of everything before the last `_` (prefix and random part) as 8 lowercase hex
 * digits — 53 ASCII characters in all. The CRC is the IEEE 802.3 one that zlib and gzip use
 * (RFC 1952 §8: reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF), so
 * `zlib.crc32` elsewhere computes the same checksum.
 *
 * The checksum is not a secret and proves nothing about who holds the key: it lets `parseApiKey`
 * reject a typo, a truncated paste or a key-shaped guess before any I/O, so a malformed key costs
 * no store lookup. The check is a single linear scan with no regular expression (no backtracking
 * on hostile input), and a wrong length is refused before anything else is read.
 *
 * The 32 random characters carry 32 × log2(62) ≈ 190 bits. Only the SHA-256 of the whole key
 * (`hashApiKey`) is stored; admin listings show `displayPrefix` and `last4`, which reveal 8 of the
 * random characters and leave ≈ 143 bits unknown.
 */

export type KeyMode = 'live' | 'test'

export type ParsedApiKey =
  | { ok: true; mode: KeyMode; displayPrefix: string; last4: string }
  | { ok: false; reason: 'format' | 'checksum' }

const PREFIXES: Readonly<Record<KeyMode, string>> = { live: 'flo_sk_live_', test: 'flo_sk_test_' }
const PREFIX_LENGTH = 12 // both prefixes
const RANDOM_LENGTH = 32
const CHECKSUM_LENGTH = 8
/** Prefix and random part: the text the checksum covers. */
const BODY_LENGTH = PREFIX_LENGTH + RANDOM_LENGTH
const KEY_LENGTH = BODY_LENGTH + 1 + CHECKSUM_LENGTH
/** Characters of the random part shown in listings, at each end. */
const SHOWN = 4

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
/**
 * The largest multiple of 62 that fits in a byte: `byte % 62` is uniform over bytes below it.
 * Bytes 248–255 are drawn again; keeping them would make '0'–'7' 25% likelier than the rest.
 */
const UNBIASED_LIMIT = 256 - (256 % BASE62.length)

const UNDERSCORE = 0x5f

const isBase62 = (code: number): boolean =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)

const isLowerHex = (code: number): boolean =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66)

/** The byte-indexed table of the reflected CRC-32 polynomial 0xEDB88320, built once. */
const CRC_TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  return table
})()

/** CRC-32 (IEEE 802.3, as zlib's `crc32`) of `bytes`, as an unsigned 32-bit integer. */
export const crc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

const encoder = new TextEncoder()

const checksumOf = (body: string): string =>
  crc32(encoder.encode(body)).toString(16).padStart(CHECKSUM_LENGTH, '0')

const randomBase62 = (length: number): string => {
  // A few spare bytes per draw, so one `getRandomValues` call almost always suffices
  // (each byte is kept with probability 248/256).
  const bytes = new Uint8Array(length + 16)
  let out = ''
  while (out.length < length) {
    crypto.getRandomValues(bytes)
    for (const byte of bytes) {
      if (byte >= UNBIASED_LIMIT) continue
      out += BASE62.charAt(byte % BASE62.length)
      if (out.length === length) break
    }
  }
  return out
}

/** A new key for `mode`, from the platform's cryptographic random source. */
export const generateApiKey = (mode: KeyMode): string => {
  const body = PREFIXES[mode] + randomBase62(RANDOM_LENGTH)
  return `${body}_${checksumOf(body)}`
}

const rejected = (reason: 'format' | 'checksum'): ParsedApiKey => ({ ok: false, reason })

const modeOf = (presented: string): KeyMode | undefined => {
  if (presented.startsWith(PREFIXES.live)) return 'live'
  if (presented.startsWith(PREFIXES.test)) return 'test'
  return undefined
}

/**
 * Checks a presented key's shape (length, prefix, alphabet, separator, lowercase hex) and then its
 * checksum, without I/O. A shape error is `format` even when the checksum is also wrong.
 *
 * The checksum comparison need not be constant-time: the CRC is public and computable from the
 * presented text alone, so its timing tells a caller nothing they could not compute.
 */
export const parseApiKey = (presented: string): ParsedApiKey => {
  if (presented.length !== KEY_LENGTH) return rejected('format')
  const mode = modeOf(presented)
  if (mode === undefined) return rejected('format')
  for (let i = PREFIX_LENGTH; i < BODY_LENGTH; i++) {
    if (!isBase62(presented.charCodeAt(i))) return rejected('format')
  }
  if (presented.charCodeAt(BODY_LENGTH) !== UNDERSCORE) return rejected('format')
  for (let i = BODY_LENGTH + 1; i < KEY_LENGTH; i++) {
    if (!isLowerHex(presented.charCodeAt(i))) return rejected('format')
  }
  const body = presented.slice(0, BODY_LENGTH)
  if (checksumOf(body) !== presented.slice(BODY_LENGTH + 1)) return rejected('checksum')
  return {
    ok: true,
    mode,
    displayPrefix: presented.slice(0, PREFIX_LENGTH + SHOWN),
    last4: body.slice(-SHOWN),
  }
}

/** SHA-256 (FIPS 180-4) of the whole key as 64 lowercase hex digits: what the key store keeps. */
export const hashApiKey = async (key: string): Promise<string> => {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(key)))
  let hex = ''
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0')
  return hex
}
