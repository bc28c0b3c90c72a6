import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import {
  DEFAULT_RETRY,
  isRetryable,
  parseRetryAfter,
  retryDelayMs,
  shouldFailOver,
  type Failure,
  type RetryPolicy,
} from './retry'

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0)
const status = (code: number, retryAfter?: string | null): Failure =>
  retryAfter === undefined
    ? { kind: 'status', status: code }
    : { kind: 'status', status: code, retryAfter }

describe('isRetryable and shouldFailOver', () => {
  it.each<[string, Failure, boolean]>([
    ['429', status(429), true],
    ['500', status(500), true],
    ['502', status(502), true],
    ['503', status(503), true],
    ['504', status(504), true],
    ['529 (Anthropic overloaded)', status(529), true],
    ['599', status(599), true],
    ['network error', { kind: 'network' }, true],
    ['timeout', { kind: 'timeout' }, true],
    ['400', status(400), false],
    ['401', status(401), false],
    ['403', status(403), false],
    ['404', status(404), false],
    ['408', status(408), false],
    ['409', status(409), false],
    ['413', status(413), false],
    ['422', status(422), false],
    ['200', status(200), false],
    ['600', status(600), false],
  ])('should classify %s', (_, failure, expected) => {
    expect(isRetryable(failure)).toBe(expected)
    expect(shouldFailOver(failure)).toBe(expected)
  })
})

describe('parseRetryAfter', () => {
  it.each<[string | null | undefined, number | undefined]>([
    ['0', 0],
    ['2', 2_000],
    [' 7 ', 7_000],
    ['1.5', 1_500],
    ['120', 120_000],
    [new Date(NOW + 3_000).toUTCString(), 3_000],
    ['Wed, 15 Jan 2025 12:00:10 GMT', 10_000],
    ['Wednesday, 15-Jan-25 12:00:04 GMT', 4_000],
    ['Wed Jan 15 12:00:06 2025', 6_000],
    ['Wed, 15 Jan 2025 11:00:00 GMT', 0],
    [null, undefined],
    [undefined, undefined],
    ['', undefined],
    ['-5', undefined],
    ['soon', undefined],
    ['2025-01-15T12:00:10Z', undefined],
    ['Wed, 99 Foo 2025 12:00:00 GMT', undefined],
  ])('should parse %j as %s ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected)
  })
})

describe('retryDelayMs', () => {
  const policy: RetryPolicy = {
    maxAttemptsPerTarget: 3,
    baseDelayMs: 100,
    maxDelayMs: 1_500,
    retryAfterCapMs: 5_000,
  }

  it('should have sensible defaults', () => {
    expect(DEFAULT_RETRY).toEqual({
      maxAttemptsPerTarget: 2,
      baseDelayMs: 200,
      maxDelayMs: 2_000,
      retryAfterCapMs: 5_000,
    })
  })

  it('should keep full-jitter backoff within 0 and min(max, base · 2^(n − 1))', () => {
    const random = seededRandom(2_024)
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
      const delays = Array.from({ length: 2_000 }, () =>
        retryDelayMs(attempt, { kind: 'network' }, policy, random, NOW),
      )
      for (const delay of delays) {
        expect(Number.isInteger(delay)).toBe(true)
        expect(delay).toBeGreaterThanOrEqual(0)
        expect(delay).toBeLessThanOrEqual(ceiling)
      }
      // Full jitter spans the whole range, not just its top or bottom.
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.05)
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.95)
    }
  })

  it('should double the ceiling per retry until the maximum', () => {
    const top = (attempt: number): number =>
      retryDelayMs(attempt, { kind: 'timeout' }, policy, () => 1 - 2 ** -40, NOW)
    expect([1, 2, 3, 4, 5, 6].map(top)).toEqual([99, 199, 399, 799, 1_499, 1_499])
    expect(retryDelayMs(1, { kind: 'timeout' }, policy, () => 0, NOW)).toBe(0)
  })

  it('should treat an attempt below 1 or not an integer as the first retry', () => {
    const half = (): number => 0.5
    expect(retryDelayMs(0, status(503), policy, half, NOW)).toBe(50)
    expect(retryDelayMs(Number.NaN, status(503), policy, half, NOW)).toBe(50)
    expect(retryDelayMs(2.7, status(503), policy, half, NOW)).toBe(100)
  })

  it('should wait what Retry-After asks instead of the backoff', () => {
    expect(retryDelayMs(1, status(429, '3'), policy, () => 0, NOW)).toBe(3_000)
    expect(retryDelayMs(5, status(503, '0'), policy, () => 0.9, NOW)).toBe(0)
    const date = new Date(NOW + 2_000).toUTCString()
    expect(retryDelayMs(1, status(503, date), policy, () => 0.9, NOW)).toBe(2_000)
  })

  it('should cap Retry-After in seconds and as an HTTP-date', () => {
    expect(retryDelayMs(1, status(429, '60'), policy, () => 0, NOW)).toBe(5_000)
    const date = new Date(NOW + 3_600_000).toUTCString()
    expect(retryDelayMs(1, status(429, date), policy, () => 0, NOW)).toBe(5_000)
    expect(retryDelayMs(1, status(429, '60'), DEFAULT_RETRY, () => 0, NOW)).toBe(5_000)
  })

  it('should fall back to the backoff when Retry-After is absent or unparseable', () => {
    expect(retryDelayMs(2, status(503, null), policy, () => 0.5, NOW)).toBe(100)
    expect(retryDelayMs(2, status(503, 'later'), policy, () => 0.5, NOW)).toBe(100)
    expect(retryDelayMs(2, status(503), policy, () => 0.5, NOW)).toBe(100)
  })
})
