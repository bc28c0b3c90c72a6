/**
 * The response cache end to end: two production gateways (two isolates) sharing real Redis
 * (through the Upstash bridge) and the Qdrant stand-in (every request checked against Qdrant's
 * OpenAPI spec), embeddings from a provider (`FLOOPY_EMBEDDING_MODEL`, the fake's meaningful
 * model), driven by the official openai SDK. Counts provider calls, embedding calls, Redis round
 * trips and Qdrant requests; tenants never meet; Redis, Qdrant and the embedder failing are misses.
 */
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEANINGFUL_EMBEDDING_MODEL } from '../support/fake-providers.ts'
import { startQdrant, type QdrantStandIn } from '../support/qdrant.ts'
import { createOrg, issueKey, useTenancyRig, type Rig } from '../support/tenancy.ts'
import { expectValid } from '../support/e2e.ts'

// Started before the rig (registered first), so the gateways get its address.
let qdrant: QdrantStandIn | undefined
const extra: Record<string, string> = {}
beforeAll(async () => {
  qdrant = await startQdrant()
  Object.assign(extra, {
    QDRANT_URL: qdrant.url,
    QDRANT_API_KEY: qdrant.apiKey ?? '',
    FLOOPY_EMBEDDING_MODEL: `local/${MEANINGFUL_EMBEDDING_MODEL}`,
    // Time limits are for production's slow stores; here a busy machine must not turn a test's
    // lookup into a miss (failures are injected as faults instead).
    FLOOPY_EMBEDDING_TIMEOUT_MS: '60000',
    FLOOPY_CACHE_LOOKUP_TIMEOUT_MS: '60000',
  })
})
afterAll(async () => {
  await qdrant?.close()
})
const rig = useTenancyRig(extra)

const standIn = (): QdrantStandIn => {
  if (qdrant === undefined) throw new Error('Qdrant stand-in not started')
  return qdrant
}

type Tenant = { key: string; orgId: string }

const tenant = async (r: Rig, features: Record<string, unknown> = {}): Promise<Tenant> => {
  const org = await createOrg(r, { features })
  const { key } = await issueKey(r, org)
  return { key, orgId: org.id }
}

const client = (r: Rig, t: Tenant, which: 0 | 1, headers: Record<string, string> = {}) =>
  new OpenAI({
    baseURL: `${r.gateways[which].url}/v1`,
    apiKey: t.key,
    maxRetries: 0,
    defaultHeaders: { 'floopy-cache-enabled': 'true', ...headers },
  })

const ask = async (
  r: Rig,
  t: Tenant,
  content: string,
  options: { which?: 0 | 1; headers?: Record<string, string>; stream?: boolean } = {},
): Promise<{ cache: string | null; tier: string | null; similarity: string | null }> => {
  const sdk = client(r, t, options.which ?? 0, options.headers)
  const params = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user' as const, content }] }
  if (options.stream === true) {
    const { data, response } = await sdk.chat.completions
      .create({ ...params, stream: true, stream_options: { include_usage: true } })
      .withResponse()
    for await (const chunk of data) expectValid('CreateChatCompletionStreamResponse', chunk)
    return {
      cache: response.headers.get('floopy-cache'),
      tier: response.headers.get('floopy-cache-tier'),
      similarity: response.headers.get('floopy-cache-similarity'),
    }
  }
  const { data, response } = await sdk.chat.completions.create(params).withResponse()
  expectValid('CreateChatCompletionResponse', data)
  return {
    cache: response.headers.get('floopy-cache'),
    tier: response.headers.get('floopy-cache-tier'),
    similarity: response.headers.get('floopy-cache-similarity'),
  }
}

/** Requests the fake providers received for chat (not embeddings) with this tag. */
const chatCalls = (r: Rig, tag: string): number =>
  r.fake.requests.filter((q) => q.tag === tag && !q.path.endsWith('/embeddings')).length

/** The gateway's own embedding calls (they carry no client header) for these texts. */
const embeddingCalls = (r: Rig, texts: readonly string[]): number =>
  r.fake.requests.filter(
    (q) =>
      q.path.endsWith('/embeddings') &&
      texts.includes(String((q.body as { input?: unknown } | undefined)?.input)),
  ).length

/**
 * The gateway's after-response work (storing an answer) lands a moment after the client has its
 * answer; polls until `check` holds, with no time limit of its own beyond the test's.
 */
const eventually = async (check: () => boolean | Promise<boolean>): Promise<void> => {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 25))
}

describe('the exact tier on real Redis', () => {
  it('should serve the second of two identical requests from the other isolate', async () => {
    const r = rig()
    const t = await tenant(r)
    const tag = crypto.randomUUID()
    const headers = { 'x-fake-tag': tag }
    expect((await ask(r, t, 'Exact across isolates?', { headers })).cache).toBe('MISS')
    await eventually(async () => (await r.kv.keys(`floopy:cache:${t.orgId}:*:e:*`)).length === 1)
    const hit = await ask(r, t, 'Exact across isolates?', { which: 1, headers, stream: true })
    expect(hit).toMatchObject({ cache: 'HIT', tier: 'exact' })
    expect(chatCalls(r, tag)).toBe(1)
  })

  it('should make the exact lookup part of the admission round trip', async () => {
    const r = rig()
    const t = await tenant(r)
    const body = { model: 'openai/text-embedding-3-small', input: 'count my round trips' }
    const sdk = client(r, t, 0)
    await sdk.embeddings.create(body)
    await eventually(async () => (await r.kv.keys(`floopy:cache:${t.orgId}:*:e:*`)).length === 1)
    const before = r.upstash.history.length
    const { response } = await sdk.embeddings.create(body).withResponse()
    expect(response.headers.get('floopy-cache')).toBe('HIT')
    // One Redis request for the whole hit: the admission script and the cache lookup together.
    expect(r.upstash.history.slice(before)).toEqual([['EVAL', 'EVAL']])
  })
})

describe('the semantic tier on the Qdrant stand-in', () => {
  it('should answer a paraphrase with one embedding call and one Qdrant query', async () => {
    const r = rig()
    const q = standIn()
    const t = await tenant(r)
    const tag = crypto.randomUUID()
    const headers = { 'x-fake-tag': tag }
    await ask(r, t, 'How do I reset my password?', { headers })
    await eventually(() =>
      q.requests.some((req) => req.operationId === 'upsert_points' && req.status === 200),
    )
    const queriesBefore = q.requests.filter((req) => req.operationId === 'query_points').length
    const hit = await ask(r, t, 'how do i reset my password', { which: 1, headers })
    expect(hit.cache).toBe('HIT')
    expect(hit.tier).toBe('semantic')
    expect(Number(hit.similarity)).toBeGreaterThanOrEqual(0.95)
    expect(chatCalls(r, tag)).toBe(1)
    // One per request, never more.
    expect(embeddingCalls(r, ['How do I reset my password?', 'how do i reset my password'])).toBe(2)
    expect(q.requests.filter((req) => req.operationId === 'query_points').length).toBe(
      queriesBefore + 1,
    )
    expect(q.violations).toEqual([])
  })

  it('should filter by tenant and scope in Qdrant, and never serve another organisation', async () => {
    const r = rig()
    const q = standIn()
    const a = await tenant(r, { has_advanced_cache: true })
    const b = await tenant(r, { has_advanced_cache: true })
    const tag = crypto.randomUUID()
    const headers = { 'x-fake-tag': tag }
    await ask(r, a, 'What is our refund window?', { headers })
    await eventually(async () => (await r.kv.keys(`floopy:cache:${a.orgId}:*:v:*`)).length === 1)
    // The other organisation, identical and paraphrased (storing nothing of its own).
    for (const content of ['What is our refund window?', 'what is our refund window']) {
      const seen = await ask(r, b, content, {
        headers: { ...headers, 'cache-control': 'no-store' },
      })
      expect(seen).toMatchObject({ cache: 'MISS' })
    }
    expect(chatCalls(r, tag)).toBe(3)
    const query = q.requests.filter((req) => req.operationId === 'query_points').at(-1)
    expect(JSON.stringify(query?.body)).toContain(b.orgId)
    expect(JSON.stringify(query?.body)).not.toContain(a.orgId)
    // Nothing of the prompt is in Qdrant: vectors and ids only.
    for (const collection of q.requests.filter((req) => req.operationId === 'upsert_points')) {
      expect(JSON.stringify(collection.body)).not.toContain('refund')
    }
  })

  it('should never answer a contradiction', async () => {
    const r = rig()
    const t = await tenant(r, { has_advanced_cache: true })
    const tag = crypto.randomUUID()
    const headers = { 'x-fake-tag': tag }
    await ask(r, t, 'Enable two-factor authentication for my account', { headers })
    await eventually(async () => (await r.kv.keys(`floopy:cache:${t.orgId}:*:v:*`)).length === 1)
    const other = await ask(r, t, 'Disable two-factor authentication for my account', { headers })
    expect(other.cache).toBe('MISS')
    expect(chatCalls(r, tag)).toBe(2)
  })
})

describe('failures are misses', () => {
  it('should serve from the bucketed tier while Qdrant is down, and still answer', async () => {
    const r = rig()
    const q = standIn()
    const t = await tenant(r, { has_advanced_cache: true })
    const tag = crypto.randomUUID()
    const headers = { 'x-fake-tag': tag, 'floopy-cache-threshold': '1' }
    await ask(r, t, 'How do I export my invoices?', { headers })
    await eventually(async () => (await r.kv.keys(`floopy:cache:${t.orgId}:*:v:*`)).length === 1)
    q.setDown(true)
    try {
      const hit = await ask(r, t, 'How can I export my invoices?', { headers })
      expect(hit).toMatchObject({ cache: 'HIT', tier: 'bucket' })
      const miss = await ask(r, t, 'Something else entirely about shipping', { headers })
      expect(miss.cache).toBe('MISS')
    } finally {
      q.setDown(false)
    }
  })

  it('should answer with a miss when the embedding provider fails', async () => {
    const r = rig()
    const t = await tenant(r)
    const tag = crypto.randomUUID()
    const fault = await fetch(`${r.fake.url}/__fake/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MEANINGFUL_EMBEDDING_MODEL,
        headers: { 'x-fake-status': '500' },
      }),
    })
    expect(fault.status).toBe(200)
    try {
      const res = await ask(r, t, 'Embedding down?', { headers: { 'x-fake-tag': tag } })
      expect(res.cache).toBe('MISS')
      expect(chatCalls(r, tag)).toBe(1)
    } finally {
      await fetch(`${r.fake.url}/__fake/faults?model=${MEANINGFUL_EMBEDDING_MODEL}`, {
        method: 'DELETE',
      })
    }
  })

  it('should answer with a miss while Redis is down', async () => {
    const r = rig()
    const t = await tenant(r)
    const tag = crypto.randomUUID()
    r.upstash.setDown(true)
    try {
      const res = await ask(r, t, 'Redis down?', { headers: { 'x-fake-tag': tag } })
      expect(res.cache).toBe('MISS')
    } finally {
      r.upstash.setDown(false)
    }
  })
})
