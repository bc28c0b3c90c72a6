/**
 * @module The embedded key store: the tenants file (`FLOOPY_TENANTS`, written by the admin CLI's
 * local store) plus the built-in dev organisation whose key is `FLOOPY_DEV_API_KEY`.
 *
 * It answers a key hash with the same document `gateway_resolve_key` returns from Postgres, built
 * once per configuration, so everything after the lookup is the same code in dev and production.
 */
import type { KeyStore } from '..'
import { hashApiKey } from '../../security/api-key'
import type { KeyConfigJson } from '../../tenancy/tenant'
import type { RoutingRuleRow, TenantsFile } from './tenants-file'

/** The dev organisation: unlimited, active, no provider keys of its own (it uses the operator's). */
export const DEV_KEY_CONFIG: KeyConfigJson = {
  key: { id: 'key_dev', name: 'dev', mode: 'test', rpm_limit: null },
  org: {
    id: 'org_dev',
    slug: 'dev',
    name: 'Dev organisation',
    plan: 'dev',
    subscription_status: 'active',
    monthly_request_limit: null,
    rpm_limit: null,
    features: {},
  },
  provider_keys: [],
  routing_rules: [],
}

/** Key-specific rules first, then model-specific ones by model (the SQL function's order). */
const byRule = (a: RoutingRuleRow, b: RoutingRuleRow): number => {
  const rank = (rule: RoutingRuleRow): number =>
    (rule.api_key_id === null ? 2 : 0) + (rule.model === null ? 1 : 0)
  return rank(a) - rank(b) || (a.model ?? '').localeCompare(b.model ?? '')
}

const byProvider = (a: { provider: string }, b: { provider: string }): number =>
  a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0

/** Every active key's document, by key hash. */
export const indexTenants = (file: TenantsFile): Map<string, KeyConfigJson> => {
  const index = new Map<string, KeyConfigJson>()
  const orgs = new Map(file.organizations.map((org) => [org.id, org]))
  for (const key of file.api_keys) {
    const org = orgs.get(key.org_id)
    if (key.revoked_at !== null || org === undefined) continue
    index.set(key.key_hash, {
      key: {
        id: key.id,
        name: key.name,
        mode: key.mode,
        rpm_limit: key.rpm_limit,
        settings: key.settings ?? {},
      },
      org: {
        id: org.id,
        slug: org.slug,
        name: org.name,
        plan: org.plan,
        subscription_status: org.subscription_status,
        monthly_request_limit: org.monthly_request_limit,
        rpm_limit: org.rpm_limit,
        features: org.features,
        settings: org.settings ?? {},
      },
      provider_keys: file.provider_keys
        .filter((pk) => pk.org_id === org.id)
        .map((pk) => ({ provider: pk.provider, envelope: pk.envelope }))
        .sort(byProvider),
      routing_rules: file.routing_rules
        .filter((r) => r.org_id === org.id && (r.api_key_id === null || r.api_key_id === key.id))
        .sort(byRule)
        .map((r) => ({
          api_key_id: r.api_key_id,
          model: r.model,
          strategy: r.strategy,
          targets: r.targets,
          params: r.params ?? {},
        })),
    })
  }
  return index
}

export const embeddedKeyStore = (
  tenants: TenantsFile | undefined,
  devApiKey: string | undefined,
): KeyStore => {
  const index = tenants === undefined ? new Map<string, KeyConfigJson>() : indexTenants(tenants)
  const devHash = devApiKey === undefined ? undefined : hashApiKey(devApiKey)
  return {
    async lookup(keyHash) {
      if (devHash !== undefined && keyHash === (await devHash)) return DEV_KEY_CONFIG
      return index.get(keyHash) ?? null
    },
  }
}
