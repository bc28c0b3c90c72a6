/**
 * @module The local tenant store: a `TenantsFile` (`src/stores/embedded/tenants-file.ts`) on disk,
 * `.floopy/tenants.json` by default, that `npm run dev` hands to the gateway.
 *
 * It follows the SQL functions' semantics so the two stores are interchangeable: uuids from
 * `crypto.randomUUID`, ISO-8601 timestamps, unique slugs and key hashes, one routing rule per
 * (org, key, model), a rule's key belonging to its org, revocation keeping the first `revoked_at`,
 * settings merged member by member (`tenancy_merge_settings`) and checked as the database checks
 * them,
 * prompt versions numbered 1, 2, … per prompt, labels pointing at existing versions, versions
 * selected by `selectVersion` (the rule `gateway_resolve_prompt` follows), and a prompt's
 * versions deleted with it.
 *
 * Every change runs under an exclusive lock file (`<file>.lock`, created with `wx`) from read to
 * write, so two commands at once cannot lose each other's change; the file is written to a temp
 * file (mode 0600) in the same directory, synced and renamed over the old one, so a crash leaves
 * either the old file or the new one, never half of one. The directory is created with mode 0700.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { PromptTemplateSchema, selectVersion } from '../../src/prompts/template.ts'
import {
  emptyTenantsFile,
  type PromptRow,
  type PromptVersionRow,
  type RoutingRuleRow,
  type TenantsFile,
} from '../../src/stores/embedded/tenants-file.ts'
import { type OrganizationRow, type Settings } from '../../src/tenancy/schema.ts'
import { displayPath } from './output.ts'
import {
  firstIssue,
  StoredSettings,
  TenantsFileSchema,
  type ApiKeyInfo,
  type PromptSummary,
  type PromptVersionDetails,
} from './rows.ts'
import { isUuid } from './validate.ts'
import {
  duplicateSlugMessage,
  foreignKeyMessage,
  kekIdOf,
  StoreError,
  type AdminStore,
  type OrganizationChanges,
  type SettingsChanges,
} from './store.ts'

const LOCK_WAIT_MS = 5_000
/** A lock older than this was left by a crashed command and is taken over. */
const LOCK_STALE_MS = 30_000

const now = (): string => new Date().toISOString()

const withoutHash = ({ key_hash: _hash, ...key }: TenantsFile['api_keys'][number]): ApiKeyInfo =>
  key

/** Worded as the SQL functions word it (`tenancy_not_found`). */
const notFound = (what: string, value: string): never => {
  throw new StoreError('not-found', `${what} not found: ${value}`)
}

const findOrg = (file: TenantsFile, ref: string): OrganizationRow =>
  file.organizations.find((o) => (isUuid(ref) ? o.id === ref.toLowerCase() : o.slug === ref)) ??
  notFound('organization', ref)

const findKey = (file: TenantsFile, keyId: string): TenantsFile['api_keys'][number] =>
  file.api_keys.find((k) => k.id === keyId.toLowerCase()) ?? notFound('api key', keyId)

const findPrompt = (file: TenantsFile, orgId: string, promptId: string): PromptRow =>
  (file.prompts ?? []).find((p) => p.org_id === orgId && p.prompt_id === promptId) ??
  notFound('prompt', promptId)

/** A prompt's versions, oldest first. */
const versionsOf = (file: TenantsFile, prompt: PromptRow): PromptVersionRow[] =>
  (file.prompt_versions ?? [])
    .filter((v) => v.prompt === prompt.id)
    .toSorted((a, b) => a.version - b.version)

/** A prompt as `admin_list_prompts` lists it. */
const promptSummary = (file: TenantsFile, prompt: PromptRow): PromptSummary => ({
  prompt_id: prompt.prompt_id,
  latest_version: versionsOf(file, prompt).at(-1)?.version ?? 0,
  labels: { ...prompt.labels },
  created_at: prompt.created_at,
  updated_at: prompt.updated_at,
})

const sameScope = (
  rule: RoutingRuleRow,
  orgId: string,
  keyId: string | null,
  model: string | null,
) => rule.org_id === orgId && rule.api_key_id === keyId && rule.model === model

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * `changes` merged into `stored` as `tenancy_merge_settings` merges them: member by member at
 * every level, a `null` member removed, and so is an object left empty.
 */
const mergeMembers = (
  stored: Record<string, unknown>,
  changes: Record<string, unknown>,
): Record<string, unknown> => {
  const merged: Record<string, unknown> = {}
  for (const name of new Set([...Object.keys(stored), ...Object.keys(changes)])) {
    const change = changes[name]
    const value = isRecord(change)
      ? mergeMembers(isRecord(stored[name]) ? stored[name] : {}, change)
      : change === undefined
        ? stored[name]
        : change
    if (value === null || value === undefined) continue
    if (isRecord(value) && Object.keys(value).length === 0) continue
    merged[name] = value
  }
  return merged
}

/** The settings after `changes`, checked as the settings columns' check does. */
const applySettings = (
  stored: Settings | undefined,
  changes: SettingsChanges | Settings,
): Settings => {
  const parsed = StoredSettings.safeParse(mergeMembers(stored ?? {}, changes))
  if (!parsed.success) {
    throw new StoreError('invalid', `invalid settings (${firstIssue(parsed.error)})`)
  }
  return parsed.data
}

/** Applies org changes as `admin_update_org` does: features merged, a `null` feature removed. */
const applyOrgChanges = (org: OrganizationRow, changes: OrganizationChanges): void => {
  if (changes.name !== undefined) org.name = changes.name
  if (changes.plan !== undefined) org.plan = changes.plan
  if (changes.subscription_status !== undefined) {
    org.subscription_status = changes.subscription_status
  }
  if (changes.monthly_request_limit !== undefined) {
    org.monthly_request_limit = changes.monthly_request_limit
  }
  if (changes.rpm_limit !== undefined) org.rpm_limit = changes.rpm_limit
  if (changes.features !== undefined) {
    const features = { ...org.features }
    for (const [flag, value] of Object.entries(changes.features)) {
      if (value === null) Reflect.deleteProperty(features, flag)
      else features[flag] = value
    }
    org.features = features
  }
  if (changes.settings !== undefined) org.settings = applySettings(org.settings, changes.settings)
  org.updated_at = now()
}

const errorCode = (error: unknown): string | undefined =>
  error instanceof Error && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined

/** The local store on `file`. Nothing is created until the first change. */
export const localStore = (file: string): AdminStore => {
  const lockPath = `${file}.lock`
  const shownPath = displayPath(file)

  const read = async (): Promise<TenantsFile> => {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return emptyTenantsFile()
      throw new StoreError('unavailable', `cannot read ${shownPath}: ${errorCode(error) ?? ''}`)
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new StoreError('unavailable', `${shownPath} is not valid JSON`)
    }
    const parsed = TenantsFileSchema.safeParse(json)
    if (!parsed.success) {
      throw new StoreError(
        'unavailable',
        `${shownPath} is not a tenants file (${firstIssue(parsed.error)})`,
      )
    }
    return parsed.data
  }

  const write = async (data: TenantsFile): Promise<void> => {
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`)
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await rename(temp, file)
    } catch (error) {
      await rm(temp, { force: true })
      throw error
    }
  }

  const lock = async (): Promise<void> => {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    const deadline = Date.now() + LOCK_WAIT_MS
    for (;;) {
      try {
        await (await open(lockPath, 'wx', 0o600)).close()
        return
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error
      }
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      )
      if (age > LOCK_STALE_MS) await rm(lockPath, { force: true })
      else if (Date.now() > deadline) {
        throw new StoreError(
          'unavailable',
          `${shownPath} is locked by another command (${lockPath})`,
        )
      } else await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Runs `change` on the current file under the lock and writes its result back. */
  const update = async <T>(change: (data: TenantsFile) => T): Promise<T> => {
    await lock()
    try {
      const data = await read()
      const result = change(data)
      await write(data)
      return result
    } finally {
      await unlink(lockPath).catch(() => undefined)
    }
  }

  return {
    kind: 'local',

    createOrg: (input) =>
      update((data) => {
        if (data.organizations.some((o) => o.slug === input.slug)) {
          throw new StoreError('conflict', duplicateSlugMessage(input.slug))
        }
        const at = now()
        const org: OrganizationRow = {
          id: randomUUID(),
          slug: input.slug,
          name: input.name ?? input.slug,
          plan: input.plan ?? 'free',
          subscription_status: input.subscription_status ?? 'active',
          monthly_request_limit: input.monthly_request_limit ?? null,
          rpm_limit: input.rpm_limit ?? null,
          features: { ...input.features },
          settings: applySettings({}, input.settings ?? {}),
          created_at: at,
          updated_at: at,
        }
        data.organizations.push(org)
        return org
      }),

    updateOrg: (ref, changes) =>
      update((data) => {
        const org = findOrg(data, ref)
        applyOrgChanges(org, changes)
        return org
      }),

    // Oldest first, as admin_list_orgs orders them.
    listOrgs: async () =>
      (await read()).organizations.toSorted(
        (a, b) => a.created_at.localeCompare(b.created_at) || a.slug.localeCompare(b.slug),
      ),

    getOrg: async (ref) => {
      const data = await read()
      const org = findOrg(data, ref)
      // Active keys, as admin_get_org counts them.
      const keyCount = data.api_keys.filter(
        (k) => k.org_id === org.id && k.revoked_at === null,
      ).length
      return { ...org, key_count: keyCount }
    },

    createApiKey: (ref, input) =>
      update((data) => {
        const org = findOrg(data, ref)
        if (data.api_keys.some((k) => k.key_hash === input.key_hash)) {
          throw new StoreError('conflict', 'an API key with this hash exists')
        }
        const key = {
          id: randomUUID(),
          org_id: org.id,
          name: input.name ?? '',
          key_hash: input.key_hash,
          display_prefix: input.display_prefix,
          last4: input.last4,
          mode: input.mode,
          rpm_limit: input.rpm_limit ?? null,
          settings: applySettings({}, input.settings ?? {}),
          created_at: now(),
          revoked_at: null,
        }
        data.api_keys.push(key)
        return withoutHash(key)
      }),

    listApiKeys: async (ref) => {
      const data = await read()
      const org = findOrg(data, ref)
      return data.api_keys.filter((k) => k.org_id === org.id).map(withoutHash)
    },

    updateApiKey: (keyId, changes) =>
      update((data) => {
        const key = findKey(data, keyId)
        if (changes.name !== undefined) key.name = changes.name
        if (changes.rpm_limit !== undefined) key.rpm_limit = changes.rpm_limit
        if (changes.settings !== undefined) {
          key.settings = applySettings(key.settings, changes.settings)
        }
        return withoutHash(key)
      }),

    revokeApiKey: (keyId) =>
      update((data) => {
        const key = findKey(data, keyId)
        const revokedAt = key.revoked_at ?? now()
        key.revoked_at = revokedAt
        return { id: key.id, org_id: key.org_id, key_hash: key.key_hash, revoked_at: revokedAt }
      }),

    putProviderKey: (ref, provider, envelope) =>
      update((data) => {
        const org = findOrg(data, ref)
        const at = now()
        let row = data.provider_keys.find((p) => p.org_id === org.id && p.provider === provider)
        if (row === undefined) {
          row = {
            id: randomUUID(),
            org_id: org.id,
            provider,
            envelope,
            created_at: at,
            updated_at: at,
          }
          data.provider_keys.push(row)
        } else {
          row.envelope = envelope
          row.updated_at = at
        }
        const { id, org_id, created_at, updated_at } = row
        return { id, org_id, provider, kek_id: kekIdOf(envelope), created_at, updated_at }
      }),

    listProviderKeys: async (ref) => {
      const data = await read()
      const orgId = ref === null ? undefined : findOrg(data, ref).id
      return data.provider_keys
        .filter((p) => orgId === undefined || p.org_id === orgId)
        .map((p) => ({ ...p, kek_id: kekIdOf(p.envelope) }))
    },

    rewrapProviderKey: (id, oldEnvelope, newEnvelope) =>
      update((data) => {
        const row = data.provider_keys.find((p) => p.id === id)
        if (row?.envelope !== oldEnvelope) return false
        row.envelope = newEnvelope
        row.updated_at = now()
        return true
      }),

    deleteProviderKey: (ref, provider) =>
      update((data) => {
        const org = findOrg(data, ref)
        const before = data.provider_keys.length
        data.provider_keys = data.provider_keys.filter(
          (p) => !(p.org_id === org.id && p.provider === provider),
        )
        return data.provider_keys.length < before
      }),

    setRoutingRule: (ref, input) =>
      update((data) => {
        const org = findOrg(data, ref)
        if (input.apiKeyId !== null && findKey(data, input.apiKeyId).org_id !== org.id) {
          throw new StoreError('invalid', foreignKeyMessage(input.apiKeyId, ref))
        }
        const at = now()
        const existing = data.routing_rules.find((r) =>
          sameScope(r, org.id, input.apiKeyId, input.model),
        )
        if (existing !== undefined) {
          existing.strategy = input.strategy
          existing.targets = input.targets
          existing.params = input.params
          existing.updated_at = at
          return existing
        }
        const rule: RoutingRuleRow = {
          id: randomUUID(),
          org_id: org.id,
          api_key_id: input.apiKeyId,
          model: input.model,
          strategy: input.strategy,
          targets: input.targets,
          params: input.params,
          created_at: at,
          updated_at: at,
        }
        data.routing_rules.push(rule)
        return rule
      }),

    listRoutingRules: async (ref) => {
      const data = await read()
      const org = findOrg(data, ref)
      return data.routing_rules.filter((r) => r.org_id === org.id)
    },

    deleteRoutingRule: (ref, scope) =>
      update((data) => {
        const org = findOrg(data, ref)
        const before = data.routing_rules.length
        data.routing_rules = data.routing_rules.filter(
          (r) => !sameScope(r, org.id, scope.apiKeyId, scope.model),
        )
        return data.routing_rules.length < before
      }),

    createPromptVersion: (ref, promptId, template) =>
      update((data) => {
        const org = findOrg(data, ref)
        const at = now()
        const prompts = (data.prompts ??= [])
        let prompt = prompts.find((p) => p.org_id === org.id && p.prompt_id === promptId)
        if (prompt === undefined) {
          prompt = {
            id: randomUUID(),
            org_id: org.id,
            prompt_id: promptId,
            labels: {},
            created_at: at,
            updated_at: at,
          }
          prompts.push(prompt)
        } else prompt.updated_at = at
        // Under the file lock, so no other command numbers a version meanwhile.
        const version = (versionsOf(data, prompt).at(-1)?.version ?? 0) + 1
        ;(data.prompt_versions ??= []).push({
          prompt: prompt.id,
          version,
          template,
          created_at: at,
        })
        return { prompt_id: promptId, version, created_at: at }
      }),

    // By prompt id, byte order, as admin_list_prompts orders them (collate "C").
    listPrompts: async (ref) => {
      const data = await read()
      const org = findOrg(data, ref)
      return (data.prompts ?? [])
        .filter((p) => p.org_id === org.id)
        .toSorted((a, b) => (a.prompt_id < b.prompt_id ? -1 : a.prompt_id > b.prompt_id ? 1 : 0))
        .map((p) => promptSummary(data, p))
    },

    getPrompt: async (ref, promptId, selector): Promise<PromptVersionDetails> => {
      const data = await read()
      const prompt = findPrompt(data, findOrg(data, ref).id, promptId)
      const versions = versionsOf(data, prompt)
      const chosen = selectVersion(
        versions.map((v) => v.version),
        prompt.labels,
        selector,
      )
      const row =
        versions.find((v) => v.version === chosen) ??
        notFound('prompt version', `${promptId}@${selector ?? ''}`)
      return {
        prompt_id: prompt.prompt_id,
        version: row.version,
        // Checked when the file was read.
        template: PromptTemplateSchema.parse(row.template),
        labels: { ...prompt.labels },
        created_at: row.created_at,
      }
    },

    labelPrompt: (ref, promptId, version, label) =>
      update((data) => {
        const prompt = findPrompt(data, findOrg(data, ref).id, promptId)
        if (!versionsOf(data, prompt).some((v) => v.version === version)) {
          notFound('prompt version', `${promptId}@${String(version)}`)
        }
        prompt.labels = { ...prompt.labels, [label]: version }
        prompt.updated_at = now()
        return promptSummary(data, prompt)
      }),

    deletePrompt: (ref, promptId) =>
      update((data) => {
        const org = findOrg(data, ref)
        const prompt = (data.prompts ?? []).find(
          (p) => p.org_id === org.id && p.prompt_id === promptId,
        )
        if (prompt === undefined) return false
        data.prompts = (data.prompts ?? []).filter((p) => p !== prompt)
        data.prompt_versions = (data.prompt_versions ?? []).filter((v) => v.prompt !== prompt.id)
        return true
      }),
  }
}
