/**
 * @module The request log schema (`migrations/clickhouse/0001_request_logs.sql`) on a real
 * ClickHouse engine (chDB behind `test/support/clickhouse.ts`), driven by the production client,
 * `@clickhouse/client-web`, the way the Queue consumer drives it: JSONEachRow batches with an
 * `insert_deduplication_token`. Covers the migration on a fresh engine, bound parameters, the two
 * layers of idempotency (token at insert time, ReplacingMergeTree with FINAL after), the daily
 * usage rollup with unknown costs and duplicates, DateTime64 and Map round trips, how errors and
 * an unreachable server reach the client, and the TTL trap (rows older than the TTL vanish at
 * insert). Each test works in an organisation of its own, so tests do not see each other's rows.
 */
import { randomUUID } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { ClickHouseError, createClient } from '@clickhouse/client-web'
import type { ClickHouseClient } from '@clickhouse/client-web'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  applyClickHouseMigrations,
  splitStatements,
  startClickHouse,
} from '../support/clickhouse.ts'
import type { ClickHouseServer } from '../support/clickhouse.ts'
import type { LogRecord } from '../../src/logging/record.ts'
import { logRow, newOrg, noonDaysAgo, stamp } from '../support/log-rows.ts'

const USERNAME = 'floopy_consumer'
const PASSWORD = 'test-clickhouse-password'
const DATABASE = 'floopy'

/** A row of `floopy.request_logs` as the consumer inserts it (JSONEachRow). */
type LogRow = LogRecord

/** A row of `floopy.org_daily_usage_v` (or `_exact_v`), as `select` reads it (numbers quoted). */
interface UsageRow {
  day: string
  requests: string
  prompt_tokens: string
  completion_tokens: string
  cost_usd: string | null
  unpriced_requests: string
  cache_hits: string
  errors: string
}

let server: ClickHouseServer
let client: ClickHouseClient
let migrations: string[]

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
})

afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

const row = logRow

/** Inserts one batch as the consumer does: JSONEachRow, one deduplication token per batch. */
const insertBatch = async (rows: LogRow[], token = randomUUID()): Promise<void> => {
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
    // Numbers a JS number cannot always hold exactly, as strings: 64-bit integers (unquoted by
    // default in ClickHouse 26.7) and decimals.
    clickhouse_settings: {
      output_format_json_quote_64bit_integers: 1,
      output_format_json_quote_decimals: 1,
    },
  })
  return result.json<T>()
}

const countOf = async (org: string, final = false): Promise<number> => {
  const [result] = await select<{ n: string }>(
    `SELECT count() AS n FROM request_logs ${final ? 'FINAL' : ''} WHERE org_id = {org:String}`,
    { org },
  )
  return Number(result?.n)
}

const usageOf = (org: string, view = 'org_daily_usage_v'): Promise<UsageRow[]> =>
  select<UsageRow>(
    `SELECT toString(day) AS day, requests, prompt_tokens, completion_tokens, cost_usd,
       unpriced_requests, cache_hits, errors
     FROM ${view} WHERE org_id = {org:String} ORDER BY day`,
    { org },
  )

/** Runs `body` with background merges of request_logs stopped, so parts stay as inserted. */
const withoutMerges = async (body: () => Promise<void>): Promise<void> => {
  await client.command({ query: 'SYSTEM STOP MERGES floopy.request_logs' })
  try {
    await body()
  } finally {
    await client.command({ query: 'SYSTEM START MERGES floopy.request_logs' })
  }
}

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

describe('migrations/clickhouse', () => {
  it('should create the log table, the rollup and its views on a fresh engine', async () => {
    expect(migrations).toEqual([
      '0001_request_logs.sql',
      '0002_prompt_columns.sql',
      '0003_feedback.sql',
    ])
    const tables = await select<{ name: string; engine: string }>(
      `SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: DATABASE },
    )
    expect(tables).toEqual([
      { name: 'feedback', engine: 'ReplacingMergeTree' },
      { name: 'feedback_daily', engine: 'View' },
      { name: 'org_daily_usage', engine: 'AggregatingMergeTree' },
      { name: 'org_daily_usage_exact_v', engine: 'View' },
      { name: 'org_daily_usage_mv', engine: 'MaterializedView' },
      { name: 'org_daily_usage_v', engine: 'View' },
      { name: 'request_logs', engine: 'ReplacingMergeTree' },
    ])
  })

  it('should give request_logs its key, partitioning, TTL and deduplication window', async () => {
    const [table] = await select<{ sorting_key: string; partition_key: string; ddl: string }>(
      `SELECT sorting_key, partition_key, create_table_query AS ddl
       FROM system.tables WHERE database = 'floopy' AND name = 'request_logs'`,
    )
    expect(table?.sorting_key).toBe('org_id, toDate(timestamp), request_id')
    expect(table?.partition_key).toBe('toYYYYMM(timestamp)')
    expect(table?.ddl).toContain('ReplacingMergeTree(inserted_at)')
    expect(table?.ddl).toContain('TTL toDateTime(timestamp) + toIntervalDay(400)')
    expect(table?.ddl).toContain('non_replicated_deduplication_window = 10000')
    const columns = await select<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns
       WHERE database = 'floopy' AND table = 'request_logs' ORDER BY position`,
    )
    expect(Object.fromEntries(columns.map((column) => [column.name, column.type]))).toEqual({
      request_id: 'String',
      timestamp: "DateTime64(3, 'UTC')",
      org_id: 'LowCardinality(String)',
      key_id: 'String',
      endpoint: 'LowCardinality(String)',
      provider: 'LowCardinality(String)',
      model_requested: 'String',
      model_served: 'String',
      status: 'UInt16',
      error_code: 'LowCardinality(String)',
      stream: 'Bool',
      latency_ms: 'Float64',
      ttfb_ms: 'Nullable(Float64)',
      upstream_latency_ms: 'Nullable(Float64)',
      attempts: 'UInt8',
      prompt_tokens: 'UInt32',
      completion_tokens: 'UInt32',
      cached_tokens: 'UInt32',
      reasoning_tokens: 'UInt32',
      cost_usd: 'Nullable(Decimal(18, 9))',
      price_version: 'LowCardinality(String)',
      cache_status: 'LowCardinality(String)',
      firewall_verdict: 'LowCardinality(String)',
      prompt_id: 'LowCardinality(String)',
      prompt_version: 'UInt32',
      user_agent: 'String',
      client_ip_hash: 'String',
      request_body: 'String',
      response_body: 'String',
      metadata: 'Map(String, String)',
      inserted_at: "DateTime64(3, 'UTC')",
    })
  })

  it('should apply again over an existing schema without error', async () => {
    await expect(applyClickHouseMigrations(server)).resolves.toEqual(migrations)
  })

  it('should split statements at semicolons outside quotes and comments only', () => {
    const script = [
      '-- a comment; with a semicolon',
      'SELECT \'a;b\', "c;d", `e;f` /* g; h */ FROM t;',
      "INSERT INTO t VALUES ('it''s; fine', 'back\\'slash;');",
      '  ;',
      'SELECT 1',
    ].join('\n')
    expect(splitStatements(script)).toEqual([
      'SELECT \'a;b\', "c;d", `e;f`   FROM t',
      "INSERT INTO t VALUES ('it''s; fine', 'back\\'slash;')",
      'SELECT 1',
    ])
  })
})

describe('inserts and queries through @clickhouse/client-web', () => {
  it('should insert a JSONEachRow batch and read it back with bound parameters', async () => {
    const org = newOrg()
    const first = row(org, { status: 200, stream: true, cost_usd: '0.000123456' })
    const second = row(org, { status: 429, error_code: 'RATE_LIMITED', cost_usd: null })
    const inserted = await client.insert({
      table: 'request_logs',
      values: [first, second],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: randomUUID() },
    })
    expect(inserted.executed).toBe(true)
    expect(inserted.response_headers['x-clickhouse-query-id']).toBe(inserted.query_id)

    const rows = await select<Pick<LogRow, 'request_id' | 'status' | 'stream' | 'cost_usd'>>(
      `SELECT request_id, status, stream, cost_usd FROM request_logs
       WHERE org_id = {org:String} AND request_id IN {ids:Array(String)} ORDER BY status`,
      { org, ids: [first.request_id, second.request_id] },
    )
    expect(rows).toEqual([
      { request_id: first.request_id, status: 200, stream: true, cost_usd: '0.000123456' },
      { request_id: second.request_id, status: 429, stream: false, cost_usd: null },
    ])
  })

  it('should bind string parameters holding quotes, backslashes, tabs and newlines', async () => {
    const org = newOrg()
    const userAgent = "it's a \\ tricky\tagent\nwith {braces} and 'quotes'"
    await insertBatch([row(org, { user_agent: userAgent }), row(org)])
    const rows = await select<{ user_agent: string }>(
      `SELECT user_agent FROM request_logs
       WHERE org_id = {org:String} AND user_agent = {ua:String}`,
      { org, ua: userAgent },
    )
    expect(rows).toEqual([{ user_agent: userAgent }])
  })

  it('should bind parameters sent in a multipart body', async () => {
    const org = newOrg()
    const wanted = row(org)
    await insertBatch([wanted, row(org)])
    const ids = [wanted.request_id, ...Array.from({ length: 200 }, () => `req_${randomUUID()}`)]
    const result = await client.query({
      query: 'SELECT request_id FROM request_logs WHERE request_id IN {ids:Array(String)}',
      query_params: { ids },
      use_multipart_params: true,
      format: 'JSONEachRow',
    })
    expect(await result.json()).toEqual([{ request_id: wanted.request_id }])
  })

  it('should round-trip DateTime64 timestamps in UTC, whatever the session time zone', async () => {
    const org = newOrg()
    const at = new Date(noonDaysAgo(3).getTime() + 45_678)
    const iso = new Date(at.getTime() + 1).toISOString() // …T12:00:45.679Z
    await insertBatch([row(org, { request_id: 'plain', timestamp: stamp(at) })])
    await client.insert({
      table: 'request_logs',
      values: [row(org, { request_id: 'iso', timestamp: iso })],
      format: 'JSONEachRow',
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    })
    const result = await client.query({
      query: `SELECT request_id, timestamp, toUnixTimestamp64Milli(timestamp) AS ms
        FROM request_logs WHERE org_id = {org:String} AND timestamp >= {from:DateTime64(3, 'UTC')}
        ORDER BY timestamp`,
      query_params: { org, from: at },
      format: 'JSONEachRow',
      clickhouse_settings: {
        session_timezone: 'Asia/Tokyo',
        output_format_json_quote_64bit_integers: 1,
      },
    })
    expect(await result.json()).toEqual([
      { request_id: 'plain', timestamp: stamp(at), ms: String(at.getTime()) },
      { request_id: 'iso', timestamp: stamp(new Date(iso)), ms: String(at.getTime() + 1) },
    ])
    expect(result.response_headers['x-clickhouse-timezone']).toBe('Asia/Tokyo')
  })

  it('should round-trip the metadata map and look rows up by key', async () => {
    const org = newOrg()
    const metadata = {
      client_request_id: 'abc-123',
      'key with spaces': 'value with "quotes" and \'apostrophes\'',
      unicode: 'héllo 👋',
      empty: '',
    }
    await insertBatch([row(org, { request_id: 'with-map', metadata }), row(org)])
    const rows = await select<{ request_id: string; metadata: Record<string, string> }>(
      `SELECT request_id, metadata FROM request_logs
       WHERE org_id = {org:String} AND metadata[{key:String}] = {value:String}`,
      { org, key: 'unicode', value: 'héllo 👋' },
    )
    expect(rows).toEqual([{ request_id: 'with-map', metadata }])
  })
})

describe('idempotency', () => {
  it('should drop a whole batch re-sent with the same token, even without FINAL', async () => {
    const org = newOrg()
    const batch = [row(org), row(org), row(org)]
    const token = randomUUID()
    await withoutMerges(async () => {
      await insertBatch(batch, token)
      await insertBatch(batch, token)
      expect(await countOf(org)).toBe(3)
      // The token is what makes it a duplicate: the same rows under another token are written.
      await insertBatch(batch, randomUUID())
      expect(await countOf(org)).toBe(6)
      expect(await countOf(org, true)).toBe(3)
    })
  })

  it('should need non_replicated_deduplication_window to deduplicate by token', async () => {
    await client.command({
      query: `CREATE TABLE floopy.dedup_probe (id String) ENGINE = ReplacingMergeTree ORDER BY id`,
    })
    try {
      for (let i = 0; i < 2; i++) {
        await client.insert({
          table: 'dedup_probe',
          values: [{ id: 'a' }],
          format: 'JSONEachRow',
          clickhouse_settings: { insert_deduplication_token: 'same-token' },
        })
      }
      const [probe] = await select<{ n: string }>('SELECT count() AS n FROM dedup_probe')
      expect(probe?.n).toBe('2')
    } finally {
      await client.command({ query: 'DROP TABLE floopy.dedup_probe' })
    }
  })

  it('should keep one row per request_id across batches, with FINAL and after merges', async () => {
    const org = newOrg()
    const repeated = row(org, { metadata: { copy: 'first' } })
    await withoutMerges(async () => {
      await insertBatch([repeated, row(org)])
      await insertBatch([{ ...repeated, metadata: { copy: 'second' } }, row(org)])
      expect(await countOf(org)).toBe(4)
      expect(await countOf(org, true)).toBe(3)
    })
    await client.command({ query: 'OPTIMIZE TABLE floopy.request_logs FINAL' })
    expect(await countOf(org)).toBe(3)
    // ReplacingMergeTree(inserted_at): the copy inserted last is the one kept.
    const kept = await select<{ metadata: Record<string, string> }>(
      'SELECT metadata FROM request_logs WHERE request_id = {id:String}',
      { id: repeated.request_id },
    )
    expect(kept).toEqual([{ metadata: { copy: 'second' } }])
  })
})

describe('org_daily_usage_v', () => {
  it('should sum per organisation and day, a NULL cost counted as unknown', async () => {
    const org = newOrg()
    const dayOne = noonDaysAgo(2)
    const dayTwo = noonDaysAgo(1)
    await insertBatch([
      row(org, { timestamp: stamp(dayOne), prompt_tokens: 100, completion_tokens: 50 }),
      row(org, {
        timestamp: stamp(new Date(dayOne.getTime() + 3_600_000)),
        cost_usd: '0.000250500',
        cache_status: 'HIT',
      }),
      row(org, { timestamp: stamp(dayOne), cost_usd: null, status: 502, error_code: 'UPSTREAM' }),
      row(org, { timestamp: stamp(dayTwo), cost_usd: null }),
    ])
    await insertBatch([row(newOrg(), { timestamp: stamp(dayOne) })]) // another organisation
    const expected: UsageRow[] = [
      {
        day: stamp(dayOne).slice(0, 10),
        requests: '3',
        prompt_tokens: '120',
        completion_tokens: '90',
        cost_usd: '0.0002655',
        unpriced_requests: '1',
        cache_hits: '1',
        errors: '1',
      },
      {
        day: stamp(dayTwo).slice(0, 10),
        requests: '1',
        prompt_tokens: '10',
        completion_tokens: '20',
        cost_usd: null, // no request of the day had a known price: unknown, not zero
        unpriced_requests: '1',
        cache_hits: '0',
        errors: '0',
      },
    ]
    expect(await usageOf(org)).toEqual(expected)
    expect(await usageOf(org, 'org_daily_usage_exact_v')).toEqual(expected)
  })

  it('should not count a batch re-sent with the same token again', async () => {
    const org = newOrg()
    const batch = [row(org), row(org, { cost_usd: '0.5' })]
    const token = randomUUID()
    await insertBatch(batch, token)
    await insertBatch(batch, token)
    const [usage] = await usageOf(org)
    expect(usage).toMatchObject({ requests: '2', prompt_tokens: '20', cost_usd: '0.500015' })
  })

  it('should count a request inserted in two batches once, but add its tokens twice', async () => {
    const org = newOrg()
    const repeated = row(org, { prompt_tokens: 7, cost_usd: '1' })
    await insertBatch([repeated, row(org)])
    await insertBatch([repeated])
    const [usage] = await usageOf(org)
    // uniqExact over request ids keeps the count exact; sums see the second copy (the caveat
    // documented in the migration), which the FINAL-based exact view does not.
    expect(usage).toMatchObject({ requests: '2', prompt_tokens: '24', cost_usd: '2.000015' })
    const [exact] = await usageOf(org, 'org_daily_usage_exact_v')
    expect(exact).toMatchObject({ requests: '2', prompt_tokens: '17', cost_usd: '1.000015' })
  })
})

describe('errors', () => {
  it('should surface bad SQL as a ClickHouseError with code 62', async () => {
    const error: unknown = await client.query({ query: 'SELEC 1' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ClickHouseError)
    expect(error).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' })
  })

  it('should surface an unknown table as a ClickHouseError with code 60', async () => {
    const error: unknown = await client
      .query({ query: 'SELECT * FROM no_such_table' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ClickHouseError)
    expect(error).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' })
  })

  it('should reject rows that do not fit the schema with a parse error', async () => {
    const error: unknown = await client
      .insert({
        table: 'request_logs',
        values: [{ ...row(newOrg()), status: 'teapot' }],
        format: 'JSONEachRow',
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ClickHouseError)
    expect((error as ClickHouseError).type).toMatch(/^CANNOT_PARSE/)
  })

  it('should reject a wrong password with code 516 and HTTP 403', async () => {
    const intruder = createClient({ url: server.url, username: USERNAME, password: 'wrong' })
    try {
      const error: unknown = await intruder.query({ query: 'SELECT 1' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ClickHouseError)
      expect(error).toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' })
      expect(await intruder.ping()).toMatchObject({ success: false })
    } finally {
      await intruder.close()
    }
    const response = await fetch(`${server.url}/?query=SELECT%201`, {
      method: 'POST',
      headers: { authorization: basic(USERNAME, 'wrong') },
    })
    expect(response.status).toBe(403)
    expect(response.headers.get('x-clickhouse-exception-code')).toBe('516')
    expect(await response.text()).toMatch(/^Code: 516\. DB::Exception: .*\(AUTHENTICATION_FAILED\)/)
  })
})

describe('the HTTP interface', () => {
  it('should answer /ping without credentials', async () => {
    const response = await fetch(`${server.url}/ping`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('Ok.\n')
    expect(await client.ping()).toEqual({ success: true })
  })

  it('should take credentials from the X-ClickHouse-User and -Key headers', async () => {
    const response = await fetch(`${server.url}/?default_format=JSONEachRow`, {
      method: 'POST',
      headers: { 'x-clickhouse-user': USERNAME, 'x-clickhouse-key': PASSWORD },
      body: 'SELECT 1 AS one',
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('x-clickhouse-format')).toBe('JSONEachRow')
    expect(JSON.parse(response.headers.get('x-clickhouse-summary') ?? '')).toMatchObject({
      read_rows: '1',
    })
    expect(await response.text()).toBe('{"one":1}\n')
  })

  it('should read a gzip body, and refuse sessions it does not implement', async () => {
    const headers = { authorization: basic(USERNAME, PASSWORD) }
    const zipped = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { ...headers, 'content-encoding': 'gzip' },
      body: gzipSync('SELECT 6 * 7'),
    })
    expect(await zipped.text()).toBe('42\n')
    const session = await fetch(`${server.url}/?session_id=abc`, {
      method: 'POST',
      headers,
      body: 'SELECT 1',
    })
    expect(session.status).toBe(501)
    expect(session.headers.get('x-clickhouse-exception-code')).toBe('48') // NOT_IMPLEMENTED
  })

  it('should run GET queries read-only', async () => {
    const query = encodeURIComponent('CREATE TABLE floopy.nope (a UInt8) ENGINE = Memory')
    const response = await fetch(`${server.url}/?query=${query}`, {
      headers: { authorization: basic(USERNAME, PASSWORD) },
    })
    expect(response.headers.get('x-clickhouse-exception-code')).toBe('164') // READONLY
    expect(await response.text()).toContain('(READONLY)')
  })

  it('should apply settings to their own query only', async () => {
    const threads = async (settings: { max_threads?: number }): Promise<string> => {
      const result = await client.query({
        query: "SELECT getSetting('max_threads') AS n",
        format: 'JSONEachRow',
        clickhouse_settings: settings,
      })
      const [first] = await result.json<{ n: string }>()
      return String(first?.n)
    }
    expect(await threads({ max_threads: 3 })).toBe('3')
    expect(await threads({})).not.toBe('3')
  })

  it('should answer uncompressed when the client asks for compression', async () => {
    const compressed = createClient({
      url: server.url,
      username: USERNAME,
      password: PASSWORD,
      compression: { response: true },
    })
    try {
      const result = await compressed.query({ query: 'SELECT 41 + 1 AS n', format: 'JSONEachRow' })
      expect(await result.json()).toEqual([{ n: 42 }])
    } finally {
      await compressed.close()
    }
  })
})

describe('an unreachable server', () => {
  it('should make the client fail fast while down, and recover when back', async () => {
    const org = newOrg()
    const before = server.requests
    server.setDown(true)
    try {
      const started = performance.now()
      await expect(insertBatch([row(org)])).rejects.toThrow()
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(server.requests).toBe(before + 1) // one attempt: the client does not retry
      expect(await client.ping()).toMatchObject({ success: false })
    } finally {
      server.setDown(false)
    }
    await insertBatch([row(org)])
    expect(await countOf(org)).toBe(1)
  })
})

describe('the 400-day TTL', () => {
  it('should accept rows older than the TTL, then drop them at once (the trap)', async () => {
    const org = newOrg()
    const expired = row(org, { timestamp: stamp(noonDaysAgo(401)) })
    const kept = row(org, { timestamp: stamp(noonDaysAgo(399)) })
    // The insert succeeds: nothing tells the writer that a row is about to be deleted.
    await expect(insertBatch([expired, kept])).resolves.toBeUndefined()
    const idsLeft = async (): Promise<string[]> =>
      (
        await select<{ request_id: string }>(
          'SELECT request_id FROM request_logs WHERE org_id = {org:String}',
          { org },
        )
      ).map((left) => left.request_id)
    // Gone as the part is written, or by the TTL merge that runs right after it.
    const deadline = Date.now() + 10_000
    while ((await idsLeft()).length > 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await idsLeft()).toEqual([kept.request_id])
    // The materialized view saw the block before the TTL removed the row: the rollup keeps it.
    const usage = await usageOf(org)
    expect(usage.map((day) => day.day)).toEqual([
      stamp(noonDaysAgo(401)).slice(0, 10),
      stamp(noonDaysAgo(399)).slice(0, 10),
    ])
  })
})
