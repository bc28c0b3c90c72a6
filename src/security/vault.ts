/**
 * @module Provider-key vault: envelope encryption for the provider API keys organisations store.
 *
 * Spec (provider-key vault milestone): XChaCha20-Poly1305 envelope encryption with
 * `@noble/ciphers`; a fresh 32-byte data key (DEK) per provider key, wrapped by a key-encryption
 * key (KEK) from a secret binding that carries a key id for rotation; 24-byte random nonces;
 * associated data binding the ciphertext to org and provider. Decrypted only at dispatch, never
 * cached in plaintext, never logged. A rotation command re-wraps data keys under a new KEK.
 *
 * This module is pure (its only I/O is `crypto.getRandomValues`); callers read the binding and
 * the store.
 *
 * ## Keyring: the `FLOOPY_VAULT_KEKS` secret binding
 *
 * ```json
 * { "current": "k2", "keys": { "k1": "<base64 of 32 bytes>", "k2": "<base64 of 32 bytes>" } }
 * ```
 *
 * Key ids match `[A-Za-z0-9_-]{1,32}`; keys are standard or URL-safe base64 (padding optional) of
 * exactly 32 bytes, e.g. `openssl rand -base64 32`. New seals use `current`; older ids stay listed
 * until `rewrapProviderKey` has moved every record off them. The key bytes live in a module-private
 * `WeakMap`, so logging or serialising a `Keyring` shows only its ids. `parseKeyring` errors name
 * the problem and never echo input text.
 *
 * ## Sealed value: a compact versioned string
 *
 * ```text
 * v1.<kekId>.<wrapNonce>.<wrappedDek>.<dataNonce>.<ciphertext>      (parts in unpadded base64url)
 *
 * wrapNonce   24 bytes  random
 * wrappedDek  48 bytes  XChaCha20-Poly1305(KEK[kekId], wrapNonce, AAD_dek).encrypt(DEK)  32+16 tag
 * dataNonce   24 bytes  random
 * ciphertext  n+16      XChaCha20-Poly1305(DEK, dataNonce, AAD_data).encrypt(utf8(key))  n+16 tag
 *
 * AAD_data = lp("floopy-vault/v1/data") || lp(orgId) || lp(provider)
 * AAD_dek  = lp("floopy-vault/v1/dek")  || lp(kekId) || lp(orgId) || lp(provider)
 * lp(s)    = uint32 big-endian byte length of utf8(s) || utf8(s)
 * ```
 *
 * Length prefixes make the encoding injective, so org `a|b` + provider `c` and org `a` + provider
 * `b|c` authenticate different bytes. The data AAD leaves out `kekId` so that rotation re-wraps
 * the DEK without touching the data ciphertext; the wrap AAD includes it, so relabelling a record
 * with another id fails. Base64url parts must be canonical (decode and re-encode to the same text),
 * so a sealed value has exactly one spelling.
 *
 * Nonces are random: 192-bit XChaCha nonces make collisions under one KEK negligible (RFC 8439 §4
 * forbids nonce reuse; draft-irtf-cfrg-xchacha §3.1 sizes the nonce for random generation), and
 * each DEK encrypts exactly one message.
 *
 * ## Failure
 *
 * Tampering with any part, the wrong org or provider, or different KEK bytes under the same id all
 * throw the same `Error('provider key could not be decrypted')`, with no cause: the message never
 * says which part failed and never carries plaintext. A `kekId` the keyring does not hold throws a
 * distinct error naming that id (an id is not secret), because that is an operator's
 * misconfiguration rather than an attack. Buffers holding the DEK or the provider key's bytes are
 * zeroed after use; the JavaScript strings passed in and returned cannot be, so callers keep them
 * no longer than the dispatch that needs them.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { bytesToUtf8, concatBytes, utf8ToBytes } from '@noble/ciphers/utils.js'
import * as z from 'zod'

/** A parsed `FLOOPY_VAULT_KEKS`. Holds ids only; the key bytes are private to this module. */
export type Keyring = {
  /** The id new seals and rewraps use. */
  readonly currentId: string
  /** Every id the keyring can open, sorted. */
  readonly ids: readonly string[]
}

/** Whose provider key this is: both fields are bound into the associated data. */
export type VaultScope = { readonly orgId: string; readonly provider: string }

/** `v1.<kekId>.<wrapNonce>.<wrappedDek>.<dataNonce>.<ciphertext>`: see the module doc. */
export type SealedKey = string

/** The one message every tampering, wrong-scope or wrong-key failure carries. */
export const VAULT_OPEN_FAILED = 'provider key could not be decrypted'

const VERSION = 'v1'
const KEY_BYTES = 32
const NONCE_BYTES = 24
const TAG_BYTES = 16
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/
const DATA_CONTEXT = 'floopy-vault/v1/data'
const DEK_CONTEXT = 'floopy-vault/v1/dek'

const keyMaterial = new WeakMap<Keyring, ReadonlyMap<string, Uint8Array>>()

const KeyringJson = z.object({
  current: z.string(),
  keys: z.record(z.string(), z.string()),
})

/** Parses and validates the `FLOOPY_VAULT_KEKS` binding; errors never contain key material. */
export function parseKeyring(text: string): Keyring {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // The SyntaxError's message quotes the input, so it is neither rethrown nor kept as a cause.
    throw keyringError('not valid JSON')
  }
  const shape = KeyringJson.safeParse(json)
  if (!shape.success) {
    const field = shape.error.issues[0]?.path[0]
    throw keyringError(
      field === 'current'
        ? '"current" must be a key id string'
        : field === 'keys'
          ? '"keys" must be an object mapping key ids to base64 strings'
          : 'expected an object with "current" and "keys"',
    )
  }
  const keys = new Map<string, Uint8Array>()
  for (const [id, encoded] of Object.entries(shape.data.keys)) {
    // A bad id is not echoed: it might be key material pasted in the wrong place.
    if (!KEY_ID.test(id)) throw keyringError('a key id is not 1-32 characters of A-Z a-z 0-9 _ -')
    const bytes = decodeKeyBase64(encoded)
    if (bytes === undefined) throw keyringError(`key "${id}" is not valid base64`)
    if (bytes.length !== KEY_BYTES) {
      bytes.fill(0)
      throw keyringError(`key "${id}" must decode to exactly ${KEY_BYTES} bytes`)
    }
    keys.set(id, bytes)
  }
  if (keys.size === 0) throw keyringError('"keys" is empty')
  const currentId = shape.data.current
  if (!KEY_ID.test(currentId)) throw keyringError('"current" is not a valid key id')
  if (!keys.has(currentId)) throw keyringError(`"current" names key "${currentId}", not in "keys"`)
  const keyring: Keyring = Object.freeze({
    currentId,
    ids: Object.freeze([...keys.keys()].sort()),
  })
  keyMaterial.set(keyring, keys)
  return keyring
}

/** Encrypts a provider key under a fresh DEK, wrapped by the keyring's current KEK. */
export function sealProviderKey(keyring: Keyring, scope: VaultScope, plaintext: string): SealedKey {
  assertScope(scope)
  if (plaintext.length === 0) throw new Error('vault: provider key must not be empty')
  const kekId = keyring.currentId
  const kek = kekFor(keyring, kekId)
  const dek = randomBytes(KEY_BYTES)
  const message = utf8ToBytes(plaintext)
  try {
    const dataNonce = randomBytes(NONCE_BYTES)
    const ciphertext = xchacha20poly1305(dek, dataNonce, dataAad(scope)).encrypt(message)
    const wrapNonce = randomBytes(NONCE_BYTES)
    const wrappedDek = xchacha20poly1305(kek, wrapNonce, dekAad(kekId, scope)).encrypt(dek)
    return formatSealed({ kekId, wrapNonce, wrappedDek, dataNonce, ciphertext })
  } finally {
    dek.fill(0)
    message.fill(0)
  }
}

/** Decrypts a sealed provider key for dispatch. The result must not be cached or logged. */
export function openProviderKey(keyring: Keyring, scope: VaultScope, sealed: SealedKey): string {
  assertScope(scope)
  const parts = parseSealed(sealed)
  const dek = unwrapDek(kekFor(keyring, parts.kekId), parts, scope)
  let message: Uint8Array | undefined
  try {
    message = authenticated(() =>
      xchacha20poly1305(dek, parts.dataNonce, dataAad(scope)).decrypt(parts.ciphertext),
    )
    return bytesToUtf8(message)
  } finally {
    dek.fill(0)
    message?.fill(0)
  }
}

/**
 * Rotation: re-wraps the DEK under the keyring's current KEK; the data nonce and ciphertext are
 * carried over byte for byte. A value already under the current KEK is verified and returned as is.
 */
export function rewrapProviderKey(
  keyring: Keyring,
  sealed: SealedKey,
  scope: VaultScope,
): SealedKey {
  assertScope(scope)
  const parts = parseSealed(sealed)
  const dek = unwrapDek(kekFor(keyring, parts.kekId), parts, scope)
  try {
    if (parts.kekId === keyring.currentId) return sealed
    const kekId = keyring.currentId
    const wrapNonce = randomBytes(NONCE_BYTES)
    const wrappedDek = xchacha20poly1305(
      kekFor(keyring, kekId),
      wrapNonce,
      dekAad(kekId, scope),
    ).encrypt(dek)
    return formatSealed({ ...parts, kekId, wrapNonce, wrappedDek })
  } finally {
    dek.fill(0)
  }
}

/** True when a KEK other than the current one wraps the value: the rotation command's filter. */
export function needsRewrap(keyring: Keyring, sealed: SealedKey): boolean {
  return parseSealed(sealed).kekId !== keyring.currentId
}

type SealedParts = {
  kekId: string
  wrapNonce: Uint8Array
  wrappedDek: Uint8Array
  dataNonce: Uint8Array
  ciphertext: Uint8Array
}

function formatSealed(parts: SealedParts): SealedKey {
  const { kekId, wrapNonce, wrappedDek, dataNonce, ciphertext } = parts
  return [VERSION, kekId, ...[wrapNonce, wrappedDek, dataNonce, ciphertext].map(toBase64Url)].join(
    '.',
  )
}

/** Any malformation is reported as the generic failure: a stored value is tampered or corrupt. */
function parseSealed(sealed: SealedKey): SealedParts {
  const fields = sealed.split('.')
  if (fields.length !== 6) throw openFailed()
  const [version, kekId = '', ...encoded] = fields
  if (version !== VERSION || !KEY_ID.test(kekId)) throw openFailed()
  const [wrapNonce, wrappedDek, dataNonce, ciphertext] = encoded.map(fromBase64Url)
  if (
    wrapNonce?.length !== NONCE_BYTES ||
    wrappedDek?.length !== KEY_BYTES + TAG_BYTES ||
    dataNonce?.length !== NONCE_BYTES ||
    ciphertext === undefined ||
    ciphertext.length <= TAG_BYTES
  ) {
    throw openFailed()
  }
  return { kekId, wrapNonce, wrappedDek, dataNonce, ciphertext }
}

function unwrapDek(kek: Uint8Array, parts: SealedParts, scope: VaultScope): Uint8Array {
  return authenticated(() =>
    xchacha20poly1305(kek, parts.wrapNonce, dekAad(parts.kekId, scope)).decrypt(parts.wrappedDek),
  )
}

/** Runs an AEAD open and replaces whatever it throws with the generic failure, without a cause. */
function authenticated(open: () => Uint8Array): Uint8Array {
  try {
    return open()
  } catch {
    throw openFailed()
  }
}

function openFailed(): Error {
  return new Error(VAULT_OPEN_FAILED)
}

function kekFor(keyring: Keyring, id: string): Uint8Array {
  const keys = keyMaterial.get(keyring)
  if (keys === undefined) throw new Error('vault: keyring must come from parseKeyring')
  const kek = keys.get(id)
  if (kek === undefined) throw new Error(`vault: key id "${id}" is not in the keyring`)
  return kek
}

function assertScope({ orgId, provider }: VaultScope): void {
  if (orgId.length === 0 || provider.length === 0) {
    throw new Error('vault: scope needs a non-empty orgId and provider')
  }
}

function dataAad({ orgId, provider }: VaultScope): Uint8Array {
  return lengthPrefixed([DATA_CONTEXT, orgId, provider])
}

function dekAad(kekId: string, { orgId, provider }: VaultScope): Uint8Array {
  return lengthPrefixed([DEK_CONTEXT, kekId, orgId, provider])
}

/** lp(s) = uint32 big-endian byte length || utf8 bytes, concatenated: an injective encoding. */
function lengthPrefixed(fields: readonly string[]): Uint8Array {
  return concatBytes(
    ...fields.flatMap((field) => {
      const bytes = utf8ToBytes(field)
      const length = new Uint8Array(4)
      new DataView(length.buffer).setUint32(0, bytes.length)
      return [length, bytes]
    }),
  )
}

function keyringError(problem: string): Error {
  return new Error(`vault keyring (FLOOPY_VAULT_KEKS): ${problem}`)
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length))
}

// Base64 over `btoa`/`atob`, which workerd and Node both provide (`Uint8Array.fromBase64` is not
// in Node 22). RFC 4648 §5 alphabet, unpadded.

function toBase64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Strict: RFC 4648 §5 alphabet, no padding, canonical (unused trailing bits zero). */
function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  const padded =
    text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  let binary: string
  try {
    binary = atob(padded)
  } catch {
    return undefined
  }
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
  if (toBase64Url(bytes) !== text) {
    bytes.fill(0)
    return undefined
  }
  return bytes
}

/** Keyring keys: RFC 4648 §4 or §5 alphabet, padding optional, as `openssl rand -base64` prints. */
function decodeKeyBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined
  return fromBase64Url(text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))
}
