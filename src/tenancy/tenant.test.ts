/**
 * Proves `parseKeyConfig` turns the stored `gateway_resolve_key` document into a `Tenant` field by
 * field (snake_case → camelCase, provider keys as a map, routing rules with their targets' key
 * choices and their params, `{}` when a rule has none), and throws — a store fault — on any
 * document that does not have the agreed shape.
 */
import { describe, expect, it } from 'vitest'
import { ROUTING_STRATEGIES, SUBSCRIPTION_STATUSES, TARGET_KEYS } from './schema'
import { parseKeyConfig, type KeyConfigJson, type Tenant } from './tenant'

/** A document with every field set to a value different from its neighbours and defaults. */
const document = (): KeyConfigJson => ({
  key: { id: 'key_1', name: 'ci pipeline', mode: 'live', rpm_limit: 120 },
  org: {
    id: 'org_1',
    slug: 'acme',
    name: 'Acme Ltd',
    plan: 'pro',
    subscription_status: 'past_due',
    monthly_request_limit: 50_000,
    rpm_limit: 600,
    features: { cache: true, region: 'eu' },
  },
  provider_keys: [
    { provider: 'anthropic', envelope: 'v1.k1.aaa' },
    { provider: 'openai', envelope: 'v1.k2.bbb' },
  ],
  routing_rules: [
    {
      api_key_id: 'key_1',
      model: 'gpt-4o',
      strategy: 'weighted',
      targets: [
        { provider: 'openai', model: 'gpt-4o', weight: 3 },
        { provider: 'azure', model: 'gpt-4o-eu', weight: 1 },
      ],
    },
    {
      api_key_id: null,
      model: null,
      strategy: 'feedback',
      targets: [
        { provider: 'openai', model: 'gpt-4o', key: 'organization' },
        { provider: 'openai', model: 'gpt-4o', key: 'operator' },
        { provider: 'anthropic', model: 'claude-sonnet-4' },
      ],
      params: { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' },
    },
  ],
})

/** A copy of the document with `edit` applied to a JSON clone (so mutations stay local). */
const edited = (edit: (doc: Record<string, unknown>) => void): unknown => {
  const doc = JSON.parse(JSON.stringify(document())) as Record<string, unknown>
  edit(doc)
  return doc
}

const section = (doc: Record<string, unknown>, name: string): Record<string, unknown> =>
  doc[name] as Record<string, unknown>

const firstRule = (doc: Record<string, unknown>): Record<string, unknown> =>
  (doc.routing_rules as Record<string, unknown>[])[0] as Record<string, unknown>

const firstTarget = (doc: Record<string, unknown>): Record<string, unknown> =>
  (firstRule(doc).targets as Record<string, unknown>[])[0] as Record<string, unknown>

/** The second rule: the feedback rule, the one with parameters. */
const feedbackRule = (doc: Record<string, unknown>): Record<string, unknown> =>
  (doc.routing_rules as Record<string, unknown>[])[1] as Record<string, unknown>

const feedbackParams = (doc: Record<string, unknown>): Record<string, unknown> =>
  feedbackRule(doc).params as Record<string, unknown>

describe('parseKeyConfig', () => {
  it('should map every field of the document onto the tenant', () => {
    const expected: Tenant = {
      orgId: 'org_1',
      keyId: 'key_1',
      keyName: 'ci pipeline',
      mode: 'live',
      keyRpm: 120,
      org: {
        id: 'org_1',
        slug: 'acme',
        name: 'Acme Ltd',
        plan: 'pro',
        subscriptionStatus: 'past_due',
        monthlyRequestLimit: 50_000,
        rpm: 600,
        features: { cache: true, region: 'eu' },
        settings: {},
      },
      keySettings: {},
      providerKeys: new Map([
        ['anthropic', 'v1.k1.aaa'],
        ['openai', 'v1.k2.bbb'],
      ]),
      routingRules: [
        {
          apiKeyId: 'key_1',
          model: 'gpt-4o',
          strategy: 'weighted',
          targets: [
            { provider: 'openai', model: 'gpt-4o', weight: 3 },
            { provider: 'azure', model: 'gpt-4o-eu', weight: 1 },
          ],
          params: {},
        },
        {
          apiKeyId: null,
          model: null,
          strategy: 'feedback',
          targets: [
            { provider: 'openai', model: 'gpt-4o', key: 'organization' },
            { provider: 'openai', model: 'gpt-4o', key: 'operator' },
            { provider: 'anthropic', model: 'claude-sonnet-4' },
          ],
          params: { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' },
        },
      ],
    }
    expect(parseKeyConfig(document())).toStrictEqual(expected)
  })

  it('should look provider keys up by provider id', () => {
    const { providerKeys } = parseKeyConfig(document())
    expect(providerKeys.get('openai')).toBe('v1.k2.bbb')
    expect(providerKeys.get('anthropic')).toBe('v1.k1.aaa')
    expect(providerKeys.get('mistral')).toBeUndefined()
    expect(providerKeys.size).toBe(2)
  })

  it('should keep unlimited (null) limits as null and 0 as 0', () => {
    const unlimited = parseKeyConfig(
      edited((doc) => {
        section(doc, 'key').rpm_limit = null
        section(doc, 'org').rpm_limit = null
        section(doc, 'org').monthly_request_limit = null
      }),
    )
    expect(unlimited.keyRpm).toBeNull()
    expect(unlimited.org.rpm).toBeNull()
    expect(unlimited.org.monthlyRequestLimit).toBeNull()

    const closed = parseKeyConfig(
      edited((doc) => {
        section(doc, 'key').rpm_limit = 0
        section(doc, 'org').rpm_limit = 0
        section(doc, 'org').monthly_request_limit = 0
      }),
    )
    expect([closed.keyRpm, closed.org.rpm, closed.org.monthlyRequestLimit]).toStrictEqual([0, 0, 0])
  })

  it('should accept a key with no provider keys and no routing rules', () => {
    const tenant = parseKeyConfig(
      edited((doc) => {
        doc.provider_keys = []
        doc.routing_rules = []
      }),
    )
    expect(tenant.providerKeys.size).toBe(0)
    expect(tenant.routingRules).toStrictEqual([])
  })

  it('should keep the order of the routing rules', () => {
    const models = parseKeyConfig(document()).routingRules.map((rule) => rule.model)
    expect(models).toStrictEqual(['gpt-4o', null])
  })

  it.each(SUBSCRIPTION_STATUSES)('should accept the subscription status %s', (status) => {
    const tenant = parseKeyConfig(
      edited((doc) => {
        section(doc, 'org').subscription_status = status
      }),
    )
    expect(tenant.org.subscriptionStatus).toBe(status)
  })

  it.each(ROUTING_STRATEGIES)('should accept the routing strategy %s', (strategy) => {
    const tenant = parseKeyConfig(
      edited((doc) => {
        firstRule(doc).strategy = strategy
      }),
    )
    expect(tenant.routingRules[0]?.strategy).toBe(strategy)
  })

  it.each(TARGET_KEYS)('should accept the target key choice %s', (key) => {
    const tenant = parseKeyConfig(
      edited((doc) => {
        firstTarget(doc).key = key
      }),
    )
    expect(tenant.routingRules[0]?.targets[0]).toStrictEqual({
      provider: 'openai',
      model: 'gpt-4o',
      weight: 3,
      key,
    })
  })

  it("should read a rule's params, and give {} to a rule whose document has none", () => {
    const [keyRule, orgRule] = parseKeyConfig(document()).routingRules
    // a document written before migration 0005 (or cached by an older gateway) has no params
    expect(keyRule?.params).toStrictEqual({})
    expect(orgRule?.params).toStrictEqual({
      cost_weight: 0.02,
      latency_weight: 0.5,
      metric: 'helpful',
    })
    const stored = parseKeyConfig(edited((doc) => (firstRule(doc).params = {})))
    expect(stored.routingRules[0]?.params).toStrictEqual({})
  })

  it.each<[string, Record<string, unknown>]>([
    ['a cost weight alone', { cost_weight: 1.5 }],
    ['a zero latency weight', { latency_weight: 0 }],
    ['a metric alone', { metric: 'rating' }],
    ['a metric of 32 characters', { metric: `m${'_'.repeat(31)}` }],
    ['a metric with digits and underscores', { metric: 'csat_2' }],
  ])('should accept params with %s', (_name, params) => {
    const tenant = parseKeyConfig(edited((doc) => (feedbackRule(doc).params = params)))
    expect(tenant.routingRules[1]?.params).toStrictEqual(params)
  })

  it('should drop params members it does not know, as the database check lets them through', () => {
    const tenant = parseKeyConfig(edited((doc) => (feedbackParams(doc).explore = 0.1)))
    expect(tenant.routingRules[1]?.params).toStrictEqual({
      cost_weight: 0.02,
      latency_weight: 0.5,
      metric: 'helpful',
    })
  })

  it('should accept test-mode keys', () => {
    const tenant = parseKeyConfig(
      edited((doc) => {
        section(doc, 'key').mode = 'test'
      }),
    )
    expect(tenant.mode).toBe('test')
  })

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'not a document'],
    ['an array', []],
    ['an empty object', {}],
    ['no key', edited((doc) => delete doc.key)],
    ['no org', edited((doc) => delete doc.org)],
    ['no provider_keys', edited((doc) => delete doc.provider_keys)],
    ['no routing_rules', edited((doc) => delete doc.routing_rules)],
    ['no key id', edited((doc) => delete section(doc, 'key').id)],
    ['an empty key id', edited((doc) => (section(doc, 'key').id = ''))],
    ['no key name', edited((doc) => delete section(doc, 'key').name)],
    ['no key rpm_limit', edited((doc) => delete section(doc, 'key').rpm_limit)],
    ['an unknown key mode', edited((doc) => (section(doc, 'key').mode = 'prod'))],
    ['an empty org id', edited((doc) => (section(doc, 'org').id = ''))],
    ['no org slug', edited((doc) => delete section(doc, 'org').slug)],
    ['no org plan', edited((doc) => delete section(doc, 'org').plan)],
    ['no org features', edited((doc) => delete section(doc, 'org').features)],
    ['features as a list', edited((doc) => (section(doc, 'org').features = ['cache']))],
    [
      'an unknown subscription status',
      edited((doc) => (section(doc, 'org').subscription_status = 'expired')),
    ],
    ['no subscription status', edited((doc) => delete section(doc, 'org').subscription_status)],
    ['a negative key rpm_limit', edited((doc) => (section(doc, 'key').rpm_limit = -1))],
    ['a negative org rpm_limit', edited((doc) => (section(doc, 'org').rpm_limit = -1))],
    [
      'a negative monthly_request_limit',
      edited((doc) => (section(doc, 'org').monthly_request_limit = -1)),
    ],
    ['a fractional rpm_limit', edited((doc) => (section(doc, 'key').rpm_limit = 1.5))],
    ['an rpm_limit given as text', edited((doc) => (section(doc, 'org').rpm_limit = '60'))],
    [
      'a provider key without an envelope',
      edited((doc) => (doc.provider_keys = [{ provider: 'openai' }])),
    ],
    [
      'a provider key with an empty envelope',
      edited((doc) => (doc.provider_keys = [{ provider: 'openai', envelope: '' }])),
    ],
    [
      'a provider key with an empty provider',
      edited((doc) => (doc.provider_keys = [{ provider: '', envelope: 'v1.k1.x' }])),
    ],
    ['a rule with no targets', edited((doc) => (firstRule(doc).targets = []))],
    ['a rule with an unknown strategy', edited((doc) => (firstRule(doc).strategy = 'random'))],
    ['a rule without api_key_id', edited((doc) => delete firstRule(doc).api_key_id)],
    ['a rule without model', edited((doc) => delete firstRule(doc).model)],
    ['a target with an empty provider', edited((doc) => (firstTarget(doc).provider = ''))],
    ['a target with an empty model', edited((doc) => (firstTarget(doc).model = ''))],
    ['a target with weight 0', edited((doc) => (firstTarget(doc).weight = 0))],
    ['a target with a negative weight', edited((doc) => (firstTarget(doc).weight = -2))],
    ['a target with an unknown key choice', edited((doc) => (firstTarget(doc).key = 'mine'))],
    ['a target with a numeric key choice', edited((doc) => (firstTarget(doc).key = 1))],
    ['a target with a null key choice', edited((doc) => (firstTarget(doc).key = null))],
    ['params as a list', edited((doc) => (feedbackRule(doc).params = []))],
    ['params as null', edited((doc) => (feedbackRule(doc).params = null))],
    ['params as text', edited((doc) => (feedbackRule(doc).params = 'cost_weight=1'))],
    ['a negative cost weight', edited((doc) => (feedbackParams(doc).cost_weight = -0.01))],
    ['a cost weight given as text', edited((doc) => (feedbackParams(doc).cost_weight = '1'))],
    ['a null cost weight', edited((doc) => (feedbackParams(doc).cost_weight = null))],
    ['a negative latency weight', edited((doc) => (feedbackParams(doc).latency_weight = -1))],
    ['a latency weight as a list', edited((doc) => (feedbackParams(doc).latency_weight = [1]))],
    ['an empty metric', edited((doc) => (feedbackParams(doc).metric = ''))],
    ['a capitalised metric', edited((doc) => (feedbackParams(doc).metric = 'Helpful'))],
    ['a metric starting with a digit', edited((doc) => (feedbackParams(doc).metric = '5star'))],
    ['a metric with a dash', edited((doc) => (feedbackParams(doc).metric = 'thumbs-up'))],
    [
      'a metric of 33 characters',
      edited((doc) => (feedbackParams(doc).metric = `m${'_'.repeat(32)}`)),
    ],
    ['a numeric metric', edited((doc) => (feedbackParams(doc).metric = 1))],
  ])('should throw on a document with %s', (_name, json) => {
    expect(() => parseKeyConfig(json)).toThrow()
  })
})
