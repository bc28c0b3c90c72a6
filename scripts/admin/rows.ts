/**
 * @module Runtime shapes of what the stores hand back: the local file and the Supabase RPC
 * results are checked here before a command trusts them, so a schema drift shows up as one clear
 * error instead of `undefined` in a table.
 */
import * as z from 'zod'
import { PromptTemplateSchema, type PromptTemplate } from '../../src/prompts/template.ts'
import {
  type ApiKeyRow,
  type ProviderKeyRow,
  type RoutingRuleRow,
  type TenantsFile,
} from '../../src/stores/embedded/tenants-file.ts'
import {
  ROUTING_STRATEGIES,
  RuleParamsSchema,
  SettingsSchema,
  SUBSCRIPTION_STATUSES,
  TARGET_KEYS,
  type OrganizationRow,
  type RoutingTargetRow,
} from '../../src/tenancy/schema.ts'

const limit = z.number().int().nonnegative().nullable()

/**
 * An organisation's or a key's settings: `SettingsSchema`'s members checked, but loose, so members
 * a newer gateway knows are shown by `--json` and kept when the local file is written back. Rows
 * from before the column existed (migration 0004, older tenants files) have none: `{}`.
 */
export const StoredSettings = SettingsSchema.extend({
  cache: SettingsSchema.shape.cache.unwrap().loose().optional(),
  feedback: SettingsSchema.shape.feedback.unwrap().loose().optional(),
})
  .loose()
  .default({})

const organizationShape = {
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  plan: z.string(),
  subscription_status: z.enum(SUBSCRIPTION_STATUSES),
  monthly_request_limit: limit,
  rpm_limit: limit,
  features: z.record(z.string(), z.unknown()),
  settings: StoredSettings,
  created_at: z.string(),
  updated_at: z.string(),
}

export const Organization: z.ZodType<OrganizationRow> = z.object(organizationShape)

export type OrganizationDetails = OrganizationRow & { key_count: number }

export const OrganizationWithCount: z.ZodType<OrganizationDetails> = z.intersection(
  Organization,
  z.object({ key_count: z.number().int().nonnegative() }),
)

/** A key as listings show it: every column but the hash. */
export type ApiKeyInfo = Omit<ApiKeyRow, 'key_hash'>

const apiKeyInfoShape = {
  id: z.string(),
  org_id: z.string(),
  name: z.string(),
  display_prefix: z.string(),
  last4: z.string(),
  mode: z.enum(['live', 'test']),
  rpm_limit: limit,
  settings: StoredSettings,
  created_at: z.string(),
  revoked_at: z.string().nullable(),
}

/** Parsing strips unknown columns, so a `key_hash` sent by mistake never reaches the output. */
export const ApiKeyInfo: z.ZodType<ApiKeyInfo> = z.object(apiKeyInfoShape)

export type RevokedKey = { id: string; org_id: string; key_hash: string; revoked_at: string }

export const RevokedKey: z.ZodType<RevokedKey> = z.object({
  id: z.string(),
  org_id: z.string(),
  key_hash: z.string(),
  revoked_at: z.string(),
})

/** A provider key without its envelope: all a listing may show. */
export type ProviderKeyInfo = Omit<ProviderKeyRow, 'envelope'> & { kek_id: string }
export type ProviderKeyRecord = ProviderKeyRow & { kek_id: string }

const providerKeyInfoShape = {
  id: z.string(),
  org_id: z.string(),
  provider: z.string(),
  kek_id: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
}

export const ProviderKeyInfo: z.ZodType<ProviderKeyInfo> = z.object(providerKeyInfoShape)

export const ProviderKeyRecord: z.ZodType<ProviderKeyRecord> = z.object({
  ...providerKeyInfoShape,
  envelope: z.string(),
})

const Target: z.ZodType<RoutingTargetRow> = z.object({
  provider: z.string(),
  model: z.string(),
  weight: z.number().exactOptional(),
  key: z.enum(TARGET_KEYS).exactOptional(),
})

/**
 * A rule's parameters: `RuleParamsSchema`'s members checked, loose as settings are. Rules from
 * before the column existed (migration 0005, older tenants files) have none: `{}`.
 */
const StoredParams = RuleParamsSchema.loose().default({})

const routingRuleShape = {
  id: z.string(),
  org_id: z.string(),
  api_key_id: z.string().nullable(),
  model: z.string().nullable(),
  strategy: z.enum(ROUTING_STRATEGIES),
  targets: z.array(Target),
  params: StoredParams,
  created_at: z.string(),
  updated_at: z.string(),
}

export const RoutingRule: z.ZodType<RoutingRuleRow> = z.object(routingRuleShape)

/** Label → version number. */
const labels = z.record(z.string(), z.number().int().positive())

/** A prompt as `admin_list_prompts` lists it. */
export type PromptSummary = {
  prompt_id: string
  latest_version: number
  labels: Record<string, number>
  created_at: string
  updated_at: string
}

export const PromptSummary: z.ZodType<PromptSummary> = z.object({
  prompt_id: z.string(),
  latest_version: z.number().int().positive(),
  labels,
  created_at: z.string(),
  updated_at: z.string(),
})

/** What `admin_create_prompt_version` answers. */
export type PromptVersionCreated = { prompt_id: string; version: number; created_at: string }

export const PromptVersionCreated: z.ZodType<PromptVersionCreated> = z.object({
  prompt_id: z.string(),
  version: z.number().int().positive(),
  created_at: z.string(),
})

/** One version of a prompt (`admin_get_prompt`): `labels` are all the prompt's labels. */
export type PromptVersionDetails = {
  prompt_id: string
  version: number
  template: PromptTemplate
  labels: Record<string, number>
  /** When this version was created. */
  created_at: string
}

export const PromptVersionDetails: z.ZodType<PromptVersionDetails> = z.object({
  prompt_id: z.string(),
  version: z.number().int().positive(),
  template: PromptTemplateSchema,
  labels,
  created_at: z.string(),
})

export const Deleted = z.object({ deleted: z.boolean() })
export const Updated = z.object({ updated: z.boolean() })

/**
 * The local store's file. Loose objects: columns or tables this CLI does not know yet (a newer
 * gateway's) are kept as they are when the file is written back, not silently dropped.
 */
export const TenantsFileSchema: z.ZodType<TenantsFile> = z.looseObject({
  version: z.literal(1),
  organizations: z.array(z.looseObject(organizationShape)),
  api_keys: z.array(z.looseObject({ ...apiKeyInfoShape, key_hash: z.string() })),
  provider_keys: z.array(
    z.looseObject({
      id: z.string(),
      org_id: z.string(),
      provider: z.string(),
      envelope: z.string(),
      created_at: z.string(),
      updated_at: z.string(),
    }),
  ),
  routing_rules: z.array(z.looseObject(routingRuleShape)),
  // Absent from files written before prompts existed.
  prompts: z
    .array(
      z.looseObject({
        id: z.string(),
        org_id: z.string(),
        prompt_id: z.string(),
        labels,
        created_at: z.string(),
        updated_at: z.string(),
      }),
    )
    .exactOptional(),
  prompt_versions: z
    .array(
      z.looseObject({
        prompt: z.string(),
        version: z.number().int().positive(),
        template: PromptTemplateSchema,
        created_at: z.string(),
      }),
    )
    .exactOptional(),
})

/** The first problem zod found, as `path: message` (values are not echoed). */
export const firstIssue = (error: z.ZodError): string => {
  const issue = error.issues[0]
  if (issue === undefined) return 'unexpected shape'
  const where = issue.path.map(String).join('.')
  return where === '' ? issue.message : `${where}: ${issue.message}`
}
