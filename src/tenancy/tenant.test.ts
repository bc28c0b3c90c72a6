/**
 * Proves `parseKeyConfig` turns the stored `gateway_resolve_key` document into a `Tenant` field by
 * field (snake_case → camelCase, provider keys as a map, routing rules with their targets' key
 * choices), and throws — a store fault — on any document that does not have the agreed shape.
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
      strategy: 'fallback',
      targets: [
        { provider: 'openai', model: 'gpt-4o', key: 'organization' },
        { provider: 'openai', model: 'gpt-4o', key: 'operator' },
        { provider: 'anthropic', model: 'claude-sonnet-4' },
      ],
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
        },
        {
          apiKeyId: null,
          model: null,
          strategy: 'fallback',
          targets: [
            { provider: 'openai', model: 'gpt-4o', key: 'organization' },
            { provider: 'openai', model: 'gpt-4o', key: 'operator' },
            { provider: 'anthropic', model: 'claude-sonnet-4' },
          ],
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
  ])('should throw on a document with %s', (_name, json) => {
    expect(() => parseKeyConfig(json)).toThrow()
  })
})
