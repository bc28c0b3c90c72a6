/**
 * @module The Supabase tenant store: every operation is one `rpc()` to an `admin_*` SQL function
 * of `migrations/postgres` (each returns jsonb), so the logic and its constraints live in SQL and
 * this file only maps arguments and checks the shape of the answer.
 *
 * Errors: PostgREST passes the SQLSTATE through as `code`. `P0002` (no_data_found, which PostgREST
 * answers with HTTP 404) is an unknown organisation, key, prompt or prompt version; `23505` a
 * uniqueness conflict; the class-22/23 data and constraint errors and `P0001` (a function's own
 * `raise`) are refusals of the input. Only the error's `message` is shown: `details` can quote a
 * whole row.
 */
import { createClient } from '@supabase/supabase-js'
import type * as z from 'zod'
import {
  ApiKeyInfo,
  Deleted,
  firstIssue,
  Organization,
  OrganizationWithCount,
  PromptSummary,
  PromptVersionCreated,
  PromptVersionDetails,
  ProviderKeyInfo,
  ProviderKeyRecord,
  RevokedKey,
  RoutingRule,
  Updated,
} from './rows.ts'
import {
  duplicateSlugMessage,
  foreignKeyMessage,
  StoreError,
  type AdminStore,
  type StoreErrorKind,
} from './store.ts'

type PostgrestFailure = { code?: string; message?: string }

const kindOf = (code: string): StoreErrorKind => {
  if (code === 'P0002') return 'not-found'
  if (code === '23505') return 'conflict'
  if (code === 'P0001' || code.startsWith('22') || code.startsWith('23')) return 'invalid'
  return 'unavailable'
}

const failure = (
  fn: string,
  error: PostgrestFailure,
  messages: Record<string, string> = {},
): StoreError => {
  const code = error.code ?? ''
  const own = messages[code]
  if (own !== undefined) return new StoreError(kindOf(code), own)
  const message = (error.message ?? 'request failed').split('\n', 1)[0] ?? ''
  if (code === 'PGRST202' || code === '42883') {
    return new StoreError(
      'unavailable',
      `the database has no ${fn}(): apply migrations/postgres (${message})`,
    )
  }
  const kind = kindOf(code)
  return new StoreError(kind, kind === 'unavailable' ? `Supabase ${fn}: ${message}` : message)
}

/** The Supabase store at `url`, with the service-role key (it bypasses row-level security). */
export const supabaseStore = (url: string, serviceRoleKey: string): AdminStore => {
  const client = createClient(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  })

  const call = async <T>(
    fn: string,
    args: Record<string, unknown>,
    schema: z.ZodType<T>,
    messages?: Record<string, string>,
  ): Promise<T> => {
    let response
    try {
      response = await client.rpc(fn, args)
    } catch (error) {
      // supabase-js reports HTTP failures as values; a throw is a transport fault.
      const message = error instanceof Error ? error.message : String(error)
      throw new StoreError('unavailable', `Supabase ${fn}: ${message}`)
    }
    if (response.error !== null) throw failure(fn, response.error, messages)
    const data: unknown = response.data
    const parsed = schema.safeParse(data)
    if (!parsed.success) {
      throw new StoreError(
        'unavailable',
        `Supabase ${fn} answered an unexpected shape (${firstIssue(parsed.error)})`,
      )
    }
    return parsed.data
  }

  /** Drops `undefined` members, so SQL defaults apply to the arguments not given. */
  const defined = (args: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined))

  return {
    kind: 'supabase',

    createOrg: (org) =>
      call(
        'admin_create_org',
        defined({
          p_slug: org.slug,
          p_name: org.name,
          p_plan: org.plan,
          p_subscription_status: org.subscription_status,
          p_monthly_request_limit: org.monthly_request_limit,
          p_rpm_limit: org.rpm_limit,
          p_features: org.features,
          p_settings: org.settings,
        }),
        Organization,
        { '23505': duplicateSlugMessage(org.slug) },
      ),

    updateOrg: (org, changes) =>
      call('admin_update_org', { p_org: org, p_changes: changes }, Organization),

    listOrgs: () => call('admin_list_orgs', {}, Organization.array()),

    getOrg: (org) => call('admin_get_org', { p_org: org }, OrganizationWithCount),

    createApiKey: (org, key) =>
      call(
        'admin_create_api_key',
        defined({
          p_org: org,
          p_key_hash: key.key_hash,
          p_display_prefix: key.display_prefix,
          p_last4: key.last4,
          p_mode: key.mode,
          p_name: key.name,
          p_rpm_limit: key.rpm_limit,
          p_settings: key.settings,
        }),
        ApiKeyInfo,
      ),

    listApiKeys: (org) => call('admin_list_api_keys', { p_org: org }, ApiKeyInfo.array()),

    updateApiKey: (keyId, changes) =>
      call('admin_update_api_key', { p_key_id: keyId, p_changes: changes }, ApiKeyInfo),

    revokeApiKey: (keyId) => call('admin_revoke_api_key', { p_key_id: keyId }, RevokedKey),

    putProviderKey: (org, provider, envelope) =>
      call(
        'admin_put_provider_key',
        { p_org: org, p_provider: provider, p_envelope: envelope },
        ProviderKeyInfo,
      ),

    listProviderKeys: (org) =>
      call('admin_list_provider_keys', { p_org: org }, ProviderKeyRecord.array()),

    rewrapProviderKey: async (id, oldEnvelope, newEnvelope) =>
      (
        await call(
          'admin_rewrap_provider_key',
          { p_id: id, p_old_envelope: oldEnvelope, p_new_envelope: newEnvelope },
          Updated,
        )
      ).updated,

    deleteProviderKey: async (org, provider) =>
      (await call('admin_delete_provider_key', { p_org: org, p_provider: provider }, Deleted))
        .deleted,

    setRoutingRule: (org, rule) =>
      call(
        'admin_set_routing_rule',
        {
          p_org: org,
          p_strategy: rule.strategy,
          p_targets: rule.targets,
          p_api_key_id: rule.apiKeyId,
          p_model: rule.model,
          p_params: rule.params,
        },
        RoutingRule,
        // routing_rules_api_key_same_org_fkey: the key exists but is another org's
        rule.apiKeyId === null ? {} : { '23503': foreignKeyMessage(rule.apiKeyId, org) },
      ),

    listRoutingRules: (org) =>
      call('admin_list_routing_rules', { p_org: org }, RoutingRule.array()),

    deleteRoutingRule: async (org, scope) =>
      (
        await call(
          'admin_delete_routing_rule',
          { p_org: org, p_api_key_id: scope.apiKeyId, p_model: scope.model },
          Deleted,
        )
      ).deleted,

    createPromptVersion: (org, promptId, template) =>
      call(
        'admin_create_prompt_version',
        { p_org: org, p_prompt_id: promptId, p_template: template },
        PromptVersionCreated,
      ),

    listPrompts: (org) => call('admin_list_prompts', { p_org: org }, PromptSummary.array()),

    getPrompt: (org, promptId, selector) =>
      call(
        'admin_get_prompt',
        { p_org: org, p_prompt_id: promptId, p_selector: selector ?? null },
        PromptVersionDetails,
      ),

    labelPrompt: (org, promptId, version, label) =>
      call(
        'admin_label_prompt',
        { p_org: org, p_prompt_id: promptId, p_version: version, p_label: label },
        PromptSummary,
      ),

    deletePrompt: async (org, promptId) =>
      (await call('admin_delete_prompt', { p_org: org, p_prompt_id: promptId }, Deleted)).deleted,
  }
}
