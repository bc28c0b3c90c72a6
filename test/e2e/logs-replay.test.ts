/**
 * `npm run logs:replay` against a real ClickHouse engine and a stand-in for Cloudflare's Queues
 * pull API: dead-lettered records are inserted once and acknowledged only after ClickHouse took
 * them; a batch ClickHouse refuses stays in the dead-letter queue; replaying records that are
 * already stored adds no duplicates; malformed messages are dropped, not retried forever. Sealed
 * raw facts are opened with `FLOOPY_LOG_KEYS` and stored as the record the consumer builds of
 * them (scrubbed, priced, the IP hashed); one that does not open — its key is gone, or it was
 * tampered with — stays in the queue, and goes in once its key is back.
 */
import { createClient } from '@clickhouse/client-web'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replay } from '../../scripts/logs-replay.ts'
import {
  buildRecord,
  ipHashKey,
  type LogRecord,
  type RequestFacts,
} from '../../src/logging/record.ts'
import { sealFacts } from '../../src/logging/facts.ts'
import { parseLogKeys, type LogKeys } from '../../src/logging/seal.ts'
import {
  applyClickHouseMigrations,
  startClickHouse,
  type ClickHouseServer,
} from '../support/clickhouse.ts'
import { startFakeQueuesApi, type FakeQueuesApi } from '../support/fake-queues-api.ts'
import { requestFacts } from '../support/log-facts.ts'

const ACCOUNT = 'test-account'
const TOKEN = 'test-queues-token'
const DLQ = 'dlq-id'
const USER = 'replay_test'
const PASSWORD = 'replay-password'

let clickhouse: ClickHouseServer
let queues: FakeQueuesApi

const keyBytes = (seed: number): string =>
  Buffer.from(Array.from({ length: 32 }, (_, i) => (seed * 17 + i) % 256)).toString('base64')

/** The Worker's keyring: `k2` seals, `k1` is a key rotated away from. */
const LOG_KEYS = JSON.stringify({ current: 'k2', keys: { k1: keyBytes(1), k2: keyBytes(2) } })
const IP_HASH_KEY = 'replay-ip-hash-key-0123456789'

const keyring = (current: string, keys: Record<string, string>): LogKeys =>
  parseLogKeys(JSON.stringify({ current, keys }))

const env = (logKeys: string = LOG_KEYS): Record<string, string> => ({
  CLOUDFLARE_API_BASE: queues.url,
  CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
  CLOUDFLARE_API_TOKEN: TOKEN,
  FLOOPY_DLQ_ID: DLQ,
  CLICKHOUSE_URL: clickhouse.url,
  CLICKHOUSE_USER: USER,
  CLICKHOUSE_PASSWORD: PASSWORD,
  FLOOPY_LOG_KEYS: logKeys,
  FLOOPY_LOG_IP_HASH_KEY: IP_HASH_KEY,
})

const record = (id: string): Promise<LogRecord> => buildRecord(facts(id), undefined)

const facts = (id: string): RequestFacts =>
  requestFacts({
    requestId: id,
    startedAt: Date.now() - 60_000,
    endedAt: Date.now() - 59_000,
    orgId: 'org_replay',
    keyId: 'key_replay',
    upstreamStartedAt: undefined,
    upstreamHeadersAt: undefined,
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
  })

/** Raw facts as a producer with `FLOOPY_LOG_KEYS` sends them: PII and an IP included. */
const rawFacts = (id: string): RequestFacts => ({
  ...facts(id),
  clientIp: '203.0.113.9',
  requestBody: JSON.stringify({
    messages: [{ role: 'user', content: 'I am jane.doe@example.com, card 4111 1111 1111 1111' }],
  }),
  response: {
    text: JSON.stringify({ choices: [{ message: { content: 'Call me on +1 (415) 555-2671' } }] }),
    truncated: false,
  },
})

type StoredRow = Pick<
  LogRecord,
  'request_id' | 'request_body' | 'response_body' | 'client_ip_hash' | 'prompt_tokens'
> & { cost_usd: string }

const storedRows = async (ids: readonly string[]): Promise<StoredRow[]> => {
  const client = createClient({
    url: clickhouse.url,
    username: USER,
    password: PASSWORD,
    database: 'floopy',
  })
  const result = await client.query({
    query:
      'SELECT request_id, request_body, response_body, client_ip_hash, prompt_tokens, cost_usd ' +
      'FROM request_logs FINAL WHERE request_id IN {ids:Array(String)} ORDER BY request_id',
    query_params: { ids },
    format: 'JSONEachRow',
  })
  const rows = await result.json<StoredRow>()
  await client.close()
  return rows
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
    expect(result).toEqual({ replayed: 230, dropped: 1, batches: 3, unopened: 0 })
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

  it('should open sealed facts and store the record the consumer would build', async () => {
    const ids = Array.from({ length: 30 }, () => crypto.randomUUID())
    const keys = keyring('k2', { k1: keyBytes(1), k2: keyBytes(2) })
    for (const id of ids) queues.publish(DLQ, sealFacts(keys, rawFacts(id)))
    // Beside records a producer without FLOOPY_LOG_KEYS built itself.
    const plain = crypto.randomUUID()
    queues.publish(DLQ, await record(plain))
    expect(await replay(env(), silent)).toMatchObject({ replayed: 31, dropped: 0, unopened: 0 })
    expect(queues.size(DLQ)).toBe(0)
    const ipKey = await ipHashKey(IP_HASH_KEY)
    const rows = await storedRows(ids)
    expect(rows).toHaveLength(30)
    for (const row of rows) {
      const built = await buildRecord(rawFacts(row.request_id), ipKey)
      expect(row).toMatchObject({
        request_body: built.request_body,
        response_body: built.response_body,
        client_ip_hash: built.client_ip_hash,
        prompt_tokens: built.prompt_tokens,
      })
      expect(Number(row.cost_usd)).toBeCloseTo(Number(built.cost_usd), 9)
      // The stored texts; not the random id or the hex hash, which may spell '4111' by chance.
      const stored = JSON.stringify([row.request_body, row.response_body])
      for (const secret of ['jane.doe', '4111', '555-2671', '203.0.113.9']) {
        expect(stored).not.toContain(secret)
      }
    }
    expect(await storedCount([plain])).toBe(1)
  })

  it('should leave a message that does not open in the queue, and store it once its key is back', async () => {
    const [lost, tampered, current, rotated] = [
      crypto.randomUUID(),
      crypto.randomUUID(),
      crypto.randomUUID(),
      crypto.randomUUID(),
    ]
    const gone = keyring('gone', { gone: keyBytes(9) })
    queues.publish(DLQ, sealFacts(gone, rawFacts(lost)))
    const broken = sealFacts(keyring('k2', { k2: keyBytes(2) }), rawFacts(tampered))
    broken[broken.length - 1] = (broken[broken.length - 1] ?? 0) ^ 0x01
    queues.publish(DLQ, broken)
    queues.publish(DLQ, sealFacts(keyring('k2', { k2: keyBytes(2) }), rawFacts(current)))
    queues.publish(DLQ, sealFacts(keyring('k1', { k1: keyBytes(1) }), rawFacts(rotated)))
    const lines: string[] = []
    const first = await replay(env(), (line) => lines.push(line))
    expect(first).toMatchObject({ replayed: 2, unopened: 2 })
    expect(lines.join('\n')).toMatch(/left 2 sealed messages .*key ids: gone, k2/)
    // Never inserted, never acknowledged: both wait in the queue, available to the next run.
    expect(await storedCount([lost, tampered])).toBe(0)
    expect(await storedCount([current, rotated])).toBe(2)
    expect(queues.size(DLQ)).toBe(2)
    // The operator puts the lost key back (beside the current one) and runs again.
    const restored = JSON.stringify({
      current: 'k2',
      keys: { k1: keyBytes(1), k2: keyBytes(2), gone: keyBytes(9) },
    })
    expect(await replay(env(restored), silent)).toMatchObject({ replayed: 1, unopened: 1 })
    expect(await storedCount([lost])).toBe(1)
    expect(await storedCount([tampered])).toBe(0)
    expect(queues.size(DLQ)).toBe(1) // the tampered one never opens
    expect(queues.violations).toEqual([])
  })

  it('should name a missing setting instead of calling anything', async () => {
    const incomplete = env()
    delete incomplete.CLOUDFLARE_API_TOKEN
    await expect(replay(incomplete, silent)).rejects.toThrow('CLOUDFLARE_API_TOKEN is not set')
  })
})
