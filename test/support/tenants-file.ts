/**
 * @module A tenants file (`FLOOPY_TENANTS`) for tests: one organisation and one live key, plus
 * whatever rows a test adds (routing rules, prompts). No Node imports: runs inside workerd too.
 */
import { generateApiKey, hashApiKey } from '../../src/security/api-key'
import type { TenantsFile } from '../../src/stores/embedded/tenants-file'
import type { OrganizationRow } from '../../src/tenancy/schema'

export const NOW = '2026-11-22T00:00:00.000Z'

export type TestTenant = {
  readonly key: string
  readonly orgId: string
  readonly file: TenantsFile
}

/** An organisation `orgId` with one live key; `extra` adds or replaces rows. */
export const tenantsFile = async (
  orgId: string,
  extra: Partial<Omit<TenantsFile, 'version'>> = {},
  org: Partial<OrganizationRow> = {},
): Promise<TestTenant> => {
  const key = generateApiKey('live')
  const file: TenantsFile = {
    version: 1,
    organizations: [
      {
        id: orgId,
        slug: orgId.replaceAll('_', '-'),
        name: orgId,
        plan: 'pro',
        subscription_status: 'active',
        monthly_request_limit: null,
        rpm_limit: null,
        features: {},
        created_at: NOW,
        updated_at: NOW,
        ...org,
      },
    ],
    api_keys: [
      {
        id: `key_${orgId}`,
        org_id: orgId,
        name: 'test',
        key_hash: await hashApiKey(key),
        display_prefix: key.slice(0, 16),
        last4: key.slice(-4),
        mode: 'live',
        rpm_limit: null,
        created_at: NOW,
        revoked_at: null,
      },
    ],
    provider_keys: [],
    routing_rules: [],
    ...extra,
  }
  return { key, orgId, file }
}

/** Two tenants files as one (another organisation beside the first). */
export const mergeTenants = (a: TenantsFile, b: TenantsFile): TenantsFile => ({
  version: 1,
  organizations: [...a.organizations, ...b.organizations],
  api_keys: [...a.api_keys, ...b.api_keys],
  provider_keys: [...a.provider_keys, ...b.provider_keys],
  routing_rules: [...a.routing_rules, ...b.routing_rules],
  prompts: [...(a.prompts ?? []), ...(b.prompts ?? [])],
  prompt_versions: [...(a.prompt_versions ?? []), ...(b.prompt_versions ?? [])],
})
