/**
 * @module What one request log Queue message holds, read the same way by the consumer
 * (`consumer.ts`) and by `npm run logs:replay`: sealed raw facts (`bytes`, one or several
 * requests' to a message) are opened and built into records (`facts.ts`, `record.ts`), a record a producer without `FLOOPY_LOG_KEYS` built
 * itself and a feedback record are taken as they are. A sealed message that does not open, or
 * does not read as facts, says why and under which key id — never what it held.
 */
import { isFeedbackRecord, type FeedbackRecord } from '../feedback/record'
import { isLogRecord } from './clickhouse'
import { openAllFacts } from './facts'
import { buildRecord, type LogRecord } from './record'
import { isSealed, messageBytes, SealError, sealedKeyId, type LogKeys } from './seal'

export type ReadMessage =
  | { readonly kind: 'log'; readonly records: readonly LogRecord[] }
  | { readonly kind: 'feedback'; readonly record: FeedbackRecord }
  /** Sealed, but not opened: never inserted, and kept (retried, dead-lettered) for a key. */
  | { readonly kind: 'unopened'; readonly keyId: string | undefined; readonly reason: string }
  /** Neither sealed nor a record: nothing to keep. */
  | { readonly kind: 'malformed' }

/**
 * Reads a message body as the Queue hands it over: `bytes` as an `ArrayBuffer` (or any view),
 * `json` parsed. `ipKey`: the `FLOOPY_LOG_IP_HASH_KEY` the records are built with.
 */
export const readMessage = async (
  body: unknown,
  keys: LogKeys | undefined,
  ipKey: CryptoKey | undefined,
): Promise<ReadMessage> => {
  const bytes = messageBytes(body)
  if (bytes !== undefined) {
    if (!isSealed(bytes)) return { kind: 'malformed' }
    if (keys === undefined) {
      return { kind: 'unopened', keyId: sealedKeyId(bytes), reason: 'FLOOPY_LOG_KEYS is not set' }
    }
    try {
      const facts = openAllFacts(keys, bytes)
      return {
        kind: 'log',
        records: await Promise.all(facts.map((one) => buildRecord(one, ipKey))),
      }
    } catch (err) {
      return err instanceof SealError
        ? { kind: 'unopened', keyId: err.keyId, reason: err.reason }
        : { kind: 'unopened', keyId: sealedKeyId(bytes), reason: 'unreadable facts' }
    }
  }
  // Feedback first: a feedback record has a `request_id` too, so it would pass isLogRecord.
  if (isFeedbackRecord(body)) return { kind: 'feedback', record: body }
  if (isLogRecord(body)) return { kind: 'log', records: [body] }
  return { kind: 'malformed' }
}
