/**
 * Proves the pure limit decisions: the calendar month and its end in UTC (year ends, leap and
 * common Februaries), which window binds, the `x-ratelimit-*` headers, and the 429 and 402 errors
 * with the headers the OpenAI SDKs act on.
 */
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors'
import type { LimitResult } from '../stores'
import { DEV_KEY_CONFIG } from '../stores/embedded/key-store'
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../tenancy/schema'
import {
  SERVING_STATUSES,
  bindingLimit,
  calendarMonth,
  counterTtlSeconds,
  monthlyLimitError,
  rateLimitHeaders,
  rateLimitedError,
  secondsUntilNextMonth,
  subscriptionError,
} from './limits'
import { parseKeyConfig, type Tenant } from './tenant'

const DAY = 86_400
const WEEK = 7 * DAY

const windowOf = (remaining: number, reset: number, limit = 10): LimitResult => ({
  success: remaining > 0,
  limit,
  remaining,
  reset,
})

const tenantWith = (status: SubscriptionStatus): Tenant =>
  parseKeyConfig({
    ...DEV_KEY_CONFIG,
    org: { ...DEV_KEY_CONFIG.org, slug: 'acme', subscription_status: status },
  })

describe('calendarMonth', () => {
  it.each([
    [Date.UTC(2025, 0, 1, 0, 0, 0, 0), '2025-01'],
    [Date.UTC(2025, 0, 31, 23, 59, 59, 999), '2025-01'],
    [Date.UTC(2024, 1, 29, 12, 0, 0, 0), '2024-02'],
    [Date.UTC(2024, 11, 31, 23, 59, 59, 999), '2024-12'],
    [Date.UTC(2025, 9, 1, 0, 0, 0, 0), '2025-10'],
  ])('should put %d in %s', (now, month) => {
    expect(calendarMonth(now)).toBe(month)
  })

  it('should move to January of the next year one millisecond after December ends (UTC)', () => {
    const newYear = Date.UTC(2025, 0, 1)
    expect(calendarMonth(newYear - 1)).toBe('2024-12')
    expect(calendarMonth(newYear)).toBe('2025-01')
  })

  it('should answer each instant its own month when calls go back and forth', () => {
    const newYear = Date.UTC(2025, 0, 1)
    for (let i = 0; i < 3; i++) {
      expect(calendarMonth(newYear - 1)).toBe('2024-12')
      expect(secondsUntilNextMonth(newYear - 1000)).toBe(1)
      expect(calendarMonth(newYear)).toBe('2025-01')
      expect(secondsUntilNextMonth(newYear)).toBe(31 * DAY)
    }
  })
})

describe('secondsUntilNextMonth', () => {
  it.each([
    ['January', Date.UTC(2025, 0, 1), 31 * DAY],
    ['a leap February', Date.UTC(2024, 1, 1), 29 * DAY],
    ['a common February', Date.UTC(2023, 1, 1), 28 * DAY],
    ['February 2000 (leap: divisible by 400)', Date.UTC(2000, 1, 1), 29 * DAY],
    ['February 2100 (common: divisible by 100)', Date.UTC(2100, 1, 1), 28 * DAY],
    ['April', Date.UTC(2025, 3, 1), 30 * DAY],
    ['December', Date.UTC(2024, 11, 1), 31 * DAY],
  ])('should count the whole of %s from its first instant', (_name, now, seconds) => {
    expect(secondsUntilNextMonth(now)).toBe(seconds)
  })

  it('should count to January 1st of the next year from late December', () => {
    expect(secondsUntilNextMonth(Date.UTC(2024, 11, 31, 0, 0, 0))).toBe(DAY)
    expect(secondsUntilNextMonth(Date.UTC(2024, 11, 31, 23, 0, 0))).toBe(3600)
  })

  it('should round a part second up, so the answer is never 0 before the month ends', () => {
    const newYear = Date.UTC(2025, 0, 1)
    expect(secondsUntilNextMonth(newYear - 1)).toBe(1)
    expect(secondsUntilNextMonth(newYear - 999)).toBe(1)
    expect(secondsUntilNextMonth(newYear - 1000)).toBe(1)
    expect(secondsUntilNextMonth(newYear - 1001)).toBe(2)
    expect(secondsUntilNextMonth(newYear - 1500)).toBe(2)
  })

  it('should count from the middle of a month', () => {
    // 15 June 12:00:00.001 → 1 July: 15.5 days less a millisecond, rounded up.
    expect(secondsUntilNextMonth(Date.UTC(2025, 5, 15, 12, 0, 0, 1))).toBe(15 * DAY + 12 * 3600)
  })

  it('should count the leap day at the end of February 2024', () => {
    expect(secondsUntilNextMonth(Date.UTC(2024, 1, 28))).toBe(2 * DAY)
    expect(secondsUntilNextMonth(Date.UTC(2023, 1, 28))).toBe(DAY)
  })
})

describe('counterTtlSeconds', () => {
  it('should keep the counter a week past the end of the month', () => {
    expect(counterTtlSeconds(Date.UTC(2024, 1, 1))).toBe(29 * DAY + WEEK)
    expect(counterTtlSeconds(Date.UTC(2023, 1, 1))).toBe(28 * DAY + WEEK)
    expect(counterTtlSeconds(Date.UTC(2025, 0, 1) - 1)).toBe(1 + WEEK)
  })

  it('should outlive the month it counts at every point of the month', () => {
    const monthEnd = Date.UTC(2025, 0, 1)
    for (const now of [Date.UTC(2024, 11, 1), Date.UTC(2024, 11, 17, 5, 3, 2, 1), monthEnd - 1]) {
      const expiresAt = now + counterTtlSeconds(now) * 1000
      expect(expiresAt).toBeGreaterThanOrEqual(monthEnd + WEEK * 1000)
      expect(expiresAt).toBeLessThan(monthEnd + WEEK * 1000 + 1000)
    }
  })
})

describe('bindingLimit', () => {
  it('should be undefined when neither window applies', () => {
    expect(bindingLimit(undefined, undefined)).toBeUndefined()
  })

  it('should take the only window when the other is undefined', () => {
    const only = windowOf(3, 1_000)
    expect(bindingLimit(only, undefined)).toBe(only)
    expect(bindingLimit(undefined, only)).toBe(only)
  })

  it('should take the window with fewer requests left, whichever frees up first', () => {
    const org = windowOf(2, 1_000, 100)
    const key = windowOf(5, 9_000, 5)
    expect(bindingLimit(org, key)).toBe(org)
    const tighterKey = windowOf(1, 1_000, 5)
    expect(bindingLimit(org, tighterKey)).toBe(tighterKey)
  })

  it('should break a tie on remaining by the window that frees up later', () => {
    const early = windowOf(4, 1_000)
    const late = windowOf(4, 2_000)
    expect(bindingLimit(early, late)).toBe(late)
    expect(bindingLimit(late, early)).toBe(late)
  })

  it('should bind an exhausted window over one with room', () => {
    const exhausted = windowOf(0, 500)
    const room = windowOf(7, 60_000)
    expect(bindingLimit(room, exhausted)).toBe(exhausted)
    expect(bindingLimit(exhausted, room)).toBe(exhausted)
  })
})

describe('rateLimitHeaders', () => {
  const now = 1_700_000_000_000

  it('should report limit, remaining and the seconds until the reset', () => {
    expect(rateLimitHeaders(windowOf(7, now + 30_000, 20), now)).toStrictEqual({
      'x-ratelimit-limit': '20',
      'x-ratelimit-remaining': '7',
      'x-ratelimit-reset': '30',
    })
  })

  it.each([
    [30_001, '31'],
    [29_999, '30'],
    [1_500, '2'],
    [1, '1'],
    [0, '1'],
    [-5_000, '1'],
  ])('should give %d ms as whole seconds (at least 1): %s', (delta, seconds) => {
    expect(rateLimitHeaders(windowOf(0, now + delta), now)['x-ratelimit-reset']).toBe(seconds)
  })
})

describe('rateLimitedError', () => {
  const now = 1_700_000_000_000
  const limit = windowOf(0, now + 12_345, 60)

  it('should be a 429 RATE_LIMITED rate_limit_error', () => {
    const error = rateLimitedError(limit, now, 'This API key is over its rate limit')
    expect(error).toBeInstanceOf(GatewayError)
    expect(error.code).toBe('RATE_LIMITED')
    expect(error.status).toBe(429)
    expect(error.type).toBe('rate_limit_error')
  })

  it('should carry retry-after equal to the reset and the x-ratelimit headers', () => {
    const error = rateLimitedError(limit, now, 'Over')
    expect(error.headers).toStrictEqual({
      'x-ratelimit-limit': '60',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '13',
      'retry-after': '13',
    })
  })

  it('should send the headers and the OpenAI envelope on the response', async () => {
    const response = rateLimitedError(limit, now, 'Over').toResponse('req_1')
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe('13')
    expect(response.headers.get('x-ratelimit-limit')).toBe('60')
    const body: unknown = await response.json()
    expect(body).toMatchObject({ error: { code: 'RATE_LIMITED', type: 'rate_limit_error' } })
  })

  it('should say what is limited, the limit and when to retry', () => {
    const { message } = rateLimitedError(limit, now, "Organisation 'acme' is over its rate limit")
    expect(message).toContain("Organisation 'acme' is over its rate limit")
    expect(message).toContain('60 requests per minute')
    expect(message).toContain('13 s')
  })

  it('should never have an empty message, even with nothing to name', () => {
    expect(rateLimitedError(windowOf(0, now), now, '').message.length).toBeGreaterThan(0)
    expect(rateLimitedError(windowOf(0, now), now, '').headers['retry-after']).toBe('1')
  })
})

describe('monthlyLimitError', () => {
  // 27 February 2025 00:00 UTC: two days (2025 is a common year) until 1 March.
  const now = Date.UTC(2025, 1, 27)

  it('should be a 429 MONTHLY_LIMIT_EXCEEDED rate_limit_error', () => {
    const error = monthlyLimitError(1_000, now)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error.code).toBe('MONTHLY_LIMIT_EXCEEDED')
    expect(error.status).toBe(429)
    expect(error.type).toBe('rate_limit_error')
  })

  it('should ask to retry at the start of next month and tell the SDKs not to retry', () => {
    const error = monthlyLimitError(1_000, now)
    expect(error.headers).toStrictEqual({
      'retry-after': String(2 * DAY),
      'x-should-retry': 'false',
    })
  })

  it('should count retry-after across the year end', () => {
    const error = monthlyLimitError(5, Date.UTC(2024, 11, 31, 23, 59, 30))
    expect(error.headers['retry-after']).toBe('30')
  })

  it('should name the limit in a non-empty message, also for a limit of 0', () => {
    expect(monthlyLimitError(1_000, now).message).toContain('1000 requests')
    expect(monthlyLimitError(0, now).message.length).toBeGreaterThan(0)
  })

  it('should send x-should-retry on the response', () => {
    const response = monthlyLimitError(10, now).toResponse(undefined)
    expect(response.status).toBe(429)
    expect(response.headers.get('x-should-retry')).toBe('false')
    expect(response.headers.get('retry-after')).toBe(String(2 * DAY))
  })
})

describe('subscriptionError', () => {
  const serving: readonly SubscriptionStatus[] = ['active', 'trialing', 'past_due']
  const refused: readonly SubscriptionStatus[] = [
    'paused',
    'incomplete',
    'incomplete_expired',
    'unpaid',
    'canceled',
  ]

  it('should cover all eight statuses, three of them serving', () => {
    expect([...serving, ...refused].sort()).toStrictEqual([...SUBSCRIPTION_STATUSES].sort())
    expect([...SERVING_STATUSES].sort()).toStrictEqual([...serving].sort())
  })

  it.each(serving)('should serve an organisation whose subscription is %s', (status) => {
    expect(subscriptionError(tenantWith(status))).toBeUndefined()
  })

  it.each(refused)('should refuse an organisation whose subscription is %s with 402', (status) => {
    const error = subscriptionError(tenantWith(status))
    expect(error).toBeInstanceOf(GatewayError)
    expect(error?.code).toBe('SUBSCRIPTION_INACTIVE')
    expect(error?.status).toBe(402)
    expect(error?.type).toBe('permission_error')
    expect(error?.headers).toStrictEqual({ 'x-should-retry': 'false' })
    expect(error?.message).toContain(`'acme'`)
    expect(error?.message).toContain(`is ${status};`)
  })
})
