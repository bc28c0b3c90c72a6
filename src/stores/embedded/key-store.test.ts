/**
 * Proves the embedded key store answers with the same document `gateway_resolve_key` builds in
 * Postgres (`migrations/postgres/0001_tenancy.sql`): only active keys of known organisations, only
 * the organisation's provider keys, the organisation's rules and the key's own (never another
 * key's), key-specific rules first and model-specific first, each with its params (`{}` for
 * none); and that every document it builds parses as a tenant. The dev key answers with
 * `DEV_KEY_CONFIG`.
 */
import { describe, expect, it } from 'vitest'
import { generateApiKey, hashApiKey } from '../../security/api-key'
import { parseKeyConfig, type KeyConfigJson } from '../../tenancy/tenant'
import { DEV_KEY_CONFIG, embeddedKeyStore, indexTenants } from './key-store'
import type { TenantsFile } from './tenants-file'
import { TenantsFileSchema } from './tenants-schema'

const AT = '2025-01-01T00:00:00.000Z'
const hash = (digit: string): string => digit.repeat(64)

const HASH_A1 = hash('1')
const HASH_A2 = hash('2')
const HASH_A3_REVOKED = hash('3')
const HASH_B1 = hash('4')
const HASH_ORPHAN = hash('5')

const org = (
  id: string,
  slug: string,
  overrides: Partial<TenantsFile['organizations'][number]>,
) => ({
  id,
  slug,
  name: `${slug} Ltd`,
  plan: 'pro',
  subscription_status: 'active' as const,
  monthly_request_limit: null,
  rpm_limit: null,
  features: {},
  created_at: AT,
  updated_at: AT,
  ...overrides,
})

const apiKey = (
  id: string,
  orgId: string,
  keyHash: string,
  overrides: Partial<TenantsFile['api_keys'][number]> = {},
) => ({
  id,
  org_id: orgId,
  name: `${id} name`,
  key_hash: keyHash,
  display_prefix: 'flo_sk_live_Ab3d',
  last4: 'wxyz',
  mode: 'live' as const,
  rpm_limit: null,
  created_at: AT,
  revoked_at: null,
  ...overrides,
})

const rule = (
  id: string,
  orgId: string,
  apiKeyId: string | null,
  model: string | null,
  targetModel: string,
) => ({
  id,
  org_id: orgId,
  api_key_id: apiKeyId,
  model,
  strategy: 'fallback' as const,
  targets: [{ provider: 'openai', model: targetModel }],
  created_at: AT,
  updated_at: AT,
})

/** Two organisations; rules and keys listed out of the order the document must have. */
const file: TenantsFile = {
  version: 1,
  organizations: [
    org('org_a', 'acme', {
      plan: 'enterprise',
      subscription_status: 'past_due',
      monthly_request_limit: 100_000,
      rpm_limit: 600,
      features: { cache: true },
    }),
    org('org_b', 'beta', {}),
  ],
  api_keys: [
    apiKey('key_a1', 'org_a', HASH_A1, { name: 'ci', rpm_limit: 60 }),
    apiKey('key_a2', 'org_a', HASH_A2, { mode: 'test' }),
    apiKey('key_a3', 'org_a', HASH_A3_REVOKED, { revoked_at: AT }),
    apiKey('key_b1', 'org_b', HASH_B1),
    apiKey('key_orphan', 'org_gone', HASH_ORPHAN),
  ],
  provider_keys: [
    {
      id: 'pk_1',
      org_id: 'org_a',
      provider: 'anthropic',
      envelope: 'v1.k1.a',
      created_at: AT,
      updated_at: AT,
    },
    {
      id: 'pk_2',
      org_id: 'org_b',
      provider: 'openai',
      envelope: 'v1.k1.b',
      created_at: AT,
      updated_at: AT,
    },
    {
      id: 'pk_3',
      org_id: 'org_a',
      provider: 'openai',
      envelope: 'v1.k2.c',
      created_at: AT,
      updated_at: AT,
    },
  ],
  routing_rules: [
    rule('r_org_any', 'org_a', null, null, 'org-any'),
    rule('r_b_any', 'org_b', null, null, 'b-any'),
    rule('r_org_gpt', 'org_a', null, 'gpt-4o', 'org-gpt'),
    rule('r_a2_gpt', 'org_a', 'key_a2', 'gpt-4o', 'a2-gpt'),
    rule('r_a1_any', 'org_a', 'key_a1', null, 'a1-any'),
    {
      ...rule('r_a1_gpt', 'org_a', 'key_a1', 'gpt-4o', 'a1-gpt'),
      strategy: 'weighted' as const,
      targets: [
        { provider: 'openai', model: 'a1-gpt', weight: 3 },
        { provider: 'azure', model: 'a1-gpt-eu', weight: 1 },
      ],
    },
  ],
}

const documentFor = (keyHash: string): KeyConfigJson | undefined => indexTenants(file).get(keyHash)

/** The target model of each rule: a name that tells which rule it is. */
const ruleNames = (doc: KeyConfigJson | undefined): string[] =>
  (doc?.routing_rules ?? []).map((r) => r.targets[0]?.model ?? '?')

describe('indexTenants', () => {
  it('should use a fixture the tenants file schema accepts', () => {
    expect(TenantsFileSchema.safeParse(file).success).toBe(true)
  })

  it("should build exactly gateway_resolve_key's document", () => {
    const expected: KeyConfigJson = {
      key: { id: 'key_a1', name: 'ci', mode: 'live', rpm_limit: 60, settings: {} },
      org: {
        id: 'org_a',
        slug: 'acme',
        name: 'acme Ltd',
        plan: 'enterprise',
        subscription_status: 'past_due',
        monthly_request_limit: 100_000,
        rpm_limit: 600,
        features: { cache: true },
        settings: {},
      },
      provider_keys: [
        { provider: 'anthropic', envelope: 'v1.k1.a' },
        { provider: 'openai', envelope: 'v1.k2.c' },
      ],
      routing_rules: [
        {
          api_key_id: 'key_a1',
          model: 'gpt-4o',
          strategy: 'weighted',
          targets: [
            { provider: 'openai', model: 'a1-gpt', weight: 3 },
            { provider: 'azure', model: 'a1-gpt-eu', weight: 1 },
          ],
          params: {},
        },
        {
          api_key_id: 'key_a1',
          model: null,
          strategy: 'fallback',
          targets: [{ provider: 'openai', model: 'a1-any' }],
          params: {},
        },
        {
          api_key_id: null,
          model: 'gpt-4o',
          strategy: 'fallback',
          targets: [{ provider: 'openai', model: 'org-gpt' }],
          params: {},
        },
        {
          api_key_id: null,
          model: null,
          strategy: 'fallback',
          targets: [{ provider: 'openai', model: 'org-any' }],
          params: {},
        },
      ],
    }
    expect(documentFor(HASH_A1)).toStrictEqual(expected)
  })

  it('should index every active key of a known organisation, and nothing else', () => {
    const index = indexTenants(file)
    expect([...index.keys()].sort()).toStrictEqual([HASH_A1, HASH_A2, HASH_B1].sort())
  })

  it('should skip a revoked key', () => {
    expect(documentFor(HASH_A3_REVOKED)).toBeUndefined()
  })

  it('should skip a key whose organisation is not in the file', () => {
    expect(documentFor(HASH_ORPHAN)).toBeUndefined()
  })

  it("should include only the key's own organisation's provider keys", () => {
    expect(documentFor(HASH_B1)?.provider_keys).toStrictEqual([
      { provider: 'openai', envelope: 'v1.k1.b' },
    ])
    expect(documentFor(HASH_A2)?.provider_keys.map((pk) => pk.envelope)).toStrictEqual([
      'v1.k1.a',
      'v1.k2.c',
    ])
  })

  it("should include the organisation's rules and the key's own, not another key's", () => {
    expect(ruleNames(documentFor(HASH_A2))).toStrictEqual(['a2-gpt', 'org-gpt', 'org-any'])
    expect(ruleNames(documentFor(HASH_A1))).not.toContain('a2-gpt')
    expect(ruleNames(documentFor(HASH_B1))).toStrictEqual(['b-any'])
  })

  it('should order rules key-specific first, then model-specific first', () => {
    expect(ruleNames(documentFor(HASH_A1))).toStrictEqual([
      'a1-gpt',
      'a1-any',
      'org-gpt',
      'org-any',
    ])
  })

  it('should give a key its own mode and limit and its organisation its own fields', () => {
    const a2 = documentFor(HASH_A2)
    expect(a2?.key).toStrictEqual({
      id: 'key_a2',
      name: 'key_a2 name',
      mode: 'test',
      rpm_limit: null,
      settings: {},
    })
    expect(documentFor(HASH_B1)?.org).toStrictEqual({
      id: 'org_b',
      slug: 'beta',
      name: 'beta Ltd',
      plan: 'pro',
      subscription_status: 'active',
      monthly_request_limit: null,
      rpm_limit: null,
      features: {},
      settings: {},
    })
  })

  it('should build documents that parse as tenants', () => {
    const index = indexTenants(file)
    expect(index.size).toBeGreaterThan(0)
    for (const [keyHash, doc] of index) {
      const tenant = parseKeyConfig(doc)
      expect(tenant.keyId).toBe(file.api_keys.find((k) => k.key_hash === keyHash)?.id)
    }
  })

  it('should give empty lists to an organisation with no provider keys or rules', () => {
    const bare: TenantsFile = {
      version: 1,
      organizations: [org('org_c', 'gamma', {})],
      api_keys: [apiKey('key_c1', 'org_c', hash('c'))],
      provider_keys: [],
      routing_rules: [],
    }
    const doc = indexTenants(bare).get(hash('c'))
    expect(doc?.provider_keys).toStrictEqual([])
    expect(doc?.routing_rules).toStrictEqual([])
    expect(() => parseKeyConfig(doc)).not.toThrow()
  })

  it("should pass each rule's params through, and {} for a rule that has none", () => {
    const params = { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' }
    const withParams: TenantsFile = {
      ...file,
      routing_rules: [
        {
          ...rule('r_b_feedback', 'org_b', null, 'gpt-4o', 'b-feedback'),
          strategy: 'feedback',
          params,
        },
        ...file.routing_rules,
      ],
    }
    expect(TenantsFileSchema.safeParse(withParams).success).toBe(true)
    const doc = indexTenants(withParams).get(HASH_B1)
    expect(doc?.routing_rules.map((r) => [r.strategy, r.params])).toStrictEqual([
      ['feedback', params],
      ['fallback', {}],
    ])
    expect(parseKeyConfig(doc).routingRules.map((r) => r.params)).toStrictEqual([params, {}])
  })

  it('should leave the tenants file untouched', () => {
    const before = JSON.stringify(file)
    indexTenants(file)
    expect(JSON.stringify(file)).toBe(before)
  })
})

describe('DEV_KEY_CONFIG', () => {
  it('should parse as an active, unlimited test-mode tenant with no provider keys', () => {
    const tenant = parseKeyConfig(DEV_KEY_CONFIG)
    expect(tenant.mode).toBe('test')
    expect(tenant.org.subscriptionStatus).toBe('active')
    expect([tenant.keyRpm, tenant.org.rpm, tenant.org.monthlyRequestLimit]).toStrictEqual([
      null,
      null,
      null,
    ])
    expect(tenant.providerKeys.size).toBe(0)
  })
})

describe('embeddedKeyStore', () => {
  it("should answer the dev key's hash with DEV_KEY_CONFIG", async () => {
    const devKey = generateApiKey('test')
    const store = embeddedKeyStore(undefined, devKey)
    expect(await store.lookup(await hashApiKey(devKey))).toBe(DEV_KEY_CONFIG)
  })

  it('should answer null for an unknown hash', async () => {
    const store = embeddedKeyStore(file, generateApiKey('test'))
    expect(await store.lookup(await hashApiKey(generateApiKey('live')))).toBeNull()
    expect(await store.lookup(HASH_A3_REVOKED)).toBeNull()
  })

  it("should answer a tenants file key's hash with its document", async () => {
    const store = embeddedKeyStore(file, undefined)
    expect(await store.lookup(HASH_A1)).toStrictEqual(documentFor(HASH_A1))
  })

  it('should answer null for everything with neither a tenants file nor a dev key', async () => {
    const store = embeddedKeyStore(undefined, undefined)
    expect(await store.lookup(await hashApiKey(generateApiKey('test')))).toBeNull()
  })

  it('should not take the dev key itself, only its hash', async () => {
    const devKey = generateApiKey('test')
    const store = embeddedKeyStore(undefined, devKey)
    expect(await store.lookup(devKey)).toBeNull()
  })

  it('should find a real key issued into the tenants file by its hash', async () => {
    const issued = generateApiKey('live')
    const withIssued: TenantsFile = {
      ...file,
      api_keys: [...file.api_keys, apiKey('key_new', 'org_b', await hashApiKey(issued))],
    }
    const doc = await embeddedKeyStore(withIssued, undefined).lookup(await hashApiKey(issued))
    expect(parseKeyConfig(doc).keyId).toBe('key_new')
  })
})
