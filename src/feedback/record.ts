/**
 * @module One feedback as the Queue carries it to ClickHouse's `feedback` table
 * (`migrations/clickhouse/0003_feedback.sql`), beside the request log's records on the same
 * Queue: `kind: 'feedback'` tells them apart (a log record has no `kind`).
 */

export type FeedbackRecord = {
  readonly kind: 'feedback'
  /** `fb_…`: the id the endpoint answered with. */
  readonly feedback_id: string
  readonly org_id: string
  /** The request's `x-request-id` (the request log row's `request_id`). */
  readonly request_id: string
  /** `rating` unless the feedback named another metric of the organisation. */
  readonly metric: string
  /** The value as sent (a boolean is 1 or 0). */
  readonly value: number
  /** `value` mapped onto [0, 1] by the metric's range: the reward routing learns from. */
  readonly reward: number
  /** PII-scrubbed, at most 2,000 characters; `''` when none. */
  readonly comment: string
  /** The routing rule that served the request (`ruleTag`), `''` when none did. */
  readonly rule: string
  /** The target that served it, `provider/model`; `''` for none (a cache hit names its origin). */
  readonly target: string
  /** Whether the request was answered from the response cache. */
  readonly cache_hit: boolean
  /** When the request was served, and when the feedback arrived (`YYYY-MM-DD hh:mm:ss.sss`, UTC). */
  readonly request_at: string
  readonly created_at: string
}

/** Whether a Queue message body is a feedback record. */
export const isFeedbackRecord = (body: unknown): body is FeedbackRecord =>
  typeof body === 'object' &&
  body !== null &&
  (body as { kind?: unknown }).kind === 'feedback' &&
  typeof (body as { request_id?: unknown }).request_id === 'string'
