/**
 * The limits stage and its admission part.
 *
 * `admission` asks shared state about the authenticated tenant's windows and month, through the
 * first round trip. `limits` awaits that answer and decides: admitted requests pass and carry the
 * binding window's `x-ratelimit-*`; a full window is a 429 `RATE_LIMITED` with `Retry-After`
 * (organisation before key) and gives the month's count back; a reached cap is a 429
 * `MONTHLY_LIMIT_EXCEEDED` that SDKs must not retry (nothing to give back); `GET /v1/models`
 * never counts. When the answer shows the config epoch moved, the key is re-validated before
 * anything else (revoked: 401, suspended: 402, changed: the fresh tenant goes on). When shared
 * state cannot answer, the stage fails open.
 */
import { Hono, type ExecutionContext } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import type { Admission, AdmissionRequest, LimitResult, SharedState } from '../../stores'
import { memoryState } from '../../stores/embedded/memory-state'
import { calendarMonth, counterTtlSeconds } from '../../tenancy/limits'
import { createKeyResolver, type KeyResolver } from '../../tenancy/resolver'
import type { SubscriptionStatus, Tenant } from '../../tenancy/tenant'
import type { AuthVariables } from '../authenticate'
import { firstRoundTrip, type RoundTripPart } from '../first-round-trip'
import { admission, limits, type AdmissionVariables } from '.'
import { testTenant } from '../../../test/support/unit'

const AT = Date.UTC(2026, 2, 10, 9, 30, 0)
const API_KEY = 'flo_sk_live_presented'

const tenant = (slug = 'acme', subscriptionStatus: SubscriptionStatus = 'active'): Tenant =>
  testTenant({ slug, subscriptionStatus, monthlyRequestLimit: 1000, rpm: 600 }, { keyRpm: 60 })

const asked = (countsTowardQuota: boolean): AdmissionRequest => ({
  orgId: 'org_1',
  orgRpm: 600,
  keyId: 'key_1',
  keyRpm: 60,
  countsTowardQuota,
  month: '2026-03',
  monthlyLimit: 1000,
  counterTtlSeconds: 1_000_000,
})

const window = (limit: number, remaining: number, resetInMs: number): LimitResult => ({
  success: true,
  limit,
  remaining,
  reset: AT + resetInMs,
})

const full = (limit: number, resetInMs: number): LimitResult => ({
  success: false,
  limit,
  remaining: 0,
  reset: AT + resetInMs,
})

const answer = (fields: Partial<Admission> = {}): Admission => ({
  org: window(600, 500, 20_000),
  key: window(60, 50, 40_000),
  quota: { admitted: true, used: 10 },
  epoch: 0,
  ...fields,
})

type Resolve = KeyResolver['resolve']

/** Shared state with `overrides`; the rest of the port is the embedded one's, unused here. */
const sharedState = (overrides: Partial<SharedState>): SharedState => ({
  ...memoryState({ ipRpm: 20 }),
  admit: () => Promise.reject(new Error('the admission is set up by the test')),
  ...overrides,
})

type RigOptions = {
  /** The admission's answer, or a rejection (shared state unreachable). */
  readonly answer: Admission | Error
  readonly countsTowardQuota?: boolean
  /** Whether `observeEpoch` reports a move. */
  readonly epochMoved?: boolean
  /** What the resolver answers on re-validation. */
  readonly fresh?: Tenant | undefined
}

/** The stage after authentication and the first round trip; the handler records its tenant. */
const rig = (options: RigOptions) => {
  const releaseQuota = vi.fn<SharedState['releaseQuota']>(() => Promise.resolve())
  const state = sharedState({ releaseQuota })
  const resolve = vi.fn<Resolve>(() => Promise.resolve(options.fresh))
  const observeEpoch = vi.fn<KeyResolver['observeEpoch']>(() => options.epochMoved === true)
  // The port's other methods come from a real resolver over empty stores.
  const resolver: KeyResolver = {
    ...createKeyResolver({ keys: { lookup: () => Promise.resolve(null) }, state }),
    resolve,
    observeEpoch,
  }
  const reached: Tenant[] = []
  const app = new Hono<StageEnv<AuthVariables & AdmissionVariables>>()
  app.use(async (c, next) => {
    c.set('apiKey', API_KEY)
    c.set('tenant', tenant())
    const pending =
      options.answer instanceof Error
        ? Promise.reject(options.answer)
        : Promise.resolve(options.answer)
    pending.catch(() => undefined)
    c.set('admission', {
      asked: asked(options.countsTowardQuota ?? true),
      at: AT,
      answer: pending,
    })
    await next()
  })
  app.use(limits({ state, resolver }))
  app.get('/v1/chat', (c) => {
    reached.push(c.get('tenant'))
    return c.text('ok')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  /** Work handed to `waitUntil`. */
  const waited: Promise<unknown>[] = []
  const ctx: ExecutionContext = {
    waitUntil: (work) => {
      waited.push(work)
    },
    passThroughOnException: () => undefined,
    props: {},
  }
  const request = async (): Promise<Response> => app.request('/v1/chat', {}, {}, ctx)
  return { request, reached, releaseQuota, resolve, observeEpoch, waited }
}

const errorOf = async (res: Response): Promise<{ code: string; message: string }> => {
  const body: { error: { code: string; message: string } } = await res.json()
  return body.error
}

const ratelimitHeaders = (res: Response) => ({
  limit: res.headers.get('x-ratelimit-limit'),
  remaining: res.headers.get('x-ratelimit-remaining'),
  reset: res.headers.get('x-ratelimit-reset'),
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('limits', () => {
  it('should pass an admitted request on with the binding window in x-ratelimit-*', async () => {
    const { request, reached, releaseQuota, resolve, waited } = rig({ answer: answer() })
    const res = await request()
    expect(res.status).toBe(200)
    expect(reached).toHaveLength(1)
    // The key window has fewer requests left (50 of 60) than the organisation's (500 of 600).
    expect(ratelimitHeaders(res)).toEqual({ limit: '60', remaining: '50', reset: '40' })
    expect(res.headers.get('retry-after')).toBeNull()
    expect(releaseQuota).not.toHaveBeenCalled()
    expect(waited).toEqual([])
    expect(resolve).not.toHaveBeenCalled()
  })

  it('should send no x-ratelimit-* when neither window is limited', async () => {
    const { request } = rig({ answer: answer({ org: undefined, key: undefined }) })
    const res = await request()
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ratelimit-limit')).toBeNull()
  })

  it("should refuse a full organisation window with 429, Retry-After, and give the month's count back", async () => {
    const { request, reached, releaseQuota, waited } = rig({
      answer: answer({ org: full(600, 12_500), key: full(60, 30_000) }),
    })
    const res = await request()
    expect(res.status).toBe(429)
    const error = await errorOf(res)
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.message).toContain("Organisation 'acme'")
    expect(res.headers.get('retry-after')).toBe('13')
    expect(ratelimitHeaders(res)).toEqual({ limit: '600', remaining: '0', reset: '13' })
    expect(releaseQuota.mock.calls).toEqual([['org_1', '2026-03']])
    // The give-back runs after the response, through waitUntil.
    expect(waited).toHaveLength(1)
    await Promise.all(waited)
    expect(reached).toEqual([])
  })

  it('should refuse a full key window with 429 naming the key', async () => {
    const { request, reached, releaseQuota } = rig({ answer: answer({ key: full(60, 5_000) }) })
    const res = await request()
    expect(res.status).toBe(429)
    const error = await errorOf(res)
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.message).toContain('This API key')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(ratelimitHeaders(res)).toEqual({ limit: '60', remaining: '0', reset: '5' })
    expect(releaseQuota).toHaveBeenCalledTimes(1)
    expect(reached).toEqual([])
  })

  it('should give nothing back for a refused request that was not counted', async () => {
    const { request, releaseQuota } = rig({
      answer: answer({ key: full(60, 5_000) }),
      countsTowardQuota: false,
    })
    expect((await request()).status).toBe(429)
    expect(releaseQuota).not.toHaveBeenCalled()
  })

  it('should refuse at the monthly cap with 429 MONTHLY_LIMIT_EXCEEDED, not to be retried', async () => {
    const { request, reached, releaseQuota } = rig({
      answer: answer({ quota: { admitted: false, used: 1000 } }),
    })
    const res = await request()
    expect(res.status).toBe(429)
    const error = await errorOf(res)
    expect(error.code).toBe('MONTHLY_LIMIT_EXCEEDED')
    expect(error.message).toContain('1000 requests')
    expect(res.headers.get('x-should-retry')).toBe('false')
    // 2026-03-10 09:30 UTC to 2026-04-01 00:00 UTC.
    expect(res.headers.get('retry-after')).toBe(String(22 * 86_400 - 9.5 * 3600))
    expect(releaseQuota).not.toHaveBeenCalled()
    expect(reached).toEqual([])
  })

  it('should let a request that does not count pass at the monthly cap', async () => {
    const { request, reached } = rig({
      answer: answer({ quota: { admitted: false, used: 1000 } }),
      countsTowardQuota: false,
    })
    expect((await request()).status).toBe(200)
    expect(reached).toHaveLength(1)
  })

  it('should fail open when shared state cannot answer', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined) // the alarm line
    const { request, reached, releaseQuota, observeEpoch } = rig({
      answer: new Error('redis down'),
    })
    const res = await request()
    expect(res.status).toBe(200)
    expect(reached).toHaveLength(1)
    expect(res.headers.get('x-ratelimit-limit')).toBeNull()
    expect(observeEpoch).not.toHaveBeenCalled()
    expect(releaseQuota).not.toHaveBeenCalled()
  })

  it('should not re-validate the key while the epoch stands', async () => {
    const { request, resolve, observeEpoch } = rig({ answer: answer({ epoch: 7 }) })
    expect((await request()).status).toBe(200)
    expect(observeEpoch.mock.calls).toEqual([[7]])
    expect(resolve).not.toHaveBeenCalled()
  })

  describe('when the config epoch moved', () => {
    it('should re-validate the key and hand the fresh tenant on', async () => {
      const fresh = tenant('acme-renamed')
      const { request, reached, resolve } = rig({
        answer: answer({ epoch: 8 }),
        epochMoved: true,
        fresh,
      })
      const res = await request()
      expect(res.status).toBe(200)
      expect(resolve).toHaveBeenCalledTimes(1)
      expect(resolve.mock.calls[0]?.[0]).toBe(API_KEY)
      expect(reached).toEqual([fresh])
    })

    it('should name the fresh organisation when its window is full', async () => {
      const { request } = rig({
        answer: answer({ epoch: 8, org: full(600, 1_000) }),
        epochMoved: true,
        fresh: tenant('acme-renamed'),
      })
      const res = await request()
      expect(res.status).toBe(429)
      expect((await errorOf(res)).message).toContain("'acme-renamed'")
    })

    it("should refuse a revoked key with 401 and give the month's count back", async () => {
      const { request, reached, releaseQuota } = rig({
        answer: answer({ epoch: 8 }),
        epochMoved: true,
        fresh: undefined,
      })
      const res = await request()
      expect(res.status).toBe(401)
      expect((await errorOf(res)).code).toBe('INVALID_API_KEY')
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(releaseQuota.mock.calls).toEqual([['org_1', '2026-03']])
      expect(reached).toEqual([])
    })

    it('should refuse a suspended organisation with 402 before its windows are looked at', async () => {
      const { request, reached, releaseQuota } = rig({
        answer: answer({ epoch: 8, org: full(600, 1_000) }),
        epochMoved: true,
        fresh: tenant('acme', 'canceled'),
      })
      const res = await request()
      expect(res.status).toBe(402)
      expect((await errorOf(res)).code).toBe('SUBSCRIPTION_INACTIVE')
      expect(releaseQuota).toHaveBeenCalledTimes(1)
      expect(reached).toEqual([])
    })
  })
})

describe('admission', () => {
  it("should ask shared state once about the tenant's windows and month, in the batch", async () => {
    const seen: AdmissionRequest[] = []
    const state = sharedState({
      admit: (request) => {
        seen.push(request)
        return Promise.resolve(answer({ epoch: 4 }))
      },
    })
    type V = AuthVariables & AdmissionVariables
    const app = new Hono<StageEnv<V>>()
    app.use(async (c, next) => {
      c.set('tenant', tenant())
      await next()
    })
    // A part after it: the admission must still be waiting in the batch when this one runs.
    let admitsBeforeTheBatch: number | undefined
    const later: RoundTripPart<V> = {
      contribute: () => {
        admitsBeforeTheBatch = seen.length
      },
    }
    app.use(firstRoundTrip<V>([admission({ state, countsTowardQuota: false }), later]))
    app.get('/v1/models', async (c) => {
      const { asked: question, at, answer: pending } = c.get('admission')
      return c.json({ question, at, epoch: (await pending).epoch })
    })
    const res = await app.request('/v1/models')
    const body: { question: AdmissionRequest; at: number; epoch: number } = await res.json()
    expect(res.status).toBe(200)
    expect(admitsBeforeTheBatch).toBe(0)
    expect(seen).toEqual([body.question])
    expect(body.epoch).toBe(4)
    expect(body.question).toEqual({
      orgId: 'org_1',
      orgRpm: 600,
      keyId: 'key_1',
      keyRpm: 60,
      countsTowardQuota: false,
      month: calendarMonth(body.at),
      monthlyLimit: 1000,
      counterTtlSeconds: counterTtlSeconds(body.at),
    })
  })
})
