/**
 * @module The tenancy vocabulary, written once: subscription statuses, routing strategies, whose key
 * a target uses, a routing rule's targets, and an organisation's columns. The gateway's key
 * documents (`tenant.ts`), the embedded tenants file (`stores/embedded/`) and the admin CLI all
 * derive from here, and a test holds the Postgres schema (`migrations/postgres`) to the same lists
 * (`test/e2e/postgres.test.ts`).
 *
 * No relative imports, so the admin CLI loads this module under plain Node.
 */
import * as z from 'zod'

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

/** The routing strategies (`routing/strategies.ts` implements each). */
export const ROUTING_STRATEGIES = [
  'fallback',
  'round-robin',
  'weighted',
  'latency',
  'feedback',
] as const

export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number]

/**
 * Which provider key a routing target is sent with (`routing_rules.targets[].key`):
 * `organization`, the organisation's own stored key, which the target then requires; `operator`,
 * the gateway's `<PROVIDER>_API_KEY` even when the organisation stored its own. Absent: the
 * organisation's key when it stored one for the provider, the operator's otherwise.
 */
export const TARGET_KEYS = ['organization', 'operator'] as const

export type TargetKey = (typeof TARGET_KEYS)[number]

/** A routing rule's ordered targets (checked in every key document and in the tenants file). */
export const RoutingTargetsSchema = z
  .array(
    z.object({
      provider: z.string().min(1),
      model: z.string().min(1),
      weight: z.number().positive().optional(),
      key: z.enum(TARGET_KEYS).optional(),
    }),
  )
  .min(1)

export type RoutingTargetRow = z.infer<typeof RoutingTargetsSchema>[number]

/**
 * A routing rule's parameters (`routing_rules.params`), used by the `feedback` strategy: what a
 * target's draw loses per USD of price per million tokens (`cost_weight`) and per second of
 * latency (`latency_weight`), and which feedback metric it learns from (default `rating`).
 */
export const RuleParamsSchema = z.object({
  cost_weight: z.number().nonnegative().optional(),
  latency_weight: z.number().nonnegative().optional(),
  metric: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,31}$/)
    .optional(),
})

export type RuleParams = z.infer<typeof RuleParamsSchema>

/** A feedback metric's declared range (`settings.feedback.metrics`); `rating` defaults to [0, 1]. */
export const MetricRangeSchema = z
  .object({ min: z.number(), max: z.number() })
  .refine((range) => range.max > range.min, 'max must be above min')

/** The response cache's bounds (`docs/cache.md`). */
export const CACHE_TTL_SECONDS = { min: 60, max: 2_592_000, default: 604_800 } as const

/**
 * An organisation's or a key's settings (`organizations.settings`, `api_keys.settings`): a key's
 * override the organisation's, field by field. Absent fields take the gateway's defaults.
 */
export const SettingsSchema = z.object({
  cache: z
    .object({
      /** Whether responses are cached (a request may still say otherwise). Default off. */
      enabled: z.boolean().optional(),
      /** How long an answer is kept, in seconds. */
      ttl_seconds: z
        .number()
        .int()
        .min(CACHE_TTL_SECONDS.min)
        .max(CACHE_TTL_SECONDS.max)
        .optional(),
      /** The semantic tier's cosine similarity threshold (a request may only raise it). */
      threshold: z.number().gt(0).lte(1).optional(),
    })
    .optional(),
  feedback: z
    .object({
      /** The organisation's feedback metrics and their ranges, by name (`[a-z][a-z0-9_]*`). */
      metrics: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/), MetricRangeSchema).optional(),
    })
    .optional(),
})

export type Settings = z.infer<typeof SettingsSchema>

const limit = z.number().int().nonnegative().nullable()

/** What the gateway reads of an organisation (the columns `gateway_resolve_key` returns). */
export const OrganizationConfigSchema = z.object({
  id: z.string().min(1),
  slug: z.string().min(1),
  name: z.string(),
  plan: z.string(),
  subscription_status: z.enum(SUBSCRIPTION_STATUSES),
  /** `null`: unlimited. */
  monthly_request_limit: limit,
  /** `null`: unlimited. */
  rpm_limit: limit,
  features: z.record(z.string(), z.unknown()),
  /** Absent before migration 0004 (and in older tenants files): none. */
  settings: SettingsSchema.optional(),
})

/** An `organizations` row: every column. */
export const OrganizationSchema = OrganizationConfigSchema.extend({
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
})

export type OrganizationRow = z.infer<typeof OrganizationSchema>
