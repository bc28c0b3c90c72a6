/**
 * `npm run logs:replay` against a real ClickHouse engine and a stand-in for Cloudflare's Queues
 * pull API: dead-lettered records are inserted once and acknowledged only after ClickHouse took
 * them; a batch ClickHouse refuses stays in the dead-letter queue; replaying records that are
 * already stored adds no duplicates; malformed messages are dropped, not retried forever.
 */
import { createClient } from '@clickhouse/client-web'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replay } from '../../scripts/logs-replay.ts'
import { buildRecord, type LogRecord, type RequestFacts } from '../../src/logging/record.ts'
import {
  applyClickHouseMigrations,
  startClickHouse,
  type ClickHouseServer,
} from '../support/clickhouse.ts'
import { startFakeQueuesApi, type FakeQueuesApi } from '../support/fake-queues-api.ts'

const ACCOUNT = 'test-account'
const TOKEN = 'test-queues-token'
const DLQ = 'dlq-id'
const USER = 'replay_test'
const PASSWORD = 'replay-password'

let clickhouse: ClickHouseServer
let queues: FakeQueuesApi

const env = (): Record<string, string> => ({
  CLOUDFLARE_API_BASE: queues.url,
  CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
  CLOUDFLARE_API_TOKEN: TOKEN,
  FLOOPY_DLQ_ID: DLQ,
  CLICKHOUSE_URL: clickhouse.url,
  CLICKHOUSE_USER: USER,
  CLICKHOUSE_PASSWORD: PASSWORD,
})

const record = (id: string): Promise<LogRecord> => {
  const facts: RequestFacts = {
    requestId: id,
    clientRequestId: undefined,
    startedAt: Date.now() - 60_000,
    endedAt: Date.now() - 59_000,
    orgId: 'org_replay',
    keyId: 'key_replay',
    endpoint: 'chat',
    provider: 'openai',
    modelRequested: 'openai/gpt-4o-mini',
    modelServed: 'gpt-4o-mini',
    status: 200,
    errorCode: '',
    stream: false,
    upstreamStartedAt: undefined,
    upstreamHeadersAt: undefined,
    attempts: 1,
    usage: {
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
      cachedTokens: 0,
      reasoningTokens: 0,
    },
    userAgent: 'test',
    clientIp: undefined,
    requestBody: '{"messages":[]}',
    response: undefined,
    bodies: true,
    end: 'done',
  }
  return buildRecord(facts, undefined)
}

const storedCount = async (ids: readonly string[]): Promise<number> => {
  const client = createClient({
    url: clickhouse.url,
    username: USER,
    password: PASSWORD,
    database: 'floopy',
  })
  const result = await client.query({
    query: 'SELECT count() AS n FROM request_logs WHERE request_id IN {ids:Array(String)}',
    query_params: { ids },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  })
  const [row] = await result.json<{ n: number }>()
  await client.close()
  return row?.n ?? 0
}

const silent = (): void => undefined

beforeAll(async () => {
  clickhouse = await startClickHouse({ username: USER, password: PASSWORD })
  await applyClickHouseMigrations(clickhouse)
  queues = await startFakeQueuesApi({ account: ACCOUNT, token: TOKEN })
}, 60_000)

afterAll(async () => {
  await queues.close()
  await clickhouse.close()
})

describe('npm run logs:replay', () => {
  it('should insert every dead-lettered record once and empty the queue', async () => {
    const ids = Array.from({ length: 230 }, () => crypto.randomUUID())
    for (const id of ids) queues.publish(DLQ, await record(id))
    queues.publish(DLQ, { not: 'a log record' })
    const result = await replay(env(), silent)
    expect(result).toEqual({ replayed: 230, dropped: 1, batches: 3 })
    expect(queues.size(DLQ)).toBe(0)
    expect(await storedCount(ids)).toBe(230)
    expect(queues.violations).toEqual([])
  })

  it('should keep a batch in the queue when ClickHouse refuses it, then replay it later', async () => {
    const ids = Array.from({ length: 20 }, () => crypto.randomUUID())
    for (const id of ids) queues.publish(DLQ, await record(id))
    clickhouse.setDown(true)
    try {
      await expect(replay(env(), silent)).rejects.toThrow(/stay in the dead-letter queue/)
    } finally {
      clickhouse.setDown(false)
    }
    expect(queues.size(DLQ)).toBe(20)
    expect(await storedCount(ids)).toBe(0)
    expect((await replay(env(), silent)).replayed).toBe(20)
    expect(await storedCount(ids)).toBe(20)
  })

  it('should not duplicate records that are already stored', async () => {
    const ids = Array.from({ length: 10 }, () => crypto.randomUUID())
    const records = await Promise.all(ids.map(record))
    for (const r of records) queues.publish(DLQ, r)
    await replay(env(), silent)
    for (const r of records) queues.publish(DLQ, r) // dead-lettered twice
    await replay(env(), silent)
    await clickhouse.query('OPTIMIZE TABLE floopy.request_logs FINAL')
    expect(await storedCount(ids)).toBe(10)
  })

  it('should name a missing setting instead of calling anything', async () => {
    const incomplete = env()
    delete incomplete.CLOUDFLARE_API_TOKEN
    await expect(replay(incomplete, silent)).rejects.toThrow('CLOUDFLARE_API_TOKEN is not set')
  })
})
