/**
 * @module Writing request log records, and feedback records, to ClickHouse with
 * `@clickhouse/client-web`: one `INSERT … FORMAT JSONEachRow` per batch and table, deduplicated by
 * a token derived from the batch. Used by the Queue consumer and by `npm run logs:replay` (so no
 * relative value imports: Node loads it).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client-web'
import type { FeedbackRecord } from '../feedback/record'
import type { LogRecord } from './record'

export type ClickHouseConfig = {
  readonly url: string
  readonly username: string
  readonly password: string
  readonly database: string
}

export const LOG_TABLE = 'request_logs'

/** User feedback (`migrations/clickhouse/0003_feedback.sql`). */
export const FEEDBACK_TABLE = 'feedback'

/** A row of the feedback table: the record without `kind`, which only routes it on the Queue. */
export type FeedbackRow = Omit<FeedbackRecord, 'kind'>

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

/**
 * The deduplication token of a batch's feedback insert: `batchToken` of its feedback messages'
 * ids, each prefixed with the kind, so it never equals a log insert's token (ClickHouse keeps
 * tokens per table anyway). The log insert's token stays `batchToken` of the log messages' ids, as
 * before feedback existed, so batches in flight across a deploy keep theirs.
 */
export const feedbackToken = (ids: readonly string[]): Promise<string> =>
  batchToken(ids.map((id) => `feedback:${id}`))

/** One JSONEachRow insert, deduplicated by `token` (the table keeps the last 10000 tokens). */
const insertRows = async (
  config: ClickHouseConfig,
  table: string,
  rows: readonly object[],
  token: string,
): Promise<void> => {
  await clientFor(config).insert({
    table,
    values: rows,
    format: 'JSONEachRow',
    clickhouse_settings: {
      insert_deduplication_token: token,
      // Keeps the log's daily-usage view deduplicated too (the default only from ClickHouse 26.x
      // on); harmless on a table without materialized views.
      deduplicate_blocks_in_dependent_materialized_views: 1,
    },
  })
}

/** Inserts records into the log table; throws when ClickHouse does not take them. */
export const insertRecords = (
  config: ClickHouseConfig,
  records: readonly LogRecord[],
  token: string,
): Promise<void> => insertRows(config, LOG_TABLE, records, token)

/** The record as a row: `kind` is no column (ClickHouse would skip it, but we send none). */
const feedbackRow = ({ kind: _kind, ...row }: FeedbackRecord): FeedbackRow => row

/**
 * Inserts feedback records into the feedback table, without `kind`; throws when ClickHouse does
 * not take them. `token`: `feedbackToken` of the feedback messages' ids.
 */
export const insertFeedback = (
  config: ClickHouseConfig,
  records: readonly FeedbackRecord[],
  token: string,
): Promise<void> => insertRows(config, FEEDBACK_TABLE, records.map(feedbackRow), token)
