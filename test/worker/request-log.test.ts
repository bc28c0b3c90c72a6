/**
 * The request log end to end inside the Workers runtime: requests through the Worker under test
 * send their records to the `LOG_QUEUE` Queue (miniflare's implementation, configured from
 * wrangler.toml), whose consumer — the same Worker's `queue` handler — batch-inserts them into a
 * real ClickHouse engine. A burst of streamed and non-streamed requests yields exactly one row
 * each with the right tokens and cost; seeded PII never reaches a row; with ClickHouse down during
 * a burst, the responses are unaffected and every row arrives once it is back.
 *
 * The Worker has `FLOOPY_LOG_KEYS` (test/support/bindings.ts): what crosses the Queue is the raw
 * facts, sealed, and the consumer builds the rows. A message sealed under a key the Worker does not
 * hold, or tampered with, is never inserted; one sealed under a key rotated away from is.
 */
import { createClient } from '@clickhouse/client-web'
import { env } from 'cloudflare:workers'
import { inject } from 'vitest'
import { describe, expect, it } from 'vitest'
import type { Bindings } from '../../src/env'
import { sealFacts } from '../../src/logging/facts'
import type { RequestFacts } from '../../src/logging/record'
import { parseLogKeys } from '../../src/logging/seal'
import { CLICKHOUSE_PASSWORD, CLICKHOUSE_USER, LOG_KEYS } from '../support/bindings'
import { post } from './helpers'

const clickhouse = createClient({
  url: inject('clickhouseUrl'),
  username: CLICKHOUSE_USER,
  password: CLICKHOUSE_PASSWORD,
  database: 'floopy',
})

type Row = {
  request_id: string
  status: number
  stream: boolean
  prompt_tokens: number
  completion_tokens: number
  cost_usd: string | null
  model_served: string
  request_body: string
  response_body: string
  org_id: string
  metadata: Record<string, string>
}

/**
 * Every stored row (duplicates included: no FINAL) for these request ids, asked for 40 ids at a
 * time: a served request's id is a signed reference of about 100 characters, and the ids travel
 * in the query's URL.
 */
const rowsFor = async (ids: readonly string[]): Promise<Row[]> => {
  const rows: Row[] = []
  for (let i = 0; i < ids.length; i += 40) {
    const result = await clickhouse.query({
      query:
        'SELECT request_id, status, stream, prompt_tokens, completion_tokens, cost_usd, ' +
        'model_served, request_body, response_body, org_id, metadata ' +
        'FROM request_logs WHERE request_id IN {ids:Array(String)}',
      query_params: { ids: ids.slice(i, i + 40) },
      format: 'JSONEachRow',
    })
    rows.push(...(await result.json<Row>()))
  }
  return rows
}

/** Polls until every id has a row (or `ms` pass); returns the rows. */
const waitForRows = async (ids: readonly string[], ms: number): Promise<Row[]> => {
  const deadline = Date.now() + ms
  let rows: Row[] = []
  while (Date.now() < deadline) {
    rows = await rowsFor(ids)
    if (new Set(rows.map((r) => r.request_id)).size >= ids.length) return rows
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return rows
}

type Usage = {
  prompt_tokens: number
  completion_tokens: number
  prompt_tokens_details?: { cached_tokens?: number }
}

/** Sends one chat request; returns its id and the usage the client saw. */
const send = async (
  stream: boolean,
  content: string,
  model = 'openai/gpt-4o-mini',
): Promise<{ id: string; status: number; usage: Usage | undefined }> => {
  const res = await post('/v1/chat/completions', {
    model,
    messages: [{ role: 'user', content }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  })
  const id = res.headers.get('x-request-id') ?? ''
  const text = await res.text()
  let usage: Usage | undefined
  if (stream) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data: {')) continue
      const chunk = JSON.parse(line.slice(6)) as { usage?: Usage | null }
      if (chunk.usage) usage = chunk.usage
    }
  } else if (res.ok) {
    usage = (JSON.parse(text) as { usage?: Usage }).usage
  }
  return { id, status: res.status, usage }
}

/** gpt-4o-mini list price: $0.15 per 1M input tokens, $0.60 per 1M output tokens. */
const expectedCost = (usage: Usage): number =>
  (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.6) / 1_000_000

describe('the request log', () => {
  it('should store exactly one row per request, streamed or not, with tokens and cost', async () => {
    const sent = await Promise.all(
      Array.from({ length: 240 }, (_, i) => send(i % 2 === 0, `Question number ${String(i)}`)),
    )
    expect(sent.every((s) => s.status === 200)).toBe(true)
    const ids = sent.map((s) => s.id)
    expect(new Set(ids).size).toBe(240)
    const rows = await waitForRows(ids, 60_000)
    expect(rows).toHaveLength(240) // no row missing, none twice
    const byId = new Map(rows.map((row) => [row.request_id, row]))
    for (const { id, usage } of sent) {
      const row = byId.get(id)
      expect(usage, id).toBeDefined()
      if (row === undefined || usage === undefined) continue
      expect(row.status).toBe(200)
      expect(row.org_id).toBe('org_dev')
      expect(row.prompt_tokens).toBe(usage.prompt_tokens)
      expect(row.completion_tokens).toBe(usage.completion_tokens)
      expect(Number(row.cost_usd)).toBeCloseTo(expectedCost(usage), 9)
    }
    expect(rows.filter((row) => row.stream)).toHaveLength(120)
  }, 90_000)

  it('should estimate the usage of a stream nobody asked usage for, and say so in the row', async () => {
    // The default FLOOPY_STREAM_USAGE=asked: the provider is not asked for usage the client did
    // not ask for, so its stream goes out unchanged and reports none.
    const content = 'How many tokens is this question?'
    const res = await post('/v1/chat/completions', {
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content }],
      stream: true,
    })
    const id = res.headers.get('x-request-id') ?? ''
    expect(await res.text()).not.toContain('"usage":{')
    const exact = await send(true, content)
    expect(exact.usage).toBeDefined()
    const rows = await waitForRows([id, exact.id], 60_000)
    const estimated = rows.find((row) => row.request_id === id)
    const reported = rows.find((row) => row.request_id === exact.id)
    // Three tokens for the reply, four for the message, four characters a token of its text.
    const prompt = 3 + 4 + Math.ceil(content.length / 4)
    // The provider streams a token per event, as OpenAI does: the estimate is its own count.
    const completion = exact.usage?.completion_tokens ?? -1
    expect(estimated).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: completion,
      metadata: { usage_estimated: 'true' },
    })
    expect(Number(estimated?.cost_usd)).toBeCloseTo(
      expectedCost({ prompt_tokens: prompt, completion_tokens: completion }),
      9,
    )
    expect(reported?.prompt_tokens).toBe(exact.usage?.prompt_tokens)
    expect(reported?.metadata).not.toHaveProperty('usage_estimated')
  }, 90_000)

  it.each([
    // USD per 1M tokens: input, cached input, output (list prices in src/logging/prices.ts).
    ['anthropic/claude-sonnet-4-5', 3, 0.3, 15],
    ['gemini/gemini-2.5-flash', 0.3, 0.075, 2.5],
  ])(
    'should store tokens and cost of %s answers, streamed and not',
    async (model, input, cachedInput, output) => {
      const sent = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          send(i % 2 === 0, `Translated question ${String(i)}`, model),
        ),
      )
      expect(sent.map((s) => s.status)).toEqual(Array<number>(10).fill(200))
      const rows = await waitForRows(
        sent.map((s) => s.id),
        60_000,
      )
      expect(rows).toHaveLength(10)
      const byId = new Map(rows.map((row) => [row.request_id, row]))
      for (const { id, usage } of sent) {
        const row = byId.get(id)
        expect(usage, id).toBeDefined()
        if (row === undefined || usage === undefined) continue
        const cached = usage.prompt_tokens_details?.cached_tokens ?? 0
        expect(row.prompt_tokens).toBe(usage.prompt_tokens)
        expect(row.completion_tokens).toBe(usage.completion_tokens)
        const cost =
          ((usage.prompt_tokens - cached) * input +
            cached * cachedInput +
            usage.completion_tokens * output) /
          1_000_000
        expect(Number(row.cost_usd)).toBeCloseTo(cost, 9)
      }
    },
    90_000,
  )

  it('should keep seeded PII and keys out of every stored row', async () => {
    const seeds = [
      'jane.doe@example.com',
      '4111 1111 1111 1111',
      'sk-proj-Zq3xVb7nPm2Lk9Jh4Gf6Dd8Ss1Aa0Qw',
      '123-45-6789',
      'flo_sk_live_TestSuiteSeededKey000000000000A_0badc0de',
      '+44 20 7946 0958',
    ]
    const sent = await Promise.all(
      seeds.map((seed, i) => send(i % 2 === 1, `Please remember ${seed} for later.`)),
    )
    const rows = await waitForRows(
      sent.map((s) => s.id),
      60_000,
    )
    expect(rows).toHaveLength(seeds.length)
    for (const row of rows) {
      const stored = JSON.stringify(row)
      for (const seed of seeds) expect(stored).not.toContain(seed)
      expect(row.request_body).toContain('[REDACTED:')
    }
  }, 90_000)

  it('should lose nothing and duplicate nothing while ClickHouse is down', async () => {
    const control = inject('clickhouseControlUrl')
    await fetch(`${control}/down`, { method: 'POST' })
    let sent: Awaited<ReturnType<typeof send>>[]
    try {
      sent = await Promise.all(
        Array.from({ length: 60 }, (_, i) => send(i % 3 === 0, `Outage question ${String(i)}`)),
      )
      // The responses never wait for the log: all served while ClickHouse is unreachable.
      expect(sent.every((s) => s.status === 200)).toBe(true)
      // Let the consumer meet the outage (first delivery after the batch timeout fails).
      await new Promise((resolve) => setTimeout(resolve, 7_000))
    } finally {
      await fetch(`${control}/up`, { method: 'POST' })
    }
    const ids = sent.map((s) => s.id)
    const rows = await waitForRows(ids, 80_000)
    expect(rows).toHaveLength(60)
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(60)
  }, 120_000)

  it('should never insert a message sealed under a key the Worker does not hold', async () => {
    const queue = (env as Bindings).LOG_QUEUE
    if (queue === undefined) throw new Error('no LOG_QUEUE binding')
    const key = (text: string): string => btoa(text.padEnd(32, '.'))
    const facts = (requestId: string): RequestFacts => ({
      requestId,
      clientRequestId: undefined,
      startedAt: Date.now() - 2_000,
      endedAt: Date.now() - 1_000,
      orgId: 'org_dev',
      keyId: 'key_sealed',
      endpoint: 'chat',
      provider: 'openai',
      modelRequested: 'gpt-4o-mini',
      modelServed: 'gpt-4o-mini',
      status: 200,
      errorCode: '',
      stream: false,
      upstreamStartedAt: undefined,
      upstreamHeadersAt: undefined,
      attempts: 1,
      usage: undefined,
      userAgent: 'sealed-test',
      clientIp: undefined,
      requestBody: '{"messages":[{"role":"user","content":"jane.doe@example.com"}]}',
      response: undefined,
      bodies: true,
      end: 'done',
    })
    const id = (what: string): string => `sealed-${what}-${crypto.randomUUID()}`
    const [unknown, tampered, rotated] = [id('unknown'), id('tampered'), id('rotated')]
    // A key the Worker never had, and the Worker's own key `test-1` (no longer current there).
    const lost = parseLogKeys(JSON.stringify({ current: 'lost', keys: { lost: key('lost') } }))
    const old = parseLogKeys(
      JSON.stringify({ ...(JSON.parse(LOG_KEYS) as { keys: unknown }), current: 'test-1' }),
    )
    const broken = sealFacts(old, facts(tampered))
    broken[broken.length - 30] = (broken[broken.length - 30] ?? 0) ^ 0x01
    await queue.sendBatch([
      { body: sealFacts(lost, facts(unknown)), contentType: 'bytes' },
      { body: broken, contentType: 'bytes' },
      { body: sealFacts(old, facts(rotated)), contentType: 'bytes' },
    ])
    // The message under the rotated-away key arrives: the consumer has read that batch…
    const rows = await waitForRows([rotated], 60_000)
    expect(rows.map((row) => row.request_id)).toEqual([rotated])
    expect(rows[0]?.request_body).toContain('[REDACTED:email]')
    // …and, retried with backoff for as long as it may take, the others never do.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(await rowsFor([unknown, tampered])).toEqual([])
  }, 90_000)
})
