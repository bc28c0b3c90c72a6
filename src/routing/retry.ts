/**
 * @module Retry policy: which failures are worth another attempt, and how long to wait first.
 *
 * A 429, a 5xx, a network error or a timeout is the provider's trouble: retry the same target (up
 * to `maxAttemptsPerTarget` attempts), then fail over to the next. Any other 4xx is the request's
 * fault, and it would fail the same way everywhere, so it is neither retried nor failed over.
 *
 * The wait is exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
 * And Jitter", 2015): uniform between 0 and min(maxDelayMs, baseDelayMs · 2^(attempt − 1)), which
 * spreads out the retries of many clients hit by the same outage. A `Retry-After` header (RFC 9110
 * §10.2.3) replaces the backoff, since the provider said when it will be ready, but is capped at
 * `retryAfterCapMs` so one header cannot hold a request (and a Worker) for minutes.
 */

export type RetryPolicy = {
  /** Attempts on one target, the first included, before failing over. */
  maxAttemptsPerTarget: number
  /** Backoff ceiling before the first retry; doubles per retry. */
  baseDelayMs: number
  /** The largest backoff ceiling. */
  maxDelayMs: number
  /** The longest wait a `Retry-After` header can ask for. */
  retryAfterCapMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttemptsPerTarget: 2,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  retryAfterCapMs: 5_000,
}

/** Why an attempt failed: the provider's HTTP status (and `Retry-After`), or no response at all. */
export type Failure =
  | { kind: 'status'; status: number; retryAfter?: string | null }
  | { kind: 'network' }
  | { kind: 'timeout' }

/** Whether another attempt at the same target could succeed: 429, 5xx, network, timeout. */
export function isRetryable(failure: Failure): boolean {
  switch (failure.kind) {
    case 'network':
    case 'timeout':
      return true
    case 'status':
      return failure.status === 429 || (failure.status >= 500 && failure.status <= 599)
  }
}

/** Whether another target could succeed: the retryable failures (a 4xx is the request's). */
export function shouldFailOver(failure: Failure): boolean {
  return isRetryable(failure)
}

/** delay-seconds; decimals are tolerated because some providers send them. */
const SECONDS = /^\d+(?:\.\d+)?$/

/** An HTTP-date in any of its three forms starts with a day name (RFC 9110 §5.6.7). */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i

/**
 * A `Retry-After` value as milliseconds from `now`: delay-seconds or an HTTP-date (a date in the
 * past gives 0). `undefined` when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined
  const trimmed = value.trim()
  if (SECONDS.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  if (!HTTP_DATE.test(trimmed)) return undefined
  const at = Date.parse(trimmed)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}

/**
 * How long to wait before retry number `attempt` (1 for the first retry): the provider's
 * `Retry-After` up to the cap if it sent one, otherwise full-jitter exponential backoff.
 */
export function retryDelayMs(
  attempt: number,
  failure: Failure,
  policy: RetryPolicy,
  random: () => number,
  now: number,
): number {
  if (failure.kind === 'status') {
    const retryAfter = parseRetryAfter(failure.retryAfter, now)
    if (retryAfter !== undefined) return Math.min(retryAfter, Math.max(0, policy.retryAfterCapMs))
  }
  const retry = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1
  const ceiling = Math.max(0, Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1)))
  const value = random()
  const unit = Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0
  return Math.floor(unit * ceiling)
}
