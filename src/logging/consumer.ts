/**
 * @module The Queue consumer: batch-inserts request log records, and feedback records, into
 * ClickHouse.
 *
 * The Queue carries two kinds of message, told apart by `kind` (`src/feedback/record.ts`): request
 * log records (no `kind`) go to `request_logs`, feedback records to `feedback`. One batch → one
 * `INSERT … FORMAT JSONEachRow` per kind present, through `@clickhouse/client-web`. Each insert
 * carries its own `insert_deduplication_token`, derived from the message ids of its kind, so a
 * batch that is delivered again (the consumer died after the inserts) is not inserted twice; both
 * tables are `ReplacingMergeTree`s (keyed by request id; by request and metric), so a record that
 * reaches one twice in different batches still counts once (`FINAL`, and after merges).
 *
 * ClickHouse unreachable or refusing either insert → the whole batch is retried with exponential
 * backoff (`retryDelaySeconds`; the insert that did succeed is dropped by its token when the same
 * batch comes back, or collapsed by the table if it comes back regrouped); after the consumer's
 * `max_retries` (wrangler.toml) the Queue moves the messages to the dead-letter queue, from which
 * `npm run logs:replay` re-inserts them. Nothing is acknowledged before ClickHouse has it. Without
 * `CLICKHOUSE_URL` (local development) records are acknowledged and, with
 * `FLOOPY_ACCESS_LOG=true`, printed without bodies (log records) or comments (feedback).
 */
import { type Bindings } from '../env'
import { isFeedbackRecord, type FeedbackRecord } from '../feedback/record'
import { alarm, describeError } from './alarm'
import {
  batchToken,
  feedbackToken,
  insertFeedback,
  insertRecords,
  isLogRecord,
  retryDelaySeconds,
} from './clickhouse'
import { metadataLine, type LogRecord } from './record'

export type { ClickHouseConfig } from './clickhouse'
import { loadConfig } from '../config'

/**
 * The part of a Queue batch the consumer uses: structurally the Workers runtime's `MessageBatch`
 * (what `queue()` passes), and small enough for a test to fake without the runtime.
 */
export type QueueBatch = {
  readonly queue: string
  readonly messages: readonly QueueMessage[]
}

/** The part of a Queue message the consumer uses (the runtime's `Message`). */
export type QueueMessage = {
  readonly id: string
  readonly body: unknown
  readonly attempts: number
  ack(): void
  retry(options?: { delaySeconds?: number }): void
}

/** A feedback record as one access-log line, without the user's comment. */
const feedbackLine = ({ comment: _comment, ...line }: FeedbackRecord): string =>
  JSON.stringify({ level: 'info', msg: 'feedback', ...line })

export const consumeLogBatch = async (batch: QueueBatch, bindings: Bindings): Promise<void> => {
  const config = loadConfig(bindings)
  const logs: QueueMessage[] = []
  const feedback: QueueMessage[] = []
  for (const message of batch.messages) {
    // Feedback first: a feedback record has a `request_id` too, so it would pass isLogRecord.
    if (isFeedbackRecord(message.body)) feedback.push(message)
    else if (isLogRecord(message.body)) logs.push(message)
    else {
      alarm('malformed request log message dropped', { queue: batch.queue })
      message.ack()
    }
  }
  const messages = [...logs, ...feedback]
  if (messages.length === 0) return
  const records = logs.map((message) => message.body as LogRecord)
  const feedbackRecords = feedback.map((message) => message.body as FeedbackRecord)
  if (config.clickhouse === undefined) {
    if (config.accessLog) {
      for (const record of records) console.log(metadataLine(record))
      for (const record of feedbackRecords) console.log(feedbackLine(record))
    }
    for (const message of messages) message.ack()
    return
  }
  const clickhouse = config.clickhouse
  const ids = (kind: readonly QueueMessage[]): string[] => kind.map((message) => message.id)
  // Both kinds at once, each with its own token, and both settled before deciding: either failing
  // retries the whole batch (the other's token, or its table's key, makes that safe).
  const inserts: Promise<void>[] = []
  if (records.length > 0) {
    inserts.push(batchToken(ids(logs)).then((token) => insertRecords(clickhouse, records, token)))
  }
  if (feedbackRecords.length > 0) {
    inserts.push(
      feedbackToken(ids(feedback)).then((token) =>
        insertFeedback(clickhouse, feedbackRecords, token),
      ),
    )
  }
  const failure = (await Promise.allSettled(inserts)).find(
    (result): result is PromiseRejectedResult => result.status === 'rejected',
  )
  if (failure === undefined) {
    for (const message of messages) message.ack()
    return
  }
  const attempt = Math.max(...messages.map((message) => message.attempts))
  const delaySeconds = retryDelaySeconds(attempt)
  alarm('request log insert failed: batch retried', {
    error: describeError(failure.reason),
    records: records.length,
    feedback: feedbackRecords.length,
    attempt,
    delaySeconds,
  })
  for (const message of messages) message.retry({ delaySeconds })
}
