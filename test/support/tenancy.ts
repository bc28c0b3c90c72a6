/**
 * @module The multi-tenant test rig: real Redis behind the Upstash REST bridge, real PostgreSQL
 * (with `migrations/postgres` applied) behind the PostgREST-RPC bridge, the fake providers, and
 * the production bundle under plain workerd — twice, as two isolates sharing that state.
 *
 * Tenants are seeded with the same RPC functions the admin CLI calls, through the real
 * `@supabase/supabase-js` client.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import { Redis } from '@upstash/redis'
import { afterAll, beforeAll } from 'vitest'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { generateApiKey, hashApiKey, parseApiKey } from '../../src/security/api-key.ts'
import { withoutDevKey, workerTestBindings } from './bindings.ts'
import { startFakeProviders, type FakeProviders } from './fake-providers.ts'
import { applyMigrations, startPostgres, type PostgresServer } from './postgres.ts'
import { startPostgrestBridge, type PostgrestBridge } from './postgrest-bridge.ts'
import { startRedis, type RedisServer } from './redis.ts'
import { startUpstashBridge, type UpstashBridge } from './upstash-bridge.ts'

export const SERVICE_ROLE_KEY = 'test-service-role-key-0123456789'
export const ANON_KEY = 'test-anon-key-0123456789'
export const UPSTASH_TOKEN = 'test-upstash-token-0123456789'

/** A fresh keyring, as `npm run admin -- kek generate` prints one. */
export const newKeyring = (id = 'k1'): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return JSON.stringify({ current: id, keys: { [id]: Buffer.from(bytes).toString('base64') } })
}

export type Rig = {
  readonly redis: RedisServer
  readonly upstash: UpstashBridge
  readonly postgres: PostgresServer
  readonly postgrest: PostgrestBridge
  readonly fake: FakeProviders
  /** Two gateways (two isolates) sharing Redis and Postgres. */
  readonly gateways: readonly [WorkerdGateway, WorkerdGateway]
  /** Their bindings, for a test that starts a gateway of its own on the same stores. */
  readonly bindings: Readonly<Record<string, string>>
  readonly admin: SupabaseClient
  readonly kv: Redis
  readonly keyring: string
  /** Environment for the admin CLI pointed at this rig's stores. */
  readonly adminEnv: Record<string, string>
}

export type Org = { id: string; slug: string }
export type IssuedKey = { key: string; id: string }

/** Starts the rig before the suite and stops it after; the accessor throws before start. */
export const useTenancyRig = (extraBindings: Record<string, string> = {}): (() => Rig) => {
  let rig: Rig | undefined
  const stops: (() => Promise<void>)[] = []
  beforeAll(async () => {
    const redis = await startRedis()
    stops.push(() => redis.close())
    const upstash = await startUpstashBridge({ redisUrl: redis.url, token: UPSTASH_TOKEN })
    stops.push(() => upstash.close())
    const postgres = await startPostgres()
    stops.push(() => postgres.close())
    await applyMigrations(postgres.url)
    const postgrest = await startPostgrestBridge({
      databaseUrl: postgres.url,
      serviceRoleKey: SERVICE_ROLE_KEY,
      anonKey: ANON_KEY,
    })
    stops.push(() => postgrest.close())
    const fake = await startFakeProviders()
    stops.push(() => fake.close())
    const keyring = newKeyring()
    const providerBindings = withoutDevKey(workerTestBindings(fake.url))
    const bindings = {
      ...providerBindings,
      SUPABASE_URL: postgrest.url,
      SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
      FLOOPY_VAULT_KEKS: keyring,
      ...extraBindings,
    }
    const first = await startGateway({ bindings })
    stops.push(() => first.close())
    const second = await startGateway({ bindings })
    stops.push(() => second.close())
    const admin = createClient(postgrest.url, SERVICE_ROLE_KEY, {
      auth: { persistSession: false, autoRefreshToken: false },
    })
    const kv = new Redis({ url: upstash.url, token: UPSTASH_TOKEN, enableAutoPipelining: false })
    rig = {
      redis,
      upstash,
      postgres,
      postgrest,
      fake,
      gateways: [first, second],
      bindings,
      admin,
      kv,
      keyring,
      adminEnv: {
        SUPABASE_URL: postgrest.url,
        SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
        UPSTASH_REDIS_REST_URL: upstash.url,
        UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
        FLOOPY_VAULT_KEKS: keyring,
      },
    }
    // initdb, the bundle's build and two workerds: a quarter of a minute on an idle machine, over
    // two minutes seen on a loaded one. Only a hang guard.
  }, 600_000)
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop()
  })
  return () => {
    if (rig === undefined) throw new Error('the tenancy rig is not started')
    return rig
  }
}

/** Calls an RPC function as the admin CLI does; throws on an error answer. */
export const rpc = async <T>(
  rig: Rig,
  fn: string,
  args: Record<string, unknown> = {},
): Promise<T> => {
  const { data, error } = (await rig.admin.rpc(fn, args)) as {
    data: unknown
    error: { code: string; message: string } | null
  }
  if (error !== null) throw new Error(`${fn}: ${error.code} ${error.message}`)
  return data as T
}

let orgCounter = 0

/** Creates an organisation with a unique slug. */
export const createOrg = async (
  rig: Rig,
  settings: {
    status?: string
    rpm?: number | null
    monthly?: number | null
    features?: Record<string, unknown>
  } = {},
): Promise<Org> => {
  const slug = `org-${process.pid}-${++orgCounter}-${Math.random().toString(36).slice(2, 8)}`
  return await rpc<Org>(rig, 'admin_create_org', {
    p_slug: slug,
    p_subscription_status: settings.status ?? 'active',
    p_rpm_limit: settings.rpm ?? null,
    p_monthly_request_limit: settings.monthly ?? null,
    p_features: settings.features ?? {},
  })
}

/** Issues a key as the admin CLI does: generated here, only its hash stored. */
export const issueKey = async (
  rig: Rig,
  org: Org,
  settings: { rpm?: number | null; mode?: 'live' | 'test' } = {},
): Promise<IssuedKey> => {
  const key = generateApiKey(settings.mode ?? 'live')
  const parsed = parseApiKey(key)
  if (!parsed.ok) throw new Error('generated key does not parse')
  const row = await rpc<{ id: string }>(rig, 'admin_create_api_key', {
    p_org: org.id,
    p_key_hash: await hashApiKey(key),
    p_display_prefix: parsed.displayPrefix,
    p_last4: parsed.last4,
    p_mode: parsed.mode,
    p_rpm_limit: settings.rpm ?? null,
  })
  return { key, id: row.id }
}

/** A chat completion through gateway `which` with `key`; the raw Response. */
export const chat = (
  rig: Rig,
  key: string | undefined,
  options: { which?: 0 | 1; ip?: string; tag?: string; authorization?: string } = {},
): Promise<Response> => {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (options.authorization !== undefined) headers.authorization = options.authorization
  else if (key !== undefined) headers.authorization = `Bearer ${key}`
  if (options.ip !== undefined) headers['cf-connecting-ip'] = options.ip
  if (options.tag !== undefined) headers['x-fake-tag'] = options.tag
  return fetch(`${rig.gateways[options.which ?? 0].url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
    }),
  })
}
