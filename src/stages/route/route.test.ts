/**
 * The route stage and its health-sync part.
 *
 * Without a routing rule a request gets one target, resolved from its model, sent with the
 * organisation's own key when it stored one (a built-in provider the operator did not configure
 * included) and the operator's otherwise; an unresolvable or unconfigured model is a 400 naming
 * `model`. With a rule (chat only; the first rule that matches the model), the rule's strategy
 * orders its targets, each with the key the rule chose. The stage waits for the first round
 * trip's health sync before ordering, so the order uses the synced latencies; the part issues
 * that sync only for tenants that have routing rules.
 */
import { Hono } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TEST_DEV_API_KEY } from '../../../test/support/bindings'
import { parseConfig } from '../../config'
import type { StageEnv } from '../../env'
import { toGatewayError } from '../../errors'
import type { HealthTracker } from '../../routing/health'
import type { LatencySample } from '../../routing/strategies'
import type { RoutingRule, Tenant } from '../../tenancy/tenant'
import { newTrace, type EndpointKind, type KeyChoice, type ParsedRequest } from '../../types'
import type { AuthVariables } from '../authenticate'
import { firstRoundTrip, type RoundTripPart } from '../first-round-trip'
import type { ParsedVariables } from '../parse-request'
import { healthSync, route, type HealthSyncVariables, type RouteVariables } from '.'
import { testTenant } from '../../../test/support/unit'

const config = parseConfig({
  FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY,
  OPENAI_API_KEY: 'sk-operator-openai',
  ANTHROPIC_API_KEY: 'sk-ant-operator',
})

let orgs = 0

/** A tenant of its own organisation (round-robin positions are per organisation and rule). */
const tenant = (
  routingRules: readonly RoutingRule[] = [],
  providerKeys: Record<string, string> = {},
): Tenant =>
  testTenant(
    { id: `org_${String(++orgs)}` },
    { providerKeys: new Map(Object.entries(providerKeys)), routingRules },
  )

const rule = (
  strategy: RoutingRule['strategy'],
  targets: RoutingRule['targets'],
  model: string | null = null,
): RoutingRule => ({ apiKeyId: null, model, strategy, targets })

const parsed = (model: string, kind: EndpointKind = 'chat'): ParsedRequest => ({
  kind,
  body: { model },
  model,
  stream: false,
  includeUsage: false,
})

const healthStandIn = (latency = new Map<string, LatencySample>()) => {
  const sync = vi.fn<HealthTracker['sync']>(() => undefined)
  const health: HealthTracker = {
    latency,
    admit: () => Promise.resolve({ allowed: true, probe: false }),
    record: () => true,
    sync,
  }
  return { health, sync }
}

type Chosen = { provider: string; model: string; key: KeyChoice; healthId: string; url: string }

type Env = StageEnv<AuthVariables & ParsedVariables & Partial<HealthSyncVariables> & RouteVariables>

/** Routes `request` for `who`; `sync` stands for the first round trip's pending health sync. */
const routeFor = async (
  who: Tenant,
  request: ParsedRequest,
  options: { health?: HealthTracker; sync?: Promise<void> } = {},
): Promise<{ res: Response; targets: Chosen[] | undefined }> => {
  const app = new Hono<Env>()
  app.use(async (c, next) => {
    c.set('tenant', who)
    c.set('request', request)
    c.set('trace', newTrace('req_1', undefined))
    if (options.sync !== undefined) c.set('healthSync', options.sync)
    await next()
  })
  app.use(route({ config, health: options.health ?? healthStandIn().health }))
  let targets: Chosen[] | undefined
  app.post('/v1/chat/completions', (c) => {
    targets = c.get('targets').map((t) => ({
      provider: t.provider.spec.id,
      model: t.model,
      key: t.key,
      healthId: t.healthId,
      url: t.url.href,
    }))
    return c.text('ok')
  })
  app.onError((err) => toGatewayError(err).toResponse(undefined))
  const res = await app.request('/v1/chat/completions', { method: 'POST' })
  return { res, targets }
}

const errorOf = async (
  res: Response,
): Promise<{ code: string; message: string; param: string }> => {
  const body: { error: { code: string; message: string; param: string } } = await res.json()
  return body.error
}

const OPENAI_CHAT = 'https://api.openai.com/v1/chat/completions'
const ANTHROPIC_CHAT = 'https://api.anthropic.com/v1/messages'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('route', () => {
  describe('without a routing rule', () => {
    it("should send a bare model to its provider with the operator's key", async () => {
      const { res, targets } = await routeFor(tenant(), parsed('gpt-4o'))
      expect(res.status).toBe(200)
      expect(targets).toEqual([
        {
          provider: 'openai',
          model: 'gpt-4o',
          key: 'operator',
          healthId: 'openai/gpt-4o',
          url: OPENAI_CHAT,
        },
      ])
    })

    it("should send with the organisation's own key when it stored one", async () => {
      const who = tenant([], { openai: 'v1.k1.sealed' })
      const { targets } = await routeFor(who, parsed('openai/gpt-4o'))
      expect(targets).toEqual([
        {
          provider: 'openai',
          model: 'gpt-4o',
          key: 'organization',
          healthId: `openai/gpt-4o#org:${who.orgId}`,
          url: OPENAI_CHAT,
        },
      ])
    })

    it('should reach a provider the operator did not configure with the organisation key', async () => {
      const who = tenant([], { groq: 'v1.k1.sealed' })
      const { targets } = await routeFor(who, parsed('groq/llama-3.3-70b-versatile'))
      expect(targets).toEqual([
        {
          provider: 'groq',
          model: 'llama-3.3-70b-versatile',
          key: 'organization',
          healthId: `groq/llama-3.3-70b-versatile#org:${who.orgId}`,
          url: 'https://api.groq.com/openai/v1/chat/completions',
        },
      ])
    })

    it('should refuse a model no provider is known for with 400 UNKNOWN_MODEL', async () => {
      const { res, targets } = await routeFor(tenant(), parsed('my-own-model'))
      expect(res.status).toBe(400)
      const error = await errorOf(res)
      expect(error.code).toBe('UNKNOWN_MODEL')
      expect(error.param).toBe('model')
      expect(targets).toBeUndefined()
    })

    it('should refuse a provider that is not configured with 400 PROVIDER_NOT_CONFIGURED', async () => {
      const { res, targets } = await routeFor(tenant(), parsed('mistral/mistral-large-latest'))
      expect(res.status).toBe(400)
      const error = await errorOf(res)
      expect(error.code).toBe('PROVIDER_NOT_CONFIGURED')
      expect(error.param).toBe('model')
      expect(error.message).toContain('MISTRAL_API_KEY')
      expect(targets).toBeUndefined()
    })
  })

  describe('with a routing rule', () => {
    const targets2: RoutingRule['targets'] = [
      { provider: 'anthropic', model: 'claude-sonnet-4' },
      { provider: 'openai', model: 'gpt-4o' },
    ]

    it("should keep a fallback rule's declared order, each target resolved", async () => {
      const { targets } = await routeFor(tenant([rule('fallback', targets2)]), parsed('gpt-4o'))
      expect(targets).toEqual([
        {
          provider: 'anthropic',
          model: 'claude-sonnet-4',
          key: 'operator',
          healthId: 'anthropic/claude-sonnet-4',
          url: ANTHROPIC_CHAT,
        },
        {
          provider: 'openai',
          model: 'gpt-4o',
          key: 'operator',
          healthId: 'openai/gpt-4o',
          url: OPENAI_CHAT,
        },
      ])
    })

    it("should use the key each target of the rule names, the operator's even when one is stored", async () => {
      const who = tenant(
        [
          rule('fallback', [
            { provider: 'openai', model: 'gpt-4o', key: 'organization' },
            { provider: 'openai', model: 'gpt-4o', key: 'operator' },
          ]),
        ],
        { openai: 'v1.k1.sealed' },
      )
      const { targets } = await routeFor(who, parsed('gpt-4o'))
      expect(targets?.map((t) => [t.key, t.healthId])).toEqual([
        ['organization', `openai/gpt-4o#org:${who.orgId}`],
        ['operator', 'openai/gpt-4o'],
      ])
    })

    it("should refuse a rule that names the organisation's key when none is stored", async () => {
      const who = tenant([
        rule('fallback', [{ provider: 'openai', model: 'gpt-4o', key: 'organization' }]),
      ])
      const { res, targets } = await routeFor(who, parsed('gpt-4o'))
      expect(res.status).toBe(400)
      const error = await errorOf(res)
      expect(error.code).toBe('PROVIDER_NOT_CONFIGURED')
      expect(error.message).toContain('routing rule')
      expect(targets).toBeUndefined()
    })

    it('should rotate a round-robin rule from one request to the next', async () => {
      const who = tenant([rule('round-robin', targets2)])
      const orders: (string[] | undefined)[] = []
      for (let i = 0; i < 3; i++) {
        const { targets } = await routeFor(who, parsed('gpt-4o'))
        orders.push(targets?.map((t) => t.provider))
      }
      expect(orders).toEqual([
        ['anthropic', 'openai'],
        ['openai', 'anthropic'],
        ['anthropic', 'openai'],
      ])
    })

    it('should apply the first rule that matches the model', async () => {
      const who = tenant([
        rule('fallback', [{ provider: 'anthropic', model: 'claude-sonnet-4' }], 'gpt-4o-mini'),
        rule('fallback', [{ provider: 'openai', model: 'gpt-4.1' }]),
        rule('fallback', [{ provider: 'anthropic', model: 'claude-opus-4' }]),
      ])
      const mini = await routeFor(who, parsed('gpt-4o-mini'))
      expect(mini.targets?.map((t) => t.healthId)).toEqual(['anthropic/claude-sonnet-4'])
      const other = await routeFor(who, parsed('gpt-4o'))
      expect(other.targets?.map((t) => t.healthId)).toEqual(['openai/gpt-4.1'])
    })

    it('should leave a model no rule names to its own provider', async () => {
      const who = tenant([rule('fallback', targets2, 'gpt-4o')])
      const { targets } = await routeFor(who, parsed('gpt-4o-mini'))
      expect(targets?.map((t) => t.healthId)).toEqual(['openai/gpt-4o-mini'])
    })

    it('should not apply rules to embeddings', async () => {
      const who = tenant([rule('fallback', targets2)])
      const { targets } = await routeFor(who, parsed('text-embedding-3-small', 'embeddings'))
      expect(targets).toEqual([
        {
          provider: 'openai',
          model: 'text-embedding-3-small',
          key: 'operator',
          healthId: 'openai/text-embedding-3-small',
          url: 'https://api.openai.com/v1/embeddings',
        },
      ])
    })

    it('should wait for the health sync and order by the latencies it brought', async () => {
      // Two distinct targets sampled (indices 1 and 0), no exploration: the faster goes first.
      vi.spyOn(Math, 'random').mockReturnValue(0.5)
      const latency = new Map<string, LatencySample>()
      const { health } = healthStandIn(latency)
      const who = tenant([rule('latency', targets2)])
      // Before the sync: no measurements, so the declared order stands.
      const before = await routeFor(who, parsed('gpt-4o'), { health })
      expect(before.targets?.map((t) => t.provider)).toEqual(['anthropic', 'openai'])
      // The sync lands a macrotask later and reports anthropic slow, openai fast.
      const sync = new Promise<void>((resolve) => {
        setTimeout(() => {
          latency.set('anthropic/claude-sonnet-4', { ewmaMs: 900, samples: 10 })
          latency.set('openai/gpt-4o', { ewmaMs: 100, samples: 10 })
          resolve()
        }, 0)
      })
      const after = await routeFor(who, parsed('gpt-4o'), { health, sync })
      expect(after.targets?.map((t) => t.provider)).toEqual(['openai', 'anthropic'])
    })
  })
})

describe('healthSync', () => {
  type V = AuthVariables & HealthSyncVariables

  let syncsBeforeTheBatch: number | undefined

  const run = async (
    who: Tenant,
    { health, sync }: ReturnType<typeof healthStandIn>,
  ): Promise<boolean> => {
    syncsBeforeTheBatch = undefined
    const app = new Hono<StageEnv<V>>()
    app.use(async (c, next) => {
      c.set('tenant', who)
      c.set('trace', newTrace('req_2', undefined))
      await next()
    })
    // A part after it: the sync must still be waiting in the batch when this one runs.
    const later: RoundTripPart<V> = {
      contribute: () => {
        syncsBeforeTheBatch = sync.mock.calls.length
      },
    }
    app.use(firstRoundTrip<V>([healthSync({ health }), later]))
    let pending = false
    app.get('/', async (c) => {
      const sync = c.get('healthSync')
      pending = sync !== undefined
      await sync
      return c.text('ok')
    })
    expect((await app.request('/')).status).toBe(200)
    return pending
  }

  it('should issue a sync on the first round trip for a tenant with routing rules', async () => {
    const standIn = healthStandIn()
    const who = tenant([rule('fallback', [{ provider: 'openai', model: 'gpt-4o' }])])
    expect(await run(who, standIn)).toBe(true)
    expect(syncsBeforeTheBatch).toBe(0)
    expect(standIn.sync).toHaveBeenCalledTimes(1)
  })

  it('should issue nothing for a tenant without routing rules', async () => {
    const standIn = healthStandIn()
    expect(await run(tenant(), standIn)).toBe(false)
    expect(standIn.sync).not.toHaveBeenCalled()
  })
})
