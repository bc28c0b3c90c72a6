/**
 * @module The Queue consumer: batch-inserts request log records into ClickHouse.
 *
 * One batch → one `INSERT … FORMAT JSONEachRow` through `@clickhouse/client-web`. The insert
 * carries an `insert_deduplication_token` derived from the batch's message ids, so a batch that
 * is delivered again (the consumer died after the insert) is not inserted twice; the table is a
 * `ReplacingMergeTree` keyed by request id, so a record that reaches it twice in different
 * batches still counts once (`FINAL`, and after merges).
 *
 * ClickHouse unreachable or refusing → the whole batch is retried with exponential backoff
 * (`retryDelaySeconds`); after the consumer's `max_retries` (wrangler.toml) the Queue moves the
 * messages to the dead-letter queue, from which `npm run logs:replay` re-inserts them. Nothing is
 * acknowledged before ClickHouse has it. Without `CLICKHOUSE_URL` (local development) records are
 * acknowledged and, with `FLOOPY_ACCESS_LOG=true`, printed without bodies.
 */
import { type Bindings } from '../env'
import { alarm, describeError } from './alarm'
import { batchToken, insertRecords, isLogRecord, retryDelaySeconds } from './clickhouse'
import { metadataLine, type LogRecord } from './record'

export type { ClickHouseConfig } from './clickhouse'
import { loadConfig } from '../config'

export const consumeLogBatch = async (batch: MessageBatch, bindings: Bindings): Promise<void> => {
  const config = loadConfig(bindings)
  const messages = batch.messages.filter((message) => {
    if (isLogRecord(message.body)) return true
    alarm('malformed request log message dropped', { queue: batch.queue })
    message.ack()
    return false
  })
  if (messages.length === 0) return
  const records = messages.map((message) => message.body as LogRecord)
  if (config.clickhouse === undefined) {
    if (config.accessLog) {
      for (const record of records) console.log(metadataLine(record))
    }
    for (const message of messages) message.ack()
    return
  }
  try {
    const token = await batchToken(messages.map((message) => message.id))
    await insertRecords(config.clickhouse, records, token)
    for (const message of messages) message.ack()
  } catch (err) {
    const attempt = Math.max(...messages.map((message) => message.attempts))
    const delaySeconds = retryDelaySeconds(attempt)
    alarm('request log insert failed: batch retried', {
      error: describeError(err),
      records: records.length,
      attempt,
      delaySeconds,
    })
    for (const message of messages) message.retry({ delaySeconds })
  }
}
