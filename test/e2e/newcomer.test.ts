/**
 * The newcomer's path, end to end with no external service: the admin CLI's local store issues an
 * organisation, a key and the organisation's own provider key; the gateway (the production bundle
 * under plain workerd, configured the way `npm run dev` configures it) loads that store; the
 * official openai SDK calls through it with the issued key. Revoking the key in the store and
 * restarting locks it out.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type WorkerdGateway } from '../../scripts/workerd.ts'
import { parseEnvFile } from '../../scripts/admin/keyring.ts'
import { withoutDevKey, workerTestBindings } from '../support/bindings.ts'
import { expectValid } from '../support/e2e.ts'
import { startFakeProviders, type FakeProviders } from '../support/fake-providers.ts'

const exec = promisify(execFile)

let root: string
let fake: FakeProviders
const gateways: WorkerdGateway[] = []

/** `npm run admin -- <args>` against the local store under `root`, with no Supabase in sight. */
const admin = async (args: string[], input?: string): Promise<string> => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) {
    if (/^(SUPABASE_|UPSTASH_|FLOOPY_)/.test(name)) Reflect.deleteProperty(env, name)
  }
  const child = exec(process.execPath, ['scripts/admin.ts', '--root', root, ...args], { env })
  if (input !== undefined) {
    child.child.stdin?.end(input)
  }
  return (await child).stdout
}

/** The gateway as `npm run dev` configures it: the tenants file and `.dev.vars` of `root`. */
const startFromLocalStore = async (): Promise<WorkerdGateway> => {
  const devVars = parseEnvFile(await readFile(path.join(root, '.dev.vars'), 'utf8'))
  const providers = withoutDevKey(workerTestBindings(fake.url))
  const gateway = await startGateway({
    bindings: {
      ...providers,
      FLOOPY_TENANTS: await readFile(path.join(root, '.floopy', 'tenants.json'), 'utf8'),
      FLOOPY_VAULT_KEKS: devVars.get('FLOOPY_VAULT_KEKS') ?? '',
    },
  })
  gateways.push(gateway)
  return gateway
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'floopy-newcomer-'))
  fake = await startFakeProviders()
}, 60_000)

afterAll(async () => {
  for (const gateway of gateways) await gateway.close()
  await fake.close()
  await rm(root, { recursive: true, force: true })
})

describe('a newcomer with the local store', () => {
  it('should issue a key with the admin CLI and use it through the openai SDK', async () => {
    await admin(['org', 'create', 'acme', '--rpm', '100', '--monthly-limit', '1000'])
    const issued = JSON.parse(
      await admin(['key', 'issue', 'acme', '--name', 'laptop', '--json']),
    ) as { key: string }
    const key = issued.key
    expect(key).toMatch(/^flo_sk_live_[0-9A-Za-z]{32}_[0-9a-f]{8}$/)
    const ownKey = `sk-acme-own-${crypto.randomUUID()}`
    await admin(['provider-key', 'add', 'acme', 'openai'], `${ownKey}\n`)
    // Nothing secret is in the store: the key only as its hash, the provider key only sealed.
    const store = await readFile(path.join(root, '.floopy', 'tenants.json'), 'utf8')
    expect(store).not.toContain(key)
    expect(store).not.toContain(ownKey)

    const gateway = await startFromLocalStore()
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
    const tag = crypto.randomUUID()
    const { data, response } = await client.chat.completions
      .create(
        { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] },
        { headers: { 'x-fake-tag': tag } },
      )
      .withResponse()
    expectValid('CreateChatCompletionResponse', data)
    expect(response.headers.get('x-ratelimit-limit')).toBe('100')
    const seen = fake.requests.filter((entry) => entry.tag === tag)
    expect(seen.map((entry) => entry.headers.authorization)).toEqual([`Bearer ${ownKey}`])

    // Another key of the same shape is refused.
    const stranger = new OpenAI({
      baseURL: `${gateway.url}/v1`,
      apiKey: key.replace(/_[0-9a-f]{8}$/, '_00000000'),
      maxRetries: 0,
    })
    await expect(
      stranger.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError)

    // Revoked in the store: after a restart the key is refused.
    const listed = JSON.parse(await admin(['key', 'list', 'acme', '--json'])) as { id: string }[]
    expect(listed).toHaveLength(1)
    await admin(['key', 'revoke', listed[0]?.id ?? ''])
    const restarted = await startFromLocalStore()
    const revoked = new OpenAI({ baseURL: `${restarted.url}/v1`, apiKey: key, maxRetries: 0 })
    await expect(
      revoked.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
  })
})
