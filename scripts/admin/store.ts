/**
 * @module The one interface both tenant stores implement: the local JSON file that `npm run dev`
 * reads, and Supabase through its `admin_*` SQL functions. The operations and their semantics are
 * those of the SQL functions in `migrations/postgres` (an `<org>` is a uuid or a slug; an unknown
 * organisation, key, prompt or prompt version is a `StoreError` of kind `not-found`).
 */
import type { PromptTemplate } from '../../src/prompts/template.ts'
import type { RoutingRuleRow } from '../../src/stores/embedded/tenants-file.ts'
import type {
  OrganizationRow,
  RoutingStrategy,
  RoutingTargetRow,
  RuleParams,
  Settings,
  SubscriptionStatus,
} from '../../src/tenancy/schema.ts'
import { CliError } from './cli.ts'
import type {
  ApiKeyInfo,
  OrganizationDetails,
  PromptSummary,
  PromptVersionCreated,
  PromptVersionDetails,
  ProviderKeyInfo,
  ProviderKeyRecord,
  RevokedKey,
} from './rows.ts'

/**
 * A change to stored settings, merged member by member as `features` are: only the members given
 * change, and a `null` member is removed (an organisation's then takes the gateway's default, a
 * key's its organisation's).
 */
export type SettingsChanges = {
  cache?: { enabled?: boolean | null; ttl_seconds?: number | null; threshold?: number | null }
  /** A metric set to `null` is removed; one given replaces its range. */
  feedback?: { metrics?: Record<string, { min: number; max: number } | null> }
}

export type NewOrganization = {
  slug: string
  name?: string
  plan?: string
  subscription_status?: SubscriptionStatus
  monthly_request_limit?: number | null
  rpm_limit?: number | null
  features?: Record<string, boolean>
  settings?: Settings
}

/**
 * Only the keys present change; a `null` limit is unlimited, a `null` feature or setting is
 * removed.
 */
export type OrganizationChanges = {
  name?: string
  plan?: string
  subscription_status?: SubscriptionStatus
  monthly_request_limit?: number | null
  rpm_limit?: number | null
  features?: Record<string, boolean | null>
  settings?: SettingsChanges
}

export type NewApiKey = {
  key_hash: string
  display_prefix: string
  last4: string
  mode: 'live' | 'test'
  name?: string
  rpm_limit?: number
  settings?: Settings
}

export type ApiKeyChanges = {
  name?: string
  rpm_limit?: number | null
  settings?: SettingsChanges
}

/** Which rule: the organisation's (`apiKeyId` null) or a key's, for any model (`model` null) or one. */
export type RuleScope = { apiKeyId: string | null; model: string | null }

export type RoutingRuleInput = RuleScope & {
  strategy: RoutingStrategy
  targets: RoutingTargetRow[]
  /** The `feedback` strategy's parameters; `{}` for none. Replaced with the rule, never merged. */
  params: RuleParams
}

export interface AdminStore {
  readonly kind: 'local' | 'supabase'
  createOrg(org: NewOrganization): Promise<OrganizationRow>
  updateOrg(org: string, changes: OrganizationChanges): Promise<OrganizationRow>
  listOrgs(): Promise<OrganizationRow[]>
  getOrg(org: string): Promise<OrganizationDetails>
  createApiKey(org: string, key: NewApiKey): Promise<ApiKeyInfo>
  listApiKeys(org: string): Promise<ApiKeyInfo[]>
  updateApiKey(keyId: string, changes: ApiKeyChanges): Promise<ApiKeyInfo>
  /** Keeps the first `revoked_at` when the key was already revoked. */
  revokeApiKey(keyId: string): Promise<RevokedKey>
  /** Inserts or replaces the organisation's key for `provider`. */
  putProviderKey(org: string, provider: string, envelope: string): Promise<ProviderKeyInfo>
  /** One organisation's provider keys, or every organisation's when `org` is null. */
  listProviderKeys(org: string | null): Promise<ProviderKeyRecord[]>
  /** Compare-and-set: false when the stored envelope is no longer `oldEnvelope`. */
  rewrapProviderKey(id: string, oldEnvelope: string, newEnvelope: string): Promise<boolean>
  deleteProviderKey(org: string, provider: string): Promise<boolean>
  /** Inserts or replaces the rule with the same (org, key, model). */
  setRoutingRule(org: string, rule: RoutingRuleInput): Promise<RoutingRuleRow>
  listRoutingRules(org: string): Promise<RoutingRuleRow[]>
  deleteRoutingRule(org: string, scope: RuleScope): Promise<boolean>
  /** Appends the next version (1, 2, …) of the prompt, creating the prompt when it is new. */
  createPromptVersion(
    org: string,
    promptId: string,
    template: PromptTemplate,
  ): Promise<PromptVersionCreated>
  /** The organisation's prompts, by prompt id. */
  listPrompts(org: string): Promise<PromptSummary[]>
  /**
   * The version `selector` picks (`selectVersion`: a number, a label, or `undefined` for the
   * `production` label's version, else the latest).
   */
  getPrompt(
    org: string,
    promptId: string,
    selector: string | undefined,
  ): Promise<PromptVersionDetails>
  /** Points `label` at an existing `version`, creating or moving it. */
  labelPrompt(org: string, promptId: string, version: number, label: string): Promise<PromptSummary>
  /** Deletes the prompt with all its versions; false when there was none. */
  deletePrompt(org: string, promptId: string): Promise<boolean>
}

export type StoreErrorKind = 'not-found' | 'conflict' | 'invalid' | 'unavailable'

/** A refusal or fault of the store, as one line for the operator (exit 1). */
export class StoreError extends CliError {
  readonly kind: StoreErrorKind

  constructor(kind: StoreErrorKind, message: string) {
    super(message)
    this.name = 'StoreError'
    this.kind = kind
  }
}

export const duplicateSlugMessage = (slug: string): string =>
  `an organization with slug '${slug}' exists`

/** A routing rule naming another organisation's key. */
export const foreignKeyMessage = (keyId: string, org: string): string =>
  `api key ${keyId} does not belong to organization ${org}`

/** The KEK id of a sealed value (`v1.<kekId>.…`), or `?` for something that is not one. */
export const kekIdOf = (envelope: string): string => {
  const [version, kekId] = envelope.split('.', 2)
  return version === 'v1' && kekId !== undefined && kekId !== '' ? kekId : '?'
}
