/**
 * @module The Queue consumer: builds request log records from the producer's sealed facts and
 * batch-inserts them, and feedback records, into ClickHouse.
 *
 * The Queue carries three kinds of message. Sealed raw facts (`bytes`, `facts.ts`/`seal.ts`) are
 * opened with `FLOOPY_LOG_KEYS` and turned into records here (`record.ts`: assemble, scrub, price,
 * hash the IP with `FLOOPY_LOG_IP_HASH_KEY`, cut) — the work the serving isolate no longer does.
 * Records a producer without `FLOOPY_LOG_KEYS` built itself (JSON, no `kind`) go in as they are,
 * and so do feedback records (`kind: 'feedback'`, `src/feedback/record.ts`, already scrubbed).
 * One batch → one `INSERT … FORMAT JSONEachRow` per table present, through
 * `@clickhouse/client-web`. Each insert carries its own `insert_deduplication_token`, derived from
 * the message ids of its kind, so a batch that is delivered again (the consumer died after the
 * inserts) is not inserted twice; both tables are `ReplacingMergeTree`s (keyed by request id; by
 * request and metric), so a record that reaches one twice in different batches still counts once
 * (`FINAL`, and after merges).
 *
 * A sealed message that does not open (a key id `FLOOPY_LOG_KEYS` does not hold, tampered bytes)
 * or does not read as facts is never inserted: it is retried with the same backoff, so a key
 * restored within the retries (about 50 minutes) lets it through, and after `max_retries` it waits
 * in the dead-letter queue for `npm run logs:replay` (`docs/logging.md`). A throttled alarm names
 * its key id, never its content.
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
import type { FeedbackRecord } from '../feedback/record'
import { alarm, describeError } from './alarm'
import {
  batchToken,
  feedbackToken,
  insertFeedback,
  insertRecords,
  retryDelaySeconds,
} from './clickhouse'
import { readMessage } from './messages'
import { ipHashKeyFor, metadataLine, type LogRecord } from './record'

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

type Unopened = {
  readonly message: QueueMessage
  readonly keyId: string | undefined
  readonly reason: string
}

/** Retries the sealed messages that did not open, with one alarm line for all of them. */
const retryUnopened = (queue: string, unopened: readonly Unopened[]): void => {
  if (unopened.length === 0) return
  const distinct = (values: readonly (string | undefined)[]): string[] => [
    ...new Set(values.map((value) => value ?? '?')),
  ]
  alarm('request log messages could not be opened: retried, then dead-lettered', {
    queue,
    messages: unopened.length,
    keyIds: distinct(unopened.map((one) => one.keyId)),
    reasons: distinct(unopened.map((one) => one.reason)),
    attempt: Math.max(...unopened.map((one) => one.message.attempts)),
  })
  for (const { message } of unopened) {
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) })
  }
}

export const consumeLogBatch = async (batch: QueueBatch, bindings: Bindings): Promise<void> => {
  const config = loadConfig(bindings)
  const ipKey = await ipHashKeyFor(config.logIpHashKey)
  const read = await Promise.all(
    batch.messages.map(async (message) => ({
      message,
      read: await readMessage(message.body, config.logKeys, ipKey),
    })),
  )
  const logs: QueueMessage[] = []
  const records: LogRecord[] = []
  const feedback: QueueMessage[] = []
  const feedbackRecords: FeedbackRecord[] = []
  const unopened: Unopened[] = []
  for (const { message, read: what } of read) {
    switch (what.kind) {
      case 'log':
        logs.push(message)
        records.push(...what.records)
        break
      case 'feedback':
        feedback.push(message)
        feedbackRecords.push(what.record)
        break
      case 'unopened':
        unopened.push({ message, keyId: what.keyId, reason: what.reason })
        break
      case 'malformed':
        alarm('malformed request log message dropped', { queue: batch.queue })
        message.ack()
    }
  }
  retryUnopened(batch.queue, unopened)
  const messages = [...logs, ...feedback]
  if (messages.length === 0) return
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
