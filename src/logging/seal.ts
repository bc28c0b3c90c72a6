/**
 * @module Sealed request log messages: the raw facts of a request (bodies included) cross the
 * Queue, and may rest in its dead-letter queue for days, only as XChaCha20-Poly1305 ciphertext
 * under a log key. Nobody who can read the Queue can read a body.
 *
 * ## Keyring: the `FLOOPY_LOG_KEYS` secret binding
 *
 * The vault's keyring format and parser (`security/vault.ts`, `FLOOPY_VAULT_KEKS`):
 * `{"current":"k2","keys":{"k1":"<base64 of 32 bytes>","k2":"…"}}`. New messages are sealed under
 * `current`; every listed key opens. To rotate, add a new key and make it current; keep the old
 * one listed as long as a message sealed under it may still be in the Queue or the dead-letter
 * queue (the queues' retention, 4 days by default, 14 at most). The key bytes live in a
 * module-private `WeakMap`: logging or serialising a `LogKeys` shows only its ids.
 *
 * ## Sealed message: bytes (the Queue's `bytes` content type)
 *
 * ```text
 * 00 46 4C 01        magic "\0FL" and format version 1 (a JSON message never starts with NUL)
 * n                  key id length, 1 byte (1-32)
 * keyId              n bytes, ASCII ([A-Za-z0-9_-])
 * nonce              24 bytes, random
 * ciphertext || tag  XChaCha20-Poly1305(key[keyId], nonce, AAD = the header above).encrypt(plaintext)
 * ```
 *
 * The header is the associated data, so relabelling a message with another key id or version
 * fails to open. One key encrypts many messages: 192-bit random nonces make a collision negligible
 * (draft-irtf-cfrg-xchacha §3.1 sizes the nonce for random generation; RFC 8439 §4 forbids reuse).
 * There is no per-message data key as in the vault: a message lives for days at most and is never
 * re-wrapped, so rotation is adding a key, not rewriting messages.
 *
 * ## Failure
 *
 * `openMessage` throws a `SealError` whose `reason` says what happened — `unknown-key` (the id is
 * not in the keyring: an operator's misconfiguration, the id is named), `malformed` or `tampered`
 * (authentication failed) — and never carries plaintext.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { parseKeyring } from '../security/vault'

/** A parsed `FLOOPY_LOG_KEYS`. Holds ids only; the key bytes are private to this module. */
export type LogKeys = {
  /** The id new messages are sealed under. */
  readonly currentId: string
  /** Every id that opens, sorted. */
  readonly ids: readonly string[]
}

export type SealFailure = 'unknown-key' | 'malformed' | 'tampered'

/** A message that does not open: its key id when it could be read, never its content. */
export class SealError extends Error {
  override readonly name = 'SealError'
  readonly reason: SealFailure
  readonly keyId: string | undefined
  constructor(reason: SealFailure, keyId: string | undefined) {
    super(
      reason === 'unknown-key'
        ? `request log message sealed under key "${keyId ?? ''}", which FLOOPY_LOG_KEYS does not hold`
        : `request log message could not be opened (${reason})`,
    )
    this.reason = reason
    this.keyId = keyId
  }
}

const MAGIC = [0x00, 0x46, 0x4c, 0x01] as const
const NONCE_BYTES = 24
const TAG_BYTES = 16
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/
const VAULT_PREFIX = /^vault keyring \(FLOOPY_VAULT_KEKS\): /

const material = new WeakMap<LogKeys, ReadonlyMap<string, Uint8Array>>()

/** Standard or URL-safe base64, padding optional (`parseKeyring` has validated it). */
const decodeKey = (text: string): Uint8Array => {
  const bare = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/')
  return Uint8Array.from(atob(bare + '='.repeat((4 - (bare.length % 4)) % 4)), (char) =>
    char.charCodeAt(0),
  )
}

/**
 * Parses and validates `FLOOPY_LOG_KEYS` with the vault's keyring parser (same rules, errors that
 * name the problem and never echo key material).
 */
export const parseLogKeys = (text: string): LogKeys => {
  let keyring
  try {
    keyring = parseKeyring(text)
  } catch (err) {
    // The vault's errors name the problem and carry no key material (nor a cause that would).
    const problem = err instanceof Error ? err.message.replace(VAULT_PREFIX, '') : 'invalid'
    throw new Error(`log keyring (FLOOPY_LOG_KEYS): ${problem}`, { cause: err })
  }
  // Valid JSON with a string per id: parseKeyring has just said so.
  const { keys } = JSON.parse(text) as { keys: Record<string, string> }
  const bytes = new Map(keyring.ids.map((id) => [id, decodeKey(keys[id] ?? '')]))
  const logKeys: LogKeys = Object.freeze({ currentId: keyring.currentId, ids: keyring.ids })
  material.set(logKeys, bytes)
  return logKeys
}

const keyFor = (keys: LogKeys, id: string): Uint8Array | undefined => {
  const held = material.get(keys)
  if (held === undefined) throw new Error('log keys must come from parseLogKeys')
  return held.get(id)
}

const header = (keyId: string): Uint8Array => {
  const id = new TextEncoder().encode(keyId)
  const bytes = new Uint8Array(MAGIC.length + 1 + id.length)
  bytes.set(MAGIC)
  bytes[MAGIC.length] = id.length
  bytes.set(id, MAGIC.length + 1)
  return bytes
}

/** Bytes a sealed message adds to its plaintext under `keys`' current key. */
export const sealOverhead = (keys: LogKeys): number =>
  MAGIC.length + 1 + keys.currentId.length + NONCE_BYTES + TAG_BYTES

/** Seals `plaintext` under the keyring's current key. */
export const sealMessage = (keys: LogKeys, plaintext: Uint8Array): Uint8Array => {
  const key = keyFor(keys, keys.currentId)
  if (key === undefined) throw new Error('log keys: the current key is missing')
  const aad = header(keys.currentId)
  const message = new Uint8Array(aad.length + NONCE_BYTES + plaintext.length + TAG_BYTES)
  message.set(aad)
  const nonce = message.subarray(aad.length, aad.length + NONCE_BYTES)
  crypto.getRandomValues(nonce)
  xchacha20poly1305(key, nonce, aad).encrypt(plaintext, message.subarray(aad.length + NONCE_BYTES))
  return message
}

/** Whether `bytes` is a sealed message (by its magic; it may still not open). */
export const isSealed = (bytes: Uint8Array): boolean =>
  bytes.length > MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte)

/** The key id a sealed message names, when it can be read. */
export const sealedKeyId = (bytes: Uint8Array): string | undefined => {
  if (!isSealed(bytes)) return undefined
  const length = bytes[MAGIC.length] ?? 0
  const id = new TextDecoder().decode(bytes.subarray(MAGIC.length + 1, MAGIC.length + 1 + length))
  return KEY_ID.test(id) ? id : undefined
}

/** Opens a sealed message; throws a `SealError` when it does not open. */
export const openMessage = (keys: LogKeys, bytes: Uint8Array): Uint8Array => {
  const keyId = sealedKeyId(bytes)
  if (keyId === undefined) throw new SealError('malformed', undefined)
  const headerLength = MAGIC.length + 1 + keyId.length
  if (bytes.length < headerLength + NONCE_BYTES + TAG_BYTES) throw new SealError('malformed', keyId)
  const key = keyFor(keys, keyId)
  if (key === undefined) throw new SealError('unknown-key', keyId)
  const nonce = bytes.subarray(headerLength, headerLength + NONCE_BYTES)
  try {
    return xchacha20poly1305(key, nonce, bytes.subarray(0, headerLength)).decrypt(
      bytes.subarray(headerLength + NONCE_BYTES),
    )
  } catch {
    throw new SealError('tampered', keyId)
  }
}

/** A Queue message body as bytes, when it is bytes (workerd hands `bytes` as an ArrayBuffer). */
export const messageBytes = (body: unknown): Uint8Array | undefined =>
  body instanceof ArrayBuffer
    ? new Uint8Array(body)
    : ArrayBuffer.isView(body)
      ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
      : undefined
