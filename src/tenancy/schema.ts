/**
 * @module The tenancy vocabulary, written once: subscription statuses, routing strategies, whose key
 * a target uses, a routing rule's targets, and an organisation's columns. The gateway's key
 * documents (`tenant.ts`), the embedded tenants file (`stores/embedded/`) and the admin CLI all
 * derive from here, and a test holds the Postgres schema (`migrations/postgres`) to the same lists
 * (`test/e2e/postgres.test.ts`).
 *
 * No relative imports, so the admin CLI loads this module under plain Node.
 */
import { z } from 'zod'

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
})

/** An `organizations` row: every column. */
export const OrganizationSchema = OrganizationConfigSchema.extend({
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
})

export type OrganizationRow = z.infer<typeof OrganizationSchema>
