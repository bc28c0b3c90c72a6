/**
 * @module The admin CLI driven as an operator drives it: `node scripts/admin.ts …` in a child
 * process, asserting stdout, stderr, exit codes and what the stores hold afterwards.
 *
 * The local store runs in a temporary root (`FLOOPY_ROOT`), so the repository's own `.dev.vars`
 * and `.floopy/` are never touched (checked at the end). The Supabase store runs against a real
 * PostgreSQL with `migrations/postgres` applied, behind the PostgREST-RPC bridge, with cache
 * invalidation going to a real `redis-server` behind the Upstash REST bridge; `cache purge` runs
 * against that Redis and the Qdrant stand-in (`test/support/qdrant.ts`).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { QdrantClient } from '@qdrant/js-client-rest'
import { Redis as IORedis } from 'ioredis'
import { Client } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localStore } from '../../scripts/admin/local-store.ts'
import { PromptTemplateSchema } from '../../src/prompts/template.ts'
import { hashApiKey, parseApiKey } from '../../src/security/api-key.ts'
import { openProviderKey, parseKeyring } from '../../src/security/vault.ts'
import type { TenantsFile } from '../../src/stores/embedded/tenants-file.ts'
import { TenantsFileSchema } from '../../src/stores/embedded/tenants-schema.ts'
import {
  cacheBucketKey,
  cacheCollection,
  cacheEntryKey,
  cacheVectorKey,
  CONFIG_EPOCH_KEY,
  keyCacheKey,
} from '../../src/stores/shared-keys.ts'
import { applyMigrations, startPostgres, type PostgresServer } from '../support/postgres.ts'
import { startPostgrestBridge, type PostgrestBridge } from '../support/postgrest-bridge.ts'
import { startQdrant, type QdrantStandIn } from '../support/qdrant.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const script = path.join(repoRoot, 'scripts', 'admin.ts')
/** Node 22 runs the `.ts` CLI by type stripping; `node_modules/.bin/node` is the project's 22. */
const node =
  Number(process.versions.node.split('.')[0]) >= 22
    ? process.execPath
    : path.join(repoRoot, 'node_modules', '.bin', 'node')

type Run = { code: number | null; stdout: string; stderr: string }

/** Runs the CLI with only `env` (no inherited store variables) and `input` on stdin. */
const runCli = (
  args: readonly string[],
  env: Record<string, string>,
  input = '',
  cwd = repoRoot,
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(node, [script, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('close', (code) => {
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input)
  })

const KEY = /flo_sk_(?:live|test)_[0-9A-Za-z]{32}_[0-9a-f]{8}/

/** The key `key issue` printed. */
const issuedKey = (run: Run): string => {
  const key = KEY.exec(run.stdout)?.[0]
  if (key === undefined) throw new Error(`no key in: ${run.stdout}\n${run.stderr}`)
  return key
}

/** `.dev.vars` parsed the way `scripts/dev.ts` parses it. */
const devVar = (text: string, name: string): string | undefined => {
  let value: string | undefined
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (match?.[1] === name) value = (match[2] ?? '').replace(/^(['"])(.*)\1$/, '$2')
  }
  return value
}

const uuidOf = (run: Run): string => {
  const id = /^id:\s+([0-9a-f-]{36})$/m.exec(run.stdout)?.[1]
  if (id === undefined) throw new Error(`no id in: ${run.stdout}\n${run.stderr}`)
  return id
}

/** A loopback port nothing listens on. */
const deadPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => {
        resolve(port)
      })
    })
  })

const fingerprint = (file: string): string =>
  existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent'

/** Prompt templates: a plain one, and one with a model, params and content parts. */
const TEMPLATE_V1 = { messages: [{ role: 'user', content: 'Summarise: {{text}}' }] }
const TEMPLATE_V2 = {
  messages: [
    { role: 'system', content: 'You answer in {{language}}.\nBe brief.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Summarise: {{ text }}' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      ],
    },
  ],
  model: 'gpt-4o-mini',
  params: { temperature: 0.2 },
}

/** The template files the prompt commands read, good and bad, written into `dir`. */
const writeTemplates = async (dir: string): Promise<void> => {
  const files: Record<string, string> = {
    'v1.json': JSON.stringify(TEMPLATE_V1),
    // a byte order mark, as some editors write one
    'v2.json': `\uFEFF${JSON.stringify(TEMPLATE_V2, null, 2)}`,
    'not-json.json': '{"messages": [',
    'bad-role.json': JSON.stringify({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'bot', content: 'b' },
      ],
    }),
    'no-messages.json': JSON.stringify({ model: 'gpt-4o' }),
    'stream.json': JSON.stringify({ ...TEMPLATE_V1, params: { stream: true } }),
    'extra.json': JSON.stringify({ ...TEMPLATE_V1, temperature: 0.2 }),
  }
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
}

// The repository's own local-store files: the suites below must leave them exactly as they were.
const repoFiles = [path.join(repoRoot, '.dev.vars'), path.join(repoRoot, '.floopy', 'tenants.json')]
const repoBefore = repoFiles.map(fingerprint)

afterAll(() => {
  expect(repoFiles.map(fingerprint)).toEqual(repoBefore)
})

describe('admin CLI, local store', () => {
  let root: string
  let env: Record<string, string>
  const tenantsPath = (): string => path.join(root, '.floopy', 'tenants.json')
  const tenants = async (): Promise<TenantsFile> =>
    JSON.parse(await readFile(tenantsPath(), 'utf8')) as TenantsFile
  const admin = (args: readonly string[], input = '', extra: Record<string, string> = {}) =>
    runCli(args, { ...env, ...extra }, input, root)
  const ok = async (args: readonly string[], input = '', extra: Record<string, string> = {}) => {
    const run = await admin(args, input, extra)
    expect(run.code, `${args.join(' ')}\n${run.stdout}\n${run.stderr}`).toBe(0)
    return run
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'floopy-admin-'))
    env = { FLOOPY_ROOT: root }
    await writeTemplates(root)
  })

  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('should create, list, show and change organizations', async () => {
    const created = await ok([
      'org',
      'create',
      'acme',
      '--name',
      'Acme Inc',
      '--plan',
      'pro',
      '--status',
      'trialing',
      '--monthly-limit',
      '0',
      '--rpm',
      '60',
      '--flag',
      'beta=true',
      '--flag',
      'cache=false',
    ])
    expect(created.stdout).toContain('Created organization acme.')
    expect(created.stderr).toMatch(/restart a running `npm run dev`/)
    const id = uuidOf(created)
    await ok(['org', 'create', 'globex'])

    const list = await ok(['org', 'list'])
    expect(list.stdout.split('\n')[0]).toMatch(/^SLUG\s+NAME\s+PLAN\s+STATUS\s+MONTHLY\s+RPM\s+ID$/)
    expect(list.stdout).toMatch(/acme\s+Acme Inc\s+pro\s+trialing\s+0\s+60\s+/)
    expect(list.stdout).toMatch(/globex\s+globex\s+free\s+active\s+none\s+none\s+/)
    const listed = JSON.parse((await ok(['org', 'list', '--json'])).stdout) as { slug: string }[]
    expect(listed.map((o) => o.slug)).toEqual(['acme', 'globex'])

    const shown = JSON.parse((await ok(['org', 'show', id, '--json'])).stdout) as unknown
    expect(shown).toMatchObject({
      id,
      slug: 'acme',
      name: 'Acme Inc',
      plan: 'pro',
      subscription_status: 'trialing',
      monthly_request_limit: 0,
      rpm_limit: 60,
      features: { beta: true, cache: false },
      key_count: 0,
    })

    const changed = await ok([
      'org',
      'set',
      'acme',
      '--status',
      'active',
      '--monthly-limit',
      '1000',
      '--rpm',
      'none',
      '--flag',
      'beta=unset',
      '--flag',
      'firewall=true',
    ])
    expect(changed.stdout).toMatch(/^flags:\s+cache=false firewall=true$/m)
    const row = (await tenants()).organizations.find((o) => o.slug === 'acme')
    expect(row).toMatchObject({
      name: 'Acme Inc',
      subscription_status: 'active',
      monthly_request_limit: 1000,
      rpm_limit: null,
      features: { cache: false, firewall: true },
    })
    expect(row?.updated_at).not.toBe(row?.created_at)

    const duplicate = await admin(['org', 'create', 'acme'])
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toBe("error: an organization with slug 'acme' exists\n")
  })

  it('should write the tenants file privately and atomically', async () => {
    await ok(['org', 'create', 'files-co'])
    expect((await stat(tenantsPath())).mode & 0o777).toBe(0o600)
    expect((await stat(path.dirname(tenantsPath()))).mode & 0o777).toBe(0o700)
    // No temp or lock file is left behind.
    expect(await readdir(path.dirname(tenantsPath()))).toEqual(['tenants.json'])
  })

  it('should keep a --file store where it is told', async () => {
    const file = path.join(root, 'elsewhere', 'tenants.json')
    await ok(['--file', file, 'org', 'create', 'elsewhere-co'])
    const other = JSON.parse(await readFile(file, 'utf8')) as TenantsFile
    expect(other.organizations.map((o) => o.slug)).toEqual(['elsewhere-co'])
    expect((await tenants()).organizations.map((o) => o.slug)).not.toContain('elsewhere-co')
  })

  it('should issue a key once, store only its hash and never list it', async () => {
    const issued = await ok(['key', 'issue', 'acme', '--name', 'ci', '--rpm', '5'])
    const key = issuedKey(issued)
    const parsed = parseApiKey(key)
    expect(parsed).toMatchObject({ ok: true, mode: 'live' })
    expect(issued.stdout.match(new RegExp(key, 'g'))).toHaveLength(1)
    expect(issued.stderr).not.toContain(key)
    const id = uuidOf(issued)

    const stored = (await tenants()).api_keys.find((k) => k.id === id)
    expect(stored).toMatchObject({
      name: 'ci',
      key_hash: await hashApiKey(key),
      display_prefix: key.slice(0, 16),
      last4: key.slice(40, 44),
      mode: 'live',
      rpm_limit: 5,
      revoked_at: null,
    })
    expect(JSON.stringify(await tenants())).not.toContain(key)

    const test = issuedKey(await ok(['key', 'issue', 'acme', '--test']))
    expect(parseApiKey(test)).toMatchObject({ ok: true, mode: 'test' })

    const list = await ok(['key', 'list', 'acme'])
    expect(list.stdout).toContain(`${key.slice(0, 16)}…${key.slice(40, 44)}`)
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+ci\\s+\\S+\\s+live\\s+5\\s`))
    const json = await ok(['key', 'list', 'acme', '--json'])
    for (const output of [list.stdout, json.stdout]) {
      expect(output).not.toContain(key)
      expect(output).not.toContain(stored?.key_hash)
      expect(output).not.toContain('key_hash')
    }
    expect(JSON.parse(json.stdout)).toHaveLength(2)
  })

  it('should revoke a key, keeping the first revocation time, and change a key', async () => {
    const id = uuidOf(await ok(['key', 'issue', 'acme', '--name', 'temp']))
    const before = JSON.parse((await ok(['org', 'show', 'acme', '--json'])).stdout) as {
      key_count: number
    }
    const revoked = await ok(['key', 'revoke', id])
    expect(revoked.stdout).toMatch(
      new RegExp(`^Revoked API key ${id} \\(revoked at .+\\)\\.$`, 'm'),
    )
    const first = (await tenants()).api_keys.find((k) => k.id === id)?.revoked_at
    expect(first).toEqual(expect.any(String))
    await ok(['key', 'revoke', id.toUpperCase()])
    expect((await tenants()).api_keys.find((k) => k.id === id)?.revoked_at).toBe(first)
    const after = JSON.parse((await ok(['org', 'show', 'acme', '--json'])).stdout) as {
      key_count: number
    }
    expect(after.key_count).toBe(before.key_count - 1)

    await ok(['key', 'set', id, '--name', 'renamed', '--rpm', '7'])
    expect((await tenants()).api_keys.find((k) => k.id === id)).toMatchObject({
      name: 'renamed',
      rpm_limit: 7,
    })
    await ok(['key', 'set', id, '--rpm', 'none'])
    expect((await tenants()).api_keys.find((k) => k.id === id)?.rpm_limit).toBeNull()

    const unknown = await admin(['key', 'revoke', '00000000-0000-4000-8000-000000000000'])
    expect(unknown).toMatchObject({ code: 1, stdout: '' })
    expect(unknown.stderr).toBe('error: api key not found: 00000000-0000-4000-8000-000000000000\n')
  })

  it('should set, show and clear cache settings on organizations and keys', async () => {
    const created = await ok([
      'org',
      'create',
      'cache-co',
      '--cache',
      'on',
      '--cache-ttl',
      '3600',
      '--flag',
      'has_advanced_cache=true',
    ])
    expect(created.stdout).toMatch(/^cache:\s+enabled=true ttl_seconds=3600$/m)
    const set = await ok(['org', 'set', 'cache-co', '--cache-threshold', '0.92', '--cache', 'off'])
    expect(set.stdout).toMatch(/^cache:\s+enabled=false ttl_seconds=3600 threshold=0.92$/m)
    expect(set.stderr).toMatch(/restart a running `npm run dev`/)
    const shown = JSON.parse((await ok(['org', 'show', 'cache-co', '--json'])).stdout) as unknown
    expect(shown).toMatchObject({
      features: { has_advanced_cache: true },
      settings: { cache: { enabled: false, ttl_seconds: 3600, threshold: 0.92 } },
    })
    // unset removes one setting, and the rest stay
    await ok(['org', 'set', 'cache-co', '--cache', 'unset', '--cache-ttl', 'unset'])
    const org = (await tenants()).organizations.find((o) => o.slug === 'cache-co')
    expect(org?.settings).toEqual({ cache: { threshold: 0.92 } })
    const cleared = await ok(['org', 'set', 'cache-co', '--cache-threshold', 'unset'])
    expect(cleared.stdout).toMatch(/^cache:\s+-$/m)
    expect((await tenants()).organizations.find((o) => o.slug === 'cache-co')?.settings).toEqual({})

    // a key's own settings, over the organisation's
    const issued = await ok(['key', 'issue', 'cache-co', '--name', 'ci', '--cache-ttl', '120'])
    expect(issued.stdout).toMatch(/^cache:\s+ttl_seconds=120$/m)
    const id = uuidOf(issued)
    const plain = uuidOf(await ok(['key', 'issue', 'cache-co', '--name', 'plain']))
    const keySet = await ok(['key', 'set', id, '--cache', 'on', '--cache-threshold', '1'])
    expect(keySet.stdout).toMatch(/^cache:\s+enabled=true ttl_seconds=120 threshold=1$/m)
    const list = await ok(['key', 'list', 'cache-co'])
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+KEY\s+MODE\s+RPM\s+CACHE\s+CREATED/)
    expect(list.stdout).toMatch(
      new RegExp(
        `^${id}\\s+ci\\s+\\S+\\s+live\\s+none\\s+enabled=true ttl_seconds=120 threshold=1\\s`,
        'm',
      ),
    )
    expect(list.stdout).toMatch(
      new RegExp(`^${plain}\\s+plain\\s+\\S+\\s+live\\s+none\\s+-\\s`, 'm'),
    )
    const listed = JSON.parse((await ok(['key', 'list', 'cache-co', '--json'])).stdout) as unknown
    expect(listed).toEqual([
      expect.objectContaining({
        id,
        settings: { cache: { enabled: true, ttl_seconds: 120, threshold: 1 } },
      }),
      expect.objectContaining({ id: plain, settings: {} }),
    ])
    await ok(['key', 'set', id, '--cache-ttl', 'unset', '--cache', 'unset'])
    const file = await tenants()
    expect(file.api_keys.find((k) => k.id === id)?.settings).toEqual({ cache: { threshold: 1 } })
    // what the CLI wrote is what the gateway loads
    expect(TenantsFileSchema.safeParse(file).success).toBe(true)
  })

  it('should set and remove the plan flags has_advanced_cache and has_advanced_firewall', async () => {
    await ok(['org', 'create', 'plan-co', '--flag', 'has_advanced_firewall=true'])
    const set = await ok([
      'org',
      'set',
      'plan-co',
      '--flag',
      'has_advanced_cache=true',
      '--flag',
      'has_advanced_firewall=false',
    ])
    expect(set.stdout).toMatch(/^flags:\s+has_advanced_cache=true has_advanced_firewall=false$/m)
    await ok(['org', 'set', 'plan-co', '--flag', 'has_advanced_firewall=unset'])
    expect((await tenants()).organizations.find((o) => o.slug === 'plan-co')?.features).toEqual({
      has_advanced_cache: true,
    })
  })

  it('should keep a tenants file from before settings working, adding {} on the next change', async () => {
    const file = path.join(root, 'pre-settings.json')
    await ok(['--file', file, 'org', 'create', 'old-co'])
    const issued = uuidOf(await ok(['--file', file, 'key', 'issue', 'old-co']))
    const old = JSON.parse(await readFile(file, 'utf8')) as TenantsFile
    for (const row of [...old.organizations, ...old.api_keys]) delete row.settings
    await writeFile(file, JSON.stringify(old))
    const shown = await ok(['--file', file, 'org', 'show', 'old-co'])
    expect(shown.stdout).toMatch(/^cache:\s+-$/m)
    await ok(['--file', file, 'key', 'set', issued, '--cache-ttl', '600'])
    const after = JSON.parse(await readFile(file, 'utf8')) as TenantsFile
    expect(after.organizations[0]?.settings).toEqual({})
    expect(after.api_keys[0]?.settings).toEqual({ cache: { ttl_seconds: 600 } })
  })

  it('should say there is nothing shared to purge without Upstash', async () => {
    const run = await ok(['cache', 'purge', 'cache-co'])
    expect(run.stdout).toBe(
      'Nothing shared to purge for cache-co: `npm run dev` without Upstash keeps its cache in its own memory; a restart empties it.\n',
    )
    const json = await ok(['cache', 'purge', 'cache-co', '--namespace', 'docs', '--json'])
    expect(JSON.parse(json.stdout)).toEqual({
      org_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      org: 'cache-co',
      namespace: 'docs',
      redis: null,
      qdrant: null,
    })
  })

  it('should seal a provider key from stdin under a KEK it generates into .dev.vars', async () => {
    const devVars = path.join(root, '.dev.vars')
    await writeFile(devVars, 'FLOOPY_DEV_API_KEY="flo_sk_test_existing"', { mode: 0o644 })
    const secret = 'sk-proj-Secret123456789'
    const added = await ok(['provider-key', 'add', 'acme', 'openai'], `${secret}\n`)
    expect(added.stdout).toBe('Stored the openai key of acme (sealed under KEK k1).\n')
    expect(added.stderr).toMatch(/Generated a vault keyring \(FLOOPY_VAULT_KEKS, KEK k1\) into /)
    expect(added.stdout + added.stderr).not.toContain(secret)

    const text = await readFile(devVars, 'utf8')
    expect((await stat(devVars)).mode & 0o777).toBe(0o600)
    expect(devVar(text, 'FLOOPY_DEV_API_KEY')).toBe('flo_sk_test_existing')
    const keyringText = devVar(text, 'FLOOPY_VAULT_KEKS') ?? ''
    const keyring = parseKeyring(keyringText)
    expect(keyring.currentId).toBe('k1')

    const file = await tenants()
    const acme = file.organizations.find((o) => o.slug === 'acme')
    const globex = file.organizations.find((o) => o.slug === 'globex')
    const row = file.provider_keys.find((p) => p.org_id === acme?.id && p.provider === 'openai')
    expect(row?.envelope).toMatch(/^v1\.k1\./)
    expect(JSON.stringify(file)).not.toContain(secret)
    const envelope = row?.envelope ?? ''
    expect(openProviderKey(keyring, { orgId: acme?.id ?? '', provider: 'openai' }, envelope)).toBe(
      secret,
    )
    expect(() =>
      openProviderKey(keyring, { orgId: globex?.id ?? '', provider: 'openai' }, envelope),
    ).toThrow('provider key could not be decrypted')
    expect(() => openProviderKey(keyring, { orgId: 'acme', provider: 'openai' }, envelope)).toThrow(
      'provider key could not be decrypted',
    )

    // The keyring in .dev.vars is reused, not generated again.
    const again = await ok(['provider-key', 'add', 'globex', 'anthropic'], 'sk-ant-xyz')
    expect(again.stderr).not.toMatch(/Generated/)
    expect(devVar(await readFile(devVars, 'utf8'), 'FLOOPY_VAULT_KEKS')).toBe(keyringText)
  })

  it('should take a provider key from --from-env and list keys without them', async () => {
    const secret = 'sk-ant-api03-FromEnv'
    await ok(['provider-key', 'add', 'acme', 'anthropic', '--from-env', 'MY_KEY'], '', {
      MY_KEY: secret,
    })
    const list = await ok(['provider-key', 'list', 'acme'])
    expect(list.stdout).toMatch(/^PROVIDER\s+KEK\s+UPDATED\s+CREATED$/m)
    expect(list.stdout).toMatch(/^anthropic\s+k1\s+/m)
    expect(list.stdout).toMatch(/^openai\s+k1\s+/m)
    const json = JSON.parse((await ok(['provider-key', 'list', 'acme', '--json'])).stdout) as {
      provider: string
      kek_id: string
    }[]
    expect(json.map((p) => [p.provider, p.kek_id])).toEqual([
      ['anthropic', 'k1'],
      ['openai', 'k1'],
    ])
    expect(JSON.stringify(json)).not.toContain('envelope')
    expect(JSON.stringify(json)).not.toContain('v1.k1.')

    const empty = await admin(['provider-key', 'add', 'acme', 'groq'])
    expect(empty).toMatchObject({
      code: 1,
      stderr: 'error: no provider key given (stdin is empty)\n',
    })
    const unset = await admin(['provider-key', 'add', 'acme', 'groq', '--from-env', 'NOPE'])
    expect(unset).toMatchObject({
      code: 1,
      stderr: 'error: no provider key given ($NOPE is empty)\n',
    })
    const two = await admin(['provider-key', 'add', 'acme', 'groq'], 'key-one key-two\n')
    expect(two.code).toBe(1)
    expect(two.stderr).not.toContain('key-one')

    await ok(['provider-key', 'add', 'acme', 'groq'], 'gsk_temp')
    expect((await ok(['provider-key', 'remove', 'acme', 'groq'])).stdout).toBe(
      'Removed the groq key of acme.\n',
    )
    const gone = await admin(['provider-key', 'remove', 'acme', 'groq'])
    expect(gone).toMatchObject({ code: 1, stderr: 'error: organization acme has no groq key\n' })
  })

  it('should check a Bedrock credential before sealing it, and store it compact', async () => {
    const bad = await admin(
      ['provider-key', 'add', 'acme', 'bedrock'],
      '{"region":"mars-north-9x","apiKey":"ABSKnotShownAnywhere"}\n',
    )
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      'error: the stdin value is not usable: Bedrock credentials: "region" must be an AWS Region ' +
        'such as us-east-1\n',
    )
    expect(bad.stdout + bad.stderr).not.toContain('ABSKnotShown')

    await ok(
      ['provider-key', 'add', 'acme', 'bedrock'],
      '{ "region": "eu-west-1",\n  "apiKey": "ABSKexampleBedrockKey" }\n',
    )
    const file = await tenants()
    const row = file.provider_keys.find((p) => p.provider === 'bedrock')
    const keyring = parseKeyring(
      devVar(await readFile(path.join(root, '.dev.vars'), 'utf8'), 'FLOOPY_VAULT_KEKS') ?? '',
    )
    expect(
      openProviderKey(
        keyring,
        { orgId: row?.org_id ?? '', provider: 'bedrock' },
        row?.envelope ?? '',
      ),
    ).toBe('{"region":"eu-west-1","apiKey":"ABSKexampleBedrockKey"}')
    await ok(['provider-key', 'remove', 'acme', 'bedrock'])
  })

  it('should re-wrap every envelope under the new KEK after kek generate', async () => {
    const devVars = path.join(root, '.dev.vars')
    const oldText = devVar(await readFile(devVars, 'utf8'), 'FLOOPY_VAULT_KEKS') ?? ''
    const generated = await ok(['kek', 'generate'])
    const newText = generated.stdout.trim()
    expect(generated.stderr).toMatch(/The keyring from \.dev\.vars plus a new current KEK k2/)
    const json = JSON.parse(newText) as { current: string; keys: Record<string, string> }
    expect(json.current).toBe('k2')
    expect(Object.keys(json.keys).sort()).toEqual(['k1', 'k2'])
    expect(json.keys.k1).toBe((JSON.parse(oldText) as typeof json).keys.k1)
    // kek generate stores nothing.
    expect(devVar(await readFile(devVars, 'utf8'), 'FLOOPY_VAULT_KEKS')).toBe(oldText)

    const before = await tenants()
    const rotated = await ok(['provider-key', 'rotate'], '', { FLOOPY_VAULT_KEKS: newText })
    expect(rotated.stdout).toBe(
      `Re-wrapped 3 of 3 provider keys under KEK k2; 0 already under it, ` +
        '0 changed meanwhile (skipped), 0 failed.\n',
    )
    const after = await tenants()
    const newKeyring = parseKeyring(newText)
    const oldKeyring = parseKeyring(oldText)
    expect(after.provider_keys).toHaveLength(3)
    for (const row of after.provider_keys) {
      expect(row.envelope).toMatch(/^v1\.k2\./)
      const previous = before.provider_keys.find((p) => p.id === row.id)?.envelope ?? ''
      const scope = { orgId: row.org_id, provider: row.provider }
      expect(openProviderKey(newKeyring, scope, row.envelope)).toBe(
        openProviderKey(oldKeyring, scope, previous),
      )
      expect(() => openProviderKey(oldKeyring, scope, row.envelope)).toThrow(/"k2"/)
    }

    const again = await ok(['provider-key', 'rotate'], '', { FLOOPY_VAULT_KEKS: newText })
    expect(again.stdout).toMatch(/^Re-wrapped 0 of 3 provider keys under KEK k2; 3 already under/)
    // With a keyring that lacks k2, nothing can be re-wrapped: exit 1, a line per key.
    const missing = await ok(['kek', 'generate', '--id', 'k9'], '', { FLOOPY_VAULT_KEKS: oldText })
    const failed = await admin(['provider-key', 'rotate'], '', {
      FLOOPY_VAULT_KEKS: missing.stdout.trim(),
    })
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/vault: key id "k2" is not in the keyring/)
    expect(failed.stderr).toMatch(/^error: 3 provider keys could not be re-wrapped$/m)
  })

  it('should generate a fresh keyring or refuse a taken --id', async () => {
    const fresh = await runCli(['kek', 'generate', '--id', 'prod-2026'], {
      FLOOPY_ROOT: path.join(root, 'nowhere'),
    })
    expect(fresh.code).toBe(0)
    expect(parseKeyring(fresh.stdout.trim()).ids).toEqual(['prod-2026'])
    const taken = await admin(['kek', 'generate', '--id', 'k1'])
    expect(taken).toMatchObject({ code: 1, stdout: '' })
    expect(taken.stderr).toBe('error: invalid --id: "k1" is in the keyring\n')
    const broken = await admin(['kek', 'generate'], '', { FLOOPY_VAULT_KEKS: '{"current":1}' })
    expect(broken.code).toBe(1)
    expect(broken.stderr).toMatch(/^error: vault keyring \(FLOOPY_VAULT_KEKS\): /m)
  })

  it('should set, list and remove routing rules', async () => {
    const keyId = uuidOf(await ok(['key', 'issue', 'acme', '--name', 'router']))
    const foreign = uuidOf(await ok(['key', 'issue', 'globex']))
    const set = await ok([
      'routing',
      'set',
      'acme',
      '--strategy',
      'fallback',
      '--target',
      'openai/gpt-4o-mini',
      '--target',
      'together/meta-llama/Llama-3-70b',
    ])
    expect(set.stdout).toMatch(
      /^Routing for the organization, any model: fallback over openai\/gpt-4o-mini, together\/meta-llama\/Llama-3-70b/,
    )
    await ok([
      'routing',
      'set',
      'acme',
      '--key',
      keyId,
      '--model',
      'gpt-4o',
      '--strategy',
      'weighted',
      '--target',
      'openai/gpt-4o@3',
      '--target',
      'azure/gpt-4o@1',
    ])
    // Same scope again: replaced, not added.
    await ok(['routing', 'set', 'acme', '--strategy', 'latency', '--target', 'groq/llama3'])

    const rules = (await tenants()).routing_rules
    expect(rules).toHaveLength(2)
    expect(rules.find((r) => r.api_key_id === null)).toMatchObject({
      model: null,
      strategy: 'latency',
      targets: [{ provider: 'groq', model: 'llama3' }],
    })
    expect(rules.find((r) => r.api_key_id === keyId)).toMatchObject({
      model: 'gpt-4o',
      strategy: 'weighted',
      targets: [
        { provider: 'openai', model: 'gpt-4o', weight: 3 },
        { provider: 'azure', model: 'gpt-4o', weight: 1 },
      ],
    })
    const list = await ok(['routing', 'list', 'acme'])
    expect(list.stdout).toMatch(/^\(org\)\s+\(any\)\s+latency\s+groq\/llama3\s/m)
    expect(list.stdout).toMatch(
      new RegExp(`^${keyId}\\s+gpt-4o\\s+weighted\\s+openai/gpt-4o@3, azure/gpt-4o@1\\s`, 'm'),
    )
    expect(JSON.parse((await ok(['routing', 'list', 'acme', '--json'])).stdout)).toHaveLength(2)

    const wrongOrg = await admin([
      'routing',
      'set',
      'acme',
      '--key',
      foreign,
      '--strategy',
      'fallback',
      '--target',
      'openai/gpt-4o',
    ])
    expect(wrongOrg).toMatchObject({
      code: 1,
      stderr: `error: api key ${foreign} does not belong to organization acme\n`,
    })

    await ok(['routing', 'remove', 'acme', '--key', keyId, '--model', 'gpt-4o'])
    expect((await tenants()).routing_rules.map((r) => r.api_key_id)).toEqual([null])
    const gone = await admin(['routing', 'remove', 'acme', '--key', keyId, '--model', 'gpt-4o'])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(/^error: no routing rule for key .+, model gpt-4o in acme\n$/)
  })

  it("should store, list and keep each target's key choice", async () => {
    const fineTuned = 'ft:gpt-4o-mini:acme::abc123'
    const set = await ok([
      'routing',
      'set',
      'acme',
      '--model',
      'gpt-4o',
      '--strategy',
      'fallback',
      '--target',
      'openai/gpt-4o+organization',
      '--target',
      'openai/gpt-4o+operator',
      '--target',
      'openai/gpt-4o',
      '--target',
      `openai/${fineTuned}+operator`,
      '--target',
      'together/meta-llama/Llama-3-70b+organization',
    ])
    const listed = `openai/gpt-4o+organization, openai/gpt-4o+operator, openai/gpt-4o, openai/${fineTuned}+operator, together/meta-llama/Llama-3-70b+organization`
    expect(set.stdout).toContain(`fallback over ${listed} (rule `)
    await ok([
      'routing',
      'set',
      'acme',
      '--model',
      'gpt-4o-mini',
      '--strategy',
      'weighted',
      '--target',
      'openai/gpt-4o-mini@3+operator',
      '--target',
      'openai/gpt-4o-mini@1',
    ])
    const expected = {
      fallback: [
        { provider: 'openai', model: 'gpt-4o', key: 'organization' },
        { provider: 'openai', model: 'gpt-4o', key: 'operator' },
        { provider: 'openai', model: 'gpt-4o' },
        { provider: 'openai', model: fineTuned, key: 'operator' },
        { provider: 'together', model: 'meta-llama/Llama-3-70b', key: 'organization' },
      ],
      weighted: [
        { provider: 'openai', model: 'gpt-4o-mini', weight: 3, key: 'operator' },
        { provider: 'openai', model: 'gpt-4o-mini', weight: 1 },
      ],
    }
    const targetsOf = (file: TenantsFile, model: string) =>
      file.routing_rules.find((r) => r.api_key_id === null && r.model === model)?.targets
    const stored = await tenants()
    // toStrictEqual: a target without a key choice has no `key` member at all
    expect(targetsOf(stored, 'gpt-4o')).toStrictEqual(expected.fallback)
    expect(targetsOf(stored, 'gpt-4o-mini')).toStrictEqual(expected.weighted)
    // the gateway reads the file the CLI wrote with the key choices intact
    expect(targetsOf(TenantsFileSchema.parse(stored), 'gpt-4o')).toStrictEqual(expected.fallback)

    // another command rewrites the whole file: the key choices survive it
    await ok(['org', 'set', 'acme', '--plan', 'keyed'])
    const rewritten = await tenants()
    expect(targetsOf(rewritten, 'gpt-4o')).toStrictEqual(expected.fallback)
    expect(targetsOf(rewritten, 'gpt-4o-mini')).toStrictEqual(expected.weighted)

    const list = await ok(['routing', 'list', 'acme'])
    const fallbackLine = list.stdout.split('\n').find((line) => /^\(org\)\s+gpt-4o\s/.test(line))
    expect(fallbackLine).toMatch(/^\(org\)\s+gpt-4o\s+fallback\s/)
    expect(fallbackLine).toContain(` ${listed} `)
    expect(list.stdout).toMatch(
      /^\(org\)\s+gpt-4o-mini\s+weighted\s+openai\/gpt-4o-mini@3\+operator, openai\/gpt-4o-mini@1\s/m,
    )
    const rules = JSON.parse((await ok(['routing', 'list', 'acme', '--json'])).stdout) as unknown[]
    expect(rules).toContainEqual(
      expect.objectContaining({ model: 'gpt-4o', targets: expected.fallback }),
    )
    expect(rules).toContainEqual(
      expect.objectContaining({ model: 'gpt-4o-mini', targets: expected.weighted }),
    )

    await ok(['routing', 'remove', 'acme', '--model', 'gpt-4o'])
    await ok(['routing', 'remove', 'acme', '--model', 'gpt-4o-mini'])
  })

  it("should store, list and replace a feedback rule's params", async () => {
    await ok(['org', 'create', 'fb-co'])
    const set = await ok([
      'routing',
      'set',
      'fb-co',
      '--strategy',
      'feedback',
      '--target',
      'openai/gpt-4o',
      '--target',
      'anthropic/claude-sonnet-4-5+operator',
      '--cost-weight',
      '0.02',
      '--latency-weight',
      '.5',
      '--metric',
      'helpful',
    ])
    expect(set.stdout).toMatch(
      /^Routing for the organization, any model: feedback over openai\/gpt-4o, anthropic\/claude-sonnet-4-5\+operator with cost_weight=0.02 latency_weight=0.5 metric=helpful \(rule [0-9a-f-]{36}\)\.$/m,
    )
    await ok([
      'routing',
      'set',
      'fb-co',
      '--model',
      'gpt-4o-mini',
      '--strategy',
      'feedback',
      '--target',
      'openai/gpt-4o-mini',
      '--target',
      'groq/llama3',
    ])
    const ruleFor = (file: TenantsFile, model: string | null) =>
      file.routing_rules.find(
        (r) =>
          r.model === model && r.org_id === file.organizations.find((o) => o.slug === 'fb-co')?.id,
      )
    const stored = await tenants()
    expect(ruleFor(stored, null)).toMatchObject({
      strategy: 'feedback',
      params: { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' },
    })
    // a feedback rule without parameters stores none: the gateway's defaults apply
    expect(ruleFor(stored, 'gpt-4o-mini')?.params).toStrictEqual({})
    // the gateway loads what the CLI wrote, params intact
    expect(ruleFor(TenantsFileSchema.parse(stored), null)?.params).toStrictEqual({
      cost_weight: 0.02,
      latency_weight: 0.5,
      metric: 'helpful',
    })

    const list = await ok(['routing', 'list', 'fb-co'])
    expect(list.stdout.split('\n')[0]).toMatch(
      /^KEY\s+MODEL\s+STRATEGY\s+TARGETS\s+PARAMS\s+UPDATED$/,
    )
    expect(list.stdout).toMatch(
      /^\(org\)\s+\(any\)\s+feedback\s+openai\/gpt-4o, anthropic\/claude-sonnet-4-5\+operator\s+cost_weight=0.02 latency_weight=0.5 metric=helpful\s/m,
    )
    expect(list.stdout).toMatch(
      /^\(org\)\s+gpt-4o-mini\s+feedback\s+openai\/gpt-4o-mini, groq\/llama3\s+-\s/m,
    )
    const rules = JSON.parse((await ok(['routing', 'list', 'fb-co', '--json'])).stdout) as unknown[]
    expect(rules).toContainEqual(
      expect.objectContaining({
        model: null,
        params: { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' },
      }),
    )

    // set again: the parameters are replaced with the rule, not merged
    await ok([
      'routing',
      'set',
      'fb-co',
      '--strategy',
      'feedback',
      '--target',
      'openai/gpt-4o',
      '--metric',
      'thumbs',
    ])
    expect(ruleFor(await tenants(), null)?.params).toStrictEqual({ metric: 'thumbs' })
    // another strategy leaves none behind
    await ok(['routing', 'set', 'fb-co', '--strategy', 'fallback', '--target', 'openai/gpt-4o'])
    expect(ruleFor(await tenants(), null)).toMatchObject({ strategy: 'fallback', params: {} })

    // params with another strategy are refused before anything is written
    const before = await readFile(tenantsPath(), 'utf8')
    for (const option of ['--cost-weight', '--latency-weight', '--metric']) {
      const value = option === '--metric' ? 'helpful' : '1'
      const run = await admin([
        'routing',
        'set',
        'fb-co',
        '--strategy',
        'latency',
        '--target',
        'openai/gpt-4o',
        option,
        value,
      ])
      expect(run).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `error: ${option} only applies to --strategy feedback\n`,
      })
    }
    expect(await readFile(tenantsPath(), 'utf8')).toBe(before)
  })

  it("should declare, show and remove an organisation's feedback metrics", async () => {
    await ok(['org', 'create', 'metrics-co', '--cache', 'on'])
    const set = await ok([
      'org',
      'set',
      'metrics-co',
      '--metric',
      'helpful=1:5',
      '--metric',
      'thumbs=-1:1',
      '--metric',
      'latency_ok=0:0.5',
    ])
    expect(set.stdout).toMatch(/^feedback metrics:\s+helpful=1:5 latency_ok=0:0.5 thumbs=-1:1$/m)
    expect(set.stderr).toMatch(/restart a running `npm run dev`/)
    const settingsOf = async () =>
      (await tenants()).organizations.find((o) => o.slug === 'metrics-co')?.settings
    expect(await settingsOf()).toEqual({
      cache: { enabled: true },
      feedback: {
        metrics: {
          helpful: { min: 1, max: 5 },
          thumbs: { min: -1, max: 1 },
          latency_ok: { min: 0, max: 0.5 },
        },
      },
    })
    // one metric's range replaced, one removed, the rest and the cache settings kept
    await ok(['org', 'set', 'metrics-co', '--metric', 'helpful=0:10', '--metric', 'thumbs=unset'])
    expect(await settingsOf()).toEqual({
      cache: { enabled: true },
      feedback: { metrics: { helpful: { min: 0, max: 10 }, latency_ok: { min: 0, max: 0.5 } } },
    })
    const shown = await ok(['org', 'show', 'metrics-co'])
    expect(shown.stdout).toMatch(/^feedback metrics:\s+helpful=0:10 latency_ok=0:0.5$/m)
    expect(shown.stdout).toMatch(/^cache:\s+enabled=true$/m)
    const json = JSON.parse((await ok(['org', 'show', 'metrics-co', '--json'])).stdout) as unknown
    expect(json).toMatchObject({
      settings: { feedback: { metrics: { helpful: { min: 0, max: 10 } } } },
    })
    // the gateway loads what the CLI wrote
    expect(TenantsFileSchema.safeParse(await tenants()).success).toBe(true)
    // the last metric removed takes the feedback settings with it
    const cleared = await ok([
      'org',
      'set',
      'metrics-co',
      '--metric',
      'helpful=unset',
      '--metric',
      'latency_ok=unset',
    ])
    expect(cleared.stdout).toMatch(/^feedback metrics:\s+-$/m)
    expect(await settingsOf()).toEqual({ cache: { enabled: true } })
    // a metric never declared: nothing to remove, nothing refused
    await ok(['org', 'set', 'metrics-co', '--metric', 'never=unset'])
    expect(await settingsOf()).toEqual({ cache: { enabled: true } })
  })

  it('should create versions of a prompt, label, list, show and delete it', async () => {
    const created = await ok(['prompt', 'create', 'acme', 'summarise', '--template', 'v1.json'])
    expect(created.stdout).toBe('Created version 1 of prompt summarise in acme.\n')
    expect(created.stderr).toMatch(/restart a running `npm run dev`/)
    const second = await ok([
      'prompt',
      'create',
      'acme',
      'summarise',
      '--template',
      path.join(root, 'v2.json'),
      '--json',
    ])
    expect(JSON.parse(second.stdout)).toEqual({
      prompt_id: 'summarise',
      version: 2,
      created_at: expect.any(String) as unknown,
    })

    const stored = await tenants()
    const acme = stored.organizations.find((o) => o.slug === 'acme')
    const prompts = (stored.prompts ?? []).filter((p) => p.org_id === acme?.id)
    expect(prompts).toEqual([
      expect.objectContaining({ prompt_id: 'summarise', labels: {} }) as unknown,
    ])
    const versions = (stored.prompt_versions ?? []).filter((v) => v.prompt === prompts[0]?.id)
    expect(versions.map((v) => [v.version, v.template])).toEqual([
      [1, TEMPLATE_V1],
      [2, TEMPLATE_V2],
    ])
    // The gateway reads the file the CLI wrote.
    expect(TenantsFileSchema.parse(stored).prompt_versions).toHaveLength(versions.length)

    const labelled = await ok(['prompt', 'label', 'acme', 'summarise', '1', 'production'])
    expect(labelled.stdout).toMatch(/^Label production of prompt summarise points at version 1\.$/m)
    expect((await tenants()).prompts?.find((p) => p.id === prompts[0]?.id)?.labels).toEqual({
      production: 1,
    })
    await ok(['prompt', 'label', 'acme', 'summarise', '2', 'staging'])

    const list = await ok(['prompt', 'list', 'acme'])
    expect(list.stdout).toMatch(/^PROMPT\s+LATEST\s+LABELS\s+UPDATED$/m)
    expect(list.stdout).toMatch(/^summarise\s+2\s+production=1 staging=2\s+\S+$/m)
    expect(JSON.parse((await ok(['prompt', 'list', 'acme', '--json'])).stdout)).toEqual([
      {
        prompt_id: 'summarise',
        latest_version: 2,
        labels: { production: 1, staging: 2 },
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      },
    ])

    // Without --version: the production label's version.
    const shown = await ok(['prompt', 'show', 'acme', 'summarise'])
    expect(shown.stdout).toMatch(/^version:\s+1$/m)
    expect(shown.stdout).toMatch(/^labels:\s+production$/m)
    expect(shown.stdout).toMatch(/^model:\s+-$/m)
    expect(shown.stdout).toMatch(/^variables:\s+text$/m)
    expect(shown.stdout).toMatch(/^ {2}user: Summarise: \{\{text\}\}$/m)
    const v2 = await ok(['prompt', 'show', acme?.id ?? '', 'summarise', '--version', 'staging'])
    expect(v2.stdout).toMatch(/^version:\s+2$/m)
    expect(v2.stdout).toMatch(/^model:\s+gpt-4o-mini$/m)
    expect(v2.stdout).toMatch(/^params:\s+\{"temperature":0\.2\}$/m)
    expect(v2.stdout).toMatch(/^variables:\s+language, text$/m)
    expect(v2.stdout).toContain(
      '  system: You answer in {{language}}.\n          Be brief.\n  user:   Summarise: {{ text }}\n          (image_url part)\n',
    )
    const json = JSON.parse(
      (await ok(['prompt', 'show', 'acme', 'summarise', '--version', '2', '--json'])).stdout,
    ) as unknown
    expect(json).toEqual({
      prompt_id: 'summarise',
      version: 2,
      template: TEMPLATE_V2,
      labels: { production: 1, staging: 2 },
      created_at: versions[1]?.created_at,
      variables: ['language', 'text'],
    })

    // Moving production changes what a request without a version gets.
    await ok(['prompt', 'label', 'acme', 'summarise', '2', 'production'])
    expect((await ok(['prompt', 'show', 'acme', 'summarise'])).stdout).toMatch(/^version:\s+2$/m)
    for (const [selector, shownAs] of [
      ['7', '7'],
      ['beta', 'beta'],
    ]) {
      const missing = await admin([
        'prompt',
        'show',
        'acme',
        'summarise',
        '--version',
        selector ?? '',
      ])
      expect(missing).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `error: prompt version not found: summarise@${shownAs ?? ''}\n`,
      })
    }
    const noVersion = await admin(['prompt', 'label', 'acme', 'summarise', '3', 'production'])
    expect(noVersion).toMatchObject({
      code: 1,
      stderr: 'error: prompt version not found: summarise@3\n',
    })

    // The same id in another organization is a prompt of its own.
    const other = await ok(['prompt', 'create', 'globex', 'summarise', '--template', 'v2.json'])
    expect(other.stdout).toBe('Created version 1 of prompt summarise in globex.\n')
    expect(
      (await admin(['prompt', 'label', 'globex', 'summarise', '2', 'production'])).stderr,
    ).toBe('error: prompt version not found: summarise@2\n')

    const deleted = await ok(['prompt', 'delete', 'acme', 'summarise'])
    expect(deleted.stdout).toBe('Deleted prompt summarise of acme with all its versions.\n')
    const after = await tenants()
    expect(after.prompts?.map((p) => p.org_id)).toEqual([
      after.organizations.find((o) => o.slug === 'globex')?.id,
    ])
    expect(after.prompt_versions?.map((v) => v.prompt)).toEqual(after.prompts?.map((p) => p.id))
    const again = await admin(['prompt', 'delete', 'acme', 'summarise'])
    expect(again).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: organization acme has no prompt summarise\n',
    })
    expect((await admin(['prompt', 'show', 'acme', 'summarise'])).stderr).toBe(
      'error: prompt not found: summarise\n',
    )
    expect((await ok(['prompt', 'list', 'acme'])).stdout).toBe('No prompts.\n')
  })

  const badPrompts: [string, string[], RegExp][] = [
    [
      'a template that is not JSON',
      ['prompt', 'create', 'acme', 'x', '--template', 'not-json.json'],
      /^error: --template "not-json.json" is not JSON: /,
    ],
    [
      'a template file that does not exist',
      ['prompt', 'create', 'acme', 'x', '--template', 'missing.json'],
      /^error: cannot read --template "missing.json": no such file$/,
    ],
    [
      'a template that is a directory',
      ['prompt', 'create', 'acme', 'x', '--template', '.floopy'],
      /^error: cannot read --template ".floopy": it is a directory$/,
    ],
    [
      'a template with an unknown role',
      ['prompt', 'create', 'acme', 'x', '--template', 'bad-role.json'],
      /^error: invalid template in "bad-role.json": messages\.1\.role: .*"assistant"/,
    ],
    [
      'a template without messages',
      ['prompt', 'create', 'acme', 'x', '--template', 'no-messages.json'],
      /^error: invalid template in "no-messages.json": messages: /,
    ],
    [
      'a template setting stream',
      ['prompt', 'create', 'acme', 'x', '--template', 'stream.json'],
      /^error: invalid template in "stream.json": params: must not set messages, model, stream/,
    ],
    [
      'a template with an unknown field',
      ['prompt', 'create', 'acme', 'x', '--template', 'extra.json'],
      /^error: invalid template in "extra.json": .*temperature/,
    ],
    [
      'a bad prompt id',
      ['prompt', 'create', 'acme', 'Summarise', '--template', 'v1.json'],
      /^error: invalid prompt id "Summarise": 1-128 characters of a-z 0-9 \. _ -/,
    ],
    [
      'a capitalised label',
      ['prompt', 'label', 'acme', 'x', '1', 'Production'],
      /^error: invalid label "Production": 1-128 characters/,
    ],
    [
      'a label of digits',
      ['prompt', 'label', 'acme', 'x', '1', '12'],
      /^error: invalid label "12": not all digits \(a number selects a version\)$/,
    ],
    [
      'a version that is not a number',
      ['prompt', 'label', 'acme', 'x', 'latest', 'production'],
      /^error: invalid version "latest": expected a version number/,
    ],
    [
      'a version 0',
      ['prompt', 'label', 'acme', 'x', '0', 'production'],
      /^error: invalid version "0"/,
    ],
    [
      'a bad --version',
      ['prompt', 'show', 'acme', 'x', '--version', 'Prod Label'],
      /^error: invalid --version "Prod Label": expected a version number or a label$/,
    ],
    ['an unknown org', ['prompt', 'list', 'nope'], /^error: organization not found: nope$/],
    [
      'an unknown prompt',
      ['prompt', 'label', 'acme', 'nope', '1', 'production'],
      /^error: prompt not found: nope$/,
    ],
  ]

  it.concurrent.each(badPrompts)(
    'should exit 1 with one line, storing nothing, on %s',
    async (_name, args, message) => {
      const before = fingerprint(tenantsPath())
      const run = await admin(args)
      expect(fingerprint(tenantsPath())).toBe(before)
      expect(run.code).toBe(1)
      expect(run.stdout).toBe('')
      expect(run.stderr.trimEnd()).toMatch(message)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stderr).not.toMatch(/\n\s+at /)
    },
  )

  it('should number versions created at once without losing one', async () => {
    const before = fingerprint(tenantsPath())
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        admin(['prompt', 'create', 'acme', 'para', '--template', 'v1.json', '--json']),
      ),
    )
    expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0))
    const numbers = runs.map((run) => (JSON.parse(run.stdout) as { version: number }).version)
    expect(numbers.toSorted((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6])
    const file = await tenants()
    const para = file.prompts?.find((p) => p.prompt_id === 'para')
    expect(
      file.prompt_versions?.filter((v) => v.prompt === para?.id).map((v) => v.version),
    ).toEqual([1, 2, 3, 4, 5, 6])
    expect(fingerprint(tenantsPath())).not.toBe(before)
    expect(await readdir(path.dirname(tenantsPath()))).toEqual(['tenants.json'])
    await ok(['prompt', 'delete', 'acme', 'para'])
  })

  it('should number versions created at once in one process too, under the file lock', async () => {
    // In one process the reads and writes of concurrent calls interleave for sure: without the
    // lock, every call would read the same file and number the same version.
    const store = localStore(path.join(root, 'race', 'tenants.json'))
    const org = await store.createOrg({ slug: 'race-co' })
    const template = PromptTemplateSchema.parse(TEMPLATE_V1)
    const created = await Promise.all(
      Array.from({ length: 12 }, () => store.createPromptVersion(org.slug, 'race', template)),
    )
    const expected = Array.from({ length: 12 }, (_, i) => i + 1)
    expect(created.map((c) => c.version).toSorted((a, b) => a - b)).toEqual(expected)
    expect(await store.listPrompts(org.id)).toEqual([
      expect.objectContaining({ prompt_id: 'race', latest_version: 12 }) as unknown,
    ])
    // Labels set at once are all kept.
    await Promise.all(expected.map((n) => store.labelPrompt(org.slug, 'race', n, `l${String(n)}`)))
    const [listed] = await store.listPrompts(org.slug)
    expect(listed?.labels).toEqual(Object.fromEntries(expected.map((n) => [`l${String(n)}`, n])))
  })

  it('should print help at every level', async () => {
    const top = await ok(['--help'])
    expect(top.stdout).toMatch(/^Usage: npm run admin -- <group> <command>/)
    for (const command of [
      'org create',
      'key issue',
      'provider-key rotate',
      'routing set',
      'prompt create',
      'prompt delete',
      'cache purge',
    ]) {
      expect(top.stdout).toContain(command)
    }
    expect(top.stdout).toMatch(/^ {2}QDRANT_URL, QDRANT_API_KEY\s+cache purge/m)
    const orgSet = await ok(['org', 'set', '--help'])
    expect(orgSet.stdout).toContain('[--cache on|off|unset] [--cache-ttl S|unset]')
    expect(orgSet.stdout).toContain('[--metric NAME=MIN:MAX|unset]...')
    expect(orgSet.stdout).toMatch(/^ {2}--metric NAME=MIN:MAX\|unset\s+declare a feedback metric/m)
    const routingSet = await ok(['routing', 'set', '--help'])
    expect(routingSet.stdout).toContain('[--cost-weight N] [--latency-weight N] [--metric NAME]')
    expect(routingSet.stdout).toContain(
      '--strategy S      fallback|round-robin|weighted|latency|feedback (required)',
    )
    expect(routingSet.stdout).toMatch(
      /^ {2}--cost-weight N\s+reward points a target loses per USD/m,
    )
    expect(routingSet.stdout).toMatch(
      /^ {2}--metric NAME\s+the feedback metric the rule learns from/m,
    )
    expect(orgSet.stdout).toContain("has_advanced_cache (the cache's bucketed tier)")
    expect(orgSet.stdout).toContain('has_advanced_firewall')
    const purge = await ok(['cache', 'purge', '--help'])
    expect(purge.stdout).toMatch(
      /^Usage: npm run admin -- cache purge <org> \[--namespace NS\] \[--json\]/,
    )
    const prompts = await ok(['prompt', '--help'])
    expect(prompts.stdout).toMatch(/^Usage: npm run admin -- prompt <command>/)
    expect(prompts.stdout).toContain('prompt create <org> <prompt-id> --template <file> [--json]')
    expect(prompts.stdout).toContain('prompt label <org> <prompt-id> <version> <label>')
    const create = await ok(['prompt', 'create', '--help'])
    expect(create.stdout).toContain('"messages": [')
    expect(create.stdout).toContain('{{name}} is filled from the request\'s "inputs"')
    const group = await ok(['provider-key', '--help'])
    expect(group.stdout).toMatch(/^Usage: npm run admin -- provider-key <command>/)
    expect(group.stdout).toContain('provider-key add <org> <provider> [--from-env VAR]')
    const commands = [
      ['org', 'create'],
      ['org', 'list'],
      ['org', 'show'],
      ['org', 'set'],
      ['key', 'issue'],
      ['key', 'list'],
      ['key', 'revoke'],
      ['key', 'set'],
      ['provider-key', 'add'],
      ['provider-key', 'list'],
      ['provider-key', 'remove'],
      ['provider-key', 'rotate'],
      ['kek', 'generate'],
      ['routing', 'set'],
      ['routing', 'list'],
      ['routing', 'remove'],
      ['prompt', 'create'],
      ['prompt', 'list'],
      ['prompt', 'show'],
      ['prompt', 'label'],
      ['prompt', 'delete'],
      ['cache', 'purge'],
    ]
    // At once: one process each, and there are many.
    const runs = await Promise.all(commands.map(([g = '', c = '']) => ok([g, c, '-h'])))
    for (const [i, [g = '', c = '']] of commands.entries()) {
      expect(runs[i]?.stdout).toMatch(new RegExp(`^Usage: npm run admin -- ${g} ${c}`))
      expect(runs[i]?.stdout).toContain('--store local|supabase')
    }
  }, 90_000) // about 30 CLI processes: slow on a loaded machine

  const usageErrors: [string, string[], RegExp][] = [
    ['no command', [], /^error: missing command \(see 'npm run admin -- --help'\)$/],
    ['an unknown group', ['orgs', 'list'], /^error: unknown command 'orgs'/],
    [
      'a group alone',
      ['key'],
      /^error: missing key command \(see 'npm run admin -- key --help'\)$/,
    ],
    ['an unknown command', ['key', 'delete', 'x'], /^error: unknown command 'key delete'/],
    [
      'a missing argument',
      ['org', 'show'],
      /^error: missing <org> \(see 'npm run admin -- org show --help'\)$/,
    ],
    ['a missing provider', ['provider-key', 'add', 'acme'], /^error: missing <provider>/],
    ['an extra argument', ['org', 'list', 'acme'], /^error: unexpected argument 'acme'/],
    ['an unknown option', ['org', 'list', '--all'], /^error: unknown option '--all'/],
    [
      'an option without value',
      ['org', 'create', 'x1', '--rpm'],
      /^error: option '--rpm <value>' argument missing/,
    ],
    [
      'a value for a boolean',
      ['org', 'list', '--json=yes'],
      /^error: option '--json' does not take an argument/,
    ],
    [
      'the key on argv',
      ['provider-key', 'add', 'acme', 'openai', 'sk-secret'],
      /^error: unexpected argument 'sk-secret'/,
    ],
    ['no strategy', ['routing', 'set', 'acme', '--target', 'a/b'], /^error: missing --strategy/],
    [
      'no template',
      ['prompt', 'create', 'acme', 'x'],
      /^error: missing --template \(see 'npm run admin -- prompt create --help'\)$/,
    ],
    ['no label', ['prompt', 'label', 'acme', 'x', '1'], /^error: missing <label>/],
    ['a group alone: prompt', ['prompt'], /^error: missing prompt command/],
    ['no target', ['routing', 'set', 'acme', '--strategy', 'fallback'], /^error: missing --target/],
    ['nothing to set on an org', ['org', 'set', 'acme'], /^error: nothing to change: give --name/],
    [
      'a metric on a key',
      ['key', 'set', '00000000-0000-4000-8000-000000000000', '--metric', 'helpful=1:5'],
      /^error: unknown option '--metric'/,
    ],
    [
      'nothing to set on a key',
      ['key', 'set', '00000000-0000-4000-8000-000000000000'],
      /^error: nothing to change: give --name, --rpm/,
    ],
    ['a group alone: cache', ['cache'], /^error: missing cache command/],
    [
      'a purge without org',
      ['cache', 'purge'],
      /^error: missing <org> \(see 'npm run admin -- cache purge --help'\)$/,
    ],
    [
      'a namespace without value',
      ['cache', 'purge', 'acme', '--namespace'],
      /^error: option '--namespace <value>' argument missing/,
    ],
    [
      'an unknown store',
      ['--store', 'mysql', 'org', 'list'],
      /^error: invalid --store 'mysql': local or supabase/,
    ],
    [
      '--file with supabase',
      ['org', 'list', '--store', 'supabase', '--file', 'x.json'],
      /^error: --file applies to the local store only/,
    ],
  ]

  it.concurrent.each(usageErrors)(
    'should exit 2 with one line on %s',
    async (_name, args, message) => {
      const run = await admin(args)
      expect(run.code).toBe(2)
      expect(run.stdout).toBe('')
      expect(run.stderr.trimEnd()).toMatch(message)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
    },
  )

  const badInput: [string, string[], RegExp][] = [
    ['a bad slug', ['org', 'create', 'Acme'], /^error: invalid slug "Acme"/],
    ['a one-character slug', ['org', 'create', 'a'], /^error: invalid slug "a"/],
    [
      'a zero rpm',
      ['org', 'create', 'zero', '--rpm', '0'],
      /^error: invalid --rpm "0": expected a positive/,
    ],
    [
      'a negative monthly limit',
      ['org', 'create', 'neg', '--monthly-limit=-1'],
      /^error: invalid --monthly-limit "-1"/,
    ],
    ['a fractional rpm', ['key', 'issue', 'acme', '--rpm', '1.5'], /^error: invalid --rpm "1.5"/],
    [
      'a huge limit',
      ['org', 'set', 'acme', '--monthly-limit', '99999999999'],
      /^error: invalid --monthly-limit/,
    ],
    [
      'a flag without value',
      ['org', 'create', 'flags', '--flag', 'beta'],
      /^error: invalid --flag "beta": the value must be true or false/,
    ],
    [
      'unset on create',
      ['org', 'create', 'flags', '--flag', 'beta=unset'],
      /^error: invalid --flag "beta=unset"/,
    ],
    [
      'a repeated flag',
      ['org', 'set', 'acme', '--flag', 'a=true', '--flag', 'a=false'],
      /^error: --flag a is given more than once/,
    ],
    [
      'a bad status',
      ['org', 'set', 'acme', '--status', 'gone'],
      /^error: invalid --status "gone": one of trialing, active/,
    ],
    [
      'a bad plan',
      ['org', 'set', 'acme', '--plan', 'Pro Plan'],
      /^error: invalid --plan "Pro Plan"/,
    ],
    [
      'an empty name',
      ['org', 'set', 'acme', '--name', '  '],
      /^error: invalid --name: must not be empty/,
    ],
    ['an unknown org', ['org', 'show', 'nope'], /^error: organization not found: nope$/],
    [
      'an org that is neither',
      ['key', 'list', 'Not An Org'],
      /^error: invalid organization "Not An Org"/,
    ],
    [
      'a bad key id',
      ['key', 'revoke', 'flo_sk_live_x'],
      /^error: invalid key id "flo_sk_live_x": expected a uuid$/,
    ],
    [
      'a bad provider',
      ['provider-key', 'add', 'acme', 'Open_AI'],
      /^error: invalid provider "Open_AI"/,
    ],
    [
      'a bad strategy',
      ['routing', 'set', 'acme', '--strategy', 'random', '--target', 'a/b'],
      /^error: invalid --strategy "random": one of fallback, round-robin, weighted, latency, feedback$/,
    ],
    [
      'a target without model',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'openai'],
      /^error: invalid --target "openai"/,
    ],
    [
      'a weight without weighted',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'a/b@2'],
      /^error: --target "a\/b@2": a weight only applies to --strategy weighted$/,
    ],
    [
      'weighted without weight',
      ['routing', 'set', 'acme', '--strategy', 'weighted', '--target', 'a/b'],
      /^error: --target a\/b needs a weight/,
    ],
    [
      'a repeated target',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'a/b', '--target', 'a/b'],
      /^error: --target a\/b is given more than once$/,
    ],
    [
      'a repeated target with the same key choice',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'fallback',
        '--target',
        'a/b+operator',
        '--target',
        'a/b+organization',
        '--target',
        'a/b+operator',
      ],
      /^error: --target a\/b\+operator is given more than once$/,
    ],
    [
      'a misspelt key choice',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'openai/gpt-4o+nonsense'],
      /^error: invalid key choice in --target "openai\/gpt-4o\+nonsense": expected \+organization or \+operator$/,
    ],
    [
      'a capitalised key choice',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'openai/gpt-4o+Operator'],
      /^error: invalid key choice in --target "openai\/gpt-4o\+Operator"/,
    ],
    [
      'an empty key choice',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'openai/gpt-4o+'],
      /^error: invalid key choice in --target "openai\/gpt-4o\+"/,
    ],
    [
      'a key choice before the weight',
      ['routing', 'set', 'acme', '--strategy', 'weighted', '--target', 'openai/gpt-4o+operator@3'],
      /^error: invalid --target "openai\/gpt-4o\+operator@3": expected provider\/model\[@weight\]\[\+organization\|\+operator\], the key choice last$/,
    ],
    [
      'two key choices',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'a/b+operator+organization'],
      /^error: invalid --target "a\/b\+operator\+organization": .*the key choice last$/,
    ],
    [
      'a key choice without a model',
      ['routing', 'set', 'acme', '--strategy', 'fallback', '--target', 'openai/+operator'],
      /^error: invalid --target "openai\/\+operator": expected provider\/model/,
    ],
    [
      'weighted without weight, with a key choice',
      ['routing', 'set', 'acme', '--strategy', 'weighted', '--target', 'a/b+organization'],
      /^error: --target a\/b\+organization needs a weight: a\/b@<1-10000>\+organization$/,
    ],
    [
      'supabase without url',
      ['org', 'list', '--store', 'supabase'],
      /^error: SUPABASE_URL is not set/,
    ],
    [
      'a TTL under a minute',
      ['org', 'set', 'acme', '--cache-ttl', '59'],
      /^error: invalid --cache-ttl "59": expected whole seconds from 60 to 2592000 \(30 days\), or unset$/,
    ],
    [
      'a TTL over 30 days',
      ['key', 'set', '00000000-0000-4000-8000-000000000000', '--cache-ttl', '2592001'],
      /^error: invalid --cache-ttl "2592001": expected whole seconds from 60 to 2592000/,
    ],
    [
      'a fractional TTL',
      ['org', 'set', 'acme', '--cache-ttl', '90.5'],
      /^error: invalid --cache-ttl "90.5"/,
    ],
    [
      'unset TTL on create',
      ['org', 'create', 'ttl-co', '--cache-ttl', 'unset'],
      /^error: invalid --cache-ttl "unset": expected whole seconds from 60 to 2592000 \(30 days\)$/,
    ],
    [
      'a zero threshold',
      ['org', 'set', 'acme', '--cache-threshold', '0'],
      /^error: invalid --cache-threshold "0": expected a number greater than 0 and at most 1, or unset$/,
    ],
    [
      'a threshold over 1',
      ['key', 'issue', 'acme', '--cache-threshold', '1.01'],
      /^error: invalid --cache-threshold "1.01": expected a number greater than 0 and at most 1$/,
    ],
    [
      'a threshold in exponent form',
      ['org', 'set', 'acme', '--cache-threshold', '1e-1'],
      /^error: invalid --cache-threshold "1e-1"/,
    ],
    [
      'a threshold that is no number',
      ['org', 'set', 'acme', '--cache-threshold', 'high'],
      /^error: invalid --cache-threshold "high"/,
    ],
    [
      'a cache switch that is neither on nor off',
      ['org', 'set', 'acme', '--cache', 'yes'],
      /^error: invalid --cache "yes": expected on or off, or unset$/,
    ],
    [
      'unset cache on create',
      ['key', 'issue', 'acme', '--cache', 'unset'],
      /^error: invalid --cache "unset": expected on or off$/,
    ],
    [
      'a bad namespace',
      ['cache', 'purge', 'acme', '--namespace', 'Docs!'],
      /^error: invalid --namespace "Docs!": 1-64 characters of a-z 0-9 \. _ -$/,
    ],
    [
      'a purge of an unknown org',
      ['cache', 'purge', 'nope'],
      /^error: organization not found: nope$/,
    ],
    [
      'a cost weight without the feedback strategy',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'weighted',
        '--target',
        'a/b@1',
        '--cost-weight',
        '1',
      ],
      /^error: --cost-weight only applies to --strategy feedback$/,
    ],
    [
      'a negative cost weight',
      ['routing', 'set', 'acme', '--strategy', 'feedback', '--target', 'a/b', '--cost-weight=-1'],
      /^error: invalid --cost-weight "-1": expected a number ≥ 0$/,
    ],
    [
      'a latency weight in exponent form',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'feedback',
        '--target',
        'a/b',
        '--latency-weight',
        '1e-3',
      ],
      /^error: invalid --latency-weight "1e-3": expected a number ≥ 0$/,
    ],
    [
      'a cost weight that is no number',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'feedback',
        '--target',
        'a/b',
        '--cost-weight',
        'cheap',
      ],
      /^error: invalid --cost-weight "cheap": expected a number ≥ 0$/,
    ],
    [
      'a capitalised rule metric',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'feedback',
        '--target',
        'a/b',
        '--metric',
        'Helpful',
      ],
      /^error: invalid --metric "Helpful": 1-32 characters of a-z 0-9 _, starting with a-z$/,
    ],
    [
      'a rule metric of 33 characters',
      [
        'routing',
        'set',
        'acme',
        '--strategy',
        'feedback',
        '--target',
        'a/b',
        '--metric',
        `m${'x'.repeat(32)}`,
      ],
      /^error: invalid --metric "mx{32}": 1-32 characters of a-z 0-9 _, starting with a-z$/,
    ],
    [
      'a weight on a feedback target',
      ['routing', 'set', 'acme', '--strategy', 'feedback', '--target', 'a/b@2'],
      /^error: --target "a\/b@2": a weight only applies to --strategy weighted$/,
    ],
    [
      'a metric without a range',
      ['org', 'set', 'acme', '--metric', 'helpful'],
      /^error: invalid --metric "helpful": expected name=min:max or name=unset$/,
    ],
    [
      'a metric range with max not above min',
      ['org', 'set', 'acme', '--metric', 'helpful=5:5'],
      /^error: invalid --metric "helpful=5:5": max must be above min$/,
    ],
    [
      'a metric range in the wrong order',
      ['org', 'set', 'acme', '--metric', 'helpful=5:1'],
      /^error: invalid --metric "helpful=5:1": max must be above min$/,
    ],
    [
      'a metric range with three bounds',
      ['org', 'set', 'acme', '--metric', 'helpful=1:5:9'],
      /^error: invalid --metric "helpful=1:5:9": expected name=min:max or name=unset, min and max plain decimals$/,
    ],
    [
      'a metric range that is no number',
      ['org', 'set', 'acme', '--metric', 'helpful=low:high'],
      /^error: invalid --metric "helpful=low:high": expected name=min:max or name=unset/,
    ],
    [
      'a metric range with a missing bound',
      ['org', 'set', 'acme', '--metric', 'helpful=:5'],
      /^error: invalid --metric "helpful=:5": expected name=min:max/,
    ],
    [
      'a capitalised metric name',
      ['org', 'set', 'acme', '--metric', 'Helpful=1:5'],
      /^error: invalid --metric "Helpful=1:5": the name is 1-32 characters of a-z 0-9 _, starting with a-z$/,
    ],
    [
      'a repeated metric',
      ['org', 'set', 'acme', '--metric', 'helpful=1:5', '--metric', 'helpful=unset'],
      /^error: --metric helpful is given more than once$/,
    ],
  ]

  it.concurrent.each(badInput)(
    'should exit 1 with one line on %s',
    async (_name, args, message) => {
      const run = await admin(args)
      expect(run.code).toBe(1)
      expect(run.stdout).toBe('')
      expect(run.stderr.trimEnd()).toMatch(message)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stderr).not.toMatch(/\n\s+at /)
    },
  )

  it('should not lose a change when commands run at once', async () => {
    const slugs = ['para-1', 'para-2', 'para-3', 'para-4', 'para-5', 'para-6']
    const runs = await Promise.all(slugs.map((slug) => admin(['org', 'create', slug])))
    expect(runs.map((run) => run.code)).toEqual(slugs.map(() => 0))
    const stored = (await tenants()).organizations.map((o) => o.slug)
    expect(stored).toEqual(expect.arrayContaining(slugs))
    expect(await readdir(path.dirname(tenantsPath()))).toEqual(['tenants.json'])
  })

  it('should report a corrupt tenants file in one line', async () => {
    const file = path.join(root, 'corrupt.json')
    await writeFile(file, '{"version":1,"organizations":[{"slug":5}]}')
    const run = await admin(['org', 'list', '--file', file])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^error: .*corrupt\.json is not a tenants file \(/)
  })
})

describe('admin CLI, Supabase store', () => {
  const SERVICE_ROLE_KEY = 'admin-cli-service-role-key'
  const UPSTASH_TOKEN = 'admin-cli-upstash-token'
  const keyringText = JSON.stringify({
    current: 'k1',
    keys: { k1: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64') },
  })
  let postgres: PostgresServer
  let postgrest: PostgrestBridge
  let redis: RedisServer
  let upstash: UpstashBridge
  let db: Client
  let kv: IORedis
  let root: string
  let env: Record<string, string>

  const admin = (args: readonly string[], input = '', extra: Record<string, string> = {}) =>
    runCli(args, { ...env, ...extra }, input, root)
  const ok = async (args: readonly string[], input = '', extra: Record<string, string> = {}) => {
    const run = await admin(args, input, extra)
    expect(run.code, `${args.join(' ')}\n${run.stdout}\n${run.stderr}`).toBe(0)
    return run
  }
  const epoch = async (): Promise<number> => Number((await kv.get(CONFIG_EPOCH_KEY)) ?? '0')

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'floopy-admin-sb-'))
    redis = await startRedis()
    upstash = await startUpstashBridge({ redisUrl: redis.url, token: UPSTASH_TOKEN })
    kv = new IORedis(redis.url)
    postgres = await startPostgres()
    await applyMigrations(postgres.url)
    postgrest = await startPostgrestBridge({
      databaseUrl: postgres.url,
      serviceRoleKey: SERVICE_ROLE_KEY,
      anonKey: 'admin-cli-anon-key',
    })
    db = new Client({ connectionString: postgres.url })
    await db.connect()
    env = {
      FLOOPY_ROOT: root,
      SUPABASE_URL: postgrest.url,
      SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
      FLOOPY_VAULT_KEKS: keyringText,
    }
  })

  afterAll(async () => {
    await db.end()
    kv.disconnect()
    await postgrest.close()
    await postgres.close()
    await upstash.close()
    await redis.close()
    await rm(root, { recursive: true, force: true })
  })

  it('should create and show organizations in Postgres, bumping the config epoch', async () => {
    const before = await epoch()
    const created = await ok(['org', 'create', 'initech', '--plan', 'team', '--rpm', '100'])
    expect(created.stderr).toMatch(/^Gateway caches invalidated \(config epoch \d+\)\.$/m)
    expect(await epoch()).toBe(before + 1)
    const { rows } = await db.query<{ id: string; plan: string; rpm_limit: number; name: string }>(
      "select id, plan, rpm_limit, name from organizations where slug = 'initech'",
    )
    expect(rows).toEqual([{ id: uuidOf(created), plan: 'team', rpm_limit: 100, name: 'initech' }])

    await ok(['org', 'set', 'initech', '--flag', 'beta=true', '--monthly-limit', '0'])
    await ok(['org', 'set', 'initech', '--flag', 'beta=unset', '--flag', 'x=false'])
    expect(await epoch()).toBe(before + 3)
    const shown = JSON.parse((await ok(['org', 'show', 'initech', '--json'])).stdout) as unknown
    expect(shown).toMatchObject({
      slug: 'initech',
      monthly_request_limit: 0,
      features: { x: false },
      key_count: 0,
    })
    expect(await epoch()).toBe(before + 3) // reads change nothing
    const list = await ok(['org', 'list'])
    expect(list.stdout).toMatch(/^initech\s+initech\s+team\s+active\s+0\s+100\s/m)

    const duplicate = await admin(['org', 'create', 'initech'])
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toBe("error: an organization with slug 'initech' exists\n")
    const missing = await admin(['org', 'show', 'nope'])
    expect(missing).toMatchObject({ code: 1, stderr: 'error: organization not found: nope\n' })
    expect(await epoch()).toBe(before + 3)
  })

  it('should revoke a key: epoch incremented and its cached config deleted', async () => {
    const issued = await ok(['key', 'issue', 'initech', '--name', 'prod', '--rpm', '9'])
    const key = issuedKey(issued)
    const hash = await hashApiKey(key)
    const id = uuidOf(issued)
    const { rows } = await db.query<{ key_hash: string; rpm_limit: number; org: string }>(
      'select k.key_hash, k.rpm_limit, o.slug as org from api_keys k ' +
        'join organizations o on o.id = k.org_id where k.id = $1',
      [id],
    )
    expect(rows).toEqual([{ key_hash: hash, rpm_limit: 9, org: 'initech' }])
    const list = await ok(['key', 'list', 'initech', '--json'])
    expect(list.stdout).not.toContain(key)
    expect(list.stdout).not.toContain(hash)

    // A gateway cached this key's config; another key's entry must survive.
    await kv.set(keyCacheKey(hash), '{"cached":true}')
    await kv.set(keyCacheKey('f'.repeat(64)), '{"other":true}')
    const before = await epoch()
    const revoked = await ok(['key', 'revoke', id])
    expect(revoked.stdout).toMatch(new RegExp(`^Revoked API key ${id} `))
    expect(await epoch()).toBe(before + 1)
    expect(await kv.exists(keyCacheKey(hash))).toBe(0)
    expect(await kv.get(keyCacheKey('f'.repeat(64)))).toBe('{"other":true}')
    const { rows: revokedRows } = await db.query<{ revoked_at: Date | null }>(
      'select revoked_at from api_keys where id = $1',
      [id],
    )
    expect(revokedRows[0]?.revoked_at).toBeInstanceOf(Date)

    await ok(['key', 'set', id, '--name', 'old-prod', '--rpm', 'none'])
    const { rows: changed } = await db.query('select name, rpm_limit from api_keys where id = $1', [
      id,
    ])
    expect(changed).toEqual([{ name: 'old-prod', rpm_limit: null }])
    const unknown = await admin(['key', 'revoke', '00000000-0000-4000-8000-000000000000'])
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'error: api key not found: 00000000-0000-4000-8000-000000000000\n',
    })
  })

  it('should add provider keys to Postgres and rotate them to a new KEK', async () => {
    await ok(['org', 'create', 'hooli'])
    const secrets: Record<string, string> = { openai: 'sk-hooli-openai', mistral: 'mistral-hooli' }
    for (const [provider, secret] of Object.entries(secrets)) {
      const added = await ok(['provider-key', 'add', 'hooli', provider], secret)
      expect(added.stdout).toBe(`Stored the ${provider} key of hooli (sealed under KEK k1).\n`)
      expect(added.stdout + added.stderr).not.toContain(secret)
    }
    await ok(['provider-key', 'add', 'initech', 'openai'], 'sk-initech-openai')
    // Supabase never generates a keyring into .dev.vars.
    expect(existsSync(path.join(root, '.dev.vars'))).toBe(false)

    const read = async () =>
      (
        await db.query<{ org_id: string; provider: string; envelope: string; kek_id: string }>(
          'select org_id, provider, envelope, kek_id from provider_keys order by provider, org_id',
        )
      ).rows
    const hooli = (
      await db.query<{ id: string }>("select id from organizations where slug = 'hooli'")
    ).rows[0]?.id
    const oldKeyring = parseKeyring(keyringText)
    for (const row of await read()) {
      expect(row.kek_id).toBe('k1')
      if (row.org_id !== hooli) continue
      const scope = { orgId: row.org_id, provider: row.provider }
      expect(openProviderKey(oldKeyring, scope, row.envelope)).toBe(secrets[row.provider])
    }

    const listed = await ok(['provider-key', 'list', 'hooli'])
    expect(listed.stdout).toMatch(/^mistral\s+k1\s+/m)
    expect(listed.stdout).not.toContain('v1.k1.')

    const next = (await ok(['kek', 'generate'])).stdout.trim()
    expect(parseKeyring(next)).toMatchObject({ currentId: 'k2', ids: ['k1', 'k2'] })
    const before = await epoch()
    const rotated = await ok(['provider-key', 'rotate'], '', { FLOOPY_VAULT_KEKS: next })
    expect(rotated.stdout).toMatch(/^Re-wrapped 3 of 3 provider keys under KEK k2; 0 already/)
    expect(await epoch()).toBe(before + 1)
    const newKeyring = parseKeyring(next)
    for (const row of await read()) {
      expect(row.kek_id).toBe('k2')
      const plain = openProviderKey(
        newKeyring,
        { orgId: row.org_id, provider: row.provider },
        row.envelope,
      )
      expect(plain).toBe(row.org_id === hooli ? secrets[row.provider] : 'sk-initech-openai')
    }
    const again = await ok(['provider-key', 'rotate'], '', { FLOOPY_VAULT_KEKS: next })
    expect(again.stdout).toMatch(/^Re-wrapped 0 of 3 .*3 already under it/)
    expect(await epoch()).toBe(before + 1) // nothing changed, nothing invalidated

    await ok(['provider-key', 'remove', 'hooli', 'mistral'])
    expect((await read()).map((r) => r.provider).sort()).toEqual(['openai', 'openai'])
    const noKeyring = await admin(['provider-key', 'add', 'hooli', 'groq'], 'gsk', {
      FLOOPY_VAULT_KEKS: '',
    })
    expect(noKeyring.code).toBe(1)
    expect(noKeyring.stderr).toMatch(/^error: FLOOPY_VAULT_KEKS is not set/)
  })

  it('should set, list and remove routing rules through Postgres', async () => {
    const keyId = uuidOf(await ok(['key', 'issue', 'hooli']))
    const foreign = uuidOf(await ok(['key', 'issue', 'initech']))
    await ok([
      'routing',
      'set',
      'hooli',
      '--strategy',
      'round-robin',
      '--target',
      'openai/a',
      '--target',
      'groq/b',
    ])
    await ok([
      'routing',
      'set',
      'hooli',
      '--key',
      keyId,
      '--strategy',
      'weighted',
      '--target',
      'openai/a@5',
    ])
    await ok(['routing', 'set', 'hooli', '--strategy', 'fallback', '--target', 'openai/c'])
    const rules = JSON.parse((await ok(['routing', 'list', 'hooli', '--json'])).stdout) as unknown[]
    expect(rules).toHaveLength(2)
    expect(rules).toContainEqual(
      expect.objectContaining({
        api_key_id: null,
        model: null,
        strategy: 'fallback',
        targets: [{ provider: 'openai', model: 'c' }],
      }),
    )
    expect(rules).toContainEqual(
      expect.objectContaining({
        api_key_id: keyId,
        targets: [{ provider: 'openai', model: 'a', weight: 5 }],
      }),
    )
    const wrongOrg = await admin([
      'routing',
      'set',
      'hooli',
      '--key',
      foreign,
      '--strategy',
      'fallback',
      '--target',
      'openai/a',
    ])
    expect(wrongOrg).toMatchObject({
      code: 1,
      stderr: `error: api key ${foreign} does not belong to organization hooli\n`,
    })
    await ok(['routing', 'remove', 'hooli', '--key', keyId])
    const { rows } = await db.query('select api_key_id from routing_rules')
    expect(rows).toEqual([{ api_key_id: null }])
    const gone = await admin(['routing', 'remove', 'hooli', '--key', keyId])
    expect(gone.code).toBe(1)
  })

  it("should store and list each target's key choice in Postgres", async () => {
    await ok([
      'routing',
      'set',
      'hooli',
      '--model',
      'gpt-4o',
      '--strategy',
      'weighted',
      '--target',
      'openai/gpt-4o@2+organization',
      '--target',
      'openai/gpt-4o@1+operator',
      '--target',
      'openai/ft:gpt-4o-mini:hooli::x1@1',
    ])
    const expected = [
      { provider: 'openai', model: 'gpt-4o', weight: 2, key: 'organization' },
      { provider: 'openai', model: 'gpt-4o', weight: 1, key: 'operator' },
      { provider: 'openai', model: 'ft:gpt-4o-mini:hooli::x1', weight: 1 },
    ]
    const { rows } = await db.query<{ targets: unknown }>(
      "select targets from routing_rules where model = 'gpt-4o'",
    )
    expect(rows).toStrictEqual([{ targets: expected }])
    const rules = JSON.parse((await ok(['routing', 'list', 'hooli', '--json'])).stdout) as unknown[]
    expect(rules).toContainEqual(
      expect.objectContaining({ model: 'gpt-4o', strategy: 'weighted', targets: expected }),
    )
    const list = await ok(['routing', 'list', 'hooli'])
    expect(list.stdout).toMatch(
      /^\(org\)\s+gpt-4o\s+weighted\s+openai\/gpt-4o@2\+organization, openai\/gpt-4o@1\+operator, openai\/ft:gpt-4o-mini:hooli::x1@1\s/m,
    )
    await ok(['routing', 'remove', 'hooli', '--model', 'gpt-4o'])
  })

  it('should manage prompts in Postgres, bumping the config epoch on every change', async () => {
    await writeTemplates(root)
    await ok(['org', 'create', 'prompt-co'])
    const orgId = (
      await db.query<{ id: string }>("select id from organizations where slug = 'prompt-co'")
    ).rows[0]?.id
    const resolve = async (selector: string | null = null) =>
      (
        await db.query<{ doc: unknown }>('select gateway_resolve_prompt($1, $2, $3) as doc', [
          orgId,
          'summarise',
          selector,
        ])
      ).rows[0]?.doc
    let expected = await epoch()
    const changes: string[][] = [
      ['prompt', 'create', 'prompt-co', 'summarise', '--template', 'v1.json'],
      ['prompt', 'create', orgId ?? '', 'summarise', '--template', 'v2.json', '--json'],
      ['prompt', 'label', 'prompt-co', 'summarise', '1', 'production'],
    ]
    const outputs: string[] = []
    for (const args of changes) {
      const run = await ok(args)
      expected += 1
      expect(run.stderr).toMatch(/^Gateway caches invalidated \(config epoch \d+\)\.$/m)
      expect(await epoch()).toBe(expected)
      outputs.push(run.stdout)
    }
    expect(outputs[0]).toBe('Created version 1 of prompt summarise in prompt-co.\n')
    expect(JSON.parse(outputs[1] ?? '')).toMatchObject({ prompt_id: 'summarise', version: 2 })
    expect(await resolve()).toEqual({ prompt_id: 'summarise', version: 1, template: TEMPLATE_V1 })
    expect(await resolve('2')).toEqual({
      prompt_id: 'summarise',
      version: 2,
      template: TEMPLATE_V2,
    })

    // Reads change nothing.
    const list = await ok(['prompt', 'list', 'prompt-co'])
    expect(list.stdout).toMatch(/^summarise\s+2\s+production=1\s+\S+$/m)
    const shown = await ok(['prompt', 'show', 'prompt-co', 'summarise', '--version', '2'])
    expect(shown.stdout).toMatch(/^variables:\s+language, text$/m)
    expect(shown.stdout).toMatch(/^labels:\s+-$/m)
    const json = JSON.parse(
      (await ok(['prompt', 'show', 'prompt-co', 'summarise', '--json'])).stdout,
    ) as unknown
    expect(json).toMatchObject({
      prompt_id: 'summarise',
      version: 1,
      template: TEMPLATE_V1,
      labels: { production: 1 },
      variables: ['text'],
    })
    expect(JSON.parse((await ok(['prompt', 'list', 'prompt-co', '--json'])).stdout)).toEqual([
      {
        prompt_id: 'summarise',
        latest_version: 2,
        labels: { production: 1 },
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      },
    ])
    expect(await epoch()).toBe(expected)

    // Refusals change nothing and bump nothing.
    const refusals: [string[], string][] = [
      [
        ['prompt', 'label', 'prompt-co', 'summarise', '3', 'production'],
        'error: prompt version not found: summarise@3\n',
      ],
      [
        ['prompt', 'show', 'prompt-co', 'summarise', '--version', 'staging'],
        'error: prompt version not found: summarise@staging\n',
      ],
      [['prompt', 'show', 'prompt-co', 'nope'], 'error: prompt not found: nope\n'],
      [
        ['prompt', 'label', 'initech', 'summarise', '1', 'production'],
        'error: prompt not found: summarise\n',
      ],
      [['prompt', 'list', 'nope'], 'error: organization not found: nope\n'],
      [
        ['prompt', 'create', 'nope', 'summarise', '--template', 'v1.json'],
        'error: organization not found: nope\n',
      ],
    ]
    for (const [args, stderr] of refusals) {
      expect(await admin(args)).toMatchObject({ code: 1, stdout: '', stderr })
    }
    const invalid = await admin([
      'prompt',
      'create',
      'prompt-co',
      'summarise',
      '--template',
      'stream.json',
    ])
    expect(invalid.code).toBe(1)
    expect(invalid.stderr).toMatch(/^error: invalid template in "stream.json": params: /)
    expect(await epoch()).toBe(expected)
    expect((await db.query('select version from prompt_versions order by version')).rows).toEqual([
      { version: 1 },
      { version: 2 },
    ])

    // Moving the label is a change too; so is deleting.
    await ok(['prompt', 'label', 'prompt-co', 'summarise', '2', 'production'])
    expect(await epoch()).toBe((expected += 1))
    expect(await resolve()).toMatchObject({ version: 2 })
    const deleted = await ok(['prompt', 'delete', 'prompt-co', 'summarise'])
    expect(deleted.stdout).toBe('Deleted prompt summarise of prompt-co with all its versions.\n')
    expect(await epoch()).toBe((expected += 1))
    expect(await resolve()).toBeNull()
    expect((await db.query('select 1 from prompt_versions')).rows).toEqual([])
    const gone = await admin(['prompt', 'delete', 'prompt-co', 'summarise'])
    expect(gone).toMatchObject({
      code: 1,
      stderr: 'error: organization prompt-co has no prompt summarise\n',
    })
    expect(await epoch()).toBe(expected)
  })

  it('should set cache settings in Postgres, bumping the config epoch on every change', async () => {
    let expected = await epoch()
    const created = await ok(['org', 'create', 'cachely', '--cache', 'on', '--cache-ttl', '3600'])
    expect(await epoch()).toBe((expected += 1))
    const orgId = uuidOf(created)
    const issued = await ok(['key', 'issue', 'cachely', '--cache-threshold', '0.9'])
    expect(await epoch()).toBe((expected += 1))
    const keyId = uuidOf(issued)
    const hash = await hashApiKey(issuedKey(issued))
    const settingsOf = async () =>
      (
        await db.query<{ org: unknown; key: unknown }>(
          'select o.settings as org, k.settings as key from organizations o ' +
            'join api_keys k on k.org_id = o.id where k.id = $1',
          [keyId],
        )
      ).rows[0]
    expect(await settingsOf()).toEqual({
      org: { cache: { enabled: true, ttl_seconds: 3600 } },
      key: { cache: { threshold: 0.9 } },
    })

    const changes: [string[], unknown, unknown][] = [
      [
        ['org', 'set', 'cachely', '--cache-threshold', '0.75', '--flag', 'has_advanced_cache=true'],
        { cache: { enabled: true, ttl_seconds: 3600, threshold: 0.75 } },
        { cache: { threshold: 0.9 } },
      ],
      [
        ['org', 'set', orgId, '--cache', 'unset'],
        { cache: { ttl_seconds: 3600, threshold: 0.75 } },
        { cache: { threshold: 0.9 } },
      ],
      [
        ['key', 'set', keyId, '--cache', 'off', '--cache-ttl', '60'],
        { cache: { ttl_seconds: 3600, threshold: 0.75 } },
        { cache: { enabled: false, ttl_seconds: 60, threshold: 0.9 } },
      ],
      [
        ['key', 'set', keyId, '--cache-threshold', 'unset', '--cache-ttl', 'unset'],
        { cache: { ttl_seconds: 3600, threshold: 0.75 } },
        { cache: { enabled: false } },
      ],
    ]
    for (const [args, org, key] of changes) {
      const run = await ok(args)
      expect(run.stderr).toMatch(/^Gateway caches invalidated \(config epoch \d+\)\.$/m)
      expect(await epoch()).toBe((expected += 1))
      expect(await settingsOf()).toEqual({ org, key })
    }
    // what the gateway reads, and what the CLI shows
    const { rows } = await db.query<{
      doc: { key: { settings: unknown }; org: Record<string, unknown> }
    }>('select gateway_resolve_key($1) as doc', [hash])
    expect(rows[0]?.doc.key.settings).toEqual({ cache: { enabled: false } })
    expect(rows[0]?.doc.org).toMatchObject({
      features: { has_advanced_cache: true },
      settings: { cache: { ttl_seconds: 3600, threshold: 0.75 } },
    })
    const shown = await ok(['org', 'show', 'cachely'])
    expect(shown.stdout).toMatch(/^cache:\s+ttl_seconds=3600 threshold=0.75$/m)
    expect(shown.stdout).toMatch(/^flags:\s+has_advanced_cache=true$/m)
    const keys = JSON.parse((await ok(['key', 'list', 'cachely', '--json'])).stdout) as unknown
    expect(keys).toEqual([
      expect.objectContaining({ id: keyId, settings: { cache: { enabled: false } } }),
    ])
    expect((await ok(['key', 'list', 'cachely'])).stdout).toMatch(
      new RegExp(`^${keyId}\\s+-\\s+\\S+\\s+live\\s+none\\s+enabled=false\\s`, 'm'),
    )
    expect(await epoch()).toBe(expected) // reads change nothing

    // refusals change nothing and bump nothing
    const bad = await admin(['org', 'set', 'cachely', '--cache-ttl', '30'])
    expect(bad).toMatchObject({ code: 1, stdout: '' })
    const unknownKey = await admin([
      'key',
      'set',
      '00000000-0000-4000-8000-000000000000',
      '--cache',
      'on',
    ])
    expect(unknownKey).toMatchObject({
      code: 1,
      stderr: 'error: api key not found: 00000000-0000-4000-8000-000000000000\n',
    })
    expect(await epoch()).toBe(expected)
    expect(await settingsOf()).toEqual({
      org: { cache: { ttl_seconds: 3600, threshold: 0.75 } },
      key: { cache: { enabled: false } },
    })
  })

  it('should store feedback params and metrics in Postgres, bumping the config epoch', async () => {
    let expected = await epoch()
    await ok(['org', 'create', 'feedbacky'])
    const keyRun = await ok(['key', 'issue', 'feedbacky'])
    const hash = await hashApiKey(issuedKey(keyRun))
    expected += 2
    const params = { cost_weight: 0.02, latency_weight: 0.5, metric: 'helpful' }
    const set = await ok([
      'routing',
      'set',
      'feedbacky',
      '--strategy',
      'feedback',
      '--target',
      'openai/gpt-4o',
      '--target',
      'anthropic/claude-sonnet-4-5',
      '--cost-weight',
      '0.02',
      '--latency-weight',
      '0.5',
      '--metric',
      'helpful',
    ])
    expect(set.stdout).toContain(' with cost_weight=0.02 latency_weight=0.5 metric=helpful (rule ')
    expect(await epoch()).toBe((expected += 1))
    const metrics = await ok([
      'org',
      'set',
      'feedbacky',
      '--metric',
      'helpful=1:5',
      '--metric',
      'thumbs=-1:1',
    ])
    expect(metrics.stdout).toMatch(/^feedback metrics:\s+helpful=1:5 thumbs=-1:1$/m)
    expect(await epoch()).toBe((expected += 1))

    // what the gateway reads
    const { rows } = await db.query<{
      doc: { org: { settings: unknown }; routing_rules: { strategy: string; params: unknown }[] }
    }>('select gateway_resolve_key($1) as doc', [hash])
    expect(rows[0]?.doc.routing_rules.map((r) => [r.strategy, r.params])).toEqual([
      ['feedback', params],
    ])
    expect(rows[0]?.doc.org.settings).toEqual({
      feedback: { metrics: { helpful: { min: 1, max: 5 }, thumbs: { min: -1, max: 1 } } },
    })
    // what the CLI shows
    const list = await ok(['routing', 'list', 'feedbacky'])
    expect(list.stdout).toMatch(
      /^\(org\)\s+\(any\)\s+feedback\s+openai\/gpt-4o, anthropic\/claude-sonnet-4-5\s+cost_weight=0.02 latency_weight=0.5 metric=helpful\s/m,
    )
    const rules = JSON.parse(
      (await ok(['routing', 'list', 'feedbacky', '--json'])).stdout,
    ) as unknown
    expect(rules).toEqual([expect.objectContaining({ strategy: 'feedback', params })])
    expect((await ok(['org', 'show', 'feedbacky'])).stdout).toMatch(
      /^feedback metrics:\s+helpful=1:5 thumbs=-1:1$/m,
    )

    // set again without parameters: replaced, not merged; a metric removed
    await ok(['routing', 'set', 'feedbacky', '--strategy', 'feedback', '--target', 'openai/gpt-4o'])
    await ok(['org', 'set', 'feedbacky', '--metric', 'thumbs=unset'])
    expected += 2
    const { rows: after } = await db.query<{ params: unknown; settings: unknown }>(
      `select r.params, o.settings from routing_rules r join organizations o on o.id = r.org_id
       where o.slug = 'feedbacky'`,
    )
    expect(after).toEqual([
      { params: {}, settings: { feedback: { metrics: { helpful: { min: 1, max: 5 } } } } },
    ])

    // refusals change nothing and bump nothing
    const refusals = [
      [
        'routing',
        'set',
        'feedbacky',
        '--strategy',
        'fallback',
        '--target',
        'openai/a',
        '--metric',
        'x',
      ],
      [
        'routing',
        'set',
        'feedbacky',
        '--strategy',
        'feedback',
        '--target',
        'openai/a',
        '--cost-weight',
        'lots',
      ],
      ['org', 'set', 'feedbacky', '--metric', 'helpful=5:1'],
    ]
    for (const args of refusals) {
      expect(await admin(args)).toMatchObject({ code: 1, stdout: '' })
    }
    expect(await epoch()).toBe(expected)
    const { rows: unchanged } = await db.query<{ params: unknown; settings: unknown }>(
      `select r.params, o.settings from routing_rules r join organizations o on o.id = r.org_id
       where o.slug = 'feedbacky'`,
    )
    expect(unchanged).toEqual(after)
  })

  describe('cache purge', () => {
    const DIMS = 4
    const EMBEDDINGS = cacheCollection('openai/text-embedding-3-small', DIMS)
    const OTHER_MODEL = cacheCollection('local-hash', DIMS)
    /** Not a cache collection: its points must survive even with a matching payload. */
    const FOREIGN = 'floopy_notes'
    let qdrant: QdrantStandIn
    let vectors: QdrantClient
    let orgA: string
    let orgB: string
    let qdrantEnv: Record<string, string>

    /** Cache keys of `org` in `namespace`: entries, a bucket set and vectors, `n` entries. */
    const seedRedis = async (org: string, namespace: string, n: number): Promise<number> => {
      const pipeline = kv.pipeline()
      for (let i = 0; i < n; i++) {
        pipeline.set(cacheEntryKey(org, namespace, `h${String(i)}`), '{"body":"x"}')
        pipeline.set(cacheVectorKey(org, namespace, `v${String(i)}`), 'vector')
      }
      pipeline.sadd(cacheBucketKey(org, namespace, 'scope1', 'band0'), 'v0', 'v1')
      await pipeline.exec()
      return 2 * n + 1
    }
    const cacheKeys = async (pattern: string): Promise<number> => {
      let cursor = '0'
      let count = 0
      do {
        const [next, keys] = await kv.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        count += keys.length
      } while (cursor !== '0')
      return count
    }
    let nextPoint = 1
    const seedQdrant = async (collection: string, org: string, namespace: string, n: number) => {
      await vectors.upsert(collection, {
        wait: true,
        points: Array.from({ length: n }, () => ({
          id: nextPoint++,
          vector: [1, 0.5, 0.25, nextPoint],
          payload: { org, namespace, scope: 's', expires_at: 4_000_000_000, entry: 'e' },
        })),
      })
    }
    const pointsOf = (collection: string, org: string, namespace?: string): number =>
      (qdrant.collection(collection)?.points ?? []).filter(
        (p) =>
          p.payload['org'] === org &&
          (namespace === undefined || p.payload['namespace'] === namespace),
      ).length

    beforeAll(async () => {
      qdrant = await startQdrant()
      vectors = new QdrantClient({
        url: qdrant.url,
        apiKey: qdrant.apiKey ?? '',
        checkCompatibility: false,
      })
      for (const name of [EMBEDDINGS, OTHER_MODEL, FOREIGN]) {
        await vectors.createCollection(name, { vectors: { size: DIMS, distance: 'Cosine' } })
      }
      await ok(['org', 'create', 'purge-a'])
      await ok(['org', 'create', 'purge-b'])
      const ids = await db.query<{ slug: string; id: string }>(
        "select slug, id from organizations where slug in ('purge-a', 'purge-b')",
      )
      orgA = ids.rows.find((r) => r.slug === 'purge-a')?.id ?? ''
      orgB = ids.rows.find((r) => r.slug === 'purge-b')?.id ?? ''
      qdrantEnv = { QDRANT_URL: qdrant.url, QDRANT_API_KEY: qdrant.apiKey ?? '' }
    })

    afterAll(async () => {
      await qdrant.close()
    })

    it('should remove one namespace of one organisation, then all of it, and nothing else', async () => {
      // more keys than one SCAN step looks at, so the walk takes several
      const aDefault = await seedRedis(orgA, 'default', 700)
      const aDocs = await seedRedis(orgA, 'docs', 40)
      const bDefault = await seedRedis(orgB, 'default', 30)
      const bDocs = await seedRedis(orgB, 'docs', 5)
      await kv.set(keyCacheKey('c'.repeat(64)), '{"key":true}')
      await kv.set(`floopy:quota:${orgA}:2026-12`, '12')
      await seedQdrant(EMBEDDINGS, orgA, 'default', 6)
      await seedQdrant(EMBEDDINGS, orgA, 'docs', 3)
      await seedQdrant(OTHER_MODEL, orgA, 'docs', 2)
      await seedQdrant(EMBEDDINGS, orgB, 'docs', 4)
      await seedQdrant(FOREIGN, orgA, 'docs', 2)
      const before = await epoch()
      const historyBefore = upstash.history.length

      const docs = await ok(['cache', 'purge', 'purge-a', '--namespace', 'docs'], '', qdrantEnv)
      expect(docs.stdout).toBe(
        'Purged the cache of purge-a (namespace docs).\n' +
          `redis:  ${String(aDocs)} keys removed\n` +
          'qdrant: 5 points removed (2 cache collections)\n',
      )
      expect(docs.stderr).toBe('')
      expect(await cacheKeys(`floopy:cache:${orgA}:docs:*`)).toBe(0)
      expect(await cacheKeys(`floopy:cache:${orgA}:default:*`)).toBe(aDefault)
      expect(await cacheKeys(`floopy:cache:${orgB}:*`)).toBe(bDefault + bDocs)
      expect(pointsOf(EMBEDDINGS, orgA, 'docs')).toBe(0)
      expect(pointsOf(OTHER_MODEL, orgA, 'docs')).toBe(0)
      expect(pointsOf(EMBEDDINGS, orgA, 'default')).toBe(6)
      expect(pointsOf(EMBEDDINGS, orgB)).toBe(4)
      expect(pointsOf(FOREIGN, orgA)).toBe(2)

      const all = await ok(['cache', 'purge', orgA, '--json'], '', qdrantEnv)
      expect(JSON.parse(all.stdout)).toEqual({
        org_id: orgA,
        org: 'purge-a',
        namespace: null,
        redis: { keys_removed: aDefault },
        qdrant: { points_removed: 6, collections: { [EMBEDDINGS]: 6, [OTHER_MODEL]: 0 } },
      })
      expect(await cacheKeys(`floopy:cache:${orgA}:*`)).toBe(0)
      expect(await cacheKeys(`floopy:cache:${orgB}:*`)).toBe(bDefault + bDocs)
      expect(await kv.get(keyCacheKey('c'.repeat(64)))).toBe('{"key":true}')
      expect(await kv.get(`floopy:quota:${orgA}:2026-12`)).toBe('12')
      expect(pointsOf(EMBEDDINGS, orgA)).toBe(0)
      expect(pointsOf(EMBEDDINGS, orgB)).toBe(4)
      expect(pointsOf(FOREIGN, orgA)).toBe(2)

      // SCAN and UNLINK in batches, never KEYS; a purge is no config change
      const commands = upstash.history.slice(historyBefore).flat()
      expect(commands).not.toContain('KEYS')
      expect(commands.filter((c) => c === 'SCAN').length).toBeGreaterThan(1)
      expect(commands).toContain('UNLINK')
      expect(await epoch()).toBe(before)
      expect(qdrant.violations).toEqual([])

      // nothing left: zeros
      const again = await ok(['cache', 'purge', 'purge-a', '--json'], '', qdrantEnv)
      expect(JSON.parse(again.stdout)).toMatchObject({
        redis: { keys_removed: 0 },
        qdrant: { points_removed: 0 },
      })
    })

    it('should skip a store that is not configured, with a warning, and refuse when neither is', async () => {
      await seedRedis(orgB, 'skip', 3)
      const noQdrant = await ok(['cache', 'purge', 'purge-b', '--namespace', 'skip'])
      expect(noQdrant.stdout).toMatch(/^redis:\s+7 keys removed$/m)
      expect(noQdrant.stdout).toMatch(/^qdrant:\s+skipped$/m)
      expect(noQdrant.stderr).toBe('warning: QDRANT_URL is not set: Qdrant was NOT purged.\n')
      const noRedis = await ok(['cache', 'purge', 'purge-b', '--namespace', 'docs', '--json'], '', {
        ...qdrantEnv,
        UPSTASH_REDIS_REST_URL: '',
      })
      expect(JSON.parse(noRedis.stdout)).toMatchObject({
        redis: null,
        qdrant: { points_removed: 4 },
      })
      expect(noRedis.stderr).toMatch(
        /^warning: UPSTASH_REDIS_REST_URL .* the cache in Redis was NOT purged\.$/m,
      )
      const neither = await admin(['cache', 'purge', 'purge-b'], '', {
        UPSTASH_REDIS_REST_TOKEN: '',
      })
      expect(neither).toMatchObject({
        code: 1,
        stdout: '',
        stderr:
          'error: nothing purged: neither UPSTASH_REDIS_REST_URL / UPSTASH_REDIS_REST_TOKEN nor QDRANT_URL is set (the stores the gateways share)\n',
      })
    })

    it('should exit 1 in one line when Qdrant or Redis fails, saying what was removed', async () => {
      await seedRedis(orgB, 'fail', 2)
      qdrant.setDown(true)
      try {
        const down = await admin(
          ['cache', 'purge', 'purge-b', '--namespace', 'fail'],
          '',
          qdrantEnv,
        )
        expect(down).toMatchObject({ code: 1, stdout: '' })
        expect(down.stderr).toMatch(
          /^error: the cache of purge-b was not fully purged: Qdrant: .+ \(Redis: 5 keys removed\)\n$/,
        )
      } finally {
        qdrant.setDown(false)
      }
      const denied = await admin(['cache', 'purge', 'purge-b'], '', {
        ...qdrantEnv,
        QDRANT_API_KEY: 'wrong',
      })
      expect(denied).toMatchObject({ code: 1, stdout: '' })
      expect(denied.stderr).toMatch(
        /^error: the cache of purge-b was not fully purged: Qdrant: HTTP 401: Invalid API key or JWT \(Redis: \d+ keys removed\)\n$/,
      )
      expect(denied.stderr).not.toContain('wrong')
      const port = await deadPort()
      const noRedis = await admin(['cache', 'purge', 'purge-b'], '', {
        ...qdrantEnv,
        UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${String(port)}`,
      })
      expect(noRedis).toMatchObject({ code: 1, stdout: '' })
      expect(noRedis.stderr).toMatch(
        /^error: the cache of purge-b was not fully purged: Redis: .+ \(Qdrant: 0 points removed\)\n$/,
      )
      expect(noRedis.stderr.trimEnd().split('\n')).toHaveLength(1)
    })
  })

  it('should exit 3 with a loud warning when Redis is down, the change saved', async () => {
    const port = await deadPort()
    const run = await admin(['key', 'issue', 'initech', '--name', 'during-outage'], '', {
      UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`,
    })
    expect(run.code).toBe(3)
    // The key is shown before the warning: it exists now and cannot be shown again.
    const key = issuedKey(run)
    expect(run.stderr).toMatch(
      /^error: WARNING: the change IS SAVED, but the gateway caches could not be invalidated .*up to 5 minutes$/m,
    )
    expect(run.stderr).not.toMatch(/\n\s+at /)
    const { rows } = await db.query('select name from api_keys where key_hash = $1', [
      await hashApiKey(key),
    ])
    expect(rows).toEqual([{ name: 'during-outage' }])

    // Redis itself down behind a live bridge: an error answer rather than a network failure.
    const lonely = await startRedis()
    const bridge = await startUpstashBridge({ redisUrl: lonely.url, token: UPSTASH_TOKEN })
    await lonely.close()
    try {
      const revoke = await admin(['key', 'revoke', uuidOf(run)], '', {
        UPSTASH_REDIS_REST_URL: bridge.url,
      })
      expect(revoke.code).toBe(3)
      expect(revoke.stdout).toMatch(/^Revoked API key /)
      expect(revoke.stderr).toMatch(/the change IS SAVED/)
    } finally {
      await bridge.close()
    }
  })

  it('should warn without Upstash variables and still succeed', async () => {
    const before = await epoch()
    const run = await admin(['org', 'set', 'hooli', '--name', 'Hooli XYZ'], '', {
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
    })
    expect(run.code).toBe(0)
    expect(run.stderr).toMatch(/^warning: UPSTASH_REDIS_REST_URL .* up to 5 minutes$/m)
    expect(await epoch()).toBe(before)
  })

  it('should fail in one line when Supabase cannot be reached or refuses the key', async () => {
    const port = await deadPort()
    const down = await admin(['org', 'list'], '', { SUPABASE_URL: `http://127.0.0.1:${port}` })
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^error: Supabase admin_list_orgs: .*fetch failed/)
    expect(down.stderr.trimEnd().split('\n')).toHaveLength(1)
    const denied = await admin(['org', 'list'], '', { SUPABASE_SERVICE_ROLE_KEY: 'wrong' })
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/^error: Supabase admin_list_orgs: Invalid API key$/m)
    expect(denied.stderr).not.toContain('wrong')
    const local = await admin(['org', 'list', '--store', 'local'])
    expect(local).toMatchObject({ code: 0, stdout: 'No organizations.\n' })
  })
})

// `feedback stats` (appended: the import list above belongs to the suites above).
import {
  EMPTY_POSTERIOR,
  forgetting,
  meanOf,
  withReward,
  type Posterior,
} from '../../src/feedback/posterior.ts'
import { ruleTag } from '../../src/feedback/reference.ts'
import { feedbackStatsKey } from '../../src/stores/shared-keys.ts'

describe('admin CLI, feedback stats', () => {
  const UPSTASH_TOKEN = 'admin-cli-feedback-token'
  let root: string
  let redis: RedisServer
  let upstash: UpstashBridge
  let kv: IORedis
  let env: Record<string, string>
  let orgId: string
  let mainRule: string
  let modelRule: string

  const admin = (args: readonly string[], extra: Record<string, string> = {}) =>
    runCli(args, { ...env, ...extra }, '', root)
  const ok = async (args: readonly string[], extra: Record<string, string> = {}) => {
    const run = await admin(args, extra)
    expect(run.code, `${args.join(' ')}\n${run.stdout}\n${run.stderr}`).toBe(0)
    return run
  }

  /** The posterior `rewards` leave, folded as the gateway folds them (half-life 100). */
  const folded = (rewards: readonly number[]): Posterior =>
    rewards.reduce((p, r) => withReward(p, r, forgetting(100)), EMPTY_POSTERIOR)
  /** `n` rewards, `good` of them 1 and the rest 0, spread evenly. */
  const rewards = (n: number, good: number): number[] =>
    Array.from({ length: n }, (_, i) =>
      Math.floor(((i + 1) * good) / n) > Math.floor((i * good) / n) ? 1 : 0,
    )
  /** Writes a stats hash as the gateway's script does (`%.17g` numbers). */
  const seed = async (key: string, posteriors: Record<string, Posterior>): Promise<void> => {
    const fields: Record<string, string> = {}
    for (const [target, p] of Object.entries(posteriors)) {
      fields[`${target}|a`] = String(p.a)
      fields[`${target}|b`] = String(p.b)
      fields[`${target}|n`] = String(p.n)
    }
    await kv.hset(key, fields)
  }

  const A = folded(rewards(150, 120))
  const B = folded(rewards(40, 28))
  const C = folded(rewards(12, 7))

  type Stats = {
    org_id: string
    org: string
    min_feedback: number
    exploration: number
    penalties: number
    level: number
    rules: {
      id: string
      strategy: string
      metric: string
      tag: string
      stats_key: string
      targets: {
        target: string
        key: string | null
        n: number
        a: number
        b: number
        mean: number
        interval: [number, number]
        traffic_share: number | null
      }[]
    }[]
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'floopy-admin-fb-'))
    redis = await startRedis()
    upstash = await startUpstashBridge({ redisUrl: redis.url, token: UPSTASH_TOKEN })
    kv = new IORedis(redis.url)
    env = {
      FLOOPY_ROOT: root,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
    }
    orgId = uuidOf(await ok(['org', 'create', 'fb-stats']))
    await ok(['org', 'set', 'fb-stats', '--metric', 'helpful=1:5'])
    const set = await ok([
      'routing',
      'set',
      'fb-stats',
      '--strategy',
      'feedback',
      '--target',
      'sim/sim-a',
      '--target',
      'sim/sim-b',
      '--target',
      'sim/sim-c',
    ])
    mainRule = /\(rule ([0-9a-f-]{36})\)/.exec(set.stdout)?.[1] ?? ''
    const model = await ok([
      'routing',
      'set',
      'fb-stats',
      '--model',
      'gpt-4o',
      '--strategy',
      'fallback',
      '--target',
      'openai/gpt-4o',
      '--target',
      'groq/llama-3.3-70b-versatile',
    ])
    modelRule = /\(rule ([0-9a-f-]{36})\)/.exec(model.stdout)?.[1] ?? ''
    await seed(feedbackStatsKey(orgId, ruleTag({ apiKeyId: null, model: null }), 'rating'), {
      'sim/sim-a': A,
      'sim/sim-b': B,
      'sim/sim-c': C,
      // a target no longer in the rule: kept in Redis, not shown
      'sim/sim-old': folded(rewards(30, 3)),
    })
    await seed(feedbackStatsKey(orgId, ruleTag({ apiKeyId: null, model: 'gpt-4o' }), 'rating'), {
      'openai/gpt-4o': folded(rewards(5, 4)),
    })
    // another metric's statistics for the same rule: not the rule's metric, not read
    await seed(feedbackStatsKey(orgId, ruleTag({ apiKeyId: null, model: 'gpt-4o' }), 'helpful'), {
      'openai/gpt-4o': folded(rewards(99, 1)),
    })
  })

  afterAll(async () => {
    kv.disconnect()
    await upstash.close()
    await redis.close()
    await rm(root, { recursive: true, force: true })
  })

  it('should print per rule and target the count, mean, 90% interval and traffic share', async () => {
    const run = await ok(['feedback', 'stats', 'fb-stats'])
    expect(run.stderr).toBe('')
    const row = (target: string, p: Posterior, share: string) =>
      new RegExp(
        `^${target}\\s+${String(p.n)}\\s+${meanOf(p).toFixed(3)}\\s+0\\.\\d{3}-0\\.\\d{3}\\s+${share}$`,
        'm',
      )
    expect(run.stdout).toMatch(
      new RegExp(
        `^Rule ${mainRule} \\(the organization, any model\\): strategy feedback, metric rating$`,
        'm',
      ),
    )
    expect(run.stdout).toMatch(/^TARGET\s+FEEDBACK\s+MEAN\s+90% INTERVAL\s+SHARE$/m)
    expect(run.stdout).toMatch(row('sim/sim-a', A, '\\d{2}\\.\\d%'))
    expect(run.stdout).toMatch(row('sim/sim-b', B, '\\d{1,2}\\.\\d%'))
    expect(run.stdout).toMatch(row('sim/sim-c', C, '\\d{1,2}\\.\\d%'))
    expect(run.stdout).not.toContain('sim-old')
    expect(run.stdout).toMatch(
      new RegExp(
        `^Rule ${modelRule} \\(the organization, model gpt-4o\\): strategy fallback, metric rating \\(traffic shares apply to strategy feedback only\\)$`,
        'm',
      ),
    )
    expect(run.stdout).toMatch(row('openai/gpt-4o', folded(rewards(5, 4)), '-'))
    expect(run.stdout).toMatch(
      /^groq\/llama-3\.3-70b-versatile\s+0\s+0\.500\s+0\.0\d{2}-0\.9\d{2}\s+-$/m,
    )
    expect(run.stdout).toMatch(
      /^Shares: Thompson sampling with min feedback 10, exploration 0\.03, no cost or latency penalties\.$/m,
    )
    // seeded: the same statistics print the same figures
    expect((await ok(['feedback', 'stats', 'fb-stats'])).stdout).toBe(run.stdout)
  })

  it('should print the same figures as JSON, for every rule or the one --rule names', async () => {
    const stats = JSON.parse(
      (await ok(['feedback', 'stats', 'fb-stats', '--json'])).stdout,
    ) as Stats
    expect(stats).toMatchObject({
      org_id: orgId,
      org: 'fb-stats',
      min_feedback: 10,
      exploration: 0.03,
      penalties: 0,
      level: 0.9,
    })
    expect(stats.rules.map((r) => [r.id, r.strategy, r.metric])).toEqual(
      expect.arrayContaining([
        [mainRule, 'feedback', 'rating'],
        [modelRule, 'fallback', 'rating'],
      ]),
    )
    const main = stats.rules.find((r) => r.id === mainRule)
    expect(main?.stats_key).toBe(
      feedbackStatsKey(orgId, ruleTag({ apiKeyId: null, model: null }), 'rating'),
    )
    expect(main?.tag).toBe(ruleTag({ apiKeyId: null, model: null }))
    const targets = main?.targets ?? []
    expect(targets.map((t) => [t.target, t.key, t.n])).toEqual([
      ['sim/sim-a', null, 150],
      ['sim/sim-b', null, 40],
      ['sim/sim-c', null, 12],
    ])
    for (const [t, p] of targets.map((t, i) => [t, [A, B, C][i] ?? EMPTY_POSTERIOR] as const)) {
      expect(t.a).toBeCloseTo(p.a, 5)
      expect(t.b).toBeCloseTo(p.b, 5)
      expect(t.mean).toBeCloseTo(meanOf(p), 4)
      expect(t.interval[0]).toBeLessThan(t.mean)
      expect(t.interval[1]).toBeGreaterThan(t.mean)
      expect(t.interval[1] - t.interval[0]).toBeLessThan(0.5)
    }
    const shares = targets.map((t) => t.traffic_share ?? Number.NaN)
    expect(shares.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 3)
    // 0.8 against 0.7 and 0.58, every target explored: the best takes most of the traffic
    expect(shares[0]).toBeGreaterThan(0.75)
    expect(shares[2]).toBeLessThan(shares[1] ?? 0)
    expect(shares[2]).toBeGreaterThan(0) // the exploration floor

    const model = stats.rules.find((r) => r.id === modelRule)
    expect(model?.targets.map((t) => [t.target, t.n, t.traffic_share])).toEqual([
      ['openai/gpt-4o', 5, null],
      ['groq/llama-3.3-70b-versatile', 0, null],
    ])

    const one = JSON.parse(
      (await ok(['feedback', 'stats', 'fb-stats', '--rule', mainRule.toUpperCase(), '--json']))
        .stdout,
    ) as Stats
    expect(one.rules).toEqual([main])
    const text = await ok(['feedback', 'stats', 'fb-stats', '--rule', modelRule])
    expect(text.stdout).toContain(`Rule ${modelRule} `)
    expect(text.stdout).not.toContain(mainRule)
  })

  it("should read the rule's own metric, and the gateway's exploration settings", async () => {
    await ok([
      'routing',
      'set',
      'fb-stats',
      '--model',
      'gpt-4o',
      '--strategy',
      'feedback',
      '--metric',
      'helpful',
      '--target',
      'openai/gpt-4o',
      '--target',
      'groq/llama-3.3-70b-versatile',
    ])
    const statsWith = async (env: Record<string, string>) =>
      JSON.parse((await ok(['feedback', 'stats', 'fb-stats', '--json'], env)).stdout) as Stats
    const sharesOf = (stats: Stats, metric: string) =>
      stats.rules.find((r) => r.metric === metric)?.targets.map((t) => t.traffic_share)
    const unexplored = await statsWith({
      FLOOPY_FEEDBACK_MIN_SAMPLES: '20',
      FLOOPY_FEEDBACK_EXPLORATION: '0',
    })
    expect(unexplored).toMatchObject({ min_feedback: 20, exploration: 0 })
    const model = unexplored.rules.find((r) => r.metric === 'helpful')
    expect(model?.stats_key).toBe(
      feedbackStatsKey(orgId, ruleTag({ apiKeyId: null, model: 'gpt-4o' }), 'helpful'),
    )
    // gpt-4o has 99 feedbacks on `helpful` (not the 5 on rating), llama none
    expect(model?.targets.map((t) => [t.target, t.n])).toEqual([
      ['openai/gpt-4o', 99],
      ['groq/llama-3.3-70b-versatile', 0],
    ])
    // a target short of the minimum is first, always: the only one short takes all the traffic
    expect(sharesOf(unexplored, 'helpful')).toEqual([0, 1])
    expect(sharesOf(unexplored, 'rating')).toEqual([0, 0, 1])
    // the exploration floor gives every target at least floor / targets of the traffic
    const explored = await statsWith({
      FLOOPY_FEEDBACK_MIN_SAMPLES: '1',
      FLOOPY_FEEDBACK_EXPLORATION: '0.5',
    })
    expect(explored).toMatchObject({ min_feedback: 1, exploration: 0.5 })
    for (const share of sharesOf(explored, 'rating') ?? []) expect(share).toBeGreaterThan(0.15)
  })

  it('should refuse without Redis, naming UPSTASH_REDIS_REST_URL, and fail in one line', async () => {
    const none = await admin(['feedback', 'stats', 'fb-stats'], {
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
    })
    expect(none).toMatchObject({ code: 1, stdout: '' })
    expect(none.stderr).toMatch(
      /^error: UPSTASH_REDIS_REST_URL \/ UPSTASH_REDIS_REST_TOKEN are not set: .*isolate’s memory, which the CLI cannot read\.\n$/,
    )
    const port = await deadPort()
    const down = await admin(['feedback', 'stats', 'fb-stats'], {
      UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${String(port)}`,
    })
    expect(down).toMatchObject({ code: 1, stdout: '' })
    expect(down.stderr).toMatch(/^error: Redis: .+\n$/)
    const unknown = await admin(['feedback', 'stats', 'fb-stats', '--rule', 'nope'])
    expect(unknown).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: no routing rule nope in fb-stats\n',
    })
    const bad = await admin(['feedback', 'stats', 'fb-stats'], {
      FLOOPY_FEEDBACK_EXPLORATION: '0.9',
    })
    expect(bad).toMatchObject({ code: 1, stdout: '' })
    expect(bad.stderr).toContain('FLOOPY_FEEDBACK_EXPLORATION')
    expect(await admin(['feedback', 'stats'])).toMatchObject({ code: 2, stdout: '' })
    const help = await ok(['feedback', 'stats', '--help'])
    expect(help.stdout).toMatch(
      /^Usage: npm run admin -- feedback stats <org> \[--rule <id>\] \[--json\]/,
    )
    expect(help.stdout).toContain('NOT applied (taken as 0)')
  })
})
