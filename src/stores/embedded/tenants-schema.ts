/**
 * @module The tenants file's schema (`tenants-file.ts`), checked when `FLOOPY_TENANTS` is loaded:
 * a hand-edited file with a typo fails at start-up naming the field, not at a request.
 */
import * as z from 'zod'
import {
  OrganizationSchema,
  ROUTING_STRATEGIES,
  RoutingTargetsSchema,
  RuleParamsSchema,
  SettingsSchema,
} from '../../tenancy/schema'
import { PROMPT_ID, PROMPT_LABEL, PromptTemplateSchema } from '../../prompts/template'
import type { TenantsFile } from './tenants-file'

const id = z.string().min(1)
const timestamp = z.string().min(1)
const limit = z.number().int().nonnegative().nullable()

export const TenantsFileSchema: z.ZodType<TenantsFile, string | object> = z.object({
  version: z.literal(1),
  organizations: z.array(OrganizationSchema),
  api_keys: z.array(
    z.object({
      id,
      org_id: id,
      name: z.string(),
      key_hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256'),
      display_prefix: z.string(),
      last4: z.string(),
      mode: z.enum(['live', 'test']),
      rpm_limit: limit,
      settings: SettingsSchema.optional(),
      created_at: timestamp,
      revoked_at: timestamp.nullable(),
    }),
  ),
  provider_keys: z.array(
    z.object({
      id,
      org_id: id,
      provider: z.string().min(1),
      envelope: z.string().startsWith('v1.'),
      created_at: timestamp,
      updated_at: timestamp,
    }),
  ),
  routing_rules: z.array(
    z.object({
      id,
      org_id: id,
      api_key_id: id.nullable(),
      model: z.string().min(1).nullable(),
      strategy: z.enum(ROUTING_STRATEGIES),
      targets: RoutingTargetsSchema,
      params: RuleParamsSchema.optional(),
      created_at: timestamp,
      updated_at: timestamp,
    }),
  ),
  // Files written before prompts existed have neither list.
  prompts: z
    .array(
      z.object({
        id,
        org_id: id,
        prompt_id: z.string().regex(PROMPT_ID, 'must be a prompt id'),
        labels: z.record(
          z.string().regex(PROMPT_LABEL, 'must be a label'),
          z.number().int().positive(),
        ),
        created_at: timestamp,
        updated_at: timestamp,
      }),
    )
    .default([]),
  prompt_versions: z
    .array(
      z.object({
        prompt: id,
        version: z.number().int().positive(),
        template: PromptTemplateSchema,
        created_at: timestamp,
      }),
    )
    .default([]),
})
