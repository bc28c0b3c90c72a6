/**
 * @module Who is calling: a key's whole configuration, as one value the stages read.
 *
 * The config store answers a key hash with one JSON document (`gateway_resolve_key` in
 * `migrations/postgres`; the embedded store builds the same document). It is cached in Redis as
 * that JSON and parsed here, once per isolate memo fill, into a `Tenant`. Anything malformed is a
 * store fault, not a client error: `parseKeyConfig` throws and the caller treats the store as
 * unavailable.
 */
import * as z from 'zod'
import {
  OrganizationConfigSchema,
  ROUTING_STRATEGIES,
  RoutingTargetsSchema,
  RuleParamsSchema,
  SettingsSchema,
  type Settings,
  type RoutingStrategy,
  type RuleParams,
  type SubscriptionStatus,
  type TargetKey,
} from './schema'

export type { SubscriptionStatus }

export type RoutingRule = {
  /** `null`: the organisation's rule; otherwise the key's own. */
  readonly apiKeyId: string | null
  /** `null`: applies to any requested model. */
  readonly model: string | null
  readonly strategy: RoutingStrategy
  readonly targets: readonly {
    readonly provider: string
    readonly model: string
    readonly weight?: number | undefined
    /**
     * `organization`: the organisation's stored key (required); `operator`: the gateway's, even
     * when the organisation stored one. Absent: the organisation's if stored, else the operator's.
     */
    readonly key?: TargetKey | undefined
  }[]
  /** The `feedback` strategy's parameters; `{}` when none were set. */
  readonly params?: RuleParams | undefined
}

export type Organization = {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly plan: string
  readonly subscriptionStatus: SubscriptionStatus
  /** Requests per calendar month (UTC); `null`: unlimited. */
  readonly monthlyRequestLimit: number | null
  /** Requests per minute across all the organisation's keys; `null`: unlimited. */
  readonly rpm: number | null
  readonly features: Readonly<Record<string, unknown>>
  readonly settings: Settings
}

export type Tenant = {
  readonly orgId: string
  readonly keyId: string
  readonly keyName: string
  readonly mode: 'live' | 'test'
  /** Requests per minute for this key; `null`: only the organisation's limit applies. */
  readonly keyRpm: number | null
  readonly org: Organization
  /** Sealed provider keys by provider id (opened only at dispatch, see `security/vault.ts`). */
  readonly providerKeys: ReadonlyMap<string, string>
  readonly routingRules: readonly RoutingRule[]
  /** The key's own settings, which override the organisation's field by field. */
  readonly keySettings: Settings
}

const limit = z.number().int().nonnegative().nullable()

/** The document `gateway_resolve_key` returns (snake_case, as stored). */
export const KeyConfigJson = z.object({
  key: z.object({
    id: z.string().min(1),
    name: z.string(),
    mode: z.enum(['live', 'test']),
    rpm_limit: limit,
    /** Absent before migration 0004: none. */
    settings: SettingsSchema.optional(),
  }),
  org: OrganizationConfigSchema,
  provider_keys: z.array(z.object({ provider: z.string().min(1), envelope: z.string().min(1) })),
  routing_rules: z.array(
    z.object({
      api_key_id: z.string().nullable(),
      model: z.string().nullable(),
      strategy: z.enum(ROUTING_STRATEGIES),
      targets: RoutingTargetsSchema,
      /** Absent before migration 0005 (and in older tenants files): none. */
      params: RuleParamsSchema.optional(),
    }),
  ),
})

export type KeyConfigJson = z.infer<typeof KeyConfigJson>

/** Parses a stored key document; throws (a store fault) when it does not have the agreed shape. */
export const parseKeyConfig = (json: unknown): Tenant => {
  const { key, org, provider_keys, routing_rules } = KeyConfigJson.parse(json)
  return {
    orgId: org.id,
    keyId: key.id,
    keyName: key.name,
    mode: key.mode,
    keyRpm: key.rpm_limit,
    org: {
      id: org.id,
      slug: org.slug,
      name: org.name,
      plan: org.plan,
      subscriptionStatus: org.subscription_status,
      monthlyRequestLimit: org.monthly_request_limit,
      rpm: org.rpm_limit,
      features: org.features,
      settings: org.settings ?? {},
    },
    providerKeys: new Map(provider_keys.map((k) => [k.provider, k.envelope])),
    routingRules: routing_rules.map((rule) => ({
      apiKeyId: rule.api_key_id,
      model: rule.model,
      strategy: rule.strategy,
      targets: rule.targets,
      params: rule.params ?? {},
    })),
    keySettings: key.settings ?? {},
  }
}
