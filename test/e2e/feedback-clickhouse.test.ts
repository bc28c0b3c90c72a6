/**
 * @module User feedback in ClickHouse (`migrations/clickhouse/0003_feedback.sql`) on a real
 * engine (chDB behind `test/support/clickhouse.ts`), written through the production code:
 * `insertFeedback` and the Queue consumer, `consumeLogBatch`, fed fake Queue batches whose
 * messages record their acks and retries. Covers the migration on a fresh engine after 0001 and
 * 0002, the replacement rule (a repeated feedback for the same request and metric counts once with
 * FINAL, the latest winning), insert deduplication by token, the `feedback_daily` view joined with
 * the request log (per organisation, each request once), mixed batches of log records and
 * feedback, and a refusing or unreachable ClickHouse. Each test works in an organisation of its
 * own, so tests do not see each other's rows.
 */
import { randomUUID } from 'node:crypto'
import { createClient } from '@clickhouse/client-web'
import type { ClickHouseClient } from '@clickhouse/client-web'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { TEST_DEV_API_KEY } from '../support/bindings.ts'
import { applyClickHouseMigrations, startClickHouse } from '../support/clickhouse.ts'
import type { ClickHouseServer } from '../support/clickhouse.ts'
import type { FeedbackRecord } from '../../src/feedback/record.ts'
import {
  feedbackToken,
  insertFeedback,
  type ClickHouseConfig,
} from '../../src/logging/clickhouse.ts'
import { consumeLogBatch, type QueueBatch } from '../../src/logging/consumer.ts'
import type { LogRecord } from '../../src/logging/record.ts'
import { logRow, newOrg, noonDaysAgo, stamp } from '../support/log-rows.ts'

const USERNAME = 'floopy_consumer'
const PASSWORD = 'test-clickhouse-password'
const DATABASE = 'floopy'

let server: ClickHouseServer
let client: ClickHouseClient
let migrations: string[]
/** What `insertFeedback` is given, as the consumer's config would be. */
let config: ClickHouseConfig
/** The Worker's bindings for the consumer (one object: `loadConfig` memoises per object). */
let bindings: Record<string, string>

/** Bindings without ClickHouse (the configuration needs a tenant source, nothing else). */
const devOnly = { FLOOPY_DEV_API_KEY: TEST_DEV_API_KEY }

/** What afterAll undoes, latest first: whatever beforeAll got to start, even if it then failed. */
const stops: (() => Promise<void>)[] = []

beforeAll(async () => {
  server = await startClickHouse({ username: USERNAME, password: PASSWORD })
  stops.push(() => server.close())
  migrations = await applyClickHouseMigrations(server)
  client = createClient({
    url: server.url,
    username: USERNAME,
    password: PASSWORD,
    database: DATABASE,
    request_timeout: 10_000,
  })
  stops.push(() => client.close())
  config = { url: server.url, username: USERNAME, password: PASSWORD, database: DATABASE }
  bindings = {
    ...devOnly,
    CLICKHOUSE_URL: server.url,
    CLICKHOUSE_USER: USERNAME,
    CLICKHOUSE_PASSWORD: PASSWORD,
    CLICKHOUSE_DATABASE: DATABASE,
  }
})

afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

/** `at` plus `minutes`, stamped. */
const later = (at: Date, minutes: number): string =>
  stamp(new Date(at.getTime() + minutes * 60_000))

const newRequestId = (): string => `req_${randomUUID()}`

const logRecord = (org: string, overrides: Partial<LogRecord> = {}): LogRecord =>
  logRow(org, { request_id: newRequestId(), ...overrides })

/** A feedback record on `request` (its id, org and start), as the endpoint would send it. */
const feedbackOn = (
  request: Pick<LogRecord, 'request_id' | 'org_id' | 'timestamp'>,
  overrides: Partial<FeedbackRecord> = {},
): FeedbackRecord => ({
  kind: 'feedback',
  feedback_id: `fb_${randomUUID()}`,
  org_id: request.org_id,
  request_id: request.request_id,
  metric: 'rating',
  value: 5,
  reward: 1,
  comment: '',
  rule: 'support',
  target: 'openai/gpt-4o-mini',
  cache_hit: false,
  request_at: request.timestamp,
  created_at: later(new Date(`${request.timestamp.replace(' ', 'T')}Z`), 5),
  ...overrides,
})

/** Inserts log records as the consumer does (JSONEachRow, one token per batch). */
const insertLogs = async (rows: LogRecord[], token = randomUUID()): Promise<void> => {
  await client.insert({
    table: 'request_logs',
    values: rows,
    format: 'JSONEachRow',
    clickhouse_settings: {
      insert_deduplication_token: token,
      deduplicate_blocks_in_dependent_materialized_views: 1,
    },
  })
}

/** Runs a query through the client and returns its JSONEachRow rows. */
const select = async <T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> => {
  const result = await client.query({
    query,
    query_params: params,
    format: 'JSONEachRow',
    clickhouse_settings: {
      output_format_json_quote_64bit_integers: 1,
      output_format_json_quote_decimals: 1,
    },
  })
  return result.json<T>()
}

const countOf = async (
  table: 'feedback' | 'request_logs',
  org: string,
  final = false,
): Promise<number> => {
  const [result] = await select<{ n: string }>(
    `SELECT count() AS n FROM ${table} ${final ? 'FINAL' : ''} WHERE org_id = {org:String}`,
    { org },
  )
  return Number(result?.n)
}

/** A feedback row as read back (FINAL), without `inserted_at`. */
type FeedbackRow = Omit<FeedbackRecord, 'kind'>

const feedbackRowsOf = (org: string): Promise<FeedbackRow[]> =>
  select<FeedbackRow>(
    `SELECT feedback_id, org_id, request_id, metric, value, reward, comment, rule, target,
       cache_hit, toString(request_at) AS request_at, toString(created_at) AS created_at
     FROM feedback FINAL WHERE org_id = {org:String} ORDER BY request_id, metric`,
    { org },
  )

/** The record as its row: everything but `kind`. */
const rowOf = ({ kind: _kind, ...row }: FeedbackRecord): FeedbackRow => row

const byRequestAndMetric = (a: FeedbackRow, b: FeedbackRow): number =>
  a.request_id === b.request_id
    ? a.metric.localeCompare(b.metric)
    : a.request_id.localeCompare(b.request_id)

/** Runs `body` with background merges of both tables stopped, so parts stay as inserted. */
const withoutMerges = async (body: () => Promise<void>): Promise<void> => {
  await client.command({ query: 'SYSTEM STOP MERGES floopy.feedback' })
  await client.command({ query: 'SYSTEM STOP MERGES floopy.request_logs' })
  try {
    await body()
  } finally {
    await client.command({ query: 'SYSTEM START MERGES floopy.request_logs' })
    await client.command({ query: 'SYSTEM START MERGES floopy.feedback' })
  }
}

/** A fake Queue batch: each body a message, ids given or fresh; records acks and retries. */
const fakeBatch = (
  bodies: readonly unknown[],
  {
    ids = bodies.map(() => randomUUID()),
    attempts = 1,
  }: { ids?: string[]; attempts?: number } = {},
): { batch: QueueBatch; acked: string[]; retried: { id: string; delaySeconds?: number }[] } => {
  const acked: string[] = []
  const retried: { id: string; delaySeconds?: number }[] = []
  const messages = bodies.map((body, index) => {
    const id = ids[index] ?? randomUUID()
    return {
      id,
      body,
      attempts,
      ack: () => void acked.push(id),
      retry: (options?: { delaySeconds?: number }) =>
        void retried.push(
          options?.delaySeconds === undefined ? { id } : { id, delaySeconds: options.delaySeconds },
        ),
    }
  })
  return { batch: { queue: 'floopy-request-logs', messages }, acked, retried }
}

describe('migrations/clickhouse/0003_feedback.sql', () => {
  it('should create the feedback table and the feedback_daily view after 0001 and 0002', async () => {
    expect(migrations).toEqual([
      '0001_request_logs.sql',
      '0002_prompt_columns.sql',
      '0003_feedback.sql',
    ])
    const tables = await select<{ name: string; engine: string }>(
      `SELECT name, engine FROM system.tables
       WHERE database = {db:String} AND name LIKE 'feedback%' ORDER BY name`,
      { db: DATABASE },
    )
    expect(tables).toEqual([
      { name: 'feedback', engine: 'ReplacingMergeTree' },
      { name: 'feedback_daily', engine: 'View' },
    ])
  })

  it('should give feedback its key, version, partitioning, TTL and deduplication window', async () => {
    const [table] = await select<{ sorting_key: string; partition_key: string; ddl: string }>(
      `SELECT sorting_key, partition_key, create_table_query AS ddl
       FROM system.tables WHERE database = 'floopy' AND name = 'feedback'`,
    )
    expect(table?.sorting_key).toBe('org_id, request_id, metric')
    expect(table?.partition_key).toBe('toYYYYMM(request_at)')
    expect(table?.ddl).toContain('ReplacingMergeTree(created_at)')
    expect(table?.ddl).toContain('TTL toDateTime(request_at) + toIntervalDay(400)')
    expect(table?.ddl).toContain('non_replicated_deduplication_window = 10000')
    const columns = await select<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns
       WHERE database = 'floopy' AND table = 'feedback' ORDER BY position`,
    )
    expect(Object.fromEntries(columns.map((column) => [column.name, column.type]))).toEqual({
      feedback_id: 'String',
      org_id: 'LowCardinality(String)',
      request_id: 'String',
      metric: 'LowCardinality(String)',
      value: 'Float64',
      reward: 'Float64',
      comment: 'String',
      rule: 'LowCardinality(String)',
      target: 'LowCardinality(String)',
      cache_hit: 'Bool',
      request_at: "DateTime64(3, 'UTC')",
      created_at: "DateTime64(3, 'UTC')",
      inserted_at: "DateTime64(3, 'UTC')",
    })
  })

  it('should store every field of a feedback record but kind', async () => {
    const columns = await select<{ name: string }>(
      `SELECT name FROM system.columns
       WHERE database = 'floopy' AND table = 'feedback' AND name != 'inserted_at'`,
    )
    const record = feedbackOn(logRecord(newOrg()))
    expect(columns.map((column) => column.name).sort()).toEqual(Object.keys(rowOf(record)).sort())
  })

  it('should apply again over an existing schema without error', async () => {
    await expect(applyClickHouseMigrations(server)).resolves.toEqual(migrations)
  })
})

describe('insertFeedback', () => {
  it('should insert the records without kind and read them back field for field', async () => {
    const org = newOrg()
    const request = logRecord(org)
    const records = [
      feedbackOn(request, { comment: 'wrong about [REDACTED:email], but "close"', value: 2 }),
      feedbackOn(request, { metric: 'accuracy', value: 0.25, reward: 0.25, cache_hit: true }),
    ]
    await insertFeedback(config, records, randomUUID())
    expect(await feedbackRowsOf(org)).toEqual(records.map(rowOf).sort(byRequestAndMetric))
    const [stamped] = await select<{ n: string }>(
      `SELECT countIf(inserted_at > now64(3) - INTERVAL 1 MINUTE) AS n
       FROM feedback WHERE org_id = {org:String}`,
      { org },
    )
    expect(stamped?.n).toBe('2')
  })

  it('should count a repeated feedback once with FINAL, the later one winning', async () => {
    const org = newOrg()
    const request = logRecord(org)
    const at = noonDaysAgo(1)
    const first = feedbackOn(request, { value: 1, reward: 0, created_at: later(at, 1) })
    const second = feedbackOn(request, { value: 4, reward: 0.75, created_at: later(at, 9) })
    const other = feedbackOn(request, { metric: 'accuracy', value: 1, reward: 1 })
    await withoutMerges(async () => {
      await insertFeedback(config, [first, other], randomUUID())
      await insertFeedback(config, [second], randomUUID())
      expect(await countOf('feedback', org)).toBe(3)
      expect(await countOf('feedback', org, true)).toBe(2)
      expect(await feedbackRowsOf(org)).toEqual([rowOf(other), rowOf(second)])
    })
    await client.command({ query: 'OPTIMIZE TABLE floopy.feedback FINAL' })
    expect(await countOf('feedback', org)).toBe(2)
    expect(await feedbackRowsOf(org)).toEqual([rowOf(other), rowOf(second)])
  })

  it('should keep the latest feedback even when an older one is inserted after it', async () => {
    const org = newOrg()
    const request = logRecord(org)
    const at = noonDaysAgo(1)
    const latest = feedbackOn(request, { value: 4, reward: 0.75, created_at: later(at, 9) })
    const stale = feedbackOn(request, { value: 1, reward: 0, created_at: later(at, 1) })
    await withoutMerges(async () => {
      await insertFeedback(config, [latest], randomUUID())
      await insertFeedback(config, [stale], randomUUID()) // a late retry of an older record
      expect(await feedbackRowsOf(org)).toEqual([rowOf(latest)])
    })
  })

  it('should drop a batch delivered again with the same token, even without FINAL', async () => {
    const org = newOrg()
    const records = [feedbackOn(logRecord(org)), feedbackOn(logRecord(org))]
    const token = randomUUID()
    await withoutMerges(async () => {
      await insertFeedback(config, records, token)
      await insertFeedback(config, records, token)
      expect(await countOf('feedback', org)).toBe(2)
      // The token is what makes it a duplicate: the same rows under another token are written.
      await insertFeedback(config, records, randomUUID())
      expect(await countOf('feedback', org)).toBe(4)
      expect(await countOf('feedback', org, true)).toBe(2)
    })
  })

  it('should derive a feedback token of its own from the message ids', async () => {
    const ids = [randomUUID(), randomUUID()]
    const token = await feedbackToken(ids)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(await feedbackToken([...ids].reverse())).toBe(token)
    expect(await feedbackToken([ids[0] ?? ''])).not.toBe(token)
  })
})

/** A row of `floopy.feedback_daily`, as `select` reads it (counts quoted). */
interface DailyRow {
  day: string
  rule: string
  target: string
  feedback_count: string
  requests: string
  mean_reward: number
  mean_value: number
  logged_requests: string
  mean_cost_usd: number | null
  mean_latency_ms: number | null
}

const dailyOf = (org: string): Promise<DailyRow[]> =>
  select<DailyRow>(
    `SELECT toString(day) AS day, rule, target, feedback_count, requests, mean_reward,
       mean_value, logged_requests, mean_cost_usd, mean_latency_ms
     FROM feedback_daily WHERE org_id = {org:String} ORDER BY day, rule, target`,
    { org },
  )

describe('feedback_daily', () => {
  it('should give per rule, target and day the feedback and its requests, per organisation', async () => {
    const org = newOrg()
    const intruder = newOrg()
    const dayOne = noonDaysAgo(2)
    const dayTwo = noonDaysAgo(1)
    const on = (at: Date, overrides: Partial<LogRecord>): LogRecord =>
      logRecord(org, { timestamp: stamp(at), ...overrides })
    // Day one, rule `support`, target openai/gpt-4o-mini.
    const r1 = on(dayOne, { cost_usd: '0.001', latency_ms: 100 })
    const r2 = on(dayOne, { cost_usd: '0.003', latency_ms: 300 })
    const r3 = on(dayOne, { cost_usd: null, latency_ms: 500 }) // unknown price
    const r5 = on(dayOne, {}) // its log record has not arrived: feedback only
    // Day one, another target; day two, the first target again.
    const r4 = on(dayOne, { cost_usd: '0.01', latency_ms: 1000 })
    const r6 = on(dayTwo, { cost_usd: '0.002', latency_ms: 50 })
    await insertLogs([r1, r2, r3, r4, r6])
    await insertLogs([r2]) // r2 again in another batch: one row with FINAL
    await insertFeedback(
      config,
      [
        feedbackOn(r1, { value: 5, reward: 1 }),
        feedbackOn(r1, { metric: 'accuracy', value: 0, reward: 0 }),
        feedbackOn(r2, { value: 1, reward: 0, created_at: later(dayOne, 1) }),
        feedbackOn(r3, { value: 3, reward: 0.5 }),
        feedbackOn(r5, { value: 2, reward: 0.25 }),
        feedbackOn(r4, { target: 'anthropic/claude-sonnet-4', value: 5, reward: 1 }),
        feedbackOn(r6, { value: 1, reward: 0 }),
      ],
      randomUUID(),
    )
    // r2's rating given again later: it replaces the first.
    await insertFeedback(
      config,
      [feedbackOn(r2, { value: 4, reward: 0.75, created_at: later(dayOne, 30) })],
      randomUUID(),
    )
    // Another organisation, same rule, target and day, with log rows under the first one's request
    // ids: r1's (a request of its own, with its own feedback, at another cost) and r5's (which the
    // first organisation has no log row for). None of it may reach the first organisation's
    // figures, nor theirs its.
    const theirs = logRecord(intruder, { timestamp: stamp(dayOne), latency_ms: 7000 })
    const clash = { ...r1, org_id: intruder, cost_usd: '9', latency_ms: 9000 }
    await insertLogs([clash, { ...r5, org_id: intruder, cost_usd: '9', latency_ms: 9000 }, theirs])
    await insertFeedback(
      config,
      [feedbackOn(theirs, { value: 1, reward: 0 }), feedbackOn(clash, { value: 3, reward: 0.5 })],
      randomUUID(),
    )

    const rows = await dailyOf(org)
    expect(rows.map(({ mean_cost_usd: _cost, ...row }) => row)).toEqual([
      {
        day: stamp(dayOne).slice(0, 10),
        rule: 'support',
        target: 'anthropic/claude-sonnet-4',
        feedback_count: '1',
        requests: '1',
        mean_reward: 1,
        mean_value: 5,
        logged_requests: '1',
        mean_latency_ms: 1000,
      },
      {
        day: stamp(dayOne).slice(0, 10),
        rule: 'support',
        target: 'openai/gpt-4o-mini',
        // r1 twice (two metrics), r2 once (replaced), r3, r5.
        feedback_count: '5',
        requests: '4',
        mean_reward: (1 + 0 + 0.75 + 0.5 + 0.25) / 5,
        mean_value: (5 + 0 + 4 + 3 + 2) / 5,
        // r5 has no log row; each logged request weighs once, r1 despite its two metrics.
        logged_requests: '3',
        mean_latency_ms: (100 + 300 + 500) / 3,
      },
      {
        day: stamp(dayTwo).slice(0, 10),
        rule: 'support',
        target: 'openai/gpt-4o-mini',
        feedback_count: '1',
        requests: '1',
        mean_reward: 0,
        mean_value: 1,
        logged_requests: '1',
        mean_latency_ms: 50,
      },
    ])
    // Costs: the mean of the known prices (r3's is unknown), as a Float64.
    expect(rows.map((row) => row.mean_cost_usd)).toEqual([
      expect.closeTo(0.01, 12),
      expect.closeTo((0.001 + 0.003) / 2, 12),
      expect.closeTo(0.002, 12),
    ])
    const theirRows = await dailyOf(intruder)
    expect(theirRows.map(({ mean_cost_usd: _cost, ...row }) => row)).toEqual([
      {
        day: stamp(dayOne).slice(0, 10),
        rule: 'support',
        target: 'openai/gpt-4o-mini',
        feedback_count: '2',
        requests: '2',
        mean_reward: 0.25,
        mean_value: 2,
        logged_requests: '2',
        mean_latency_ms: 8000,
      },
    ])
    expect(theirRows[0]?.mean_cost_usd).toBeCloseTo((0.000015 + 9) / 2, 9)
  })

  it('should give NULL cost and latency means when no request of a group is logged', async () => {
    const org = newOrg()
    await insertFeedback(config, [feedbackOn(logRecord(org), { reward: 0.5 })], randomUUID())
    expect(await dailyOf(org)).toMatchObject([
      { feedback_count: '1', logged_requests: '0', mean_cost_usd: null, mean_latency_ms: null },
    ])
  })
})

describe('consumeLogBatch', () => {
  let logs: string[]

  beforeEach(() => {
    logs = []
    // The consumer alarms on stderr (throttled per event); keep the test output clean.
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)))
  })

  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('should land a mixed batch in both tables and ack every message', async () => {
    const org = newOrg()
    const requests = [logRecord(org), logRecord(org)]
    const feedback = requests.map((request) => feedbackOn(request, { comment: 'thanks' }))
    const malformed = { not: 'a record' }
    const { batch, acked, retried } = fakeBatch([
      requests[0],
      feedback[0],
      malformed,
      requests[1],
      feedback[1],
    ])
    await consumeLogBatch(batch, bindings)
    expect([...acked].sort()).toEqual(batch.messages.map((message) => message.id).sort())
    expect(retried).toEqual([])
    const logged = await select<{ request_id: string }>(
      'SELECT request_id FROM request_logs FINAL WHERE org_id = {org:String} ORDER BY request_id',
      { org },
    )
    // The feedback records went to their own table only, never into the request log.
    expect(logged.map((row) => row.request_id)).toEqual(
      requests.map((request) => request.request_id).sort(),
    )
    expect(await countOf('request_logs', org)).toBe(2)
    expect(await feedbackRowsOf(org)).toEqual(feedback.map(rowOf).sort(byRequestAndMetric))
  })

  it('should insert each kind once when the same batch is delivered twice', async () => {
    const org = newOrg()
    const requests = [logRecord(org), logRecord(org)]
    const bodies = [...requests, ...requests.map((request) => feedbackOn(request))]
    const ids = bodies.map(() => randomUUID())
    await withoutMerges(async () => {
      const first = fakeBatch(bodies, { ids })
      await consumeLogBatch(first.batch, bindings)
      expect(first.acked).toHaveLength(4)
      // The acknowledgement was lost: the Queue delivers the same messages again.
      const again = fakeBatch(bodies, { ids, attempts: 2 })
      await consumeLogBatch(again.batch, bindings)
      expect(again.acked).toHaveLength(4)
      // Without FINAL: the tokens dropped the second inserts, the tables' keys had no part in it.
      expect(await countOf('request_logs', org)).toBe(2)
      expect(await countOf('feedback', org)).toBe(2)
    })
  })

  it('should retry the whole batch and ack nothing when ClickHouse refuses the feedback', async () => {
    const org = newOrg()
    const request = logRecord(org)
    // Passes isFeedbackRecord, but ClickHouse cannot parse its value as a Float64.
    const refused = { ...feedbackOn(request), value: 'excellent' }
    const { batch, acked, retried } = fakeBatch([request, refused], { attempts: 3 })
    await consumeLogBatch(batch, bindings)
    expect(acked).toEqual([])
    expect(retried).toEqual(
      batch.messages.map((message) => ({ id: message.id, delaySeconds: 40 })), // 10 · 2²
    )
    expect(await countOf('feedback', org)).toBe(0)
  })

  it('should retry the whole batch while ClickHouse is unreachable, then land it once', async () => {
    const org = newOrg()
    const request = logRecord(org)
    const bodies = [request, feedbackOn(request)]
    const ids = bodies.map(() => randomUUID())
    server.setDown(true)
    try {
      const down = fakeBatch(bodies, { ids })
      await consumeLogBatch(down.batch, bindings)
      expect(down.acked).toEqual([])
      expect(down.retried).toEqual(ids.map((id) => ({ id, delaySeconds: 10 })))
    } finally {
      server.setDown(false)
    }
    const back = fakeBatch(bodies, { ids, attempts: 2 })
    await consumeLogBatch(back.batch, bindings)
    expect(back.acked).toEqual(ids)
    expect(back.retried).toEqual([])
    expect(await countOf('request_logs', org)).toBe(1)
    expect(await countOf('feedback', org)).toBe(1)
  })

  it('should ack everything without CLICKHOUSE_URL, printing feedback without its comment', async () => {
    const org = newOrg()
    const request = logRecord(org)
    const record = feedbackOn(request, { comment: 'a private remark' })
    const { batch, acked, retried } = fakeBatch([request, record])
    const before = server.requests
    await consumeLogBatch(batch, { ...devOnly, FLOOPY_ACCESS_LOG: 'true' })
    expect(acked).toEqual(batch.messages.map((message) => message.id))
    expect(retried).toEqual([])
    expect(server.requests).toBe(before)
    expect(logs).toHaveLength(2)
    const lines = logs.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'request',
      request_id: request.request_id,
    })
    const withoutComment = ({ comment: _comment, ...rest }: FeedbackRecord): object => rest
    expect(lines[1]).toEqual({ level: 'info', msg: 'feedback', ...withoutComment(record) })
    expect(logs[1]).not.toContain('a private remark')
  })

  it('should ack feedback silently without CLICKHOUSE_URL and FLOOPY_ACCESS_LOG', async () => {
    const { batch, acked } = fakeBatch([feedbackOn(logRecord(newOrg()))])
    await consumeLogBatch(batch, { ...devOnly })
    expect(acked).toEqual(batch.messages.map((message) => message.id))
    expect(logs).toEqual([])
  })
})
