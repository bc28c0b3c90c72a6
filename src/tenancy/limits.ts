/**
 * @module Pure decisions about limits: which window binds, what the headers say, and the errors.
 *
 * Headers (on every admitted response that had a limit, and on 429s):
 * - `x-ratelimit-limit`: requests per minute of the binding window (the one with fewer requests
 *   left, organisation or key);
 * - `x-ratelimit-remaining`: requests left in it;
 * - `x-ratelimit-reset`: seconds until it has room again (whole seconds, at least 1);
 * - `retry-after` on 429: the same number of seconds (RFC 9110 §10.2.3).
 */
import { GatewayError } from '../errors'
import type { LimitResult } from '../stores'
import type { Tenant } from './tenant'

/** The calendar month (UTC) holding `now`, kept while requests fall in it (one per request). */
let current: { readonly from: number; readonly until: number; readonly month: string } | undefined

const monthOf = (now: number): NonNullable<typeof current> => {
  if (current === undefined || now < current.from || now >= current.until) {
    const date = new Date(now)
    current = {
      from: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      until: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
      month: date.toISOString().slice(0, 7),
    }
  }
  return current
}

/** The calendar month (UTC) a request counts toward, `YYYY-MM`. */
export const calendarMonth = (now: number): string => monthOf(now).month

/** Seconds until the next calendar month (UTC) begins, at least 1. */
export const secondsUntilNextMonth = (now: number): number =>
  Math.max(1, Math.ceil((monthOf(now).until - now) / 1000))

/** A month's counter is kept a week past the month's end, then Redis drops it. */
export const counterTtlSeconds = (now: number): number => secondsUntilNextMonth(now) + 7 * 24 * 3600

/** The window with the fewest requests left (ties: the one that frees up later). */
export const bindingLimit = (
  org: LimitResult | undefined,
  key: LimitResult | undefined,
): LimitResult | undefined => {
  if (org === undefined || key === undefined) return org ?? key
  if (org.remaining !== key.remaining) return org.remaining < key.remaining ? org : key
  return org.reset >= key.reset ? org : key
}

const secondsUntil = (reset: number, now: number): number =>
  Math.max(1, Math.ceil((reset - now) / 1000))

export const rateLimitHeaders = (limit: LimitResult, now: number): Record<string, string> => ({
  'x-ratelimit-limit': String(limit.limit),
  'x-ratelimit-remaining': String(limit.remaining),
  'x-ratelimit-reset': String(secondsUntil(limit.reset, now)),
})

export const rateLimitedError = (limit: LimitResult, now: number, what: string): GatewayError => {
  const wait = secondsUntil(limit.reset, now)
  return new GatewayError(
    'RATE_LIMITED',
    `${what}: the limit is ${limit.limit} requests per minute. Retry in ${wait} s.`,
    { headers: { ...rateLimitHeaders(limit, now), 'retry-after': String(wait) } },
  )
}

export const monthlyLimitError = (monthlyLimit: number, now: number): GatewayError =>
  new GatewayError(
    'MONTHLY_LIMIT_EXCEEDED',
    `Your organisation has used its ${monthlyLimit} requests for this month. The count starts ` +
      `again on the 1st (UTC); raise the limit to continue sooner.`,
    {
      headers: {
        'retry-after': String(secondsUntilNextMonth(now)),
        // The OpenAI SDKs retry 429s on their own; this one will not pass by retrying.
        'x-should-retry': 'false',
      },
    },
  )

/**
 * Subscription statuses that serve traffic: `active`, `trialing`, and `past_due` (the grace
 * period while the payment provider retries a failed charge). Every other status — `paused`,
 * `incomplete`, `incomplete_expired`, `unpaid`, `canceled` — is refused with 402.
 */
export const SERVING_STATUSES: ReadonlySet<string> = new Set(['active', 'trialing', 'past_due'])

/** 402 `SUBSCRIPTION_INACTIVE` when the organisation's subscription does not serve traffic. */
export const subscriptionError = (tenant: Tenant): GatewayError | undefined =>
  SERVING_STATUSES.has(tenant.org.subscriptionStatus)
    ? undefined
    : new GatewayError(
        'SUBSCRIPTION_INACTIVE',
        `The subscription of organisation '${tenant.org.slug}' is ${tenant.org.subscriptionStatus}; ` +
          'requests are accepted again once it is active.',
        { headers: { 'x-should-retry': 'false' } },
      )
