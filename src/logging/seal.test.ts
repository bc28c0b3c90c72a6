/**
 * Sealing request log messages: what is sealed opens to the same bytes under the same keyring,
 * and under a keyring that rotated away from its key; a message tampered anywhere — header, nonce,
 * ciphertext, tag — or relabelled with another key id does not open; a key id the keyring does not
 * hold is named; the keyring is `FLOOPY_VAULT_KEKS`'s format, parsed by the vault's parser, with
 * errors that name `FLOOPY_LOG_KEYS` and never echo key material.
 */
import { describe, expect, it } from 'vitest'
import { TEST_DEV_API_KEY } from '../../test/support/bindings'
import { parseConfig } from '../config'
import { GatewayError } from '../errors'
import {
  isSealed,
  messageBytes,
  openMessage,
  parseLogKeys,
  SealError,
  sealedKeyId,
  sealMessage,
  sealOverhead,
  type LogKeys,
} from './seal'

const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes))
const key = (start: number): string =>
  base64(Uint8Array.from({ length: 32 }, (_, i) => (start + i) % 256))

const K1 = key(1)
const K2 = key(101)

const keyring = (current: string, keys: Record<string, string>): LogKeys =>
  parseLogKeys(JSON.stringify({ current, keys }))

const text = (value: string): Uint8Array => new TextEncoder().encode(value)
const read = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

const PLAIN = '{"requestBody":"my card is 4111 1111 1111 1111"}'

/** The SealError `run` throws (fails the test when it throws nothing or something else). */
const sealError = (run: () => unknown): SealError => {
  try {
    run()
  } catch (error) {
    if (error instanceof SealError) return error
    throw error
  }
  throw new Error('did not throw')
}

describe('sealMessage and openMessage', () => {
  it('should open what it sealed, and seal the same text differently each time', () => {
    const keys = keyring('k1', { k1: K1 })
    const a = sealMessage(keys, text(PLAIN))
    const b = sealMessage(keys, text(PLAIN))
    expect(read(openMessage(keys, a))).toBe(PLAIN)
    expect(read(openMessage(keys, b))).toBe(PLAIN)
    expect(a).not.toEqual(b) // a fresh nonce per message
    expect(a.byteLength).toBe(PLAIN.length + sealOverhead(keys))
  })

  it('should leave nothing of the plaintext readable', () => {
    const sealed = sealMessage(keyring('k1', { k1: K1 }), text(PLAIN))
    const visible = new TextDecoder('latin1').decode(sealed)
    expect(visible).not.toContain('4111')
    expect(visible).not.toContain('requestBody')
  })

  it('should name the key it was sealed under and be told apart from JSON', () => {
    const sealed = sealMessage(keyring('log-2026_a', { 'log-2026_a': K1 }), text(PLAIN))
    expect(isSealed(sealed)).toBe(true)
    expect(sealedKeyId(sealed)).toBe('log-2026_a')
    expect(isSealed(text(PLAIN))).toBe(false)
    expect(sealedKeyId(text(PLAIN))).toBeUndefined()
  })

  it('should open, after a rotation, what the previous key sealed', () => {
    const before = keyring('k1', { k1: K1 })
    const after = keyring('k2', { k1: K1, k2: K2 })
    const old = sealMessage(before, text(PLAIN))
    const fresh = sealMessage(after, text(PLAIN))
    expect(sealedKeyId(fresh)).toBe('k2')
    expect(read(openMessage(after, old))).toBe(PLAIN)
    expect(read(openMessage(after, fresh))).toBe(PLAIN)
    // The old keyring cannot open what the new key sealed: it names the key it lacks.
    expect(sealError(() => openMessage(before, fresh))).toMatchObject({
      reason: 'unknown-key',
      keyId: 'k2',
    })
  })

  it('should refuse a key id the keyring does not hold, naming it', () => {
    const sealed = sealMessage(keyring('gone', { gone: K1 }), text(PLAIN))
    const error = sealError(() => openMessage(keyring('k1', { k1: K1 }), sealed))
    expect(error).toMatchObject({ reason: 'unknown-key', keyId: 'gone' })
    expect(error.message).toContain('"gone"')
    expect(error.message).not.toContain('4111')
  })

  it('should refuse the same id holding other key bytes', () => {
    const sealed = sealMessage(keyring('k1', { k1: K1 }), text(PLAIN))
    expect(sealError(() => openMessage(keyring('k1', { k1: K2 }), sealed)).reason).toBe('tampered')
  })

  it.each([
    ['the format version', 3],
    ['the nonce', 4 + 1 + 2 + 5],
    ['the ciphertext', 4 + 1 + 2 + 24 + 7],
    ['the tag', -1],
  ])('should refuse a message whose %s was changed', (_, at) => {
    const keys = keyring('k1', { k1: K1 })
    const sealed = sealMessage(keys, text(PLAIN))
    const index = at < 0 ? sealed.length + at : at
    sealed[index] = (sealed[index] ?? 0) ^ 0x01
    const error = sealError(() => openMessage(keys, sealed))
    expect(['tampered', 'malformed']).toContain(error.reason)
    expect(error.message).not.toContain('4111')
  })

  it('should refuse a message relabelled with another key id of the keyring', () => {
    const keys = keyring('k1', { k1: K1, k2: K2 })
    const sealed = sealMessage(keys, text(PLAIN))
    sealed[4 + 1 + 1] = '2'.charCodeAt(0) // "k1" → "k2"
    expect(sealedKeyId(sealed)).toBe('k2')
    expect(sealError(() => openMessage(keys, sealed))).toMatchObject({
      reason: 'tampered',
      keyId: 'k2',
    })
  })

  it('should refuse a cut or empty message', () => {
    const keys = keyring('k1', { k1: K1 })
    const sealed = sealMessage(keys, text(PLAIN))
    expect(sealError(() => openMessage(keys, sealed.subarray(0, 20))).reason).toBe('malformed')
    expect(sealError(() => openMessage(keys, new Uint8Array())).reason).toBe('malformed')
  })

  it('should read a Queue body as bytes whether it is an ArrayBuffer or a view', () => {
    const sealed = sealMessage(keyring('k1', { k1: K1 }), text(PLAIN))
    const copy = sealed.slice().buffer
    expect(messageBytes(copy)).toEqual(sealed)
    const framed = new Uint8Array(sealed.length + 8)
    framed.set(sealed, 8)
    expect(messageBytes(framed.subarray(8))).toEqual(sealed)
    expect(messageBytes({ request_id: 'r' })).toBeUndefined()
    expect(messageBytes('text')).toBeUndefined()
  })
})

describe('parseLogKeys', () => {
  it('should read the vault keyring format, URL-safe and unpadded keys included', () => {
    const urlSafe = K2.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    const keys = keyring('b', { a: K1, b: urlSafe })
    expect(keys).toEqual({ currentId: 'b', ids: ['a', 'b'] })
    // Same key bytes, either spelling: what one seals the other opens.
    const sealed = sealMessage(keys, text(PLAIN))
    expect(read(openMessage(keyring('b', { b: K2 }), sealed))).toBe(PLAIN)
  })

  it('should show key ids only when logged or serialised', () => {
    const keys = keyring('k1', { k1: K1 })
    expect(JSON.stringify(keys)).not.toContain(K1)
    expect(JSON.stringify(keys)).toBe('{"currentId":"k1","ids":["k1"]}')
  })

  it.each([
    ['not JSON', `{"current":"k1","keys":{"k1":"${K1}"`, 'not valid JSON'],
    ['a current key it does not hold', JSON.stringify({ current: 'k9', keys: { k1: K1 } }), 'k9'],
    [
      'a short key',
      JSON.stringify({ current: 'k1', keys: { k1: base64(new Uint8Array(16)) } }),
      '32',
    ],
    ['no keys', JSON.stringify({ current: 'k1', keys: {} }), 'empty'],
  ])('should refuse %s, naming FLOOPY_LOG_KEYS and never the key', (_, value, problem) => {
    let message = ''
    try {
      parseLogKeys(value)
    } catch (error) {
      message = error instanceof Error ? error.message : ''
    }
    expect(message).toMatch(/^log keyring \(FLOOPY_LOG_KEYS\): /)
    expect(message).toContain(problem)
    expect(message).not.toContain('FLOOPY_VAULT_KEKS')
    expect(message).not.toContain(K1)
  })
})

describe('FLOOPY_LOG_KEYS in the configuration', () => {
  it('should be parsed into the keys the consumer opens with', () => {
    const config = parseConfig({
      FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
      FLOOPY_LOG_KEYS: JSON.stringify({ current: 'k1', keys: { k1: K1 } }),
    })
    expect(config.logKeys).toEqual({ currentId: 'k1', ids: ['k1'] })
    expect(parseConfig({ FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY }).logKeys).toBeUndefined()
  })

  it('should fail the configuration on a malformed keyring, naming it and not the key', () => {
    let thrown: unknown
    try {
      parseConfig({
        FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
        FLOOPY_LOG_KEYS: JSON.stringify({ current: 'k2', keys: { k1: K1 } }),
      })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    const message = thrown instanceof Error ? thrown.message : ''
    expect(message).toContain('FLOOPY_LOG_KEYS')
    expect(message).not.toContain(K1)
  })
})
