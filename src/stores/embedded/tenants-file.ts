/**
 * @module The embedded tenant store's file format: the same four tables as the Postgres schema
 * (`migrations/postgres`), as JSON. The admin CLI writes it (`.floopy/tenants.json` by default);
 * `npm run dev` hands it to the gateway as the `FLOOPY_TENANTS` binding.
 *
 * Rows carry the same columns as the tables, so one mental model serves both stores. (No relative
 * imports, so the CLI can load this module under plain Node.)
 */

/** Stripe's subscription statuses, as the organisations table allows them. */
export const SUBSCRIPTION_STATUSES = [
  'trialing',
  'active',
  'past_due',
  'paused',
  'incomplete',
  'incomplete_expired',
  'unpaid',
  'canceled',
] as const

export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number]

export const ROUTING_STRATEGIES = ['fallback', 'round-robin', 'weighted', 'latency'] as const

export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number]

/**
 * Which provider key a routing target is sent with (`routing_rules.targets[].key`):
 * `organization`, the organisation's own stored key, which the target then requires; `operator`,
 * the gateway's `<PROVIDER>_API_KEY` even when the organisation stored its own. Absent: the
 * organisation's key when it stored one for the provider, the operator's otherwise.
 */
export const TARGET_KEYS = ['organization', 'operator'] as const

export type TargetKey = (typeof TARGET_KEYS)[number]

export type RoutingTargetRow = {
  provider: string
  model: string
  weight?: number | undefined
  /** Absent: the organisation's key if it stored one for the provider, else the operator's. */
  key?: TargetKey | undefined
}

export type OrganizationRow = {
  id: string
  slug: string
  name: string
  plan: string
  subscription_status: SubscriptionStatus
  /** `null`: unlimited. */
  monthly_request_limit: number | null
  /** `null`: unlimited. */
  rpm_limit: number | null
  features: Record<string, unknown>
  created_at: string
  updated_at: string
}

export type ApiKeyRow = {
  id: string
  org_id: string
  name: string
  /** Lowercase hex SHA-256 of the whole key; the key itself is never stored. */
  key_hash: string
  display_prefix: string
  last4: string
  mode: 'live' | 'test'
  /** `null`: no per-key limit. */
  rpm_limit: number | null
  created_at: string
  revoked_at: string | null
}

export type ProviderKeyRow = {
  id: string
  org_id: string
  provider: string
  /** The vault's sealed value, `v1.<kekId>.…` (see `security/vault.ts`). */
  envelope: string
  created_at: string
  updated_at: string
}

export type RoutingRuleRow = {
  id: string
  org_id: string
  /** `null`: the organisation's rule. */
  api_key_id: string | null
  /** `null`: any requested model. */
  model: string | null
  strategy: RoutingStrategy
  targets: RoutingTargetRow[]
  created_at: string
  updated_at: string
}

export type TenantsFile = {
  version: 1
  organizations: OrganizationRow[]
  api_keys: ApiKeyRow[]
  provider_keys: ProviderKeyRow[]
  routing_rules: RoutingRuleRow[]
}

export const emptyTenantsFile = (): TenantsFile => ({
  version: 1,
  organizations: [],
  api_keys: [],
  provider_keys: [],
  routing_rules: [],
})
