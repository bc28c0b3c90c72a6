/**
 * @module The tenancy schema (`migrations/postgres`: `0001_tenancy.sql`,
 * `0002_routing_target_key.sql`, `0003_prompts.sql`, `0004_settings.sql`, then
 * `0005_feedback_routing.sql`) on a real PostgreSQL
 * (`test/support/postgres.ts`), called through the PostgREST bridge
 * (`test/support/postgrest-bridge.ts`) by the production client, `@supabase/supabase-js`: every
 * admin function's happy and error paths, the gateway's one-round-trip key and prompt lookups
 * (and the gateway's own prompt store adapter), what the anon key cannot do, the integrity rules,
 * and how the client fails when the database is out of reach. A direct superuser connection
 * checks what the API must not be able to show.
 */
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { createClient } from '@supabase/supabase-js'
import type { SupabaseClient } from '@supabase/supabase-js'
import { Client, DatabaseError } from 'pg'
import { isDeepStrictEqual } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PromptTemplateSchema,
  ResolvedPromptSchema,
  selectVersion,
} from '../../src/prompts/template.ts'
import { supabasePromptStore } from '../../src/stores/supabase/prompt-store.ts'
import {
  OrganizationConfigSchema,
  OrganizationSchema,
  ROUTING_STRATEGIES,
  RuleParamsSchema,
  SettingsSchema,
  SUBSCRIPTION_STATUSES,
} from '../../src/tenancy/schema.ts'
import { KeyConfigJson, parseKeyConfig } from '../../src/tenancy/tenant.ts'
import { startPostgrestBridge } from '../support/postgrest-bridge.ts'
import type { PostgrestBridge } from '../support/postgrest-bridge.ts'
import { applyMigrations, startPostgres } from '../support/postgres.ts'
import type { PostgresServer } from '../support/postgres.ts'

const SERVICE_ROLE_KEY = 'test-service-role-key'
const ANON_KEY = 'test-anon-key'
/** In the database's (C) collation order. */
const TABLES = [
  'api_keys',
  'organizations',
  'prompt_versions',
  'prompts',
  'provider_keys',
  'routing_rules',
]
const TARGETS = [{ provider: 'openai', model: 'gpt-4o' }]
const TEMPLATE = { messages: [{ role: 'user', content: 'Hello {{name}}' }] }
/** What the gateway and the admin CLI call. */
const RPC_FUNCTIONS = [
  'gateway_resolve_key',
  'admin_create_org',
  'admin_update_org',
  'admin_list_orgs',
  'admin_get_org',
  'admin_create_api_key',
  'admin_list_api_keys',
  'admin_update_api_key',
  'admin_revoke_api_key',
  'admin_put_provider_key',
  'admin_list_provider_keys',
  'admin_rewrap_provider_key',
  'admin_delete_provider_key',
  'admin_set_routing_rule',
  'admin_list_routing_rules',
  'admin_delete_routing_rule',
  'gateway_resolve_prompt',
  'admin_create_prompt_version',
  'admin_list_prompts',
  'admin_get_prompt',
  'admin_label_prompt',
  'admin_delete_prompt',
]
/** Internal functions, reachable (by service_role) but not part of the API. */
const HELPERS = [
  'prompt_select_version',
  'prompt_template_valid',
  'prompt_versions_guard',
  'prompts_check_labels',
  'tenancy_check_changes',
  'tenancy_merge_settings',
  'tenancy_not_found',
  'tenancy_org_id',
  'tenancy_settings_valid',
  'tenancy_touch_updated_at',
]

/**
 * The schema as supabase-js is told it: any function, any arguments, results checked at run time
 * (tests assert them). Without a `Database` type, `rpc()` accepts no arguments at all.
 */
interface Database {
  public: {
    Tables: Record<string, never>
    Views: Record<string, never>
    Functions: Record<string, { Args: Record<string, unknown>; Returns: unknown }>
  }
}
type Supabase = SupabaseClient<Database>

let server: PostgresServer
let bridge: PostgrestBridge
let migrations: string[]
let admin: Supabase
let anon: Supabase
let direct: Client

/** What afterAll undoes, latest first: whatever beforeAll got to start, even if it then failed. */
const stops: (() => Promise<void>)[] = []

beforeAll(async () => {
  server = await startPostgres()
  stops.push(() => server.close())
  migrations = await applyMigrations(server.url)
  bridge = await startPostgrestBridge({
    databaseUrl: server.url,
    serviceRoleKey: SERVICE_ROLE_KEY,
    anonKey: ANON_KEY,
  })
  stops.push(() => bridge.close())
  const options = { auth: { persistSession: false, autoRefreshToken: false } }
  admin = createClient<Database>(bridge.url, SERVICE_ROLE_KEY, options)
  anon = createClient<Database>(bridge.url, ANON_KEY, options)
  direct = new Client({ connectionString: server.url })
  await direct.connect()
  stops.push(() => direct.end())
})

afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Row = Record<string, unknown>

interface Org extends Row {
  id: string
  slug: string
  created_at: string
  updated_at: string
}

interface ApiKey extends Row {
  id: string
  org_id: string
  revoked_at: string | null
}

interface Rule extends Row {
  id: string
  updated_at: string
}

interface ProviderKey extends Row {
  id: string
  kek_id: string
  envelope: string
  updated_at: string
}

/** What a supabase-js `rpc()` call resolves with. */
interface Outcome {
  data: unknown
  error: { code: string; message: string; details: unknown; hint: unknown } | null
  status: number
}

/** Calls `fn` through supabase-js (POST, or GET with `get`) and returns what the caller sees. */
async function rpc(client: Supabase, fn: string, args: Row = {}, get = false): Promise<Outcome> {
  const response = await client.rpc(fn, args, { get })
  const data: unknown = response.data
  return { data, error: response.error, status: response.status }
}

/** Calls `fn` as the service role and returns its data, failing the test on any error. */
async function ok<T>(fn: string, args: Row = {}): Promise<T> {
  const { data, error, status } = await rpc(admin, fn, args)
  expect(error, `${fn} failed`).toBeNull()
  expect(status).toBe(200)
  return data as T
}

/** Calls `fn` as `client` and returns the error, failing the test if the call succeeds. */
async function fails(fn: string, args: Row = {}, client: Supabase = admin): Promise<Outcome> {
  const outcome = await rpc(client, fn, args)
  expect(outcome.error, `${fn} should have failed`).not.toBeNull()
  expect(outcome.data).toBeNull()
  return outcome
}

let unique = 0
/** A slug no other test uses. */
const slugFor = (base: string): string => `${base}-${String(++unique)}`

const createOrg = (base: string, args: Row = {}): Promise<Org> =>
  ok<Org>('admin_create_org', { p_slug: slugFor(base), ...args })

/** A fresh gateway key stored for `org`: the row, and the secret and hash the gateway sees. */
async function createKey(
  org: string,
  args: Row = {},
): Promise<{ row: ApiKey; secret: string; hash: string }> {
  const secret = `flo_sk_live_${randomUUID().replaceAll('-', '')}`
  const hash = createHash('sha256').update(secret).digest('hex')
  const row = await ok<ApiKey>('admin_create_api_key', {
    p_org: org,
    p_key_hash: hash,
    p_display_prefix: secret.slice(0, 16),
    p_last4: secret.slice(-4),
    p_mode: 'live',
    ...args,
  })
  return { row, secret, hash }
}

/** An envelope shaped as the vault seals them (the parts are not real ciphertext). */
const envelope = (kekId: string, tag: string): string => `v1.${kekId}.nonce.dek.nonce2.${tag}`

/** Runs `sql` on the direct connection as `role`, inside a transaction that is rolled back. */
async function asRole(role: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  await direct.query('begin')
  try {
    await direct.query(`set local role ${role}`)
    return (await direct.query<Row>(sql, params)).rows
  } finally {
    await direct.query('rollback')
  }
}

/** The SQLSTATE a direct query fails with (the test fails if it succeeds). */
async function sqlState(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run()
  } catch (error) {
    if (error instanceof DatabaseError) return error.code
    throw error
  }
  throw new Error('the query should have failed')
}

// ---------------------------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------------------------

describe('PostgreSQL and the migration', () => {
  it('should run a fresh cluster on loopback with every migration applied in order', async () => {
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`)
    expect(migrations.slice(0, 5)).toEqual([
      '0001_tenancy.sql',
      '0002_routing_target_key.sql',
      '0003_prompts.sql',
      '0004_settings.sql',
      '0005_feedback_routing.sql',
    ])
    expect(migrations).toEqual([...migrations].sort())
    const { rows } = await direct.query<{ server_version: string }>('show server_version')
    expect(Number.parseInt(rows[0]?.server_version ?? '', 10)).toBeGreaterThanOrEqual(15)
  })

  it('should create the Supabase roles, only service_role bypassing RLS', async () => {
    const { rows } = await direct.query<Row>(
      `select rolname, rolcanlogin, rolbypassrls from pg_roles
       where rolname in ('anon', 'authenticated', 'service_role') order by rolname`,
    )
    expect(rows).toEqual([
      { rolname: 'anon', rolcanlogin: false, rolbypassrls: false },
      { rolname: 'authenticated', rolcanlogin: false, rolbypassrls: false },
      { rolname: 'service_role', rolcanlogin: false, rolbypassrls: true },
    ])
  })

  it('should enable row level security on every table, with no policies', async () => {
    const { rows } = await direct.query<Row>(
      `select c.relname, c.relrowsecurity,
         (select count(*)::int from pg_policies p
          where p.schemaname = 'public' and p.tablename = c.relname) as policies
       from pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
       order by c.relname`,
    )
    expect(rows).toEqual(TABLES.map((relname) => ({ relname, relrowsecurity: true, policies: 0 })))
  })

  it('should grant the tables to service_role only', async () => {
    const { rows } = await direct.query<Row>(
      `select t, r, has_table_privilege(r, 'public.' || t, 'select, insert, update, delete') as any
       from unnest($1::text[]) t, unnest(array['anon', 'authenticated', 'service_role']) r
       order by t, r`,
      [TABLES],
    )
    expect(rows.filter((row) => row['any'] === true).map((row) => row['r'])).toEqual(
      TABLES.map(() => 'service_role'),
    )
  })

  it('should let only service_role execute the functions, each commented', async () => {
    const { rows } = await direct.query<Row>(
      `select p.proname,
         pg_get_function_result(p.oid) as returns,
         has_function_privilege('anon', p.oid, 'execute') as anon,
         has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
         has_function_privilege('service_role', p.oid, 'execute') as service_role,
         obj_description(p.oid, 'pg_proc') is not null as commented,
         'search_path=public' = any(p.proconfig) as pinned
       from pg_proc p where p.pronamespace = 'public'::regnamespace order by p.proname`,
    )
    expect(rows.map((row) => row['proname'])).toEqual([...RPC_FUNCTIONS, ...HELPERS].sort())
    for (const row of rows) {
      expect(row, String(row['proname'])).toMatchObject({
        anon: false,
        authenticated: false,
        service_role: true,
        commented: true,
        pinned: true,
      })
    }
    const callable = rows.filter((row) => RPC_FUNCTIONS.includes(String(row['proname'])))
    for (const row of callable) expect(row['returns'], String(row['proname'])).toBe('jsonb')
  })

  it('should hide every row from a role without BYPASSRLS, even with a grant', async () => {
    await createOrg('rls')
    await direct.query('begin')
    try {
      await direct.query('create role rls_probe nologin')
      await direct.query('grant select on public.organizations to rls_probe')
      await direct.query('set local role rls_probe')
      const hidden = await direct.query('select * from public.organizations')
      await direct.query('reset role')
      await direct.query('set local role service_role')
      const visible = await direct.query('select * from public.organizations')
      expect(hidden.rowCount).toBe(0)
      expect(visible.rowCount).toBeGreaterThan(0)
    } finally {
      await direct.query('rollback')
    }
  })
})

// ---------------------------------------------------------------------------------------------
// The bridge's PostgREST protocol
// ---------------------------------------------------------------------------------------------

describe('the schema and the gateway speak of the same things', () => {
  /** The quoted values a table's check constraint on `column` allows. */
  const allowed = async (table: string, column: string): Promise<string[]> => {
    const { rows } = await direct.query<{ def: string }>(
      `select pg_get_constraintdef(oid) as def from pg_constraint
       where conrelid = $1::regclass and contype = 'c'
         and pg_get_constraintdef(oid) ~ ('\\m' || $2 || '\\M.*ANY')`,
      [`public.${table}`, column],
    )
    expect(rows).toHaveLength(1)
    return [...(rows[0]?.def ?? '').matchAll(/'([^']+)'::text/g)].flatMap((m) => m[1] ?? [])
  }

  it('should allow exactly the routing strategies the gateway implements', async () => {
    expect((await allowed('routing_rules', 'strategy')).sort()).toEqual(
      [...ROUTING_STRATEGIES].sort(),
    )
  })

  it('should allow exactly the subscription statuses the gateway knows', async () => {
    expect((await allowed('organizations', 'subscription_status')).sort()).toEqual(
      [...SUBSCRIPTION_STATUSES].sort(),
    )
  })

  it('should give organizations exactly the columns of the organisation schema', async () => {
    const { rows } = await direct.query<{ column_name: string }>(
      `select column_name from information_schema.columns
       where table_schema = 'public' and table_name = 'organizations'`,
    )
    expect(rows.map((r) => r.column_name).sort()).toEqual(
      Object.keys(OrganizationSchema.shape).sort(),
    )
  })

  it('should resolve a key to an organisation with exactly the columns the gateway reads', async () => {
    const org = await createOrg('schema-check', {})
    const key = await createKey(org.slug, {})
    const resolved = await ok<{ org: Row }>('gateway_resolve_key', { p_key_hash: key.hash })
    expect(Object.keys(resolved.org).sort()).toEqual(
      Object.keys(OrganizationConfigSchema.shape).sort(),
    )
  })

  it('should resolve a key with exactly the key columns the gateway reads', async () => {
    const org = await createOrg('schema-key-check', {})
    const key = await createKey(org.slug, {})
    const resolved = await ok<{ key: Row }>('gateway_resolve_key', { p_key_hash: key.hash })
    expect(Object.keys(resolved.key).sort()).toEqual(
      Object.keys(KeyConfigJson.shape.key.shape).sort(),
    )
  })

  it('should resolve a key with exactly the rule columns the gateway reads', async () => {
    const org = await createOrg('schema-rule-check', {})
    const key = await createKey(org.slug, {})
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
    })
    const resolved = await ok<{ routing_rules: Row[] }>('gateway_resolve_key', {
      p_key_hash: key.hash,
    })
    expect(resolved.routing_rules).toHaveLength(1)
    expect(Object.keys(resolved.routing_rules[0] ?? {}).sort()).toEqual(
      Object.keys(KeyConfigJson.shape.routing_rules.element.shape).sort(),
    )
  })
})

describe('PostgREST bridge', () => {
  const post = (path: string, body: unknown, headers: Record<string, string>): Promise<Response> =>
    fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const auth = (key: string): Record<string, string> => ({
    apikey: key,
    authorization: `Bearer ${key}`,
  })

  it('should answer 401 unless apikey and Bearer carry the same known key', async () => {
    const cases: Record<string, string>[] = [
      {},
      auth('not-a-key'),
      { apikey: SERVICE_ROLE_KEY },
      { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${ANON_KEY}` },
    ]
    for (const headers of cases) {
      const res = await post('/rest/v1/rpc/admin_list_orgs', {}, headers)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(await res.json()).toEqual({
        code: 'PGRST301',
        message: 'Invalid API key',
        details: null,
        hint: expect.any(String) as unknown,
      })
    }
    const intruder = createClient<Database>(bridge.url, 'wrong-key', {
      auth: { persistSession: false },
    })
    const { error, status } = await rpc(intruder, 'admin_list_orgs')
    expect(status).toBe(401)
    expect(error?.code).toBe('PGRST301')
  })

  it('should answer 404 PGRST202 for an unknown function or argument', async () => {
    const unknown = await fails('no_such_function')
    expect(unknown.status).toBe(404)
    expect(unknown.error).toEqual({
      code: 'PGRST202',
      message:
        'Could not find the function public.no_such_function without parameters ' +
        'in the schema cache',
      details: expect.stringContaining('public.no_such_function') as unknown,
      hint: null,
    })
    const extra = await fails('admin_get_org', { p_org: 'x', p_bogus: 1 })
    expect(extra.status).toBe(404)
    expect(extra.error?.message).toBe(
      'Could not find the function public.admin_get_org(p_bogus, p_org) in the schema cache',
    )
    const missing = await fails('admin_get_org', {})
    expect(missing.error?.code).toBe('PGRST202')
    const injected = await fails('admin_list_orgs;drop table organizations')
    expect(injected.status).toBe(404)
    // a trigger function is not callable, as in PostgREST
    expect((await fails('tenancy_touch_updated_at')).error?.code).toBe('PGRST202')
  })

  it('should bind arguments as PostgREST does (typed, null as SQL null)', async () => {
    const org = await createOrg('bind', {
      p_monthly_request_limit: '250',
      p_rpm_limit: null,
      p_features: { nested: { a: [1, 2] } },
    })
    expect(org).toMatchObject({
      monthly_request_limit: 250,
      rpm_limit: null,
      features: { nested: { a: [1, 2] } },
    })
    const bad = await fails('admin_create_org', { p_slug: slugFor('bind'), p_rpm_limit: 'many' })
    expect(bad.status).toBe(400)
    expect(bad.error?.code).toBe('22P02')
    const fraction = await fails('admin_create_org', { p_slug: slugFor('bind'), p_rpm_limit: 1.5 })
    expect(fraction.error?.code).toBe('22P02')
  })

  it('should map SQLSTATEs to PostgREST’s statuses and honour SQLSTATE PGRST', async () => {
    await direct.query(`
      create function public.test_raise(p_code text, p_message text, p_detail text default null)
      returns jsonb language plpgsql as $$
      begin
        raise exception using
          errcode = p_code, message = p_message, detail = coalesce(p_detail, '');
      end $$;
      grant execute on function public.test_raise(text, text, text) to service_role`)
    try {
      const cases: [string, number][] = [
        ['P0001', 400],
        ['P0002', 500], // why the migration raises "not found" through SQLSTATE PGRST instead
        ['22023', 400],
        ['23514', 400],
        ['23505', 409],
        ['42501', 403], // 401 for anon: see "the anon key" below
        ['PT402', 402],
        ['XX000', 500],
        ['08006', 503],
      ]
      for (const [code, expected] of cases) {
        const { error, status } = await fails('test_raise', { p_code: code, p_message: 'boom' })
        expect({ code, status, error: error?.code }).toEqual({
          code,
          status: expected,
          error: code,
        })
      }
      const custom = await fails('test_raise', {
        p_code: 'PGRST',
        p_message: JSON.stringify({ code: 'Q0001', message: 'quota', hint: 'upgrade' }),
        p_detail: JSON.stringify({ status: 402, headers: { 'x-quota': 'monthly' } }),
      })
      expect(custom).toEqual({
        data: null,
        status: 402,
        error: { code: 'Q0001', message: 'quota', details: null, hint: 'upgrade' },
      })
      const malformed = await fails('test_raise', { p_code: 'PGRST', p_message: 'not json' })
      expect(malformed.status).toBe(500)
      expect(malformed.error?.code).toBe('PGRST121')
    } finally {
      await direct.query('drop function public.test_raise(text, text, text)')
    }
  })

  it('should serve GET calls in a read-only transaction', async () => {
    const org = await createOrg('get')
    const { data, error } = await rpc(admin, 'admin_get_org', { p_org: org.slug }, true)
    expect(error).toBeNull()
    expect(data).toMatchObject({ id: org.id, key_count: 0 })
    const write = await rpc(admin, 'admin_create_org', { p_slug: slugFor('get') }, true)
    expect(write.status).toBe(405)
    expect(write.error?.code).toBe('25006')
  })

  it('should refuse a schema other than public and every path but /rest/v1/rpc/<fn>', async () => {
    const schema = await post(
      '/rest/v1/rpc/admin_list_orgs',
      {},
      {
        ...auth(SERVICE_ROLE_KEY),
        'content-profile': 'private',
      },
    )
    expect(schema.status).toBe(406)
    expect(await schema.json()).toMatchObject({
      code: 'PGRST106',
      message: 'Invalid schema: private',
    })
    const table = await fetch(`${bridge.url}/rest/v1/organizations?select=*`, {
      headers: auth(SERVICE_ROLE_KEY),
    })
    expect(table.status).toBe(404)
    expect(await table.json()).toMatchObject({ code: 'PGRST125' })
    const method = await fetch(`${bridge.url}/rest/v1/rpc/admin_list_orgs`, {
      method: 'DELETE',
      headers: auth(SERVICE_ROLE_KEY),
    })
    expect(method.status).toBe(405)
    expect(await method.json()).toMatchObject({ code: 'PGRST101' })
  })

  it('should count every request, rejected ones included', async () => {
    const before = bridge.requests
    await ok('admin_list_orgs')
    expect(bridge.requests - before).toBe(1)
    await post('/rest/v1/rpc/admin_list_orgs', {}, {})
    expect(bridge.requests - before).toBe(2)
  })
})

// ---------------------------------------------------------------------------------------------
// Admin functions
// ---------------------------------------------------------------------------------------------

describe('admin: organizations', () => {
  it('should create an organization with defaults (name = slug, free, active)', async () => {
    const slug = slugFor('defaults')
    const org = await ok<Org>('admin_create_org', { p_slug: slug })
    expect(org).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      slug,
      name: slug,
      plan: 'free',
      subscription_status: 'active',
      monthly_request_limit: null,
      rpm_limit: null,
      features: {},
      settings: {},
      created_at: expect.any(String) as unknown,
      updated_at: org.created_at,
    })
  })

  it('should create an organization with every field', async () => {
    const org = await createOrg('full', {
      p_name: 'Full Corp',
      p_plan: 'pro',
      p_subscription_status: 'trialing',
      p_monthly_request_limit: 100000,
      p_rpm_limit: 600,
      p_features: { has_advanced_firewall: true },
    })
    expect(org).toMatchObject({
      name: 'Full Corp',
      plan: 'pro',
      subscription_status: 'trialing',
      monthly_request_limit: 100000,
      rpm_limit: 600,
      features: { has_advanced_firewall: true },
    })
  })

  it('should refuse a duplicate slug with 23505 / 409', async () => {
    const org = await createOrg('dup')
    const { error, status } = await fails('admin_create_org', { p_slug: org.slug })
    expect(status).toBe(409)
    expect(error).toMatchObject({
      code: '23505',
      details: `Key (slug)=(${org.slug}) already exists.`,
    })
  })

  it('should refuse bad values with a check violation (23514 / 400)', async () => {
    const cases: Row[] = [
      { p_slug: slugFor('bad'), p_subscription_status: 'gone' },
      { p_slug: 'Not A Slug' },
      { p_slug: 'x' },
      { p_slug: slugFor('bad'), p_monthly_request_limit: -1 },
      { p_slug: slugFor('bad'), p_rpm_limit: 0 },
      { p_slug: slugFor('bad'), p_features: ['flag'] },
      { p_slug: slugFor('bad'), p_plan: 'Pro Plan' },
    ]
    for (const args of cases) {
      const { error, status } = await fails('admin_create_org', args)
      expect({ args, code: error?.code, status }).toEqual({ args, code: '23514', status: 400 })
    }
    const { error } = await fails('admin_create_org', {
      p_slug: slugFor('bad'),
      p_subscription_status: 'gone',
    })
    expect(error?.message).toContain('organizations_subscription_status_check')
  })

  it('should list every organization, oldest first', async () => {
    const first = await createOrg('list')
    const second = await createOrg('list')
    const orgs = await ok<Org[]>('admin_list_orgs')
    const slugs = orgs.map((org) => org.slug)
    expect(slugs.indexOf(first.slug)).toBeGreaterThanOrEqual(0)
    expect(slugs.indexOf(second.slug)).toBeGreaterThan(slugs.indexOf(first.slug))
    const times = orgs.map((org) => Date.parse(org.created_at))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(orgs.find((org) => org.id === second.id)).toEqual(second)
  })

  it('should get an organization by slug or by id, with its number of active keys', async () => {
    const org = await createOrg('get')
    await createKey(org.slug)
    const revoked = await createKey(org.id)
    await ok('admin_revoke_api_key', { p_key_id: revoked.row.id })
    const bySlug = await ok<Row>('admin_get_org', { p_org: org.slug })
    expect(bySlug).toEqual({ ...org, key_count: 1 })
    expect(await ok<Row>('admin_get_org', { p_org: org.id })).toEqual(bySlug)
  })

  it('should update only the given fields, merging features', async () => {
    const org = await createOrg('update', {
      p_monthly_request_limit: 1000,
      p_rpm_limit: 60,
      p_features: { has_advanced_firewall: true, beta: true },
    })
    const updated = await ok<Org>('admin_update_org', {
      p_org: org.slug,
      p_changes: {
        name: 'Renamed',
        plan: 'enterprise',
        subscription_status: 'past_due',
        rpm_limit: null,
        features: { beta: null, sso: true },
      },
    })
    expect(updated).toEqual({
      ...org,
      name: 'Renamed',
      plan: 'enterprise',
      subscription_status: 'past_due',
      monthly_request_limit: 1000,
      rpm_limit: null,
      features: { has_advanced_firewall: true, sso: true },
      updated_at: expect.any(String) as unknown,
    })
    expect(Date.parse(updated.updated_at)).toBeGreaterThan(Date.parse(org.updated_at))
    const again = await ok<Org>('admin_update_org', {
      p_org: org.id,
      p_changes: { monthly_request_limit: null },
    })
    expect(again).toMatchObject({ name: 'Renamed', monthly_request_limit: null, rpm_limit: null })
  })

  it('should refuse unknown fields and bad values in p_changes', async () => {
    const org = await createOrg('changes')
    const unknown = await fails('admin_update_org', {
      p_org: org.slug,
      p_changes: { color: 'red' },
    })
    expect(unknown.status).toBe(400)
    expect(unknown.error).toMatchObject({
      code: '22023',
      message: 'unknown field in p_changes: color',
      hint: expect.stringContaining('subscription_status') as unknown,
    })
    const notObject = await fails('admin_update_org', { p_org: org.slug, p_changes: [1] })
    expect(notObject.error).toMatchObject({
      code: '22023',
      message: 'p_changes must be a JSON object',
    })
    const flags = await fails('admin_update_org', { p_org: org.slug, p_changes: { features: 1 } })
    expect(flags.error?.code).toBe('22023')
    const status = await fails('admin_update_org', {
      p_org: org.slug,
      p_changes: { subscription_status: 'gone' },
    })
    expect(status.error?.code).toBe('23514')
    const nameless = await fails('admin_update_org', { p_org: org.slug, p_changes: { name: null } })
    expect(nameless.error?.code).toBe('23502')
    expect(await ok<Org>('admin_get_org', { p_org: org.slug })).toMatchObject({
      name: org.slug,
      subscription_status: 'active',
    })
  })
})

describe('admin: unknown organizations', () => {
  const calls: [string, Row][] = [
    ['admin_get_org', {}],
    ['admin_update_org', { p_changes: { name: 'x' } }],
    [
      'admin_create_api_key',
      { p_key_hash: 'a'.repeat(64), p_display_prefix: 'p', p_last4: 'abcd', p_mode: 'live' },
    ],
    ['admin_list_api_keys', {}],
    ['admin_put_provider_key', { p_provider: 'openai', p_envelope: envelope('k1', 'x') }],
    ['admin_list_provider_keys', {}],
    ['admin_delete_provider_key', { p_provider: 'openai' }],
    ['admin_set_routing_rule', { p_strategy: 'fallback', p_targets: TARGETS }],
    ['admin_list_routing_rules', {}],
    ['admin_delete_routing_rule', {}],
    ['admin_create_prompt_version', { p_prompt_id: 'greet', p_template: TEMPLATE }],
    ['admin_list_prompts', {}],
    ['admin_get_prompt', { p_prompt_id: 'greet' }],
    ['admin_label_prompt', { p_prompt_id: 'greet', p_version: 1, p_label: 'production' }],
    ['admin_delete_prompt', { p_prompt_id: 'greet' }],
  ]

  it.each(calls)('should make %s answer P0002 / 404 naming the organization', async (fn, args) => {
    for (const value of ['no-such-org', randomUUID()]) {
      const { error, status } = await fails(fn, { p_org: value, ...args })
      expect(status).toBe(404)
      expect(error).toEqual({
        code: 'P0002',
        message: `organization not found: ${value}`,
        details: null,
        hint: null,
      })
    }
  })
})

describe('admin: API keys', () => {
  it('should store a key by its hash and never return the hash', async () => {
    const org = await createOrg('keys')
    const { row, secret } = await createKey(org.slug, { p_name: 'ci', p_rpm_limit: 120 })
    expect(row).toEqual({
      id: expect.any(String) as unknown,
      org_id: org.id,
      name: 'ci',
      display_prefix: secret.slice(0, 16),
      last4: secret.slice(-4),
      mode: 'live',
      rpm_limit: 120,
      settings: {},
      created_at: expect.any(String) as unknown,
      revoked_at: null,
    })
    const plain = await createKey(org.id)
    expect(plain.row).toMatchObject({ name: '', rpm_limit: null, settings: {} })
  })

  it('should refuse a malformed hash, a bad mode and a duplicate hash', async () => {
    const org = await createOrg('badkeys')
    const args = { p_org: org.slug, p_display_prefix: 'flo_sk_live_Ab3d', p_last4: 'wxyz' }
    for (const hash of ['A'.repeat(64), 'a'.repeat(63), 'g'.repeat(64)]) {
      const { error, status } = await fails('admin_create_api_key', {
        ...args,
        p_key_hash: hash,
        p_mode: 'live',
      })
      expect({ hash, code: error?.code, status }).toEqual({ hash, code: '23514', status: 400 })
    }
    const mode = await fails('admin_create_api_key', {
      ...args,
      p_key_hash: 'c'.repeat(64),
      p_mode: 'prod',
    })
    expect(mode.error?.code).toBe('23514')
    const { hash } = await createKey(org.slug)
    const dup = await fails('admin_create_api_key', { ...args, p_key_hash: hash, p_mode: 'test' })
    expect(dup.status).toBe(409)
    expect(dup.error?.code).toBe('23505')
  })

  it('should list an organization’s keys oldest first, without hashes', async () => {
    const org = await createOrg('listkeys')
    const first = await createKey(org.slug, { p_name: 'one' })
    const second = await createKey(org.slug, { p_name: 'two' })
    await createKey((await createOrg('listkeys-other')).slug)
    const revoked = await ok<ApiKey>('admin_revoke_api_key', { p_key_id: first.row.id })
    const keys = await ok<ApiKey[]>('admin_list_api_keys', { p_org: org.id })
    expect(keys).toEqual([{ ...first.row, revoked_at: revoked.revoked_at }, second.row])
    expect(JSON.stringify(keys)).not.toContain(first.hash)
  })

  it('should update a key’s name and rpm_limit, null removing the per-key limit', async () => {
    const org = await createOrg('updkey')
    const { row } = await createKey(org.slug, { p_rpm_limit: 30 })
    const renamed = await ok<ApiKey>('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { name: 'prod' },
    })
    expect(renamed).toEqual({ ...row, name: 'prod' })
    const unlimited = await ok<ApiKey>('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { rpm_limit: null },
    })
    expect(unlimited).toEqual({ ...row, name: 'prod', rpm_limit: null })
    const unknown = await fails('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { mode: 'test' },
    })
    expect(unknown.error).toMatchObject({
      code: '22023',
      message: 'unknown field in p_changes: mode',
    })
    const zero = await fails('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { rpm_limit: 0 },
    })
    expect(zero.error?.code).toBe('23514')
  })

  it('should revoke a key once, returning its hash, and keep the first revoked_at', async () => {
    const org = await createOrg('revoke')
    const { row, hash } = await createKey(org.slug)
    const first = await ok<Row>('admin_revoke_api_key', { p_key_id: row.id })
    expect(first).toEqual({
      id: row.id,
      org_id: org.id,
      key_hash: hash,
      revoked_at: expect.any(String) as unknown,
    })
    const second = await ok<Row>('admin_revoke_api_key', { p_key_id: row.id })
    expect(second).toEqual(first)
    expect(await ok<Row>('admin_get_org', { p_org: org.slug })).toMatchObject({ key_count: 0 })
  })

  it('should answer P0002 / 404 for an unknown key id', async () => {
    const id = randomUUID()
    for (const [fn, args] of [
      ['admin_update_api_key', { p_changes: { name: 'x' } }],
      ['admin_revoke_api_key', {}],
    ] as const) {
      const { error, status } = await fails(fn, { p_key_id: id, ...args })
      expect(status).toBe(404)
      expect(error).toMatchObject({ code: 'P0002', message: `api key not found: ${id}` })
    }
  })
})

describe('admin: provider keys', () => {
  it('should upsert a sealed key per (org, provider), never returning it', async () => {
    const org = await createOrg('pk')
    const put = await ok<ProviderKey>('admin_put_provider_key', {
      p_org: org.slug,
      p_provider: 'openai',
      p_envelope: envelope('k1', 'first'),
    })
    expect(put).toEqual({
      id: expect.any(String) as unknown,
      org_id: org.id,
      provider: 'openai',
      kek_id: 'k1',
      created_at: expect.any(String) as unknown,
      updated_at: expect.any(String) as unknown,
    })
    const replaced = await ok<ProviderKey>('admin_put_provider_key', {
      p_org: org.id,
      p_provider: 'openai',
      p_envelope: envelope('k2', 'second'),
    })
    expect(replaced).toMatchObject({ id: put.id, kek_id: 'k2', created_at: put.created_at })
    expect(Date.parse(replaced.updated_at)).toBeGreaterThan(Date.parse(put.updated_at))
  })

  it('should refuse a malformed provider id or envelope', async () => {
    const org = await createOrg('pkbad')
    const cases: Row[] = [
      { p_provider: 'OpenAI', p_envelope: envelope('k1', 'x') },
      { p_provider: 'open ai', p_envelope: envelope('k1', 'x') },
      { p_provider: 'openai', p_envelope: 'v2.k1.x' },
      { p_provider: 'openai', p_envelope: 'sk-plaintext-key' },
      { p_provider: 'openai', p_envelope: 'v1..x' },
    ]
    for (const args of cases) {
      const { error, status } = await fails('admin_put_provider_key', { p_org: org.slug, ...args })
      expect({ args, code: error?.code, status }).toEqual({ args, code: '23514', status: 400 })
    }
  })

  it('should list envelopes for one organization or, with no p_org, for all', async () => {
    const one = await createOrg('pklist')
    const two = await createOrg('pklist')
    await ok('admin_put_provider_key', {
      p_org: one.slug,
      p_provider: 'openai',
      p_envelope: envelope('k1', 'one'),
    })
    await ok('admin_put_provider_key', {
      p_org: two.slug,
      p_provider: 'anthropic',
      p_envelope: envelope('k1', 'two'),
    })
    const mine = await ok<ProviderKey[]>('admin_list_provider_keys', { p_org: one.slug })
    expect(mine).toEqual([
      {
        id: expect.any(String) as unknown,
        org_id: one.id,
        provider: 'openai',
        kek_id: 'k1',
        envelope: envelope('k1', 'one'),
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      },
    ])
    const all = await ok<ProviderKey[]>('admin_list_provider_keys')
    const envelopes = all.map((key) => key.envelope)
    expect(envelopes).toEqual(
      expect.arrayContaining([envelope('k1', 'one'), envelope('k1', 'two')]),
    )
  })

  it('should rewrap only while the envelope is still the one read', async () => {
    const org = await createOrg('rewrap')
    const old = envelope('k1', 'old')
    const put = await ok<ProviderKey>('admin_put_provider_key', {
      p_org: org.slug,
      p_provider: 'openai',
      p_envelope: old,
    })
    const stale = await ok<Row>('admin_rewrap_provider_key', {
      p_id: put.id,
      p_old_envelope: envelope('k1', 'something-else'),
      p_new_envelope: envelope('k2', 'new'),
    })
    expect(stale).toEqual({ updated: false })
    const fresh = await ok<Row>('admin_rewrap_provider_key', {
      p_id: put.id,
      p_old_envelope: old,
      p_new_envelope: envelope('k2', 'new'),
    })
    expect(fresh).toEqual({ updated: true })
    const [stored] = await ok<ProviderKey[]>('admin_list_provider_keys', { p_org: org.slug })
    expect(stored).toMatchObject({ envelope: envelope('k2', 'new'), kek_id: 'k2' })
    const gone = await ok<Row>('admin_rewrap_provider_key', {
      p_id: randomUUID(),
      p_old_envelope: old,
      p_new_envelope: envelope('k2', 'new'),
    })
    expect(gone).toEqual({ updated: false })
  })

  it('should delete a provider key, then report nothing to delete', async () => {
    const org = await createOrg('pkdel')
    await ok('admin_put_provider_key', {
      p_org: org.slug,
      p_provider: 'openai',
      p_envelope: envelope('k1', 'x'),
    })
    const args = { p_org: org.slug, p_provider: 'openai' }
    expect(await ok<Row>('admin_delete_provider_key', args)).toEqual({ deleted: true })
    expect(await ok<Row>('admin_delete_provider_key', args)).toEqual({ deleted: false })
    expect(await ok<Row[]>('admin_list_provider_keys', { p_org: org.slug })).toEqual([])
  })
})

describe('admin: routing rules', () => {
  it('should keep one rule per (org, key or none, model or none)', async () => {
    const org = await createOrg('rules')
    const { row: key } = await createKey(org.slug)
    const orgRule = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
    })
    expect(orgRule).toEqual({
      id: expect.any(String) as unknown,
      org_id: org.id,
      api_key_id: null,
      model: null,
      strategy: 'fallback',
      targets: TARGETS,
      params: {},
      created_at: expect.any(String) as unknown,
      updated_at: expect.any(String) as unknown,
    })
    const weighted = [
      { provider: 'openai', model: 'gpt-4o', weight: 3 },
      { provider: 'anthropic', model: 'claude-sonnet-4-5', weight: 1 },
    ]
    const replaced = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.id,
      p_strategy: 'weighted',
      p_targets: weighted,
    })
    expect(replaced).toMatchObject({ id: orgRule.id, strategy: 'weighted', targets: weighted })
    expect(Date.parse(replaced.updated_at)).toBeGreaterThan(Date.parse(orgRule.updated_at))
    const modelRule = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'latency',
      p_targets: TARGETS,
      p_model: 'gpt-4o',
    })
    const keyRule = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'round-robin',
      p_targets: TARGETS,
      p_api_key_id: key.id,
    })
    const rules = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(rules.map((rule) => rule.id)).toEqual([orgRule.id, modelRule.id, keyRule.id])
    expect(rules[0]).toEqual(replaced)
  })

  it('should refuse a bad strategy and malformed targets', async () => {
    const org = await createOrg('badrules')
    const target = { provider: 'openai', model: 'gpt-4o' }
    const cases: Row[] = [
      { p_strategy: 'random', p_targets: TARGETS },
      { p_strategy: 'fallback', p_targets: [] },
      { p_strategy: 'fallback', p_targets: target },
      { p_strategy: 'fallback', p_targets: [{ provider: 'openai' }] },
      { p_strategy: 'fallback', p_targets: [{ model: 'gpt-4o' }] },
      { p_strategy: 'fallback', p_targets: [{ provider: '', model: 'gpt-4o' }] },
      { p_strategy: 'fallback', p_targets: [{ ...target, weight: 0 }] },
      { p_strategy: 'fallback', p_targets: [{ ...target, weight: '2' }] },
      { p_strategy: 'fallback', p_targets: [[target]] },
      { p_strategy: 'fallback', p_targets: [target, 'openai'] },
      { p_strategy: 'fallback', p_targets: Array.from({ length: 17 }, () => target) },
      { p_strategy: 'fallback', p_targets: TARGETS, p_model: '' },
    ]
    for (const args of cases) {
      const { error, status } = await fails('admin_set_routing_rule', { p_org: org.slug, ...args })
      expect({ args, code: error?.code, status }).toEqual({ args, code: '23514', status: 400 })
    }
    const sixteen = Array.from({ length: 16 }, () => target)
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: sixteen,
    })
  })

  it('should accept a target key choice of organization or operator, or none', async () => {
    const org = await createOrg('keyed')
    const { row: key, hash } = await createKey(org.slug)
    const targets = [
      { provider: 'openai', model: 'gpt-4o', key: 'organization' },
      { provider: 'openai', model: 'gpt-4o', key: 'operator' },
      { provider: 'openai', model: 'gpt-4o' },
      { provider: 'openai', model: 'gpt-4o-mini', weight: 2, key: 'operator' },
    ]
    const rule = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: targets,
      p_api_key_id: key.id,
    })
    expect(rule['targets']).toStrictEqual(targets)
    const rules = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(rules.map((r) => r['targets'])).toStrictEqual([targets])
    // the gateway gets the targets as stored, key choices included
    const resolved = await ok<{ routing_rules: Row[] }>('gateway_resolve_key', { p_key_hash: hash })
    expect(resolved.routing_rules.map((r) => r['targets'])).toStrictEqual([targets])
  })

  it('should refuse a target key choice other than organization or operator', async () => {
    const org = await createOrg('badkey')
    const target = { provider: 'openai', model: 'gpt-4o' }
    const keys: unknown[] = [
      'mine',
      1,
      null,
      '',
      'Operator',
      'organisation',
      ['operator'],
      {},
      true,
    ]
    for (const key of keys) {
      const { error, status } = await fails('admin_set_routing_rule', {
        p_org: org.slug,
        p_strategy: 'fallback',
        p_targets: [
          { ...target, key: 'operator' },
          { ...target, key },
        ],
      })
      expect({ key, code: error?.code, status }).toEqual({ key, code: '23514', status: 400 })
      expect(error?.message).toContain('routing_rules_targets_check')
    }
    // every rule of the first migration's check still holds next to a valid key choice
    const { error } = await fails('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: [{ ...target, key: 'operator', weight: 0 }],
    })
    expect(error?.code).toBe('23514')
    expect(await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })).toEqual([])
  })

  it('should check the stored targets when 0002 replaces the check', async () => {
    const sql = await readFile(
      new URL('../../migrations/postgres/0002_routing_target_key.sql', import.meta.url),
      'utf8',
    )
    const org = await createOrg('recheck')
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: [{ provider: 'openai', model: 'gpt-4o', key: 'operator' }],
    })
    await direct.query('begin')
    try {
      // over valid rows (as on a database that ran 0001 only), the migration goes through
      await direct.query(sql)
      // a key the old check let through (it ignored unknown members) fails the migration; a
      // stand-in under the old name lets it in here
      await direct.query(
        `alter table routing_rules drop constraint routing_rules_targets_check,
           add constraint routing_rules_targets_check check (true)`,
      )
      await direct.query(
        `update routing_rules set targets = '[{"provider": "openai", "model": "gpt-4o", "key": "mine"}]'
         where org_id = $1`,
        [org.id],
      )
      expect(await sqlState(() => direct.query(sql))).toBe('23514')
    } finally {
      await direct.query('rollback')
    }
    const { rows } = await direct.query<{ n: number }>(
      `select count(*)::int as n from pg_constraint where conname = 'routing_rules_targets_check'`,
    )
    expect(rows).toEqual([{ n: 1 }])
  })

  it('should refuse a rule for another organization’s key, in the API and in SQL', async () => {
    const mine = await createOrg('owner')
    const theirs = await createOrg('intruder')
    const { row: key } = await createKey(mine.slug)
    const { error, status } = await fails('admin_set_routing_rule', {
      p_org: theirs.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
      p_api_key_id: key.id,
    })
    expect(status).toBe(409)
    expect(error).toMatchObject({
      code: '23503',
      message: expect.stringContaining('routing_rules_api_key_same_org_fkey') as unknown,
    })
    const state = await sqlState(() =>
      asRole(
        'service_role',
        `insert into routing_rules (org_id, api_key_id, strategy, targets)
         values ($1, $2, 'fallback', '[{"provider": "openai", "model": "gpt-4o"}]')`,
        [theirs.id, key.id],
      ),
    )
    expect(state).toBe('23503')
    const unknown = await fails('admin_set_routing_rule', {
      p_org: mine.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
      p_api_key_id: randomUUID(),
    })
    expect(unknown.status).toBe(404)
    expect(unknown.error?.message).toMatch(/^api key not found: /)
    expect(await ok<Rule[]>('admin_list_routing_rules', { p_org: theirs.slug })).toEqual([])
  })

  it('should delete the rule of exactly one scope', async () => {
    const org = await createOrg('delrule')
    const { row: key } = await createKey(org.slug)
    const base = { p_org: org.slug, p_strategy: 'fallback', p_targets: TARGETS }
    await ok('admin_set_routing_rule', base)
    await ok('admin_set_routing_rule', { ...base, p_model: 'gpt-4o' })
    await ok('admin_set_routing_rule', { ...base, p_api_key_id: key.id, p_model: 'gpt-4o' })
    const deleted = await ok<Row>('admin_delete_routing_rule', {
      p_org: org.slug,
      p_model: 'gpt-4o',
    })
    expect(deleted).toEqual({ deleted: true })
    expect(
      await ok<Row>('admin_delete_routing_rule', { p_org: org.slug, p_model: 'gpt-4o' }),
    ).toEqual({ deleted: false })
    const left = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(left.map((rule) => [rule['api_key_id'], rule['model']])).toEqual([
      [null, null],
      [key.id, 'gpt-4o'],
    ])
    expect(await ok<Row>('admin_delete_routing_rule', { p_org: org.slug })).toEqual({
      deleted: true,
    })
  })
})

// ---------------------------------------------------------------------------------------------
// The gateway's read
// ---------------------------------------------------------------------------------------------

describe('gateway_resolve_key', () => {
  it('should return key, org, provider keys and applicable rules in one call', async () => {
    const org = await createOrg('acme', {
      p_name: 'Acme',
      p_plan: 'pro',
      p_monthly_request_limit: 100000,
      p_rpm_limit: 600,
      p_features: { has_advanced_firewall: true },
    })
    const key = await createKey(org.slug, { p_name: 'ci', p_rpm_limit: 120 })
    const other = await createKey(org.slug, { p_name: 'other' })
    for (const provider of ['openai', 'anthropic']) {
      await ok('admin_put_provider_key', {
        p_org: org.slug,
        p_provider: provider,
        p_envelope: envelope('k1', provider),
      })
    }
    const rule = (args: Row): Promise<Rule> =>
      ok<Rule>('admin_set_routing_rule', { p_org: org.slug, p_targets: TARGETS, ...args })
    await rule({ p_strategy: 'fallback' })
    await rule({ p_strategy: 'weighted', p_model: 'gpt-4o' })
    await rule({ p_strategy: 'latency', p_api_key_id: key.row.id })
    await rule({ p_strategy: 'round-robin', p_api_key_id: key.row.id, p_model: 'gpt-4o' })
    await rule({ p_strategy: 'latency', p_api_key_id: other.row.id, p_model: 'other-model' })

    const before = bridge.requests
    const resolved = await ok<Row>('gateway_resolve_key', { p_key_hash: key.hash })
    expect(bridge.requests - before).toBe(1)
    expect(resolved).toEqual({
      key: { id: key.row.id, name: 'ci', mode: 'live', rpm_limit: 120, settings: {} },
      org: {
        id: org.id,
        slug: org.slug,
        name: 'Acme',
        plan: 'pro',
        subscription_status: 'active',
        monthly_request_limit: 100000,
        rpm_limit: 600,
        features: { has_advanced_firewall: true },
        settings: {},
      },
      provider_keys: [
        { provider: 'anthropic', envelope: envelope('k1', 'anthropic') },
        { provider: 'openai', envelope: envelope('k1', 'openai') },
      ],
      // this key's rules first, then the organisation's; model-specific before any-model;
      // the other key's rule is not there
      routing_rules: [
        {
          api_key_id: key.row.id,
          model: 'gpt-4o',
          strategy: 'round-robin',
          targets: TARGETS,
          params: {},
        },
        { api_key_id: key.row.id, model: null, strategy: 'latency', targets: TARGETS, params: {} },
        { api_key_id: null, model: 'gpt-4o', strategy: 'weighted', targets: TARGETS, params: {} },
        { api_key_id: null, model: null, strategy: 'fallback', targets: TARGETS, params: {} },
      ],
    })
  })

  it('should give nulls for unlimited values and [] when nothing is configured', async () => {
    const org = await createOrg('bare')
    const key = await createKey(org.slug)
    expect(await ok<Row>('gateway_resolve_key', { p_key_hash: key.hash })).toEqual({
      key: { id: key.row.id, name: '', mode: 'live', rpm_limit: null, settings: {} },
      org: {
        id: org.id,
        slug: org.slug,
        name: org.slug,
        plan: 'free',
        subscription_status: 'active',
        monthly_request_limit: null,
        rpm_limit: null,
        features: {},
        settings: {},
      },
      provider_keys: [],
      routing_rules: [],
    })
  })

  it('should return null for an unknown hash and for a revoked key', async () => {
    const unknown = await rpc(admin, 'gateway_resolve_key', { p_key_hash: 'f'.repeat(64) })
    expect(unknown).toEqual({ data: null, error: null, status: 200 })
    const org = await createOrg('revoked')
    const key = await createKey(org.slug)
    expect(await ok<Row | null>('gateway_resolve_key', { p_key_hash: key.hash })).not.toBeNull()
    await ok('admin_revoke_api_key', { p_key_id: key.row.id })
    expect(await rpc(admin, 'gateway_resolve_key', { p_key_hash: key.hash })).toEqual({
      data: null,
      error: null,
      status: 200,
    })
  })
})

// ---------------------------------------------------------------------------------------------
// Settings (0004_settings.sql)
// ---------------------------------------------------------------------------------------------

describe('settings: the columns and their check', () => {
  /** Shapes on both sides of every rule of SettingsSchema. */
  const SETTINGS: unknown[] = [
    {},
    { cache: {} },
    { cache: { enabled: true } },
    { cache: { enabled: false, ttl_seconds: 60, threshold: 1 } },
    { cache: { ttl_seconds: 2_592_000 } },
    { cache: { ttl_seconds: 604_800, threshold: 0.0001 } },
    { cache: { threshold: 0.95 } },
    null,
    [],
    'cache',
    5,
    true,
    { cache: null },
    { cache: [] },
    { cache: [{ enabled: true }] },
    { cache: 'on' },
    { cache: true },
    { firewall: {} },
    { Cache: {} },
    { cache: {}, extra: 1 },
    { cache: { enabled: 'true' } },
    { cache: { enabled: 1 } },
    { cache: { enabled: null } },
    { cache: { enabled: [true] } },
    { cache: { ttl_seconds: 59 } },
    { cache: { ttl_seconds: 0 } },
    { cache: { ttl_seconds: -60 } },
    { cache: { ttl_seconds: 2_592_001 } },
    { cache: { ttl_seconds: 3600.5 } },
    { cache: { ttl_seconds: '3600' } },
    { cache: { ttl_seconds: null } },
    { cache: { ttl_seconds: [3600] } },
    { cache: { threshold: 0 } },
    { cache: { threshold: -0.5 } },
    { cache: { threshold: 1.0001 } },
    { cache: { threshold: 2 } },
    { cache: { threshold: '0.9' } },
    { cache: { threshold: null } },
    { cache: { ttl: 3600 } },
    { cache: { enabled: true, namespace: 'x' } },
    // the feedback metrics (0005_feedback_routing.sql)
    { feedback: {} },
    { feedback: { metrics: {} } },
    { feedback: { metrics: { helpful: { min: 1, max: 5 } } } },
    { feedback: { metrics: { thumbs: { min: -1, max: 1 }, rating: { min: 0, max: 10 } } } },
    { cache: { enabled: true }, feedback: { metrics: { csat_2: { min: 0.5, max: 0.75 } } } },
    { feedback: { metrics: { [`m${'_'.repeat(31)}`]: { min: -1e300, max: 1e300 } } } },
    { feedback: null },
    { feedback: [] },
    { feedback: 'on' },
    { feedback: { metrics: null } },
    { feedback: { metrics: [] } },
    { feedback: { metrics: [{ min: 0, max: 1 }] } },
    { feedback: { metric: {} } },
    { feedback: { metrics: {}, half_life: 100 } },
    { feedback: { metrics: { Helpful: { min: 0, max: 1 } } } },
    { feedback: { metrics: { '5star': { min: 0, max: 5 } } } },
    { feedback: { metrics: { 'thumbs-up': { min: 0, max: 1 } } } },
    { feedback: { metrics: { '': { min: 0, max: 1 } } } },
    { feedback: { metrics: { [`m${'_'.repeat(32)}`]: { min: 0, max: 1 } } } },
    { feedback: { metrics: { 'helpful\n': { min: 0, max: 1 } } } },
    { feedback: { metrics: { helpful: null } } },
    { feedback: { metrics: { helpful: [0, 1] } } },
    { feedback: { metrics: { helpful: { min: 1, max: 1 } } } },
    { feedback: { metrics: { helpful: { min: 5, max: 1 } } } },
    { feedback: { metrics: { helpful: { min: 0 } } } },
    { feedback: { metrics: { helpful: { max: 1 } } } },
    { feedback: { metrics: { helpful: { min: '0', max: 1 } } } },
    { feedback: { metrics: { helpful: { min: 0, max: null } } } },
    { feedback: { metrics: { helpful: { min: 0, max: 1, step: 1 } } } },
  ]

  /** What the gateway keeps of `value`: SettingsSchema accepts it and strips nothing. */
  const gatewayKeeps = (value: unknown): boolean => {
    const parsed = SettingsSchema.safeParse(value)
    return parsed.success && isDeepStrictEqual(parsed.data, value)
  }

  it('should add settings to organizations and api_keys: jsonb, not null, default {}', async () => {
    const { rows } = await direct.query<Row>(
      `select table_name, data_type, is_nullable, column_default from information_schema.columns
       where table_schema = 'public' and column_name = 'settings' order by table_name`,
    )
    expect(rows).toEqual(
      ['api_keys', 'organizations'].map((table_name) => ({
        table_name,
        data_type: 'jsonb',
        is_nullable: 'NO',
        column_default: "'{}'::jsonb",
      })),
    )
    const org = await createOrg('settings-default')
    const key = await createKey(org.slug)
    const { rows: stored } = await direct.query<Row>(
      `select o.settings as org, k.settings as key from organizations o
       join api_keys k on k.org_id = o.id where k.id = $1`,
      [key.row.id],
    )
    expect(stored).toEqual([{ org: {}, key: {} }])
  })

  it('should accept exactly the settings SettingsSchema accepts and keeps whole', async () => {
    const verdicts: { value: unknown; sql: boolean | undefined; zod: boolean }[] = []
    for (const value of SETTINGS) {
      const { rows } = await direct.query<{ valid: boolean }>(
        'select public.tenancy_settings_valid($1::jsonb) as valid',
        [JSON.stringify(value)],
      )
      verdicts.push({ value, sql: rows[0]?.valid, zod: gatewayKeeps(value) })
    }
    for (const verdict of verdicts) {
      expect(verdict.sql, JSON.stringify(verdict.value)).toBe(verdict.zod)
    }
    const accepted = verdicts.filter((v) => v.zod).length
    expect(accepted).toBe(13)
    expect(verdicts.length - accepted).toBeGreaterThanOrEqual(50)
    // 60.0 is the whole number 60 to JSON.parse, so to the gateway; so it is to the check
    const { rows } = await direct.query<{ valid: boolean }>(
      `select public.tenancy_settings_valid('{"cache": {"ttl_seconds": 60.0}}') as valid`,
    )
    expect(rows[0]?.valid).toBe(true)
    expect(gatewayKeeps(JSON.parse('{"cache": {"ttl_seconds": 60.0}}'))).toBe(true)
    // a bound JavaScript reads as Infinity, which the gateway refuses, is refused here too
    for (const json of [
      '{"feedback": {"metrics": {"x": {"min": 0, "max": 1e400}}}}',
      '{"feedback": {"metrics": {"x": {"min": -1e400, "max": 0}}}}',
    ]) {
      const { rows: huge } = await direct.query<{ valid: boolean }>(
        'select public.tenancy_settings_valid($1::jsonb) as valid',
        [json],
      )
      expect({ json, valid: huge[0]?.valid }).toEqual({ json, valid: false })
      expect(gatewayKeeps(JSON.parse(json))).toBe(false)
    }
  })

  it('should store settings given at creation and refuse bad ones with 23514 / 400', async () => {
    const settings = { cache: { enabled: true, ttl_seconds: 3600, threshold: 0.9 } }
    const org = await createOrg('settings-create', { p_settings: settings })
    expect(org.settings).toEqual(settings)
    const key = await createKey(org.slug, { p_settings: { cache: { enabled: false } } })
    expect(key.row.settings).toEqual({ cache: { enabled: false } })
    const bad = { cache: { ttl_seconds: 30 } }
    const orgRefused = await fails('admin_create_org', { p_slug: slugFor('bad'), p_settings: bad })
    expect({ code: orgRefused.error?.code, status: orgRefused.status }).toEqual({
      code: '23514',
      status: 400,
    })
    expect(orgRefused.error?.message).toContain('organizations_settings_check')
    const keyRefused = await fails('admin_create_api_key', {
      p_org: org.slug,
      p_key_hash: 'e'.repeat(64),
      p_display_prefix: 'flo_sk_live_Ab3d',
      p_last4: 'wxyz',
      p_mode: 'live',
      p_settings: { cache: { threshold: 0 } },
    })
    expect(keyRefused.status).toBe(400)
    expect(keyRefused.error?.message).toContain('api_keys_settings_check')
    // a direct write is checked too
    for (const table of ['organizations', 'api_keys']) {
      expect(
        await sqlState(() =>
          direct.query(`update public.${table} set settings = '{"cache": {"on": true}}'`),
        ),
      ).toBe('23514')
      expect(await sqlState(() => direct.query(`update public.${table} set settings = null`))).toBe(
        '23502',
      )
    }
  })

  it('should return settings from every admin read of organizations and keys', async () => {
    const settings = { cache: { ttl_seconds: 86_400 } }
    const org = await createOrg('settings-read', { p_settings: settings })
    const key = await createKey(org.slug, { p_settings: { cache: { threshold: 0.8 } } })
    expect(await ok<Row>('admin_get_org', { p_org: org.slug })).toMatchObject({ settings })
    const listed = await ok<Org[]>('admin_list_orgs')
    expect(listed.find((o) => o.id === org.id)).toMatchObject({ settings })
    expect(await ok<ApiKey[]>('admin_list_api_keys', { p_org: org.slug })).toEqual([
      { ...key.row, settings: { cache: { threshold: 0.8 } } },
    ])
  })

  it('should apply 0004 over a database that ran 0001-0003, its rows getting {}', async () => {
    const name = `pre_settings_${String(process.pid)}`
    await direct.query(`create database ${name}`)
    const url = server.url.replace(/\/postgres$/, `/${name}`)
    const db = new Client({ connectionString: url })
    await db.connect()
    try {
      const dir = new URL('../../migrations/postgres/', import.meta.url)
      const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
      const run = async (file: string) => {
        await db.query('begin')
        await db.query(await readFile(new URL(file, dir), 'utf8'))
        await db.query('commit')
      }
      const before = files.filter((f) => f < '0004')
      expect(before).toEqual([
        '0001_tenancy.sql',
        '0002_routing_target_key.sql',
        '0003_prompts.sql',
      ])
      for (const file of before) await run(file)
      await db.query(`select admin_create_org('old-org', p_features => '{"beta": true}')`)
      await db.query(
        `select admin_create_api_key('old-org', $1, 'flo_sk_live_Ab3d', 'wxyz', 'live')`,
        ['d'.repeat(64)],
      )
      await run('0004_settings.sql')
      const { rows } = await db.query<{ doc: { key: Row; org: Row } }>(
        'select gateway_resolve_key($1) as doc',
        ['d'.repeat(64)],
      )
      expect(rows[0]?.doc.org).toMatchObject({ features: { beta: true }, settings: {} })
      expect(rows[0]?.doc.key).toMatchObject({ settings: {} })
      // the old signatures are gone; the new ones are service_role's only
      const { rows: fns } = await db.query<Row>(
        `select p.oid::regprocedure::text as fn,
           has_function_privilege('anon', p.oid, 'execute') as anon,
           has_function_privilege('service_role', p.oid, 'execute') as service_role
         from pg_proc p
         where p.proname in ('admin_create_org', 'admin_create_api_key') order by 1`,
      )
      expect(fns).toEqual([
        {
          fn: 'admin_create_api_key(text,text,text,text,text,text,integer,jsonb)',
          anon: false,
          service_role: true,
        },
        {
          fn: 'admin_create_org(text,text,text,text,integer,integer,jsonb,jsonb)',
          anon: false,
          service_role: true,
        },
      ])
    } finally {
      await db.end()
      await direct.query(`drop database ${name}`)
    }
  })
})

describe('settings: the gateway’s read', () => {
  it('should resolve a key with its own settings and its organisation’s, as the gateway parses them', async () => {
    const orgSettings = { cache: { enabled: true, ttl_seconds: 3600, threshold: 0.9 } }
    const keySettings = { cache: { ttl_seconds: 120 } }
    const org = await createOrg('settings-resolve', { p_settings: orgSettings })
    const key = await createKey(org.slug, { p_settings: keySettings })
    const plain = await createKey(org.slug)
    const resolved = await ok<{ key: Row; org: Row }>('gateway_resolve_key', {
      p_key_hash: key.hash,
    })
    expect(resolved.key['settings']).toEqual(keySettings)
    expect(resolved.org['settings']).toEqual(orgSettings)
    const tenant = parseKeyConfig(resolved)
    expect(tenant.keySettings).toEqual(keySettings)
    expect(tenant.org.settings).toEqual(orgSettings)
    // another key of the organisation has none of this key's settings
    const other = await ok<{ key: Row; org: Row }>('gateway_resolve_key', {
      p_key_hash: plain.hash,
    })
    expect(other.key['settings']).toEqual({})
    expect(other.org['settings']).toEqual(orgSettings)
  })
})

describe('settings: admin updates', () => {
  it('should merge an organisation’s settings member by member, null removing one', async () => {
    const org = await createOrg('settings-merge', {
      p_features: { has_advanced_cache: true },
      p_settings: { cache: { enabled: true } },
    })
    const update = (settings: unknown) =>
      ok<Org>('admin_update_org', { p_org: org.slug, p_changes: { settings } })
    expect((await update({ cache: { ttl_seconds: 3600 } })).settings).toEqual({
      cache: { enabled: true, ttl_seconds: 3600 },
    })
    expect((await update({ cache: { threshold: 0.85, enabled: false } })).settings).toEqual({
      cache: { enabled: false, ttl_seconds: 3600, threshold: 0.85 },
    })
    expect((await update({ cache: { enabled: null } })).settings).toEqual({
      cache: { ttl_seconds: 3600, threshold: 0.85 },
    })
    // an empty change changes nothing; the other columns stay as they were
    const same = await update({})
    expect(same).toMatchObject({
      features: { has_advanced_cache: true },
      settings: { cache: { ttl_seconds: 3600, threshold: 0.85 } },
    })
    // a cache left empty is removed, and so is a cache set to null
    expect((await update({ cache: { ttl_seconds: null, threshold: null } })).settings).toEqual({})
    await update({ cache: { enabled: true } })
    expect((await update({ cache: null })).settings).toEqual({})
    // settings and features change together, each merged
    const both = await ok<Org>('admin_update_org', {
      p_org: org.id,
      p_changes: { features: { has_advanced_cache: null }, settings: { cache: { enabled: true } } },
    })
    expect(both).toMatchObject({ features: {}, settings: { cache: { enabled: true } } })
  })

  it('should refuse a malformed settings change, changing nothing', async () => {
    const org = await createOrg('settings-refuse', { p_settings: { cache: { enabled: true } } })
    for (const settings of [5, [], 'x', null]) {
      const { error, status } = await fails('admin_update_org', {
        p_org: org.slug,
        p_changes: { settings },
      })
      expect({ settings, status, error }).toMatchObject({
        settings,
        status: 400,
        error: { code: '22023', message: 'p_changes.settings must be a JSON object' },
      })
    }
    for (const settings of [
      { cache: { ttl_seconds: 59 } },
      { cache: { threshold: 1.5 } },
      { cache: { enabled: 'yes' } },
      { cache: 'on' },
      { firewall: { enabled: true } },
    ]) {
      const { error, status } = await fails('admin_update_org', {
        p_org: org.slug,
        p_changes: { settings },
      })
      expect({ settings, status, code: error?.code }).toEqual({
        settings,
        status: 400,
        code: '23514',
      })
    }
    expect(await ok<Row>('admin_get_org', { p_org: org.slug })).toMatchObject({
      settings: { cache: { enabled: true } },
    })
  })

  it('should merge a key’s settings the same way, and refuse bad ones', async () => {
    const org = await createOrg('settings-key')
    const { row, hash } = await createKey(org.slug, { p_rpm_limit: 30 })
    const update = (changes: Row) =>
      ok<ApiKey>('admin_update_api_key', { p_key_id: row.id, p_changes: changes })
    expect(await update({ settings: { cache: { enabled: false, ttl_seconds: 600 } } })).toEqual({
      ...row,
      settings: { cache: { enabled: false, ttl_seconds: 600 } },
    })
    expect(await update({ name: 'renamed', settings: { cache: { enabled: null } } })).toEqual({
      ...row,
      name: 'renamed',
      settings: { cache: { ttl_seconds: 600 } },
    })
    const resolved = await ok<{ key: Row }>('gateway_resolve_key', { p_key_hash: hash })
    expect(resolved.key['settings']).toEqual({ cache: { ttl_seconds: 600 } })
    const malformed = await fails('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { settings: 'on' },
    })
    expect(malformed.error).toMatchObject({
      code: '22023',
      message: 'p_changes.settings must be a JSON object',
    })
    const invalid = await fails('admin_update_api_key', {
      p_key_id: row.id,
      p_changes: { settings: { cache: { ttl_seconds: 9_999_999 } } },
    })
    expect(invalid.error?.code).toBe('23514')
    expect((await update({ settings: { cache: { ttl_seconds: null } } })).settings).toEqual({})
  })

  it('should keep one organisation’s settings out of every other organisation', async () => {
    const mine = await createOrg('settings-mine')
    const theirs = await createOrg('settings-theirs', { p_settings: { cache: { enabled: false } } })
    const myKey = await createKey(mine.slug)
    const theirKey = await createKey(theirs.slug, { p_settings: { cache: { threshold: 0.7 } } })
    await ok('admin_update_org', {
      p_org: mine.slug,
      p_changes: { settings: { cache: { enabled: true, ttl_seconds: 300 } } },
    })
    await ok('admin_update_api_key', {
      p_key_id: myKey.row.id,
      p_changes: { settings: { cache: { threshold: 0.99 } } },
    })
    const theirDoc = await ok<{ key: Row; org: Row }>('gateway_resolve_key', {
      p_key_hash: theirKey.hash,
    })
    expect(theirDoc.org['settings']).toEqual({ cache: { enabled: false } })
    expect(theirDoc.key['settings']).toEqual({ cache: { threshold: 0.7 } })
    const myDoc = await ok<{ key: Row; org: Row }>('gateway_resolve_key', {
      p_key_hash: myKey.hash,
    })
    expect(myDoc.org['settings']).toEqual({ cache: { enabled: true, ttl_seconds: 300 } })
    expect(myDoc.key['settings']).toEqual({ cache: { threshold: 0.99 } })
    expect(await ok<ApiKey[]>('admin_list_api_keys', { p_org: theirs.slug })).toEqual([
      expect.objectContaining({ id: theirKey.row.id, settings: { cache: { threshold: 0.7 } } }),
    ])
  })
})

// ---------------------------------------------------------------------------------------------
// Feedback routing (0005_feedback_routing.sql)
// ---------------------------------------------------------------------------------------------

describe('feedback routing: rule params', () => {
  const FEEDBACK_PARAMS = { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' }

  /** Shapes on both sides of every rule of RuleParamsSchema, and members it does not know. */
  const PARAMS: unknown[] = [
    {},
    { cost_weight: 0 },
    { cost_weight: 0.02 },
    { cost_weight: 1e300 },
    { latency_weight: 12.5 },
    { metric: 'rating' },
    { metric: 'csat_2' },
    { metric: `m${'_'.repeat(31)}` },
    FEEDBACK_PARAMS,
    // a member the gateway does not read is let through, as in targets, and ignored by it
    { explore: 0.1 },
    { cost_weight: 1, half_life: 'x' },
    null,
    [],
    [{ cost_weight: 1 }],
    'cost_weight',
    5,
    true,
    { cost_weight: -0.0001 },
    { cost_weight: '1' },
    { cost_weight: null },
    { cost_weight: [1] },
    { cost_weight: {} },
    { cost_weight: true },
    { latency_weight: -1 },
    { latency_weight: '0' },
    { latency_weight: null },
    { latency_weight: [0] },
    { metric: '' },
    { metric: 'Helpful' },
    { metric: '5star' },
    { metric: 'thumbs-up' },
    { metric: 'with space' },
    { metric: `m${'_'.repeat(32)}` },
    { metric: 'helpful\n' },
    { metric: null },
    { metric: 1 },
    { metric: ['helpful'] },
    { ...FEEDBACK_PARAMS, metric: 'Helpful' },
  ]

  /** Whether routing_rules' checks let a rule with `json` as params in (the insert is undone). */
  const checkAccepts = async (orgId: string, json: string): Promise<boolean> => {
    await direct.query('begin')
    try {
      await direct.query(
        `insert into routing_rules (org_id, strategy, targets, params)
         values ($1, 'feedback', $2::jsonb, $3::jsonb)`,
        [orgId, JSON.stringify(TARGETS), json],
      )
      return true
    } catch (error) {
      if (error instanceof DatabaseError && error.code === '23514') return false
      throw error
    } finally {
      await direct.query('rollback')
    }
  }

  it('should add params to routing_rules: jsonb, not null, default {}', async () => {
    const { rows } = await direct.query<Row>(
      `select data_type, is_nullable, column_default from information_schema.columns
       where table_schema = 'public' and table_name = 'routing_rules' and column_name = 'params'`,
    )
    expect(rows).toEqual([{ data_type: 'jsonb', is_nullable: 'NO', column_default: "'{}'::jsonb" }])
    const org = await createOrg('params-default')
    await direct.query(
      `insert into routing_rules (org_id, strategy, targets) values ($1, 'fallback', $2::jsonb)`,
      [org.id, JSON.stringify(TARGETS)],
    )
    const rules = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(rules.map((rule) => rule['params'])).toEqual([{}])
    expect(await sqlState(() => direct.query('update routing_rules set params = null'))).toBe(
      '23502',
    )
  })

  it('should accept exactly the params RuleParamsSchema accepts', async () => {
    const org = await createOrg('params-check')
    const verdicts: { value: unknown; sql: boolean; zod: boolean }[] = []
    for (const value of PARAMS) {
      const sql = await checkAccepts(org.id, JSON.stringify(value))
      verdicts.push({ value, sql, zod: RuleParamsSchema.safeParse(value).success })
    }
    for (const verdict of verdicts) {
      expect(verdict.sql, JSON.stringify(verdict.value)).toBe(verdict.zod)
    }
    const accepted = verdicts.filter((v) => v.zod).length
    expect(accepted).toBe(11)
    expect(verdicts.length - accepted).toBeGreaterThanOrEqual(25)
    // a weight JavaScript reads as Infinity, which the gateway refuses, is refused here too
    for (const json of ['{"cost_weight": 1e400}', '{"latency_weight": 1e309}']) {
      expect({ json, sql: await checkAccepts(org.id, json) }).toEqual({ json, sql: false })
      expect(RuleParamsSchema.safeParse(JSON.parse(json)).success).toBe(false)
    }
  })

  it('should accept the feedback strategy', async () => {
    const org = await createOrg('params-strategy')
    const rule = await ok<Rule>('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'feedback',
      p_targets: TARGETS,
    })
    expect(rule).toMatchObject({ strategy: 'feedback', params: {} })
  })

  it('should store params with the rule and replace them with it, never merged', async () => {
    const org = await createOrg('params-set')
    const base = { p_org: org.slug, p_strategy: 'feedback', p_targets: TARGETS }
    const created = await ok<Rule>('admin_set_routing_rule', {
      ...base,
      p_params: FEEDBACK_PARAMS,
    })
    expect(created['params']).toEqual(FEEDBACK_PARAMS)
    expect(await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })).toEqual([created])
    // a rule set again keeps its id and takes the new params whole
    const replaced = await ok<Rule>('admin_set_routing_rule', {
      ...base,
      p_params: { metric: 'thumbs' },
    })
    expect(replaced).toMatchObject({ id: created.id, params: { metric: 'thumbs' } })
    // without params (or with SQL null), none: another strategy leaves nothing behind
    const plain = await ok<Rule>('admin_set_routing_rule', { ...base, p_strategy: 'fallback' })
    expect(plain).toMatchObject({ id: created.id, strategy: 'fallback', params: {} })
    await ok('admin_set_routing_rule', { ...base, p_params: FEEDBACK_PARAMS })
    expect(await ok<Rule>('admin_set_routing_rule', { ...base, p_params: null })).toMatchObject({
      id: created.id,
      params: {},
    })
  })

  it('should refuse malformed params with 23514 / 400, changing nothing', async () => {
    const org = await createOrg('params-refuse')
    const base = { p_org: org.slug, p_strategy: 'feedback', p_targets: TARGETS }
    await ok('admin_set_routing_rule', { ...base, p_params: { metric: 'helpful' } })
    for (const params of [
      [],
      'x',
      { cost_weight: -1 },
      { latency_weight: '2' },
      { metric: 'Helpful' },
    ]) {
      const { error, status } = await fails('admin_set_routing_rule', {
        ...base,
        p_params: params,
      })
      expect({ params, code: error?.code, status }).toEqual({ params, code: '23514', status: 400 })
      expect(error?.message).toContain('routing_rules_params_check')
    }
    const rules = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(rules.map((rule) => rule['params'])).toEqual([{ metric: 'helpful' }])
  })

  it('should return each rule’s params to the gateway, as it parses them', async () => {
    const org = await createOrg('params-resolve')
    const key = await createKey(org.slug)
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'feedback',
      p_targets: [
        { provider: 'openai', model: 'gpt-4o' },
        { provider: 'anthropic', model: 'claude-sonnet-4-5', key: 'operator' },
      ],
      p_api_key_id: key.row.id,
      p_params: FEEDBACK_PARAMS,
    })
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
    })
    const resolved = await ok<{ routing_rules: Row[] }>('gateway_resolve_key', {
      p_key_hash: key.hash,
    })
    expect(resolved.routing_rules.map((r) => [r['strategy'], r['params']])).toEqual([
      ['feedback', FEEDBACK_PARAMS],
      ['fallback', {}],
    ])
    const tenant = parseKeyConfig(resolved)
    expect(tenant.routingRules.map((r) => [r.strategy, r.params])).toStrictEqual([
      ['feedback', FEEDBACK_PARAMS],
      ['fallback', {}],
    ])
  })

  it('should apply 0005 over a database that ran 0001-0004, its rules getting {}', async () => {
    const name = `pre_feedback_${String(process.pid)}`
    await direct.query(`create database ${name}`)
    const url = server.url.replace(/\/postgres$/, `/${name}`)
    const db = new Client({ connectionString: url })
    await db.connect()
    try {
      const dir = new URL('../../migrations/postgres/', import.meta.url)
      const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
      const run = async (file: string) => {
        await db.query('begin')
        await db.query(await readFile(new URL(file, dir), 'utf8'))
        await db.query('commit')
      }
      const before = files.filter((f) => f < '0005')
      expect(before).toEqual([
        '0001_tenancy.sql',
        '0002_routing_target_key.sql',
        '0003_prompts.sql',
        '0004_settings.sql',
      ])
      for (const file of before) await run(file)
      await db.query(
        `select admin_create_org('old-org', p_settings => '{"cache": {"enabled": true}}')`,
      )
      await db.query(
        `select admin_create_api_key('old-org', $1, 'flo_sk_live_Ab3d', 'wxyz', 'live')`,
        ['c'.repeat(64)],
      )
      await db.query(`select admin_set_routing_rule('old-org', 'weighted', $1::jsonb)`, [
        JSON.stringify([{ provider: 'openai', model: 'gpt-4o', weight: 2 }]),
      ])
      // before 0005: no feedback strategy, no feedback settings
      expect(
        await sqlState(() =>
          db.query(
            `select admin_set_routing_rule('old-org', 'feedback', $1::jsonb, p_model => 'm')`,
            [JSON.stringify(TARGETS)],
          ),
        ),
      ).toBe('23514')
      await run('0005_feedback_routing.sql')
      const { rows } = await db.query<{ doc: { org: Row; routing_rules: Row[] } }>(
        'select gateway_resolve_key($1) as doc',
        ['c'.repeat(64)],
      )
      expect(rows[0]?.doc.routing_rules).toEqual([
        {
          api_key_id: null,
          model: null,
          strategy: 'weighted',
          targets: [{ provider: 'openai', model: 'gpt-4o', weight: 2 }],
          params: {},
        },
      ])
      expect(rows[0]?.doc.org).toMatchObject({ settings: { cache: { enabled: true } } })
      await db.query(
        `select admin_set_routing_rule('old-org', 'feedback', $1::jsonb, p_model => 'm',
           p_params => '{"metric": "helpful"}')`,
        [JSON.stringify(TARGETS)],
      )
      await db.query(
        `select admin_update_org('old-org',
           '{"settings": {"feedback": {"metrics": {"helpful": {"min": 1, "max": 5}}}}}')`,
      )
      // the old signature is gone; the new one is service_role's only
      const { rows: fns } = await db.query<Row>(
        `select p.oid::regprocedure::text as fn,
           has_function_privilege('anon', p.oid, 'execute') as anon,
           has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
           has_function_privilege('service_role', p.oid, 'execute') as service_role
         from pg_proc p where p.proname = 'admin_set_routing_rule'`,
      )
      expect(fns).toEqual([
        {
          fn: 'admin_set_routing_rule(text,text,jsonb,uuid,text,jsonb)',
          anon: false,
          authenticated: false,
          service_role: true,
        },
      ])
    } finally {
      await db.end()
      await direct.query(`drop database ${name}`)
    }
  })
})

describe('feedback routing: the organisation’s metrics', () => {
  it('should merge metrics one by one, a null removing one, and give them to the gateway', async () => {
    const org = await createOrg('metrics-merge', { p_settings: { cache: { enabled: true } } })
    const key = await createKey(org.slug)
    const update = async (metrics: unknown) =>
      (
        await ok<Org>('admin_update_org', {
          p_org: org.slug,
          p_changes: { settings: { feedback: { metrics } } },
        })
      )['settings']
    expect(await update({ helpful: { min: 1, max: 5 } })).toEqual({
      cache: { enabled: true },
      feedback: { metrics: { helpful: { min: 1, max: 5 } } },
    })
    expect(await update({ thumbs: { min: -1, max: 1 } })).toEqual({
      cache: { enabled: true },
      feedback: { metrics: { helpful: { min: 1, max: 5 }, thumbs: { min: -1, max: 1 } } },
    })
    // a range given replaces the stored one
    expect(await update({ helpful: { min: 0, max: 10 } })).toMatchObject({
      feedback: { metrics: { helpful: { min: 0, max: 10 }, thumbs: { min: -1, max: 1 } } },
    })
    const resolved = await ok<{ org: Row }>('gateway_resolve_key', { p_key_hash: key.hash })
    expect(parseKeyConfig(resolved).org.settings.feedback).toEqual({
      metrics: { helpful: { min: 0, max: 10 }, thumbs: { min: -1, max: 1 } },
    })
    expect(await update({ helpful: null })).toEqual({
      cache: { enabled: true },
      feedback: { metrics: { thumbs: { min: -1, max: 1 } } },
    })
    // the last metric removed takes feedback with it
    expect(await update({ thumbs: null })).toEqual({ cache: { enabled: true } })
  })

  it('should refuse a malformed metric with 23514 / 400, changing nothing', async () => {
    const settings = { feedback: { metrics: { helpful: { min: 1, max: 5 } } } }
    const org = await createOrg('metrics-refuse', { p_settings: settings })
    for (const metrics of [
      { helpful: { min: 6 } },
      { thumbs: { min: 1, max: 1 } },
      { thumbs: { min: 0, max: '1' } },
      { Thumbs: { min: 0, max: 1 } },
      { thumbs: [0, 1] },
    ]) {
      const { error, status } = await fails('admin_update_org', {
        p_org: org.slug,
        p_changes: { settings: { feedback: { metrics } } },
      })
      expect({ metrics, status, code: error?.code }).toEqual({
        metrics,
        status: 400,
        code: '23514',
      })
      expect(error?.message).toContain('organizations_settings_check')
    }
    expect(await ok<Row>('admin_get_org', { p_org: org.slug })).toMatchObject({ settings })
  })
})

// ---------------------------------------------------------------------------------------------
// What the anon key cannot do
// ---------------------------------------------------------------------------------------------

describe('the anon key', () => {
  const calls: [string, Row][] = [
    ['gateway_resolve_key', { p_key_hash: 'a'.repeat(64) }],
    ['admin_list_orgs', {}],
    ['admin_create_org', { p_slug: 'anon-made' }],
    ['admin_get_org', { p_org: 'anything' }],
    ['admin_list_provider_keys', {}],
    ['admin_revoke_api_key', { p_key_id: '00000000-0000-0000-0000-000000000000' }],
    [
      'gateway_resolve_prompt',
      { p_org_id: '00000000-0000-0000-0000-000000000000', p_prompt_id: 'greet', p_selector: null },
    ],
    ['admin_create_prompt_version', { p_org: 'x', p_prompt_id: 'greet', p_template: TEMPLATE }],
    ['admin_list_prompts', { p_org: 'x' }],
    ['admin_get_prompt', { p_org: 'x', p_prompt_id: 'greet' }],
    ['admin_label_prompt', { p_org: 'x', p_prompt_id: 'greet', p_version: 1, p_label: 'a' }],
    ['admin_delete_prompt', { p_org: 'x', p_prompt_id: 'greet' }],
  ]

  it.each(calls)('should be refused %s with 42501 / 401', async (fn, args) => {
    const { error, status } = await fails(fn, args, anon)
    expect(status).toBe(401)
    expect(error).toMatchObject({
      code: '42501',
      message: `permission denied for function ${fn}`,
    })
  })

  it('should not read or write any table, as anon or authenticated', async () => {
    for (const role of ['anon', 'authenticated']) {
      for (const table of TABLES) {
        expect(await sqlState(() => asRole(role, `select * from public.${table}`))).toBe('42501')
      }
      const insert = `insert into public.organizations (slug, name) values ('sneaky', 'x')`
      expect(await sqlState(() => asRole(role, insert))).toBe('42501')
    }
    const { rows } = await direct.query('select 1 from organizations where slug = $1', [
      'anon-made',
    ])
    expect(rows).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------------------

describe('integrity', () => {
  const count = async (table: string, orgId: string): Promise<number> => {
    const { rows } = await direct.query<{ n: number }>(
      `select count(*)::int as n from public.${table} where org_id = $1`,
      [orgId],
    )
    return rows[0]?.n ?? -1
  }

  it('should delete an organization’s keys, provider keys and rules with it', async () => {
    const org = await createOrg('cascade')
    const { row: key } = await createKey(org.slug)
    await ok('admin_put_provider_key', {
      p_org: org.slug,
      p_provider: 'openai',
      p_envelope: envelope('k1', 'x'),
    })
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
    })
    await ok('admin_set_routing_rule', {
      p_org: org.slug,
      p_strategy: 'fallback',
      p_targets: TARGETS,
      p_api_key_id: key.id,
    })
    const counts = (): Promise<number[]> =>
      Promise.all(['api_keys', 'provider_keys', 'routing_rules'].map((t) => count(t, org.id)))
    expect(await counts()).toEqual([1, 1, 2])
    await direct.query('delete from public.organizations where id = $1', [org.id])
    expect(await counts()).toEqual([0, 0, 0])
  })

  it('should delete an organization’s prompts and their versions with it', async () => {
    const org = await createOrg('prompt-cascade')
    await createPrompt(org.slug, 'greet', 2)
    await label(org.slug, 'greet', 2, 'production')
    expect(await storedVersions(org.id, 'greet')).toEqual([1, 2])
    await direct.query('delete from public.organizations where id = $1', [org.id])
    const { rows } = await direct.query<{ n: number }>(
      `select (select count(*) from prompts where org_id = $1)::int
         + (select count(*) from prompt_versions v
            where not exists (select from prompts p where p.id = v.prompt))::int as n`,
      [org.id],
    )
    expect(rows).toEqual([{ n: 0 }])
  })

  it('should delete a key’s own rules with the key and keep the organization’s', async () => {
    const org = await createOrg('keycascade')
    const { row: key } = await createKey(org.slug)
    const base = { p_org: org.slug, p_strategy: 'fallback', p_targets: TARGETS }
    await ok('admin_set_routing_rule', base)
    await ok('admin_set_routing_rule', { ...base, p_api_key_id: key.id })
    await direct.query('delete from public.api_keys where id = $1', [key.id])
    const rules = await ok<Rule[]>('admin_list_routing_rules', { p_org: org.slug })
    expect(rules.map((rule) => rule['api_key_id'])).toEqual([null])
  })
})

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

interface PromptSummaryRow extends Row {
  prompt_id: string
  latest_version: number
  labels: Record<string, number>
  created_at: string
  updated_at: string
}

interface PromptVersionRow extends Row {
  prompt_id: string
  version: number
  template: unknown
  labels: Record<string, number>
  created_at: string
}

/** A template that says which version it is. */
const templateOf = (version: number): Row => ({
  messages: [{ role: 'user', content: `v${String(version)}: Hello {{name}}` }],
})

/** Creates versions 1..`count` of `promptId` one after the other, with `templateOf(n)`. */
async function createPrompt(org: string, promptId: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n += 1) {
    const created = await ok<{ version: number }>('admin_create_prompt_version', {
      p_org: org,
      p_prompt_id: promptId,
      p_template: templateOf(n),
    })
    expect(created.version).toBe(n)
  }
}

const label = (org: string, promptId: string, version: number, name: string) =>
  ok<PromptSummaryRow>('admin_label_prompt', {
    p_org: org,
    p_prompt_id: promptId,
    p_version: version,
    p_label: name,
  })

/** What `gateway_resolve_prompt` answers. */
async function resolvePrompt(
  orgId: string,
  promptId: string,
  selector: string | null = null,
): Promise<unknown> {
  return ok('gateway_resolve_prompt', {
    p_org_id: orgId,
    p_prompt_id: promptId,
    p_selector: selector,
  })
}

/** The versions stored for an organisation's prompt, read directly. */
async function storedVersions(orgId: string, promptId: string): Promise<number[]> {
  const { rows } = await direct.query<{ version: number }>(
    `select v.version from prompt_versions v join prompts p on p.id = v.prompt
     where p.org_id = $1 and p.prompt_id = $2 order by v.version`,
    [orgId, promptId],
  )
  return rows.map((row) => row.version)
}

describe('prompts: versions', () => {
  it('should create a prompt at version 1 and append 2 and 3, each template kept', async () => {
    const org = await createOrg('prompts')
    const first = await ok<Row>('admin_create_prompt_version', {
      p_org: org.slug,
      p_prompt_id: 'greet',
      p_template: templateOf(1),
    })
    expect(first).toEqual({
      prompt_id: 'greet',
      version: 1,
      created_at: expect.any(String) as unknown,
    })
    const [created] = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.id })
    await ok('admin_create_prompt_version', {
      p_org: org.id,
      p_prompt_id: 'greet',
      p_template: templateOf(2),
    })
    const third = await ok<Row>('admin_create_prompt_version', {
      p_org: org.slug,
      p_prompt_id: 'greet',
      p_template: { ...templateOf(3), model: 'gpt-4o-mini', params: { temperature: 0.2 } },
    })
    expect(third['version']).toBe(3)
    expect(await storedVersions(org.id, 'greet')).toEqual([1, 2, 3])
    const { rows } = await direct.query<{ template: unknown }>(
      `select v.template from prompt_versions v join prompts p on p.id = v.prompt
       where p.org_id = $1 order by v.version`,
      [org.id],
    )
    expect(rows.map((row) => row.template)).toEqual([
      templateOf(1),
      templateOf(2),
      { ...templateOf(3), model: 'gpt-4o-mini', params: { temperature: 0.2 } },
    ])
    const [listed] = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.id })
    expect(listed?.latest_version).toBe(3)
    expect(listed?.created_at).toBe(created?.created_at)
    expect(Date.parse(listed?.updated_at ?? '')).toBeGreaterThan(
      Date.parse(created?.updated_at ?? ''),
    )
  })

  it('should number 20 concurrent creations 1 to 20, of a new prompt and of an existing one', async () => {
    const org = await createOrg('race')
    const create = (promptId: string, n: number) =>
      rpc(admin, 'admin_create_prompt_version', {
        p_org: org.slug,
        p_prompt_id: promptId,
        p_template: templateOf(n),
      })
    await createPrompt(org.slug, 'existing', 1)
    for (const [promptId, offset] of [
      ['fresh', 0],
      ['existing', 1],
    ] as const) {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => create(promptId, offset + i + 1)),
      )
      expect(outcomes.map((o) => o.error)).toEqual(outcomes.map(() => null))
      const numbers = outcomes.map((o) => (o.data as { version: number }).version)
      const expected = Array.from({ length: 20 }, (_, i) => offset + i + 1)
      expect(numbers.toSorted((a, b) => a - b)).toEqual(expected)
      expect(await storedVersions(org.id, promptId)).toEqual(
        offset === 0 ? expected : [1, ...expected],
      )
    }
    const { rows } = await direct.query('select 1 from prompts where org_id = $1', [org.id])
    expect(rows).toHaveLength(2)
  })

  it('should refuse a malformed prompt id or template with 23514 / 400, storing nothing', async () => {
    const org = await createOrg('badprompt')
    for (const promptId of ['Greet', '', '-greet', '.x', 'a b', 'a/b', 'ü', 'a'.repeat(129)]) {
      const { error, status } = await fails('admin_create_prompt_version', {
        p_org: org.slug,
        p_prompt_id: promptId,
        p_template: TEMPLATE,
      })
      expect({ promptId, status, code: error?.code }).toEqual({
        promptId,
        status: 400,
        code: '23514',
      })
    }
    await ok('admin_create_prompt_version', {
      p_org: org.slug,
      p_prompt_id: `a${'.-_9'.repeat(31)}xyz`,
      p_template: TEMPLATE,
    })
    const templates: unknown[] = [
      {},
      [],
      'Hello',
      { messages: [] },
      { messages: [{ role: 'bot', content: 'x' }] },
      { ...TEMPLATE, params: { stream: true } },
      { ...TEMPLATE, extra: 1 },
    ]
    for (const template of templates) {
      const { error, status } = await fails('admin_create_prompt_version', {
        p_org: org.slug,
        p_prompt_id: 'greet',
        p_template: template,
      })
      expect({ template, status, code: error?.code }).toEqual({
        template,
        status: 400,
        code: '23514',
      })
      expect(error?.message).toMatch(/prompt_versions_template_check/)
    }
    const missing = await fails('admin_create_prompt_version', {
      p_org: org.slug,
      p_prompt_id: 'greet',
      p_template: null,
    })
    expect(missing.error?.code).toBe('23502')
    // The failed calls created no prompt either.
    const listed = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.slug })
    expect(listed.map((p) => p.prompt_id)).toEqual([`a${'.-_9'.repeat(31)}xyz`])
  })

  it('should keep versions immutable, gapless, and deleted only with their prompt', async () => {
    const org = await createOrg('immutable')
    await createPrompt(org.slug, 'greet', 2)
    const { rows } = await direct.query<{ id: string }>(
      'select id from prompts where org_id = $1',
      [org.id],
    )
    const prompt = rows[0]?.id ?? ''
    const insert = (version: number) =>
      asRole(
        'service_role',
        `insert into prompt_versions (prompt, version, template) values ($1, $2, $3)`,
        [prompt, version, JSON.stringify(TEMPLATE)],
      )
    expect(
      await sqlState(() =>
        asRole('service_role', `update prompt_versions set template = $2 where prompt = $1`, [
          prompt,
          JSON.stringify(TEMPLATE),
        ]),
      ),
    ).toBe('P0001')
    expect(
      await sqlState(() =>
        asRole('service_role', 'delete from prompt_versions where prompt = $1 and version = 2', [
          prompt,
        ]),
      ),
    ).toBe('P0001')
    expect(await sqlState(() => insert(4))).toBe('23514') // a gap
    expect(await sqlState(() => insert(2))).toBe('23514') // a duplicate
    expect(await sqlState(() => insert(0))).toBe('23514')
    await insert(3) // the next one, rolled back by asRole
    expect(await storedVersions(org.id, 'greet')).toEqual([1, 2])
  })
})

describe('prompts: selecting a version', () => {
  /** Every selector kind: none, numbers (odd ones too), labels, near-misses and prototype names. */
  const SELECTORS: (string | undefined)[] = [
    undefined,
    '1',
    '2',
    '3',
    '4',
    '0',
    '002',
    '99999999999999999999999',
    'production',
    'staging',
    'beta',
    'nope',
    '',
    'Production',
    ' 2',
    '2 ',
    '2\n',
    '-1',
    '+1',
    '1.0',
    '1e0',
    'constructor',
    '__proto__',
    'toString',
  ]
  /** Prompts with three versions: labels covering production, another label only, none. */
  const PROMPTS: [string, Record<string, number>][] = [
    ['labelled', { production: 2, staging: 3, beta: 1 }],
    ['unlabelled', {}],
    ['staging-only', { staging: 1 }],
    ['production-latest', { production: 3 }],
  ]

  it('should pick exactly the version selectVersion picks, in the gateway and the admin read', async () => {
    const org = await createOrg('select')
    const picked = new Set<number | undefined>()
    for (const [promptId, labels] of PROMPTS) {
      await createPrompt(org.slug, promptId, 3)
      for (const [name, version] of Object.entries(labels)) {
        await label(org.slug, promptId, version, name)
      }
      for (const selector of SELECTORS) {
        const expected = selectVersion([1, 2, 3], labels, selector)
        picked.add(expected)
        const resolved = await resolvePrompt(org.id, promptId, selector ?? null)
        const got = await rpc(admin, 'admin_get_prompt', {
          p_org: org.slug,
          p_prompt_id: promptId,
          p_selector: selector ?? null,
        })
        const where = { promptId, selector }
        if (expected === undefined) {
          expect({ ...where, resolved }).toEqual({ ...where, resolved: null })
          expect({ ...where, status: got.status, code: got.error?.code }).toEqual({
            ...where,
            status: 404,
            code: 'P0002',
          })
          expect(got.error?.message).toBe(`prompt version not found: ${promptId}@${selector ?? ''}`)
        } else {
          expect({ ...where, resolved }).toEqual({
            ...where,
            resolved: { prompt_id: promptId, version: expected, template: templateOf(expected) },
          })
          expect({ ...where, version: (got.data as PromptVersionRow | null)?.version }).toEqual({
            ...where,
            version: expected,
          })
        }
      }
    }
    // The cases reach every outcome, so a rule that always picked one version would fail.
    expect([...picked].sort()).toEqual([1, 2, 3, undefined])
  })

  it('should answer null for an unknown prompt, and never another organization’s', async () => {
    const org = await createOrg('select-none')
    expect(await resolvePrompt(org.id, 'nothing')).toBeNull()
    expect(await resolvePrompt(randomUUID(), 'nothing', '1')).toBeNull()
  })
})

describe('prompts: labels', () => {
  it('should create and move labels, returning the prompt as listed', async () => {
    const org = await createOrg('labels')
    await createPrompt(org.slug, 'greet', 3)
    const first = await label(org.slug, 'greet', 1, 'production')
    expect(first).toEqual({
      prompt_id: 'greet',
      latest_version: 3,
      labels: { production: 1 },
      created_at: expect.any(String) as unknown,
      updated_at: expect.any(String) as unknown,
    })
    expect(await resolvePrompt(org.id, 'greet')).toMatchObject({ version: 1 })
    await label(org.id, 'greet', 2, 'staging')
    const moved = await label(org.slug, 'greet', 3, 'production')
    expect(moved.labels).toEqual({ production: 3, staging: 2 })
    expect(await resolvePrompt(org.id, 'greet')).toMatchObject({ version: 3 })
    expect(await resolvePrompt(org.id, 'greet', 'staging')).toMatchObject({ version: 2 })
    // Two labels on one version, and the same label again: no change but no error.
    await label(org.slug, 'greet', 2, 'canary.v2_b-1')
    expect((await label(org.slug, 'greet', 2, 'staging')).labels).toEqual({
      production: 3,
      staging: 2,
      'canary.v2_b-1': 2,
    })
  })

  it('should answer P0002 / 404 for an unknown version or prompt, changing nothing', async () => {
    const org = await createOrg('labels-404')
    await createPrompt(org.slug, 'greet', 2)
    await label(org.slug, 'greet', 1, 'production')
    for (const version of [3, 0, -1]) {
      const { error, status } = await fails('admin_label_prompt', {
        p_org: org.slug,
        p_prompt_id: 'greet',
        p_version: version,
        p_label: 'production',
      })
      expect(status).toBe(404)
      expect(error).toEqual({
        code: 'P0002',
        message: `prompt version not found: greet@${String(version)}`,
        details: null,
        hint: null,
      })
    }
    const unknown = await fails('admin_label_prompt', {
      p_org: org.slug,
      p_prompt_id: 'nope',
      p_version: 1,
      p_label: 'production',
    })
    expect(unknown.status).toBe(404)
    expect(unknown.error?.message).toBe('prompt not found: nope')
    const [listed] = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.slug })
    expect(listed?.labels).toEqual({ production: 1 })
  })

  it('should refuse a malformed label with 400, changing nothing', async () => {
    const org = await createOrg('labels-400')
    await createPrompt(org.slug, 'greet', 1)
    const bad: (string | null)[] = [
      'Production',
      '12',
      '007',
      '',
      '-x',
      '_x',
      'a b',
      'a:b',
      'a'.repeat(129),
      null,
    ]
    for (const name of bad) {
      const { error, status } = await fails('admin_label_prompt', {
        p_org: org.slug,
        p_prompt_id: 'greet',
        p_version: 1,
        p_label: name,
      })
      expect({ name, status }).toEqual({ name, status: 400 })
      // a null key is refused by jsonb_build_object itself
      expect(error?.code).toBe(name === null ? '22023' : '23514')
    }
    await label(org.slug, 'greet', 1, `a${'b'.repeat(127)}`)
    await label(org.slug, 'greet', 1, '1a')
    const [listed] = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.slug })
    expect(Object.keys(listed?.labels ?? {}).sort()).toEqual(['1a', `a${'b'.repeat(127)}`])
  })

  it('should never let a label point at a missing version, even written directly', async () => {
    const org = await createOrg('labels-sql')
    await createPrompt(org.slug, 'greet', 2)
    const setLabels = (labels: unknown) =>
      asRole('service_role', 'update prompts set labels = $2 where org_id = $1', [
        org.id,
        JSON.stringify(labels),
      ])
    expect(await sqlState(() => setLabels({ production: 3 }))).toBe('23503')
    expect(await sqlState(() => setLabels({ production: 2, staging: 9 }))).toBe('23503')
    for (const labels of [
      { production: '2' },
      { production: 1.5 },
      { production: 0 },
      [],
      { P: 1 },
    ]) {
      expect(await sqlState(() => setLabels(labels))).toBe('23514')
    }
    await setLabels({ production: 2, staging: 1 }) // rolled back by asRole
    const insert = `insert into prompts (org_id, prompt_id, labels) values ($1, 'other', '{"production": 1}')`
    expect(await sqlState(() => asRole('service_role', insert, [org.id]))).toBe('23503')
  })
})

describe('prompts: list, get and delete', () => {
  it('should list an organization’s prompts in byte order of their ids', async () => {
    const org = await createOrg('list-prompts')
    expect(await ok('admin_list_prompts', { p_org: org.slug })).toEqual([])
    for (const promptId of ['zeta', 'alpha', 'a-b', 'a.b', 'a_b', '9']) {
      await createPrompt(org.slug, promptId, promptId === 'alpha' ? 2 : 1)
    }
    await label(org.slug, 'alpha', 1, 'production')
    const listed = await ok<PromptSummaryRow[]>('admin_list_prompts', { p_org: org.id })
    expect(listed.map((p) => p.prompt_id)).toEqual(['9', 'a-b', 'a.b', 'a_b', 'alpha', 'zeta'])
    expect(listed.find((p) => p.prompt_id === 'alpha')).toEqual({
      prompt_id: 'alpha',
      latest_version: 2,
      labels: { production: 1 },
      created_at: expect.any(String) as unknown,
      updated_at: expect.any(String) as unknown,
    })
  })

  it('should get a version with the prompt’s labels and the version’s creation time', async () => {
    const org = await createOrg('get-prompt')
    await createPrompt(org.slug, 'greet', 2)
    await label(org.slug, 'greet', 2, 'staging')
    const got = await ok<PromptVersionRow>('admin_get_prompt', {
      p_org: org.slug,
      p_prompt_id: 'greet',
      p_selector: '1',
    })
    const { rows } = await direct.query<{ created_at: Date }>(
      `select v.created_at from prompt_versions v join prompts p on p.id = v.prompt
       where p.org_id = $1 and v.version = 1`,
      [org.id],
    )
    expect(got).toEqual({
      prompt_id: 'greet',
      version: 1,
      template: templateOf(1),
      labels: { staging: 2 },
      created_at: expect.any(String) as unknown,
    })
    expect(Date.parse(got.created_at)).toBe(rows[0]?.created_at.getTime())
    // p_selector may be left out: the default version
    expect(await ok('admin_get_prompt', { p_org: org.id, p_prompt_id: 'greet' })).toMatchObject({
      version: 2,
    })
    const unknown = await fails('admin_get_prompt', { p_org: org.slug, p_prompt_id: 'nope' })
    expect(unknown.status).toBe(404)
    expect(unknown.error).toEqual({
      code: 'P0002',
      message: 'prompt not found: nope',
      details: null,
      hint: null,
    })
  })

  it('should delete a prompt with its versions, then report nothing to delete', async () => {
    const org = await createOrg('delete-prompt')
    await createPrompt(org.slug, 'greet', 3)
    await createPrompt(org.slug, 'keep', 1)
    await label(org.slug, 'greet', 2, 'production')
    const count = async (): Promise<number> => {
      const { rows } = await direct.query<{ n: number }>(
        `select count(*)::int as n from prompt_versions v join prompts p on p.id = v.prompt
         where p.org_id = $1`,
        [org.id],
      )
      return rows[0]?.n ?? -1
    }
    const { rows: before } = await direct.query<{ id: string }>(
      "select id from prompts where org_id = $1 and prompt_id = 'greet'",
      [org.id],
    )
    expect(await count()).toBe(4)
    expect(await ok('admin_delete_prompt', { p_org: org.slug, p_prompt_id: 'greet' })).toEqual({
      deleted: true,
    })
    expect(await count()).toBe(1)
    const { rows: orphans } = await direct.query(
      'select 1 from prompt_versions where prompt = $1',
      [before[0]?.id],
    )
    expect(orphans).toEqual([])
    expect(await resolvePrompt(org.id, 'greet')).toBeNull()
    expect(await ok('admin_delete_prompt', { p_org: org.id, p_prompt_id: 'greet' })).toEqual({
      deleted: false,
    })
    // Created again, it starts over at version 1 without labels.
    await createPrompt(org.slug, 'greet', 1)
    expect(await resolvePrompt(org.id, 'greet', 'production')).toBeNull()
    expect(await resolvePrompt(org.id, 'keep')).toMatchObject({ version: 1 })
  })
})

describe('prompts: organizations are isolated', () => {
  it('should keep one organization’s prompt invisible to another in every function', async () => {
    const [owner, other] = [await createOrg('owner'), await createOrg('other')]
    await createPrompt(owner.slug, 'secret', 2)
    await label(owner.slug, 'secret', 1, 'production')

    expect(await resolvePrompt(other.id, 'secret')).toBeNull()
    expect(await resolvePrompt(other.id, 'secret', '1')).toBeNull()
    expect(await resolvePrompt(other.id, 'secret', 'production')).toBeNull()
    expect(await ok('admin_list_prompts', { p_org: other.slug })).toEqual([])
    for (const [fn, args] of [
      ['admin_get_prompt', { p_selector: '1' }],
      ['admin_label_prompt', { p_version: 2, p_label: 'production' }],
    ] as const) {
      const { error, status } = await fails(fn, {
        p_org: other.slug,
        p_prompt_id: 'secret',
        ...args,
      })
      expect({ fn, status, message: error?.message }).toEqual({
        fn,
        status: 404,
        message: 'prompt not found: secret',
      })
    }
    expect(await ok('admin_delete_prompt', { p_org: other.id, p_prompt_id: 'secret' })).toEqual({
      deleted: false,
    })

    // The same id in the other organization is its own prompt, numbered from 1.
    const theirs = await ok<{ version: number }>('admin_create_prompt_version', {
      p_org: other.slug,
      p_prompt_id: 'secret',
      p_template: { messages: [{ role: 'user', content: 'theirs' }] },
    })
    expect(theirs.version).toBe(1)
    expect(await resolvePrompt(other.id, 'secret')).toEqual({
      prompt_id: 'secret',
      version: 1,
      template: { messages: [{ role: 'user', content: 'theirs' }] },
    })
    expect(await resolvePrompt(owner.id, 'secret')).toEqual({
      prompt_id: 'secret',
      version: 1,
      template: templateOf(1),
    })
    expect(await storedVersions(owner.id, 'secret')).toEqual([1, 2])
  })
})

describe('the template check and the gateway’s template schema', () => {
  const ok1 = [{ role: 'user', content: 'hi' }]
  /** Shapes on both sides of every rule of PromptTemplateSchema. */
  const TEMPLATES: unknown[] = [
    { messages: ok1 },
    { messages: [{ role: 'system', content: null }, { role: 'assistant' }] },
    { messages: [{ role: 'developer', content: '' }], params: {} },
    {
      messages: [{ role: 'tool', content: 'x', tool_call_id: '1' }],
      model: 'm',
      params: { top_p: 1 },
    },
    { messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }] }] },
    { messages: [{ role: 'user', content: [{ type: 'text' }] }] },
    { messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] },
    { messages: [{ role: 'user', content: [] }] },
    { messages: ok1, params: { temperature: 0.2, response_format: { type: 'json_object' } } },
    null,
    'messages',
    [],
    {},
    { messages: [] },
    { messages: 'hi' },
    { messages: {} },
    { messages: [ok1] },
    { messages: ['hi'] },
    { messages: [{ content: 'x' }] },
    { messages: [{ role: 'bot', content: 'x' }] },
    { messages: [{ role: 'User', content: 'x' }] },
    { messages: [{ role: 1, content: 'x' }] },
    { messages: [{ role: 'user', content: 5 }] },
    { messages: [{ role: 'user', content: { type: 'text', text: 'x' } }] },
    { messages: [{ role: 'user', content: ['x'] }] },
    { messages: [{ role: 'user', content: [{ text: 'x' }] }] },
    { messages: [{ role: 'user', content: [{ type: 1 }] }] },
    { messages: ok1, model: '' },
    { messages: ok1, model: 5 },
    { messages: ok1, model: null },
    { messages: ok1, params: [] },
    { messages: ok1, params: 'x' },
    { messages: ok1, params: null },
    { messages: ok1, params: { stream: false } },
    { messages: ok1, params: { stream_options: {} } },
    { messages: ok1, params: { model: 'x' } },
    { messages: ok1, params: { messages: [] } },
    { messages: ok1, params: { inputs: {} } },
    { messages: ok1, extra: true },
    { model: 'x' },
  ]

  it('should accept exactly the templates PromptTemplateSchema accepts', async () => {
    const verdicts = await Promise.all(
      TEMPLATES.map(async (template) => {
        const { rows } = await direct.query<{ valid: boolean }>(
          'select public.prompt_template_valid($1::jsonb) as valid',
          [JSON.stringify(template)],
        )
        return {
          template,
          sql: rows[0]?.valid,
          zod: PromptTemplateSchema.safeParse(template).success,
        }
      }),
    )
    for (const verdict of verdicts)
      expect(verdict.sql, JSON.stringify(verdict.template)).toBe(verdict.zod)
    const accepted = verdicts.filter((v) => v.zod).length
    expect(accepted).toBeGreaterThanOrEqual(9)
    expect(verdicts.length - accepted).toBeGreaterThanOrEqual(30)
  })
})

// ---------------------------------------------------------------------------------------------
// The gateway's prompt store adapter
// ---------------------------------------------------------------------------------------------

describe('supabasePromptStore', () => {
  const config = () => ({ url: bridge.url, serviceRoleKey: SERVICE_ROLE_KEY })
  let org: Org

  beforeAll(async () => {
    org = await createOrg('store')
    await createPrompt(org.slug, 'greet', 2)
    await label(org.slug, 'greet', 1, 'production')
  })

  it('should resolve a version in one round trip, as the gateway’s schema reads it', async () => {
    const store = supabasePromptStore(config(), 2000)
    const before = bridge.requests
    const resolved = await store.resolve(org.id, 'greet', undefined)
    expect(bridge.requests - before).toBe(1)
    expect(ResolvedPromptSchema.parse(resolved)).toEqual({
      prompt_id: 'greet',
      version: 1,
      template: templateOf(1),
    })
    expect(await store.resolve(org.id, 'greet', '2')).toMatchObject({ version: 2 })
    expect(await store.resolve(org.id, 'greet', 'production')).toMatchObject({ version: 1 })
  })

  it('should answer null for an unknown prompt, version, label or organization', async () => {
    const store = supabasePromptStore(config(), 2000)
    expect(await store.resolve(org.id, 'nope', undefined)).toBeNull()
    expect(await store.resolve(org.id, 'greet', '3')).toBeNull()
    expect(await store.resolve(org.id, 'greet', 'staging')).toBeNull()
    expect(await store.resolve(randomUUID(), 'greet', undefined)).toBeNull()
  })

  it('should throw when the database is down or refuses the key, never answer null', async () => {
    const store = supabasePromptStore(config(), 2000)
    for (const fault of [true, 'unavailable'] as const) {
      bridge.setDown(fault)
      try {
        await expect(store.resolve(org.id, 'greet', undefined)).rejects.toThrow(
          /^gateway_resolve_prompt failed: /,
        )
      } finally {
        bridge.setDown(false)
      }
    }
    const refused = supabasePromptStore({ url: bridge.url, serviceRoleKey: 'wrong' }, 2000)
    await expect(refused.resolve(org.id, 'greet', undefined)).rejects.toThrow(/PGRST301/)
    const anonymous = supabasePromptStore({ url: bridge.url, serviceRoleKey: ANON_KEY }, 2000)
    await expect(anonymous.resolve(org.id, 'greet', undefined)).rejects.toThrow(/42501/)
    expect(await store.resolve(org.id, 'greet', undefined)).toMatchObject({ version: 1 })
  })

  it('should give up after its time limit when the server does not answer', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const address = silent.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    try {
      const store = supabasePromptStore(
        { url: `http://127.0.0.1:${String(port)}`, serviceRoleKey: SERVICE_ROLE_KEY },
        300,
      )
      // The server never answers: only the store's own time limit can end the call, and its
      // error says so (without the limit the call would hang until the test's own timeout).
      await expect(store.resolve(org.id, 'greet', undefined)).rejects.toThrow(
        /gateway_resolve_prompt failed: .*TimeoutError/,
      )
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

describe('when the database is out of reach', () => {
  it('should make supabase-js return an error at once, not hang, and recover after', async () => {
    const before = bridge.requests
    bridge.setDown(true)
    try {
      // A refused connection is an error at once: a hang would meet the test's own timeout.
      const { data, error, status } = await rpc(admin, 'gateway_resolve_key', {
        p_key_hash: 'a'.repeat(64),
      })
      expect(data).toBeNull()
      expect(status).toBe(0)
      expect(error?.message).toMatch(/fetch failed/)
      expect(bridge.requests - before).toBe(1)
    } finally {
      bridge.setDown(false)
    }
    expect(await rpc(admin, 'gateway_resolve_key', { p_key_hash: 'a'.repeat(64) })).toEqual({
      data: null,
      error: null,
      status: 200,
    })
  })

  it('should answer 503 PGRST000 as PostgREST does while its database is down', async () => {
    bridge.setDown('unavailable')
    try {
      const { error, status } = await fails('admin_list_orgs')
      expect(status).toBe(503)
      expect(error).toMatchObject({
        code: 'PGRST000',
        message: 'Database connection error. Retrying the connection.',
      })
    } finally {
      bridge.setDown(false)
    }
    await ok('admin_list_orgs')
  })
})
