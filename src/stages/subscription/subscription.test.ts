/**
 * The subscription stage: a serving status (`active`, `trialing`, `past_due`) passes with no I/O;
 * any other is checked again (the resolver, skipping its memo) before it is refused, so a
 * reactivated organisation is served at once — with the fresh tenant handed to the next stage —
 * and a refusal is a 402 `SUBSCRIPTION_INACTIVE` that tells SDKs not to retry, or a 401 when the
 * key itself is gone.
 */
import { Hono } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import { memoryState } from '../../stores/embedded/memory-state'
import { createKeyResolver, type KeyResolver } from '../../tenancy/resolver'
import type { SubscriptionStatus, Tenant } from '../../tenancy/tenant'
import type { AuthVariables } from '../authenticate'
import { subscription } from '.'
import { testTenant } from '../../../test/support/unit'

const API_KEY = 'flo_sk_live_presented'

const tenant = (subscriptionStatus: SubscriptionStatus, plan = 'pro'): Tenant =>
  testTenant({ subscriptionStatus, plan })

type Resolve = KeyResolver['resolve']

/**
 * The stage after authentication has set `memoised`; the resolver answers `fresh` when asked
 * again. The handler records the tenant it sees.
 */
const rig = (memoised: Tenant, fresh: Tenant | undefined) => {
  const resolve = vi.fn<Resolve>(() => Promise.resolve(fresh))
  // The port's other methods come from a real resolver over empty stores.
  const resolver: KeyResolver = {
    ...createKeyResolver({
      keys: { lookup: () => Promise.resolve(null) },
      state: memoryState({ ipRpm: 20 }),
    }),
    resolve,
  }
  const reached: Tenant[] = []
  const app = new Hono<StageEnv<AuthVariables>>()
  app.use(async (c, next) => {
    c.set('apiKey', API_KEY)
    c.set('tenant', memoised)
    await next()
  })
  app.use(subscription({ resolver }))
  app.get('/v1/models', (c) => {
    reached.push(c.get('tenant'))
    return c.text('ok')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  return { app, resolve, reached }
}

const errorOf = async (res: Response): Promise<{ code: string; message: string }> => {
  const body: { error: { code: string; message: string } } = await res.json()
  return body.error
}

describe('subscription', () => {
  it.each<SubscriptionStatus>(['active', 'trialing', 'past_due'])(
    'should pass a %s organisation on without asking the resolver',
    async (status) => {
      const memoised = tenant(status)
      const { app, resolve, reached } = rig(memoised, undefined)
      const res = await app.request('/v1/models')
      expect(res.status).toBe(200)
      expect(reached).toEqual([memoised])
      expect(resolve).not.toHaveBeenCalled()
    },
  )

  it.each<SubscriptionStatus>(['canceled', 'unpaid', 'paused', 'incomplete', 'incomplete_expired'])(
    'should check a %s organisation again, then refuse it with 402',
    async (status) => {
      const { app, resolve, reached } = rig(tenant(status), tenant(status))
      const res = await app.request('/v1/models')
      expect(res.status).toBe(402)
      expect(res.headers.get('x-should-retry')).toBe('false')
      const error = await errorOf(res)
      expect(error.code).toBe('SUBSCRIPTION_INACTIVE')
      expect(error.message).toContain(status)
      expect(resolve).toHaveBeenCalledTimes(1)
      const [presented, , options] = resolve.mock.calls[0] ?? []
      expect(presented).toBe(API_KEY)
      expect(options).toEqual({ revalidate: true })
      expect(reached).toEqual([])
    },
  )

  it('should serve a reactivated organisation, handing the fresh tenant on', async () => {
    const fresh = tenant('active', 'enterprise')
    const { app, resolve, reached } = rig(tenant('canceled'), fresh)
    const res = await app.request('/v1/models')
    expect(res.status).toBe(200)
    expect(resolve).toHaveBeenCalledTimes(1)
    expect(reached).toEqual([fresh])
    expect(reached[0]?.org.plan).toBe('enterprise')
  })

  it('should refuse with the fresh status, not the memoised one', async () => {
    const { app } = rig(tenant('unpaid'), tenant('canceled'))
    const res = await app.request('/v1/models')
    expect(res.status).toBe(402)
    expect((await errorOf(res)).message).toContain('canceled')
  })

  it('should answer 401 when the key is no longer valid', async () => {
    const { app, reached } = rig(tenant('canceled'), undefined)
    const res = await app.request('/v1/models')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect((await errorOf(res)).code).toBe('INVALID_API_KEY')
    expect(reached).toEqual([])
  })
})
