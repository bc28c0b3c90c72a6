/**
 * The authenticate stage: a valid Bearer key sets `apiKey` and `tenant` for the next stage and is
 * never charged to the per-IP window; a missing key is a 401 with `www-authenticate: Bearer`, an
 * invalid one a 401 with `error="invalid_token"`. What arrives without a valid key is limited per
 * client IP — keyless and malformed traffic by the stage's own window (no I/O), a well-formed key
 * the stores refuse by the shared window — and answered 429 with `Retry-After` and
 * `x-ratelimit-*` once that window is full. The shared window fails open; a resolver that cannot
 * check the key (503) is not turned into a 401.
 */
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { GatewayError, toGatewayError } from '../../errors'
import { generateApiKey } from '../../security/api-key'
import type { KeyStore, LimitResult, SharedState } from '../../stores'
import { memoryState } from '../../stores/embedded/memory-state'
import { createKeyResolver, type KeyResolver } from '../../tenancy/resolver'
import type { Tenant } from '../../tenancy/tenant'
import { authenticate, bearerToken, type AuthVariables } from '.'
import { testTenant } from '../../../test/support/unit'

/** 10 s into a minute: the in-isolate window (60 s, aligned to the minute) frees up in 50 s. */
const NOW = Date.UTC(2026, 0, 15, 12, 0, 10)
const VALID = generateApiKey('live')
const UNKNOWN = generateApiKey('live')
const MALFORMED = 'flo_sk_live_not-a-key'

const tenant: Tenant = testTenant()

type Resolve = KeyResolver['resolve']

/** A store that knows no key. */
const noKeys: KeyStore = { lookup: () => Promise.resolve(null) }

/**
 * A resolver that knows `VALID` only. The port's other methods are not this stage's business:
 * they come from a real resolver over empty stores.
 */
const standInResolver = (resolve?: Resolve) => {
  const fn = vi.fn<Resolve>(
    resolve ?? ((presented) => Promise.resolve(presented === VALID ? tenant : undefined)),
  )
  const resolver: KeyResolver = {
    ...createKeyResolver({ keys: noKeys, state: memoryState({ ipRpm: 20 }) }),
    resolve: fn,
  }
  return { resolver, resolve: fn }
}

/** `target` with every property read recorded in `touched` (a store used in any way). */
const watched = <T extends object>(target: T, touched: string[]): T =>
  new Proxy(target, {
    get(object, property, receiver) {
      touched.push(String(property))
      return Reflect.get(object, property, receiver) as unknown
    },
  })

const window = (success: boolean): LimitResult => ({
  success,
  limit: 20,
  remaining: success ? 19 : 0,
  reset: NOW + 30_000,
})

type Rig = {
  app: Hono<StageEnv<AuthVariables>>
  /** What the next stage saw, per request that reached it. */
  reached: { apiKey: string; tenant: Tenant }[]
  limitIp: ReturnType<typeof vi.fn<(ip: string) => Promise<LimitResult>>>
}

const rig = (
  resolver: KeyResolver,
  limitIp: (ip: string) => Promise<LimitResult> = () => Promise.resolve(window(true)),
  ipRpm = 20,
): Rig => {
  const limit = vi.fn(limitIp)
  const reached: Rig['reached'] = []
  const app = new Hono<StageEnv<AuthVariables>>()
  app.use(authenticate({ resolver, limitIp: limit, ipRpm }))
  app.get('/v1/models', (c) => {
    reached.push({ apiKey: c.get('apiKey'), tenant: c.get('tenant') })
    return c.text('ok')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  return { app, reached, limitIp: limit }
}

const get = async (
  app: Rig['app'],
  authorization: string | undefined,
  ip = '203.0.113.7',
): Promise<Response> => {
  const headers: Record<string, string> = { 'cf-connecting-ip': ip }
  if (authorization !== undefined) headers.authorization = authorization
  return app.request('/v1/models', { headers })
}

const errorOf = async (res: Response): Promise<{ code: string; message: string }> => {
  const body: { error: { code: string; message: string } } = await res.json()
  return body.error
}

beforeEach(() => {
  // The stage's own window reads the clock: created after this, it reads this one.
  vi.spyOn(Date, 'now').mockReturnValue(NOW)
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('authenticate', () => {
  it('should set apiKey and tenant for a valid key and pass on', async () => {
    const { resolver, resolve } = standInResolver()
    const { app, reached, limitIp } = rig(resolver)
    const res = await get(app, `Bearer ${VALID}`)
    expect(res.status).toBe(200)
    expect(reached).toEqual([{ apiKey: VALID, tenant }])
    expect(resolve).toHaveBeenCalledTimes(1)
    expect(resolve.mock.calls[0]?.[0]).toBe(VALID)
    expect(limitIp).not.toHaveBeenCalled()
  })

  it('should accept the scheme in any case and surrounding blanks', async () => {
    const { resolver } = standInResolver()
    const { app, reached } = rig(resolver)
    const res = await get(app, `bearer \t${VALID} `)
    expect(res.status).toBe(200)
    expect(reached).toHaveLength(1)
  })

  it('should refuse a missing key with 401 and www-authenticate: Bearer, asking no one', async () => {
    const { resolver, resolve } = standInResolver()
    const { app, reached, limitIp } = rig(resolver)
    const res = await get(app, undefined)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    const error = await errorOf(res)
    expect(error.code).toBe('INVALID_API_KEY')
    expect(error.message).toContain('Missing API key')
    expect(resolve).not.toHaveBeenCalled()
    expect(limitIp).not.toHaveBeenCalled()
    expect(reached).toEqual([])
  })

  it('should treat a credential of another scheme as a missing key', async () => {
    const { resolver, resolve } = standInResolver()
    const { app } = rig(resolver)
    const res = await get(app, `Basic ${btoa(`user:${VALID}`)}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(resolve).not.toHaveBeenCalled()
  })

  it('should refuse a malformed key with 401 invalid_token, charging only the local window', async () => {
    const { resolver } = standInResolver()
    const { app, reached, limitIp } = rig(resolver)
    const res = await get(app, `Bearer ${MALFORMED}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect((await errorOf(res)).code).toBe('INVALID_API_KEY')
    expect(limitIp).not.toHaveBeenCalled()
    expect(reached).toEqual([])
  })

  it('should cost no store I/O for a malformed key (with the real resolver)', async () => {
    const touched: string[] = []
    const keys = watched<KeyStore>(noKeys, touched)
    const state = watched<SharedState>(memoryState({ ipRpm: 20 }), touched)
    const { app, limitIp } = rig(createKeyResolver({ keys, state }))
    const res = await get(app, `Bearer ${MALFORMED}`)
    expect(res.status).toBe(401)
    expect(touched).toEqual([])
    expect(limitIp).not.toHaveBeenCalled()
    // The same resolver does ask the stores about a well-formed key.
    expect((await get(app, `Bearer ${UNKNOWN}`)).status).toBe(401)
    expect(touched).not.toEqual([])
  })

  it('should refuse a well-formed key the stores refuse with 401, charging the shared IP window', async () => {
    const { resolver } = standInResolver()
    const { app, reached, limitIp } = rig(resolver)
    const res = await get(app, `Bearer ${UNKNOWN}`, '198.51.100.4')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(limitIp.mock.calls).toEqual([['198.51.100.4']])
    expect(reached).toEqual([])
  })

  it('should answer 429 with Retry-After once the shared IP window is full', async () => {
    const { resolver } = standInResolver()
    const { app, reached } = rig(resolver, () => Promise.resolve(window(false)))
    const res = await get(app, `Bearer ${UNKNOWN}`)
    expect(res.status).toBe(429)
    expect((await errorOf(res)).code).toBe('RATE_LIMITED')
    expect(res.headers.get('retry-after')).toBe('30')
    expect(res.headers.get('x-ratelimit-limit')).toBe('20')
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(res.headers.get('x-ratelimit-reset')).toBe('30')
    expect(reached).toEqual([])
  })

  it('should fail open (the 401 stands) when the shared IP window is unreachable', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined) // the alarm line
    const { resolver } = standInResolver()
    const { app, limitIp } = rig(resolver, () => Promise.reject(new Error('redis down')))
    const res = await get(app, `Bearer ${UNKNOWN}`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(limitIp).toHaveBeenCalledTimes(1)
  })

  it('should answer 429 from the local window once keyless traffic from one IP fills it', async () => {
    const { resolver } = standInResolver()
    const { app, limitIp } = rig(resolver, undefined, 2)
    expect((await get(app, undefined)).status).toBe(401)
    expect((await get(app, `Bearer ${MALFORMED}`)).status).toBe(401)
    const res = await get(app, undefined)
    expect(res.status).toBe(429)
    expect((await errorOf(res)).code).toBe('RATE_LIMITED')
    expect(res.headers.get('retry-after')).toBe('50')
    expect(res.headers.get('x-ratelimit-limit')).toBe('2')
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(res.headers.get('x-ratelimit-reset')).toBe('50')
    // Another address has its own window.
    expect((await get(app, undefined, '192.0.2.9')).status).toBe(401)
    expect(limitIp).not.toHaveBeenCalled()
  })

  it('should never charge valid traffic to the IP window', async () => {
    const { resolver } = standInResolver()
    const { app, reached } = rig(resolver, undefined, 1)
    for (let i = 0; i < 3; i++) expect((await get(app, `Bearer ${VALID}`)).status).toBe(200)
    expect(reached).toHaveLength(3)
    // The window of 1 is still empty: the first keyless request is a 401, the next a 429.
    expect((await get(app, undefined)).status).toBe(401)
    expect((await get(app, undefined)).status).toBe(429)
  })

  it('should let a resolver that cannot check the key answer 503, not 401', async () => {
    const { resolver } = standInResolver(() =>
      Promise.reject(
        new GatewayError('AUTH_UNAVAILABLE', 'The API key could not be verified right now.', {
          headers: { 'retry-after': '5' },
        }),
      ),
    )
    const { app, reached, limitIp } = rig(resolver)
    const res = await get(app, `Bearer ${VALID}`)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect((await errorOf(res)).code).toBe('AUTH_UNAVAILABLE')
    expect(limitIp).not.toHaveBeenCalled()
    expect(reached).toEqual([])
  })
})

describe('bearerToken', () => {
  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Bearer a b', undefined],
    ['Token abc', undefined],
    ['Bearer abc', 'abc'],
    ['BEARER\tabc', 'abc'],
  ])('should read %j as %j', (header, token) => {
    expect(bearerToken(header)).toBe(token)
  })
})
