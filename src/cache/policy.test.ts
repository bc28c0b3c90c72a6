/**
 * The cache policy of a request: on by the organisation's settings, a key's override, or the
 * request's own `floopy-cache-enabled`; `Cache-Control: no-cache` skips the lookup but stores,
 * `no-store` looks up but does not store, `floopy-cache-force-refresh` skips the lookup and
 * stores; the TTL, namespace and threshold headers within their bounds (the threshold only ever
 * raised); and every malformed header a 400 `INVALID_REQUEST` naming it.
 */
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors'
import type { Settings } from '../tenancy/schema'
import { cachePolicy, DEFAULT_THRESHOLD, type CachePolicy } from './policy'

const ON: Settings = { cache: { enabled: true } }
const OFF: Settings = {}

const policyOf = (
  headers: Record<string, string> = {},
  org: Settings = ON,
  key: Settings = {},
): CachePolicy | undefined => cachePolicy(new Headers(headers), org, key)

/** The policy, failing the test when the cache is off. */
const on = (headers: Record<string, string> = {}, org: Settings = ON, key: Settings = {}) => {
  const policy = policyOf(headers, org, key)
  if (policy === undefined) throw new Error('expected the cache to be on')
  return policy
}

/** The error `cachePolicy` throws for `headers`, failing the test when it throws none. */
const refusal = (headers: Record<string, string>, org: Settings = ON): GatewayError => {
  try {
    policyOf(headers, org)
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error(`expected ${JSON.stringify(headers)} to be refused`)
}

describe('cachePolicy', () => {
  describe('enabled', () => {
    it('should be off by default', () => {
      expect(policyOf({}, OFF, OFF)).toBeUndefined()
      expect(policyOf({}, { cache: {} }, { cache: {} })).toBeUndefined()
    })

    it('should be on when the organisation enables it', () => {
      expect(policyOf({}, ON)).toMatchObject({ lookup: true, store: true, status: 'MISS' })
    })

    it('should let a key override its organisation, both ways', () => {
      expect(policyOf({}, ON, { cache: { enabled: false } })).toBeUndefined()
      expect(policyOf({}, OFF, { cache: { enabled: true } })).toBeDefined()
    })

    it('should let a key override one field and keep the organisation’s others', () => {
      const policy = on({}, { cache: { enabled: true, ttl_seconds: 3600 } }, { cache: {} })
      expect(policy.ttlSeconds).toBe(3600)
    })

    it('should let the request’s header turn it on or off, over every setting', () => {
      expect(policyOf({ 'floopy-cache-enabled': 'true' }, OFF)).toBeDefined()
      expect(
        policyOf({ 'floopy-cache-enabled': 'true' }, OFF, { cache: { enabled: false } }),
      ).toBeDefined()
      expect(policyOf({ 'floopy-cache-enabled': 'false' }, ON)).toBeUndefined()
      expect(
        policyOf({ 'floopy-cache-enabled': 'false' }, ON, { cache: { enabled: true } }),
      ).toBeUndefined()
    })

    it('should read the flag case-insensitively and trimmed', () => {
      expect(policyOf({ 'floopy-cache-enabled': ' TRUE ' }, OFF)).toBeDefined()
      expect(policyOf({ 'floopy-cache-enabled': 'False' }, ON)).toBeUndefined()
    })

    it('should not judge the other cache headers when the cache is off', () => {
      expect(policyOf({ 'floopy-cache-ttl': 'soon' }, OFF)).toBeUndefined()
    })
  })

  describe('lookup, store and status', () => {
    it('should look up and store on a plain request, a miss saying MISS', () => {
      expect(on()).toMatchObject({ lookup: true, store: true, status: 'MISS' })
    })

    it('should skip the lookup but store on Cache-Control: no-cache (BYPASS)', () => {
      expect(on({ 'cache-control': 'no-cache' })).toMatchObject({
        lookup: false,
        store: true,
        status: 'BYPASS',
      })
    })

    it('should find no-cache among other directives, whatever their case and arguments', () => {
      expect(on({ 'cache-control': 'max-age=0, No-Cache' }).status).toBe('BYPASS')
      expect(on({ 'cache-control': 'no-cache="set-cookie"' }).status).toBe('BYPASS')
      expect(on({ 'cache-control': 'max-age=0' }).status).toBe('MISS')
    })

    it('should look up but not store on Cache-Control: no-store', () => {
      expect(on({ 'cache-control': 'no-store' })).toMatchObject({
        lookup: true,
        store: false,
        status: 'MISS',
      })
    })

    it('should neither look up nor store on no-cache, no-store', () => {
      expect(on({ 'cache-control': 'no-cache, no-store' })).toMatchObject({
        lookup: false,
        store: false,
        status: 'BYPASS',
      })
    })

    it('should skip the lookup and store on floopy-cache-force-refresh: true (REFRESH)', () => {
      expect(on({ 'floopy-cache-force-refresh': 'true' })).toMatchObject({
        lookup: false,
        store: true,
        status: 'REFRESH',
      })
    })

    it('should say REFRESH over BYPASS when both are asked', () => {
      expect(on({ 'floopy-cache-force-refresh': 'true', 'cache-control': 'no-cache' }).status).toBe(
        'REFRESH',
      )
    })

    it('should treat floopy-cache-force-refresh: false as no refresh', () => {
      expect(on({ 'floopy-cache-force-refresh': 'false' })).toMatchObject({
        lookup: true,
        status: 'MISS',
      })
    })

    it('should not store a refresh the client asked not to store', () => {
      expect(
        on({ 'floopy-cache-force-refresh': 'true', 'cache-control': 'no-store' }),
      ).toMatchObject({ lookup: false, store: false, status: 'REFRESH' })
    })
  })

  describe('TTL', () => {
    it('should default to 7 days', () => {
      expect(on().ttlSeconds).toBe(7 * 24 * 60 * 60)
    })

    it('should take the settings’ TTL, the key’s over the organisation’s', () => {
      expect(on({}, { cache: { enabled: true, ttl_seconds: 600 } }).ttlSeconds).toBe(600)
      expect(
        on({}, { cache: { enabled: true, ttl_seconds: 600 } }, { cache: { ttl_seconds: 120 } })
          .ttlSeconds,
      ).toBe(120)
    })

    it('should take the header over the settings, at both bounds', () => {
      const org: Settings = { cache: { enabled: true, ttl_seconds: 600 } }
      expect(on({ 'floopy-cache-ttl': '60' }, org).ttlSeconds).toBe(60)
      expect(on({ 'floopy-cache-ttl': '2592000' }, org).ttlSeconds).toBe(2_592_000)
      expect(on({ 'floopy-cache-ttl': ' 3600 ' }, org).ttlSeconds).toBe(3600)
    })

    it.each(['59', '2592001', '0', '-60', '1.5', '1e3', '0x3c', 'abc', '', '123456789'])(
      'should refuse floopy-cache-ttl: %j',
      (value) => {
        const err = refusal({ 'floopy-cache-ttl': value })
        expect(err).toMatchObject({
          code: 'INVALID_REQUEST',
          status: 400,
          param: 'floopy-cache-ttl',
        })
      },
    )
  })

  describe('namespace', () => {
    it('should default to "default"', () => {
      expect(on().namespace).toBe('default')
    })

    it('should take a well-formed namespace, trimmed, up to 64 characters', () => {
      expect(on({ 'floopy-cache-namespace': 'team-a.v2_x' }).namespace).toBe('team-a.v2_x')
      expect(on({ 'floopy-cache-namespace': ' eu ' }).namespace).toBe('eu')
      const longest = 'a'.repeat(64)
      expect(on({ 'floopy-cache-namespace': longest }).namespace).toBe(longest)
    })

    it.each(['Team', 'a b', 'a/b', 'a:b', 'a+b', '', ' ', 'a'.repeat(65)])(
      'should refuse floopy-cache-namespace: %j',
      (value) => {
        expect(refusal({ 'floopy-cache-namespace': value })).toMatchObject({
          code: 'INVALID_REQUEST',
          status: 400,
          param: 'floopy-cache-namespace',
        })
      },
    )
  })

  describe('threshold', () => {
    it('should default to 0.95, else the settings’ (the key’s over the organisation’s)', () => {
      expect(DEFAULT_THRESHOLD).toBe(0.95)
      expect(on().threshold).toBe(0.95)
      expect(on({}, { cache: { enabled: true, threshold: 0.9 } }).threshold).toBe(0.9)
      expect(
        on({}, { cache: { enabled: true, threshold: 0.9 } }, { cache: { threshold: 0.97 } })
          .threshold,
      ).toBe(0.97)
    })

    it('should let the header raise it', () => {
      expect(on({ 'floopy-cache-threshold': '0.99' }).threshold).toBe(0.99)
      expect(on({ 'floopy-cache-threshold': '1' }).threshold).toBe(1)
      expect(on({ 'floopy-cache-threshold': '1.0' }).threshold).toBe(1)
      expect(
        on({ 'floopy-cache-threshold': '0.85' }, { cache: { enabled: true, threshold: 0.8 } })
          .threshold,
      ).toBe(0.85)
    })

    it('should never let the header lower it', () => {
      expect(on({ 'floopy-cache-threshold': '0.5' }).threshold).toBe(0.95)
      expect(
        on({ 'floopy-cache-threshold': '0.7' }, { cache: { enabled: true, threshold: 0.8 } })
          .threshold,
      ).toBe(0.8)
    })

    it.each(['0', '1.1', '2', '-0.5', '.9', '0.1234567', 'abc', '', 'NaN', '0.9x'])(
      'should refuse floopy-cache-threshold: %j',
      (value) => {
        expect(refusal({ 'floopy-cache-threshold': value })).toMatchObject({
          code: 'INVALID_REQUEST',
          status: 400,
          param: 'floopy-cache-threshold',
        })
      },
    )
  })

  describe('malformed flags', () => {
    it.each([
      ['floopy-cache-enabled', 'yes'],
      ['floopy-cache-enabled', '1'],
      ['floopy-cache-enabled', ''],
      ['floopy-cache-force-refresh', 'maybe'],
      ['floopy-cache-force-refresh', 'on'],
    ])('should refuse %s: %j, naming the header', (header, value) => {
      const err = refusal({ [header]: value })
      expect(err).toMatchObject({ code: 'INVALID_REQUEST', status: 400, param: header })
      expect(err.message).toContain(header)
    })

    it('should refuse a malformed floopy-cache-enabled even when the settings turn it off', () => {
      expect(refusal({ 'floopy-cache-enabled': 'yes' }, OFF).param).toBe('floopy-cache-enabled')
    })
  })
})
