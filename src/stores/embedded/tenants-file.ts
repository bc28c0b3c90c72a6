/**
 * @module The embedded tenant store's file format: the same four tables as the Postgres schema
 * (`migrations/postgres`), as JSON. The admin CLI writes it (`.floopy/tenants.json` by default);
 * `npm run dev` hands it to the gateway as the `FLOOPY_TENANTS` binding.
 *
 * Rows carry the same columns as the tables, so one mental model serves both stores; the
 * vocabulary they share with the key documents is `tenancy/schema.ts`. (Type imports only, so
 * the CLI can load this module under plain Node.)
 */
import type {
  OrganizationRow,
  RoutingStrategy,
  RoutingTargetRow,
  RuleParams,
  Settings,
} from '../../tenancy/schema'

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
  /** The key's own settings (`tenancy/schema.ts`), over the organisation's; absent: none. */
  settings?: Settings | undefined
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
  /** The `feedback` strategy's parameters (`tenancy/schema.ts`); absent: none. */
  params?: RuleParams | undefined
  created_at: string
  updated_at: string
}

/** A prompt of an organisation (`prompts`); its versions are `PromptVersionRow`s. */
export type PromptRow = {
  id: string
  org_id: string
  /** The id requests name in `floopy-prompt-id` (unique within the organisation). */
  prompt_id: string
  /** Label → version number (`production`, `staging`, …); labels move, versions never change. */
  labels: Record<string, number>
  created_at: string
  updated_at: string
}

/** One immutable version of a prompt (`prompt_versions`): numbered 1, 2, … in order. */
export type PromptVersionRow = {
  /** `PromptRow.id`. */
  prompt: string
  version: number
  /** `{ messages, model?, params? }` (`prompts/template.ts`). */
  template: unknown
  created_at: string
}

export type TenantsFile = {
  version: 1
  organizations: OrganizationRow[]
  api_keys: ApiKeyRow[]
  provider_keys: ProviderKeyRow[]
  routing_rules: RoutingRuleRow[]
  /** Absent in files written before prompts existed: none. */
  prompts?: PromptRow[]
  prompt_versions?: PromptVersionRow[]
}

export const emptyTenantsFile = (): TenantsFile => ({
  version: 1,
  organizations: [],
  api_keys: [],
  provider_keys: [],
  routing_rules: [],
  prompts: [],
  prompt_versions: [],
})
