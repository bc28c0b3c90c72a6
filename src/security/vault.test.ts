import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/ciphers/utils.js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  needsRewrap,
  openProviderKey,
  parseKeyring,
  rewrapProviderKey,
  sealProviderKey,
  VAULT_OPEN_FAILED,
  type Keyring,
  type VaultScope,
} from './vault'

const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes))
const filled = (byte: number): Uint8Array => new Uint8Array(32).fill(byte)
const sequence = (start: number, length: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => start + i)

const K1 = base64(sequence(1, 32))
const K2 = base64(sequence(101, 32))
const K1_OTHER = base64(filled(0xee))

const keyring = (current: string, keys: Record<string, string>): Keyring =>
  parseKeyring(JSON.stringify({ current, keys }))

const SCOPE: VaultScope = { orgId: 'org_123', provider: 'openai' }
const SECRET = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789'

/** Decodes one unpadded base64url part of a sealed value. */
const partBytes = (part: string): Uint8Array =>
  Uint8Array.from(atob(part.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
const toPart = (bytes: Uint8Array): string =>
  base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

/** Flips one bit of the decoded bytes of a sealed value's part and re-encodes it canonically. */
const flipBit = (sealed: string, partIndex: number, byteIndex: number): string => {
  const parts = sealed.split('.')
  const bytes = partBytes(parts[partIndex] ?? '')
  const at = byteIndex < 0 ? bytes.length + byteIndex : byteIndex
  bytes[at] = (bytes[at] ?? 0) ^ 0x01
  parts[partIndex] = toPart(bytes)
  return parts.join('.')
}

const part = (sealed: string, partIndex: number): string => sealed.split('.')[partIndex] ?? ''

const replacePart = (sealed: string, partIndex: number, value: string): string => {
  const parts = sealed.split('.')
  parts[partIndex] = value
  return parts.join('.')
}

const openError = (run: () => unknown): Error => {
  try {
    run()
  } catch (error) {
    if (error instanceof Error) return error
    throw new Error('threw a non-Error', { cause: error })
  }
  throw new Error('did not throw')
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('XChaCha20-Poly1305 primitive', () => {
  // draft-irtf-cfrg-xchacha-03, Appendix A.3.1 (AEAD_XChaCha20_Poly1305 test vector).
  const key = hexToBytes('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f')
  const nonce = hexToBytes('404142434445464748494a4b4c4d4e4f5051525354555657')
  const aad = hexToBytes('50515253c0c1c2c3c4c5c6c7')
  const plaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " +
    'sunscreen would be it.'
  const expected =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
    '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
    '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49' // Poly1305 tag

  it('should match the known-answer ciphertext and tag', () => {
    const sealed = xchacha20poly1305(key, nonce, aad).encrypt(utf8ToBytes(plaintext))
    expect(bytesToHex(sealed)).toBe(expected)
  })

  it('should decrypt the known-answer ciphertext', () => {
    const opened = xchacha20poly1305(key, nonce, aad).decrypt(hexToBytes(expected))
    expect(new TextDecoder().decode(opened)).toBe(plaintext)
  })
})

describe('sealProviderKey / openProviderKey', () => {
  const ring = keyring('k1', { k1: K1 })

  it('should round-trip a provider key', () => {
    const sealed = sealProviderKey(ring, SCOPE, SECRET)
    expect(openProviderKey(ring, SCOPE, sealed)).toBe(SECRET)
  })

  it('should round-trip non-ASCII text', () => {
    const text = 'clé-ключ-鍵-🔑'
    expect(openProviderKey(ring, SCOPE, sealProviderKey(ring, SCOPE, text))).toBe(text)
  })

  it('should produce v1.<kekId> and parts of the documented lengths, without the plaintext', () => {
    const sealed = sealProviderKey(ring, SCOPE, SECRET)
    const parts = sealed.split('.')
    expect(parts).toHaveLength(6)
    expect(parts.slice(0, 2)).toEqual(['v1', 'k1'])
    expect(parts.slice(2).map((part) => partBytes(part).length)).toEqual([
      24,
      48,
      24,
      SECRET.length + 16,
    ])
    expect(sealed).not.toContain(SECRET)
    expect(sealed).not.toContain(toPart(utf8ToBytes(SECRET)))
  })

  it('should use a fresh DEK and fresh nonces on every seal', () => {
    const first = sealProviderKey(ring, SCOPE, SECRET).split('.')
    const second = sealProviderKey(ring, SCOPE, SECRET).split('.')
    for (const index of [2, 3, 4, 5]) expect(second[index]).not.toBe(first[index])
  })

  it('should draw DEK and nonces from crypto.getRandomValues and zero the DEK after use', () => {
    const spy = vi.spyOn(crypto, 'getRandomValues')
    const sealed = sealProviderKey(ring, SCOPE, SECRET)
    const drawn = spy.mock.results.map((result): unknown => result.value)
    expect(drawn.map((bytes) => (bytes instanceof Uint8Array ? bytes.length : -1))).toEqual([
      32, 24, 24,
    ])
    const [dek, dataNonce, wrapNonce] = drawn
    if (!(dek instanceof Uint8Array) || !(dataNonce instanceof Uint8Array)) throw new Error('draws')
    if (!(wrapNonce instanceof Uint8Array)) throw new Error('draws')
    expect(dek.every((byte) => byte === 0)).toBe(true)
    const parts = sealed.split('.')
    expect(toPart(dataNonce)).toBe(parts[4])
    expect(toPart(wrapNonce)).toBe(parts[2])
  })

  it('should reject an empty provider key and an empty scope', () => {
    expect(() => sealProviderKey(ring, SCOPE, '')).toThrow('must not be empty')
    expect(() => sealProviderKey(ring, { orgId: '', provider: 'openai' }, SECRET)).toThrow(
      'non-empty orgId and provider',
    )
    expect(() => sealProviderKey(ring, { orgId: 'org_123', provider: '' }, SECRET)).toThrow(
      'non-empty orgId and provider',
    )
  })

  it('should refuse a keyring object that did not come from parseKeyring', () => {
    const forged: Keyring = { currentId: 'k1', ids: ['k1'] }
    expect(() => sealProviderKey(forged, SCOPE, SECRET)).toThrow('must come from parseKeyring')
  })
})

describe('openProviderKey failures', () => {
  const ring = keyring('k1', { k1: K1 })
  const sealed = sealProviderKey(ring, SCOPE, SECRET)

  const expectGenericFailure = (run: () => unknown): void => {
    const error = openError(run)
    expect(error.message).toBe(VAULT_OPEN_FAILED)
    expect(error.cause).toBeUndefined()
    expect(String(error.stack)).not.toContain(SECRET)
  }

  it('should open the untampered value (baseline for the cases below)', () => {
    expect(openProviderKey(ring, SCOPE, sealed)).toBe(SECRET)
  })

  it('should fail for another organisation', () => {
    expectGenericFailure(() => openProviderKey(ring, { ...SCOPE, orgId: 'org_124' }, sealed))
  })

  it('should fail for another provider', () => {
    expectGenericFailure(() => openProviderKey(ring, { ...SCOPE, provider: 'anthropic' }, sealed))
  })

  it.each<[string, VaultScope, VaultScope]>([
    ['a separator moved', { orgId: 'a|b', provider: 'c' }, { orgId: 'a', provider: 'b|c' }],
    ['bytes moved across fields', { orgId: 'ab', provider: 'c' }, { orgId: 'a', provider: 'bc' }],
  ])('should keep scopes distinct when %s', (_, sealedFor, openedAs) => {
    const value = sealProviderKey(ring, sealedFor, SECRET)
    expect(openProviderKey(ring, sealedFor, value)).toBe(SECRET)
    expectGenericFailure(() => openProviderKey(ring, openedAs, value))
  })

  it('should fail with different KEK bytes under the same id', () => {
    expectGenericFailure(() => openProviderKey(keyring('k1', { k1: K1_OTHER }), SCOPE, sealed))
  })

  it('should name an unknown kekId without revealing key material or plaintext', () => {
    const error = openError(() => openProviderKey(keyring('k9', { k9: K2 }), SCOPE, sealed))
    expect(error.message).toBe('vault: key id "k1" is not in the keyring')
    expect(error.message).not.toContain(K1)
    expect(error.message).not.toContain(K2)
    expect(error.message).not.toContain(SECRET)
  })

  it('should fail when the kekId is changed to another id the keyring holds', () => {
    const both = keyring('k1', { k1: K1, k2: K2 })
    expect(openProviderKey(both, SCOPE, sealed)).toBe(SECRET)
    expectGenericFailure(() => openProviderKey(both, SCOPE, replacePart(sealed, 1, 'k2')))
  })

  it('should fail when a bit of the kekId is flipped, even if both ids hold the same KEK', () => {
    // k1 -> k0 is a one-bit flip ('1' is 0x31, '0' is 0x30). With identical bytes under both ids
    // only the kekId in the wrap AAD can tell them apart.
    const aliased = keyring('k1', { k1: K1, k0: K1 })
    expect(openProviderKey(aliased, SCOPE, sealed)).toBe(SECRET)
    expectGenericFailure(() => openProviderKey(aliased, SCOPE, replacePart(sealed, 1, 'k0')))
  })

  it.each<[string, number, number]>([
    ['wrap nonce, first byte', 2, 0],
    ['wrap nonce, last byte', 2, -1],
    ['wrapped DEK, first byte', 3, 0],
    ['wrapped DEK, tag byte', 3, -1],
    ['data nonce, first byte', 4, 0],
    ['data nonce, last byte', 4, -1],
    ['ciphertext, first byte', 5, 0],
    ['ciphertext, tag byte', 5, -1],
  ])('should fail when a bit of the %s is flipped', (_, part, byte) => {
    const tampered = flipBit(sealed, part, byte)
    expect(tampered).not.toBe(sealed)
    expectGenericFailure(() => openProviderKey(ring, SCOPE, tampered))
  })

  it('should fail for another version tag', () => {
    expectGenericFailure(() => openProviderKey(ring, SCOPE, replacePart(sealed, 0, 'v2')))
  })

  it.each<[string, (value: string) => string]>([
    ['a missing part', (value) => value.split('.').slice(0, 5).join('.')],
    ['an extra part', (value) => `${value}.AAAA`],
    ['a truncated ciphertext', (value) => replacePart(value, 5, toPart(new Uint8Array(16)))],
    ['a short nonce', (value) => replacePart(value, 4, toPart(new Uint8Array(23)))],
    ['padding added', (value) => `${value}=`],
    [
      'a standard-base64 character',
      (value) => replacePart(value, 2, `+${part(value, 2).slice(1)}`),
    ],
    ['the empty string', () => ''],
  ])('should fail for %s', (_, mangle) => {
    const mangled = mangle(sealed)
    expect(mangled).not.toBe(sealed)
    expectGenericFailure(() => openProviderKey(ring, SCOPE, mangled))
  })

  it('should fail for a non-canonical base64url spelling of the same bytes', () => {
    // A 43-byte key gives a 59-byte ciphertext: its last base64url character carries 2 unused
    // bits (RFC 4648 §3.5). Setting one spells the same bytes differently; a sealed value must
    // have exactly one spelling.
    const shortKey = SECRET.slice(1)
    const value = sealProviderKey(ring, SCOPE, shortKey)
    expect(openProviderKey(ring, SCOPE, value)).toBe(shortKey)
    const ciphertext = part(value, 5)
    expect(partBytes(ciphertext).length % 3).toBe(2)
    const last = ciphertext.at(-1) ?? ''
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const variant = alphabet[alphabet.indexOf(last) ^ 0x01] ?? ''
    const respelled = replacePart(value, 5, ciphertext.slice(0, -1) + variant)
    expect(partBytes(part(respelled, 5))).toEqual(partBytes(ciphertext))
    expectGenericFailure(() => openProviderKey(ring, SCOPE, respelled))
  })
})

describe('rewrapProviderKey', () => {
  const oldRing = keyring('k1', { k1: K1 })
  const rotated = keyring('k2', { k1: K1, k2: K2 })
  const sealed = sealProviderKey(oldRing, SCOPE, SECRET)

  it('should re-wrap under the current KEK and open with the new keyring', () => {
    expect(needsRewrap(rotated, sealed)).toBe(true)
    const rewrapped = rewrapProviderKey(rotated, sealed, SCOPE)
    expect(rewrapped.split('.').slice(0, 2)).toEqual(['v1', 'k2'])
    expect(needsRewrap(rotated, rewrapped)).toBe(false)
    expect(openProviderKey(rotated, SCOPE, rewrapped)).toBe(SECRET)
  })

  it('should open after the old KEK is retired from the keyring', () => {
    const rewrapped = rewrapProviderKey(rotated, sealed, SCOPE)
    expect(openProviderKey(keyring('k2', { k2: K2 }), SCOPE, rewrapped)).toBe(SECRET)
  })

  it('should not open with a keyring lacking the new KEK', () => {
    const rewrapped = rewrapProviderKey(rotated, sealed, SCOPE)
    expect(() => openProviderKey(oldRing, SCOPE, rewrapped)).toThrow(
      'vault: key id "k2" is not in the keyring',
    )
  })

  it('should leave the data nonce and ciphertext identical and replace the wrap', () => {
    const before = sealed.split('.')
    const after = rewrapProviderKey(rotated, sealed, SCOPE).split('.')
    expect(after.slice(4)).toEqual(before.slice(4))
    expect(after[2]).not.toBe(before[2])
    expect(after[3]).not.toBe(before[3])
  })

  it('should return the value unchanged when it is already under the current KEK', () => {
    const current = sealProviderKey(rotated, SCOPE, SECRET)
    expect(needsRewrap(rotated, current)).toBe(false)
    expect(rewrapProviderKey(rotated, current, SCOPE)).toBe(current)
  })

  it('should refuse to rewrap for another scope or a tampered wrap', () => {
    expect(() => rewrapProviderKey(rotated, sealed, { ...SCOPE, orgId: 'org_124' })).toThrow(
      VAULT_OPEN_FAILED,
    )
    expect(() => rewrapProviderKey(rotated, flipBit(sealed, 3, 0), SCOPE)).toThrow(
      VAULT_OPEN_FAILED,
    )
    const current = sealProviderKey(rotated, SCOPE, SECRET)
    expect(() => rewrapProviderKey(rotated, flipBit(current, 3, 0), SCOPE)).toThrow(
      VAULT_OPEN_FAILED,
    )
  })
})

describe('parseKeyring', () => {
  it('should read the current id and the ids, accepting standard and URL-safe base64', () => {
    const urlSafe = base64(filled(0xfb)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    const ring = keyring('k2', { k2: K2, k1: K1, legacy_3: urlSafe })
    expect(ring.currentId).toBe('k2')
    expect(ring.ids).toEqual(['k1', 'k2', 'legacy_3'])
  })

  it('should keep key material out of the keyring object when logged or serialised', () => {
    const ring = keyring('k1', { k1: K1 })
    expect(JSON.stringify(ring)).toBe('{"currentId":"k1","ids":["k1"]}')
    expect(Object.getOwnPropertyNames(ring)).toEqual(['currentId', 'ids'])
    expect(Object.getOwnPropertySymbols(ring)).toEqual([])
  })

  it.each<[string, string, string]>([
    ['bad JSON', `{"current":"k1","keys":{"k1":"${K1}"`, 'not valid JSON'],
    ['a non-object', JSON.stringify([K1]), 'expected an object'],
    ['missing current', JSON.stringify({ keys: { k1: K1 } }), '"current" must be a key id'],
    ['current not a string', JSON.stringify({ current: 1, keys: { k1: K1 } }), '"current" must'],
    ['current not in keys', JSON.stringify({ current: 'k2', keys: { k1: K1 } }), 'not in "keys"'],
    ['an invalid current id', JSON.stringify({ current: 'k 1', keys: { k1: K1 } }), 'not a valid'],
    ['missing keys', JSON.stringify({ current: 'k1' }), '"keys" must be an object'],
    ['empty keys', JSON.stringify({ current: 'k1', keys: {} }), '"keys" is empty'],
    ['a non-string key', JSON.stringify({ current: 'k1', keys: { k1: 7 } }), '"keys" must be'],
    ['an invalid id', JSON.stringify({ current: 'k1', keys: { k1: K1, 'a.b': K2 } }), 'key id'],
    [
      'a too-long id',
      JSON.stringify({ current: 'k1', keys: { k1: K1, ['x'.repeat(33)]: K2 } }),
      'key id',
    ],
    [
      'key material as an id',
      JSON.stringify({ current: 'k1', keys: { k1: K1, [K2]: 'k2' } }),
      'key id',
    ],
    [
      'a short key',
      JSON.stringify({ current: 'k1', keys: { k1: base64(sequence(1, 31)) } }),
      '32 bytes',
    ],
    [
      'a long key',
      JSON.stringify({ current: 'k1', keys: { k1: base64(sequence(1, 33)) } }),
      '32 bytes',
    ],
    [
      'a non-base64 key',
      JSON.stringify({ current: 'k1', keys: { k1: `${K1.slice(0, -2)}*=` } }),
      'not valid base64',
    ],
    [
      'a space in the key',
      JSON.stringify({ current: 'k1', keys: { k1: ` ${K1}` } }),
      'not valid base64',
    ],
  ])('should reject %s without echoing key material', (_, text, problem) => {
    const error = openError(() => parseKeyring(text))
    expect(error.message).toContain('vault keyring (FLOOPY_VAULT_KEKS)')
    expect(error.message).toContain(problem)
    expect(error.cause).toBeUndefined()
    for (const material of [K1, K2, K1.slice(0, 16), K2.slice(0, 16)]) {
      expect(error.message).not.toContain(material)
    }
  })
})
