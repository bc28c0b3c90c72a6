/**
 * @module `POST /v1/feedback`: what the application thought of an answer, closing the loop.
 *
 * Body `{ "request_id": "…", "value": number | boolean, "metric"?: "rating", "comment"?: "…" }`.
 * `request_id` is the `x-request-id` the gateway returned (or `floopy-request-id`, when the client
 * chose its own `x-request-id`): a signed reference to what served the request
 * (`feedback/reference.ts`), so the organisation, rule, target and cache entry are known with no
 * lookup. A reference of another organisation, a forged or altered one, one older than 30 days
 * and one never issued are all 404 `REQUEST_NOT_FOUND`, alike.
 *
 * A boolean is 1 or 0; a number must lie in the metric's range (`rating`: [0, 1] unless the
 * organisation declares otherwise; other metrics must be declared, `settings.feedback.metrics`).
 * The reward routing learns from is the value mapped onto [0, 1].
 *
 * Effects, before the `202` answer: the record goes to the Queue (→ ClickHouse `feedback`); for a
 * request a routing rule served, the rule's posterior for the metric takes the reward (a repeat
 * for the same request and metric replaces the earlier reward); for an answer from the response
 * cache, a reward below 0.5 evicts the entry, and the provider that once produced it is not
 * judged. Redis or the Queue failing is logged, never an error: the answer is still `202`.
 */
import type { Handler } from 'hono'
import * as z from 'zod'
import type { Bindings, StageEnv } from '../env'
import { GatewayError } from '../errors'
import type { FeedbackRecord } from '../feedback/record'
import { readReference } from '../feedback/reference'
import { alarm, describeError } from '../logging/alarm'
import { timestamp } from '../logging/record'
import { scrubText } from '../security/pii'
import type { AuthVariables } from '../stages/authenticate'
import type { BodyVariables } from '../stages/body-limit'
import { decodeBody } from '../stages/parse-request'
import type { CacheStore, FeedbackState } from '../stores'
import { cacheOrgPrefix, feedbackStatsKey } from '../stores/shared-keys'

export type FeedbackOptions = {
  /** The reference key (`FLOOPY_FEEDBACK_KEY`). */
  readonly key: () => Promise<CryptoKey>
  readonly state: FeedbackState
  readonly cache: CacheStore
  readonly queue: Bindings['LOG_QUEUE']
  /** The posteriors' forgetting factor per feedback. */
  readonly gamma: number
}

/** The longest comment kept, in characters (after scrubbing). */
export const COMMENT_LIMIT = 2_000

const METRIC = /^[a-z][a-z0-9_]{0,31}$/

const FeedbackBody = z.object({
  request_id: z.string().min(1).max(1024),
  value: z.union([z.number(), z.boolean()]),
  metric: z.string().regex(METRIC, 'a lowercase name: a-z, 0-9, _').optional(),
  comment: z.string().max(20_000).optional(),
})

const DEFAULT_RANGE = { min: 0, max: 1 }

type FeedbackEnv = StageEnv<BodyVariables & AuthVariables>

export const postFeedback = (options: FeedbackOptions): Handler<FeedbackEnv> =>
  async function postFeedback(c) {
    const raw = c.get('rawBody')
    const decoded = raw === '' ? undefined : decodeBody(raw)
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
      throw new GatewayError('INVALID_REQUEST', 'The request body must be a JSON object.')
    }
    const parsed = FeedbackBody.safeParse(decoded)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const field = issue?.path.map(String).join('.') || 'body'
      throw new GatewayError('INVALID_REQUEST', `Invalid '${field}': ${issue?.message ?? ''}`, {
        param: field,
      })
    }
    const body = parsed.data
    const tenant = c.get('tenant')
    const metric = body.metric ?? 'rating'
    const range =
      tenant.org.settings.feedback?.metrics?.[metric] ??
      (metric === 'rating' ? DEFAULT_RANGE : undefined)
    if (range === undefined) {
      throw new GatewayError(
        'INVALID_REQUEST',
        `Unknown metric '${metric}': declare it with its range first ` +
          '(npm run admin -- org set <org> --metric name=min:max).',
        { param: 'metric' },
      )
    }
    const value = typeof body.value === 'boolean' ? (body.value ? 1 : 0) : body.value
    if (!Number.isFinite(value) || value < range.min || value > range.max) {
      throw new GatewayError(
        'INVALID_REQUEST',
        `Invalid 'value': ${metric} takes a number from ${String(range.min)} to ` +
          `${String(range.max)}, or a boolean.`,
        { param: 'value' },
      )
    }
    const now = Date.now()
    const served = await readReference(
      await options.key(),
      body.request_id,
      tenant.orgId,
      Math.floor(now / 1000),
    )
    if (served === undefined) {
      throw new GatewayError(
        'REQUEST_NOT_FOUND',
        'No request with this id can take feedback: it is unknown, not your organisation’s, ' +
          'or older than 30 days.',
        { param: 'request_id' },
      )
    }
    const reward = (value - range.min) / (range.max - range.min)
    const id = `fb_${crypto.randomUUID().replace(/-/g, '')}`
    const record: FeedbackRecord = {
      kind: 'feedback',
      feedback_id: id,
      org_id: tenant.orgId,
      request_id: body.request_id,
      metric,
      value,
      reward,
      comment: body.comment === undefined ? '' : scrubText(body.comment).slice(0, COMMENT_LIMIT),
      rule: served.rule,
      target: served.target,
      cache_hit: served.entry !== '',
      request_at: timestamp(served.at * 1000),
      created_at: timestamp(now),
    }
    const effects: Promise<unknown>[] = []
    if (options.queue !== undefined) {
      effects.push(
        options.queue.sendBatch([{ body: record, contentType: 'json' }]).catch((err: unknown) => {
          alarm('feedback record lost: the Queue refused it', { error: describeError(err) })
        }),
      )
    }
    if (served.entry !== '') {
      if (reward < 0.5) {
        effects.push(
          options.cache
            .remove(`${cacheOrgPrefix(tenant.orgId)}${served.entry}`)
            .catch((err: unknown) => {
              alarm('feedback could not evict a cache entry', { error: describeError(err) })
            }),
        )
      }
    } else if (served.rule !== '' && served.target !== '') {
      // The MAC part names the request; with the metric, one reward per request and metric.
      const replaces = `${body.request_id.slice(body.request_id.lastIndexOf('.') + 1)}:${metric}`
      effects.push(
        options.state
          .record(
            feedbackStatsKey(tenant.orgId, served.rule, metric),
            served.target,
            reward,
            replaces,
            options.gamma,
          )
          .catch((err: unknown) => {
            alarm('feedback not learned: routing state unavailable', {
              error: describeError(err),
            })
          }),
      )
    }
    await Promise.all(effects)
    return c.json({ id, object: 'feedback', request_id: body.request_id, metric, value }, 202)
  }
