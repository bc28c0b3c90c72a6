/** @module Small helpers shared by the unit tests that run inside workerd (no Node imports). */
import { builtinProvider } from '../../src/config'
import type { FirewallBackend } from '../../src/firewall/check'
import { PROVIDERS } from '../../src/providers/registry'
import type { Tenant } from '../../src/tenancy/tenant'
import type { Target, Usage } from '../../src/types'

/** A seeded PRNG (mulberry32), so a failing random case can be replayed from its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A tenant as authentication hands it to the stages: key `key_1` ("ci", live, no limit of its
 * own) of organisation `org_1` ("acme", plan pro, active, no limits, no features or settings),
 * no provider keys, no routing rules. `org` overrides the organisation's fields (its `id` is the
 * tenant's `orgId` too), `rest` the tenant's own.
 */
export const testTenant = (
  org: Partial<Tenant['org']> = {},
  rest: Partial<Omit<Tenant, 'org' | 'orgId'>> = {},
): Tenant => {
  const id = org.id ?? 'org_1'
  return {
    orgId: id,
    keyId: 'key_1',
    keyName: 'ci',
    mode: 'live',
    keyRpm: null,
    org: {
      id,
      slug: 'acme',
      name: 'Acme',
      plan: 'pro',
      subscriptionStatus: 'active',
      monthlyRequestLimit: null,
      rpm: null,
      features: {},
      settings: {},
      ...org,
    },
    providerKeys: new Map(),
    routingRules: [],
    keySettings: {},
    ...rest,
  }
}

/** A `Usage` value, positionally: prompt, completion, total, cached, reasoning. */
export const usage = (p: number, c: number, t: number, cached = 0, reasoning = 0): Usage => ({
  promptTokens: p,
  completionTokens: c,
  totalTokens: t,
  cachedTokens: cached,
  reasoningTokens: reasoning,
})

/**
 * A chat target on a built-in provider at its default base URL, sent with the operator's key
 * (`apiKey`; `undefined`: none configured), as route resolves it.
 */
export const operatorTarget = (id: string, model: string, apiKey: string | undefined): Target => {
  const spec = PROVIDERS.find((s) => s.id === id)
  if (spec === undefined) throw new Error(`the registry has no ${id}`)
  const provider = builtinProvider(spec, apiKey, undefined)
  return {
    provider,
    model,
    url: new URL(`${provider.baseUrl}/chat/completions`),
    key: 'operator',
    healthId: `${id}/${model}`,
  }
}

/** A `FIREWALL_MODEL` entry for `[id](model)`, called with the operator's `apiKey`. */
export const firewallBackend = (
  id: string,
  model: string,
  apiKey: string,
  weight = 1,
): FirewallBackend => ({
  target: operatorTarget(id, model, apiKey),
  weight,
  ref: `[${id}](${model})`,
})
