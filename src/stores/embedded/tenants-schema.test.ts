/**
 * Proves the tenants file's schema reads a routing rule's `params` as the key documents do
 * (`RuleParamsSchema`): optional (files written before migration 0005 have none), kept when
 * valid, and the whole file refused, naming the field, when a rule's params are malformed — as
 * for any other malformed row.
 */
import { describe, expect, it } from 'vitest'
import type { RoutingRuleRow, TenantsFile } from './tenants-file'
import { TenantsFileSchema } from './tenants-schema'

const AT = '2025-01-01T00:00:00.000Z'

/** A one-organisation file whose one rule is `rule` over the defaults. */
const fileWith = (rule: Record<string, unknown>): unknown => ({
  version: 1,
  organizations: [
    {
      id: 'org_a',
      slug: 'acme',
      name: 'Acme',
      plan: 'pro',
      subscription_status: 'active',
      monthly_request_limit: null,
      rpm_limit: null,
      features: {},
      created_at: AT,
      updated_at: AT,
    },
  ],
  api_keys: [],
  provider_keys: [],
  routing_rules: [
    {
      id: 'r_1',
      org_id: 'org_a',
      api_key_id: null,
      model: null,
      strategy: 'feedback',
      targets: [
        { provider: 'openai', model: 'gpt-4o' },
        { provider: 'anthropic', model: 'claude-sonnet-4-5' },
      ],
      created_at: AT,
      updated_at: AT,
      ...rule,
    },
  ],
})

const ruleOf = (file: TenantsFile): RoutingRuleRow | undefined => file.routing_rules[0]

describe('TenantsFileSchema: routing rule params', () => {
  it('should read a rule without params as one without (a file from before 0005)', () => {
    const parsed = TenantsFileSchema.parse(fileWith({}))
    expect(ruleOf(parsed)).not.toHaveProperty('params')
  })

  it.each<[string, Record<string, unknown>]>([
    ['no member', {}],
    ['every member', { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' }],
    ['zero weights', { cost_weight: 0, latency_weight: 0 }],
    ['the default metric named', { metric: 'rating' }],
  ])('should keep params with %s', (_name, params) => {
    const parsed = TenantsFileSchema.parse(fileWith({ params }))
    expect(ruleOf(parsed)?.params).toStrictEqual(params)
  })

  it.each<[string, unknown]>([
    ['a list', [{ cost_weight: 1 }]],
    ['null', null],
    ['text', 'cost_weight=1'],
    ['a negative cost weight', { cost_weight: -1 }],
    ['a cost weight as text', { cost_weight: '0.5' }],
    ['a negative latency weight', { latency_weight: -0.001 }],
    ['a null latency weight', { latency_weight: null }],
    ['a capitalised metric', { metric: 'Helpful' }],
    ['a metric with a space', { metric: 'thumbs up' }],
    ['a metric of 33 characters', { metric: `m${'x'.repeat(32)}` }],
  ])('should refuse the file when a rule has params as %s, naming the field', (_name, params) => {
    const result = TenantsFileSchema.safeParse(fileWith({ params }))
    expect(result.success).toBe(false)
    const paths = result.error?.issues.map((issue) => issue.path.join('.')) ?? []
    expect(paths[0]).toMatch(/^routing_rules\.0\.params(\.|$)/)
  })
})
