/**
 * @module `npm run logs:replay`: re-inserts the request log records that ended in the dead-letter
 * queue (the consumer gave up on them after `max_retries`, typically during a long ClickHouse
 * outage) into ClickHouse, then acknowledges them. Feedback records (`feedback/record.ts`) ride the
 * same Queue and go back to their own table, `feedback`.
 *
 * The dead-letter queue has an HTTP pull consumer (`wrangler queues consumer http add
 * floopy-request-logs-dlq`); this command pulls batches with Cloudflare's Queues REST API
 * (`POST …/queues/<id>/messages/pull`, bodies of `json` messages arrive base64-encoded), inserts
 * each batch with the consumer's own insert (same deduplication token scheme, same table — a
 * record already present counts once), and acknowledges the batch only after ClickHouse took it;
 * a batch ClickHouse refuses is marked for retry and the command stops with exit code 1. It runs
 * until the queue is empty.
 *
 * Environment: CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN (Queues Edit), FLOOPY_DLQ_ID (the
 * dead-letter queue's id), CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
 * CLICKHOUSE_DATABASE (default `floopy`); CLOUDFLARE_API_BASE overrides the API's base URL.
 */
import { isFeedbackRecord, type FeedbackRecord } from '../src/feedback/record.ts'
import {
  batchToken,
  feedbackToken,
  insertFeedback,
  insertRecords,
  isLogRecord,
  type ClickHouseConfig,
} from '../src/logging/clickhouse.ts'
import type { LogRecord } from '../src/logging/record.ts'

type PulledMessage = { id: string; body: string; lease_id: string; attempts: number }

type Env = Readonly<Record<string, string | undefined>>

const BATCH_SIZE = 100

const required = (env: Env, name: string): string => {
  const value = env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

/** A pulled `json` message's body: base64 of the JSON text (Cloudflare's pull API encoding). */
export const decodeBody = (body: string): unknown =>
  JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(body), (c) => c.charCodeAt(0))))

export type ReplayResult = { replayed: number; dropped: number; batches: number }

export const replay = async (
  env: Env,
  log: (line: string) => void = console.log,
): Promise<ReplayResult> => {
  const api = `${env.CLOUDFLARE_API_BASE ?? 'https://api.cloudflare.com/client/v4'}/accounts/${required(env, 'CLOUDFLARE_ACCOUNT_ID')}/queues/${required(env, 'FLOOPY_DLQ_ID')}/messages`
  const headers = {
    authorization: `Bearer ${required(env, 'CLOUDFLARE_API_TOKEN')}`,
    'content-type': 'application/json',
  }
  const clickhouse: ClickHouseConfig = {
    url: required(env, 'CLICKHOUSE_URL'),
    username: env.CLICKHOUSE_USER ?? 'default',
    password: env.CLICKHOUSE_PASSWORD ?? '',
    database: env.CLICKHOUSE_DATABASE ?? 'floopy',
  }
  const call = async (action: 'pull' | 'ack', body: unknown): Promise<unknown> => {
    const res = await fetch(`${api}/${action}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    })
    const json = (await res.json()) as { success?: boolean; result?: unknown; errors?: unknown }
    if (!res.ok || json.success !== true) {
      throw new Error(
        `Queues API ${action} failed (${String(res.status)}): ${JSON.stringify(json.errors ?? json)}`,
      )
    }
    return json.result
  }

  const result: ReplayResult = { replayed: 0, dropped: 0, batches: 0 }
  for (;;) {
    const pulled = (await call('pull', {
      batch_size: BATCH_SIZE,
      visibility_timeout_ms: 60_000,
    })) as {
      messages?: PulledMessage[]
    }
    const messages = pulled.messages ?? []
    if (messages.length === 0) break
    const records: LogRecord[] = []
    const logIds: string[] = []
    const feedback: FeedbackRecord[] = []
    const feedbackIds: string[] = []
    const malformed: PulledMessage[] = []
    for (const message of messages) {
      let body: unknown
      try {
        body = decodeBody(message.body)
      } catch {
        body = undefined
      }
      // Feedback first: it has a request_id too.
      if (isFeedbackRecord(body)) {
        feedback.push(body)
        feedbackIds.push(message.id)
      } else if (isLogRecord(body)) {
        records.push(body)
        logIds.push(message.id)
      } else malformed.push(message)
    }
    try {
      if (records.length > 0) {
        await insertRecords(clickhouse, records, await batchToken(logIds))
      }
      if (feedback.length > 0) {
        await insertFeedback(clickhouse, feedback, await feedbackToken(feedbackIds))
      }
    } catch (err) {
      await call('ack', { acks: [], retries: messages.map((m) => ({ lease_id: m.lease_id })) })
      throw new Error(
        `ClickHouse refused a batch of ${String(records.length)} records; they stay in the ` +
          `dead-letter queue: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
    await call('ack', { acks: messages.map((m) => ({ lease_id: m.lease_id })), retries: [] })
    result.replayed += records.length + feedback.length
    result.dropped += malformed.length
    result.batches += 1
    log(
      `replayed ${String(records.length + feedback.length)} records${malformed.length > 0 ? `, dropped ${String(malformed.length)} malformed` : ''}`,
    )
  }
  log(`done: ${String(result.replayed)} records replayed in ${String(result.batches)} batches`)
  return result
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  try {
    await replay(process.env)
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    process.exitCode = 1
  }
}
