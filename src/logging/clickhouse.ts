/**
 * @module Writing request log records to ClickHouse with `@clickhouse/client-web`: one
 * `INSERT … FORMAT JSONEachRow` per batch, deduplicated by a token derived from the batch. Used by
 * the Queue consumer and by `npm run logs:replay` (so no relative value imports: Node loads it).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client-web'
import type { LogRecord } from './record'

export type ClickHouseConfig = {
  readonly url: string
  readonly username: string
  readonly password: string
  readonly database: string
}

export const LOG_TABLE = 'request_logs'

/** Whether a Queue message body is a log record (the one field every reader relies on). */
export const isLogRecord = (body: unknown): body is LogRecord =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as { request_id?: unknown }).request_id === 'string'

const clients = new WeakMap<ClickHouseConfig, ClickHouseClient>()

const clientFor = (config: ClickHouseConfig): ClickHouseClient => {
  let client = clients.get(config)
  if (client === undefined) {
    client = createClient({
      url: config.url,
      username: config.username,
      password: config.password,
      database: config.database,
      request_timeout: 30_000,
    })
    clients.set(config, client)
  }
  return client
}

/** Seconds before retry `attempt` (1-based): 10, 20, 40 … capped at 10 minutes. */
export const retryDelaySeconds = (attempt: number): number =>
  Math.min(600, 10 * 2 ** Math.max(0, attempt - 1))

/** A deduplication token for a batch: SHA-256 of its sorted message ids. */
export const batchToken = async (ids: readonly string[]): Promise<string> => {
  const digest = await crypto.subtle.digest(
    'SHA-256',
    new TextEncoder().encode([...ids].sort().join('\n')),
  )
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Inserts records into the log table; throws when ClickHouse does not take them. */
export const insertRecords = async (
  config: ClickHouseConfig,
  records: readonly LogRecord[],
  token: string,
): Promise<void> => {
  await clientFor(config).insert({
    table: LOG_TABLE,
    values: records,
    format: 'JSONEachRow',
    clickhouse_settings: {
      insert_deduplication_token: token,
      // Keeps the daily-usage view deduplicated too (the default only from ClickHouse 26.x on).
      deduplicate_blocks_in_dependent_materialized_views: 1,
    },
  })
}
