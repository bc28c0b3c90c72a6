/**
 * Tenancy end to end: the production bundle under plain workerd (two instances: two isolates)
 * against real Redis (Upstash REST bridge) and real PostgreSQL (PostgREST-RPC bridge). Every 401,
 * 402 and 429 path with its envelope and headers; the one-round-trip hot path, counted at the
 * Redis bridge; revocation through the admin CLI; limits that hold across isolates; provider keys
 * from the vault; and the failure policy with each store down.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { sealProviderKey, parseKeyring } from '../../src/security/vault.ts'
import { CONFIG_EPOCH_KEY, quotaKey } from '../../src/stores/shared-keys.ts'
import { calendarMonth } from '../../src/tenancy/limits.ts'
import { chat, createOrg, issueKey, rpc, useTenancyRig, type Rig } from '../support/tenancy.ts'

const rig = useTenancyRig()
const exec = promisify(execFile)

type Envelope = { error: { message: string; type: string; code: string; param: null } }

const envelope = async (res: Response): Promise<Envelope> => (await res.json()) as Envelope

/** A unique client address per test, so IP windows never leak between tests. */
const uniqueIp = (): string =>
  `203.0.113.${String(Math.floor(Math.random() * 250) + 1)}-${crypto.randomUUID().slice(0, 8)}`

/** Runs the admin CLI against the rig's stores. */
const admin = async (r: Rig, ...args: string[]): Promise<string> => {
  const { stdout } = await exec(process.execPath, ['scripts/admin.ts', ...args], {
    env: { ...process.env, ...r.adminEnv },
  })
  return stdout
}

/** Polls until `check` holds or `ms` pass; returns how long it took. */
const within = async (ms: number, check: () => Promise<boolean>): Promise<number> => {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`condition not met within ${ms} ms`)
}

/**
 * Waits out the last seconds of a rate-limit minute, so a test's requests all fall in one window
 * (across a window edge the sliding window weighs in the previous minute's requests).
 */
const awayFromWindowEdge = async (): Promise<void> => {
  const intoMinute = Date.now() % 60_000
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_500 - intoMinute))
}

describe('authentication', () => {
  it('should answer a valid key with the provider answer', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    const res = await chat(r, key)
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
  })

  it('should answer a missing key with 401 and www-authenticate', async () => {
    const res = await chat(rig(), undefined, { ip: uniqueIp() })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    const body = await envelope(res)
    expect(body.error).toMatchObject({ code: 'INVALID_API_KEY', type: 'authentication_error' })
    expect(body.error.message).toMatch(/Missing API key/)
  })

  it.each([
    ['a key of the wrong shape', 'sk-not-a-gateway-key'],
    ['a key with a wrong checksum', 'flo_sk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_00000000'],
    ['a truncated key', 'flo_sk_live_AAAAAAAAAAAAAAAA'],
  ])('should refuse %s with 401 without touching Redis or Postgres', async (_, key) => {
    const r = rig()
    const redisBefore = r.upstash.requests
    const postgresBefore = r.postgrest.requests
    const res = await chat(r, key, { ip: uniqueIp() })
    expect(res.status).toBe(401)
    expect((await envelope(res)).error.code).toBe('INVALID_API_KEY')
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(r.upstash.requests).toBe(redisBefore)
    expect(r.postgrest.requests).toBe(postgresBefore)
  })

  it('should refuse a well-formed unknown key with 401 after one lookup, never echoing it', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    // Same shape, another key: generated but never stored.
    const { generateApiKey } = await import('../../src/security/api-key.ts')
    const unknown = generateApiKey('live')
    const postgresBefore = r.postgrest.requests
    const res = await chat(r, unknown, { ip: uniqueIp() })
    expect(res.status).toBe(401)
    const text = await res.text()
    expect(text).not.toContain(unknown)
    expect(text).not.toContain(key)
    expect(r.postgrest.requests - postgresBefore).toBe(1)
  })

  it('should refuse a revoked key on the next request in every isolate after the admin CLI revokes it', async () => {
    const r = rig()
    const org = await createOrg(r)
    const issued = await issueKey(r, org)
    // Both isolates have the key memoised.
    for (const which of [0, 1] as const) {
      expect((await chat(r, issued.key, { which })).status).toBe(200)
      expect((await chat(r, issued.key, { which })).status).toBe(200)
    }
    await admin(r, 'key', 'revoke', issued.id)
    for (const which of [0, 1] as const) {
      const took = await within(
        5_000,
        async () => (await chat(r, issued.key, { which })).status === 401,
      )
      expect(took).toBeLessThan(5_000)
    }
    // Not a moment's grace: the very first request after the revocation already fails.
    expect((await chat(r, issued.key)).status).toBe(401)
  })
})

describe('per-IP limit for traffic without a valid key', () => {
  it('should answer the 21st unknown-key request in a minute from one IP with 429, across isolates', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const ip = uniqueIp()
    const { generateApiKey } = await import('../../src/security/api-key.ts')
    const statuses: number[] = []
    for (let i = 0; i < 21; i++) {
      statuses.push((await chat(r, generateApiKey('live'), { ip, which: (i % 2) as 0 | 1 })).status)
    }
    expect(statuses.slice(0, 20)).toEqual(Array<number>(20).fill(401))
    expect(statuses[20]).toBe(429)
    const res = await chat(r, generateApiKey('live'), { ip })
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(res.headers.get('x-ratelimit-limit')).toBe('20')
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    expect((await envelope(res)).error).toMatchObject({
      code: 'RATE_LIMITED',
      type: 'rate_limit_error',
    })
    // Another address is unaffected, and so is a valid key from the same address.
    expect((await chat(r, generateApiKey('live'), { ip: uniqueIp() })).status).toBe(401)
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    expect((await chat(r, key, { ip })).status).toBe(200)
  })

  it('should limit requests without any key per IP too', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const ip = uniqueIp()
    const statuses: number[] = []
    // Keyless traffic is limited in each isolate (no I/O at all): use one isolate.
    for (let i = 0; i < 21; i++) statuses.push((await chat(r, undefined, { ip })).status)
    expect(statuses.filter((s) => s === 401)).toHaveLength(20)
    expect(statuses[20]).toBe(429)
  })
})

describe('subscription status', () => {
  it.each(['canceled', 'unpaid', 'paused', 'incomplete', 'incomplete_expired'])(
    'should answer an organisation whose subscription is %s with 402',
    async (status) => {
      const r = rig()
      const org = await createOrg(r, { status })
      const { key } = await issueKey(r, org)
      const res = await chat(r, key)
      expect(res.status).toBe(402)
      expect(res.headers.get('x-should-retry')).toBe('false')
      const body = await envelope(res)
      expect(body.error).toMatchObject({ code: 'SUBSCRIPTION_INACTIVE', type: 'permission_error' })
      expect(body.error.message).toContain(status)
    },
  )

  it.each(['active', 'trialing', 'past_due'])(
    'should serve an organisation that is %s',
    async (status) => {
      const r = rig()
      const org = await createOrg(r, { status })
      const { key } = await issueKey(r, org)
      expect((await chat(r, key)).status).toBe(200)
    },
  )

  it('should apply a status change made with the admin CLI on the next request', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    expect((await chat(r, key)).status).toBe(200)
    await admin(r, 'org', 'set', org.slug, '--status', 'canceled')
    expect((await chat(r, key)).status).toBe(402)
    await admin(r, 'org', 'set', org.slug, '--status', 'active')
    expect((await chat(r, key)).status).toBe(200)
  })
})

describe('rate limits', () => {
  it('should limit an organisation across its keys, with x-ratelimit headers and Retry-After', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const org = await createOrg(r, { rpm: 3 })
    const a = await issueKey(r, org)
    const b = await issueKey(r, org)
    const first = await chat(r, a.key)
    expect(first.status).toBe(200)
    expect(first.headers.get('x-ratelimit-limit')).toBe('3')
    expect(first.headers.get('x-ratelimit-remaining')).toBe('2')
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0)
    expect((await chat(r, b.key)).status).toBe(200)
    expect((await chat(r, a.key, { which: 1 })).status).toBe(200)
    const limited = await chat(r, b.key, { which: 1 })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0')
    const body = await envelope(limited)
    expect(body.error).toMatchObject({ code: 'RATE_LIMITED', type: 'rate_limit_error' })
    expect(body.error.message).toContain(org.slug)
  })

  it('should limit one key without limiting its organisation’s other keys', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const org = await createOrg(r)
    const slow = await issueKey(r, org, { rpm: 2 })
    const other = await issueKey(r, org)
    expect((await chat(r, slow.key)).status).toBe(200)
    expect((await chat(r, slow.key)).status).toBe(200)
    const limited = await chat(r, slow.key)
    expect(limited.status).toBe(429)
    expect((await envelope(limited)).error.message).toMatch(/API key is over its rate limit/)
    expect(limited.headers.get('x-ratelimit-limit')).toBe('2')
    expect((await chat(r, other.key)).status).toBe(200)
  })

  it('should admit exactly the limit of concurrent requests spread over two isolates', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const org = await createOrg(r, { rpm: 30 })
    const keys = await Promise.all([issueKey(r, org), issueKey(r, org)])
    // Memoise the keys in both isolates first (these two requests count).
    for (const which of [0, 1] as const) {
      expect((await chat(r, keys[which].key, { which })).status).toBe(200)
    }
    const statuses = await Promise.all(
      Array.from({ length: 80 }, async (_, i) => {
        const which = (i % 2) as 0 | 1
        return (await chat(r, keys[which].key, { which })).status
      }),
    )
    expect(statuses.filter((s) => s === 200)).toHaveLength(28)
    expect(statuses.filter((s) => s === 429)).toHaveLength(52)
  })
})

describe('monthly quota', () => {
  it('should stop an organisation at its monthly cap with 429 MONTHLY_LIMIT_EXCEEDED', async () => {
    const r = rig()
    const org = await createOrg(r, { monthly: 2 })
    const { key } = await issueKey(r, org)
    expect((await chat(r, key)).status).toBe(200)
    expect((await chat(r, key, { which: 1 })).status).toBe(200)
    const capped = await chat(r, key)
    expect(capped.status).toBe(429)
    expect(capped.headers.get('x-should-retry')).toBe('false')
    expect(Number(capped.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await envelope(capped)).error).toMatchObject({
      code: 'MONTHLY_LIMIT_EXCEEDED',
      type: 'rate_limit_error',
    })
    // Refused requests are not counted.
    expect(await r.kv.get(quotaKey(org.id, calendarMonth(Date.now())))).toBe(2)
  })

  it('should count exactly the cap under concurrency from two isolates', async () => {
    const r = rig()
    const org = await createOrg(r, { monthly: 25 })
    const { key } = await issueKey(r, org)
    for (const which of [0, 1] as const) expect((await chat(r, key, { which })).status).toBe(200)
    const statuses = await Promise.all(
      Array.from(
        { length: 60 },
        async (_, i) => (await chat(r, key, { which: (i % 2) as 0 | 1 })).status,
      ),
    )
    expect(statuses.filter((s) => s === 200)).toHaveLength(23)
    expect(await r.kv.get(quotaKey(org.id, calendarMonth(Date.now())))).toBe(25)
  })

  it('should not count requests refused by a rate limit', async () => {
    await awayFromWindowEdge()
    const r = rig()
    const org = await createOrg(r, { monthly: 100 })
    const { key } = await issueKey(r, org, { rpm: 1 })
    expect((await chat(r, key)).status).toBe(200)
    expect((await chat(r, key)).status).toBe(429)
    expect((await chat(r, key)).status).toBe(429)
    const counter = quotaKey(org.id, calendarMonth(Date.now()))
    await within(2_000, async () => (await r.kv.get<number>(counter)) === 1)
  })
})

describe('the hot path', () => {
  it('should make exactly one Redis request and no Postgres request for a memoised key', async () => {
    const r = rig()
    const org = await createOrg(r, { rpm: 1000, monthly: 100_000 })
    const { key } = await issueKey(r, org, { rpm: 500 })
    expect((await chat(r, key)).status).toBe(200) // fills the memo (and the shared cache)
    await new Promise((resolve) => setTimeout(resolve, 200)) // the cache fill runs after the response
    const redisBefore = r.upstash.requests
    const historyBefore = r.upstash.history.length
    const postgresBefore = r.postgrest.requests
    for (let i = 0; i < 10; i++) expect((await chat(r, key)).status).toBe(200)
    expect(r.upstash.requests - redisBefore).toBe(10)
    expect(r.postgrest.requests - postgresBefore).toBe(0)
    // Each of those requests carried the admission script and both windows.
    for (const commands of r.upstash.history.slice(historyBefore)) {
      expect(commands).toEqual(['EVAL', 'EVALSHA', 'EVALSHA'])
    }
  })

  it('should resolve a key another isolate cached without asking Postgres', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    expect((await chat(r, key, { which: 0 })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const postgresBefore = r.postgrest.requests
    expect((await chat(r, key, { which: 1 })).status).toBe(200)
    expect(r.postgrest.requests).toBe(postgresBefore)
  })
})

describe('provider keys from the vault', () => {
  it("should send the organisation's own provider key, decrypted only for its org and provider", async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    const own = `sk-org-own-${crypto.randomUUID()}`
    const keyring = parseKeyring(r.keyring)
    await rpc(r, 'admin_put_provider_key', {
      p_org: org.id,
      p_provider: 'openai',
      p_envelope: sealProviderKey(keyring, { orgId: org.id, provider: 'openai' }, own),
    })
    await r.kv.incr(CONFIG_EPOCH_KEY) // as the admin CLI does after a change
    const tag = crypto.randomUUID()
    const res = await chat(r, key, { tag })
    expect(res.status).toBe(200)
    const seen = r.fake.requests.filter((entry) => entry.tag === tag)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${own}`)

    // The same ciphertext moved to another organisation does not open.
    const thief = await createOrg(r)
    const thiefKey = await issueKey(r, thief)
    const [stored] = await rpc<{ envelope: string }[]>(r, 'admin_list_provider_keys', {
      p_org: org.id,
    })
    await rpc(r, 'admin_put_provider_key', {
      p_org: thief.id,
      p_provider: 'openai',
      p_envelope: stored?.envelope,
    })
    await r.kv.incr(CONFIG_EPOCH_KEY)
    const stolenTag = crypto.randomUUID()
    const refused = await chat(r, thiefKey.key, { tag: stolenTag })
    expect(refused.status).toBe(500)
    const text = await refused.text()
    expect(text).not.toContain(own)
    expect(r.fake.requests.filter((entry) => entry.tag === stolenTag)).toHaveLength(0)
  })
})

describe('failure policy', () => {
  it('should keep serving memoised keys and fail limits open while Redis is down', async () => {
    const r = rig()
    const org = await createOrg(r, { rpm: 1 })
    const { key } = await issueKey(r, org)
    expect((await chat(r, key)).status).toBe(200)
    r.upstash.setDown(true)
    try {
      // Over the organisation's 1 rpm, but the limiter cannot be asked: fail open.
      expect((await chat(r, key)).status).toBe(200)
      expect((await chat(r, key)).status).toBe(200)
      // A key this isolate has not seen is resolved from Postgres directly.
      const fresh = await issueKey(r, org)
      expect((await chat(r, fresh.key)).status).toBe(200)
    } finally {
      r.upstash.setDown(false)
    }
  })

  it('should answer 503 AUTH_UNAVAILABLE for an unseen key while Postgres is down, and serve cached keys', async () => {
    const r = rig()
    const org = await createOrg(r)
    const cached = await issueKey(r, org)
    expect((await chat(r, cached.key, { which: 0 })).status).toBe(200) // cached in Redis now
    await new Promise((resolve) => setTimeout(resolve, 200))
    const unseen = await issueKey(r, org)
    r.postgrest.setDown(true)
    try {
      const res = await chat(r, unseen.key)
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('5')
      expect((await envelope(res)).error).toMatchObject({
        code: 'AUTH_UNAVAILABLE',
        type: 'api_error',
      })
      // The other isolate has never seen `cached` but finds it in Redis.
      expect((await chat(r, cached.key, { which: 1 })).status).toBe(200)
    } finally {
      r.postgrest.setDown(false)
    }
    expect((await chat(r, unseen.key)).status).toBe(200)
  })

  it('should keep serving a memoised key with both stores down', async () => {
    const r = rig()
    const org = await createOrg(r)
    const { key } = await issueKey(r, org)
    expect((await chat(r, key)).status).toBe(200)
    r.upstash.setDown(true)
    r.postgrest.setDown(true)
    try {
      expect((await chat(r, key)).status).toBe(200)
    } finally {
      r.upstash.setDown(false)
      r.postgrest.setDown(false)
    }
  })
})
