/**
 * Proves the in-memory shared state: the sliding window counts like `@upstash/ratelimit`'s
 * `slidingWindow` (the previous minute weighted by how much of it still overlaps, floored, plus
 * the current minute; expected values worked out by hand below), and `admit` applies organisation
 * and key windows, counts the monthly quota and refuses at the cap without counting.
 */
import { describe, expect, it } from 'vitest'
import type { AdmissionRequest } from '..'
import { memoryState, slidingWindow } from './memory-state'

const MINUTE = 60_000
/** The start of a window: window boundaries are multiples of a minute since the epoch. */
const T = 28_333_333 * MINUTE

/** A clock the test moves by hand. */
const clock = (start: number): { now: () => number; set: (at: number) => void } => {
  let at = start
  return {
    now: () => at,
    set: (next) => {
      at = next
    },
  }
}

/** Calls `limit` `times` times and returns the `remaining` values of the admitted calls. */
const drain = (
  limit: (id: string, max: number) => { success: boolean; remaining: number },
  id: string,
  max: number,
  times: number,
): number[] => {
  const remaining: number[] = []
  for (let i = 0; i < times; i++) {
    const result = limit(id, max)
    if (result.success) remaining.push(result.remaining)
  }
  return remaining
}

describe('slidingWindow', () => {
  it('should admit exactly `limit` requests in a fresh window, counting remaining down', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    const results = Array.from({ length: 6 }, () => limit('a', 5))
    expect(results.map((r) => r.success)).toStrictEqual([true, true, true, true, true, false])
    expect(results.map((r) => r.remaining)).toStrictEqual([4, 3, 2, 1, 0, 0])
    expect(results.every((r) => r.limit === 5)).toBe(true)
  })

  it('should report the end of the current window as the reset', () => {
    const time = clock(T)
    const limit = slidingWindow(time.now)
    expect(limit('a', 5).reset).toBe(T + MINUTE)
    time.set(T + MINUTE - 1)
    expect(limit('a', 5).reset).toBe(T + MINUTE)
    time.set(T + MINUTE)
    expect(limit('a', 5).reset).toBe(T + 2 * MINUTE)
  })

  it('should keep identifiers apart', () => {
    const limit = slidingWindow(clock(T).now)
    expect(drain(limit, 'a', 2, 5)).toStrictEqual([1, 0])
    expect(drain(limit, 'b', 2, 5)).toStrictEqual([1, 0])
  })

  it('should count a full previous window at the very start of the next one', () => {
    const time = clock(T + 10_000)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 10, 10)).toHaveLength(10)
    time.set(T + MINUTE) // overlap 1: floor(10 × 1) = 10 used
    expect(limit('a', 10)).toMatchObject({ success: false, remaining: 0, reset: T + 2 * MINUTE })
  })

  it('should weight the previous window by how much of it still overlaps', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 10, 10)).toHaveLength(10)

    // 15 s into the next window: 75 % overlap, floor(10 × 0.75) = 7 used → 3 admitted.
    time.set(T + MINUTE + 15_000)
    expect(drain(limit, 'a', 10, 10)).toStrictEqual([2, 1, 0])

    // 45 s in: 25 % overlap, floor(10 × 0.25) = 2, plus the 3 admitted → 5 used, 5 admitted.
    time.set(T + MINUTE + 45_000)
    expect(drain(limit, 'a', 10, 10)).toStrictEqual([4, 3, 2, 1, 0])
  })

  it('should floor the weighted previous count', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 7, 7)).toHaveLength(7)
    // Half way: floor(7 × 0.5) = floor(3.5) = 3 used → remaining 7 - 3 - 1 = 3 after one request.
    time.set(T + MINUTE + 30_000)
    expect(drain(limit, 'a', 7, 10)).toStrictEqual([3, 2, 1, 0])
  })

  it('should carry the count of the window just before, not an older one', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 10, 8)).toHaveLength(8)
    // Next window, 30 s in: floor(8 × 0.5) = 4 used; two more admitted (remaining 5, 4).
    time.set(T + MINUTE + 30_000)
    expect(drain(limit, 'a', 10, 2)).toStrictEqual([5, 4])
    // The window after that, 30 s in: only those 2 count, floor(2 × 0.5) = 1 → remaining 8.
    time.set(T + 2 * MINUTE + 30_000)
    expect(limit('a', 10)).toMatchObject({ success: true, remaining: 8 })
  })

  it('should not count refused requests', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 2, 7)).toHaveLength(2) // 5 refused
    // Half way into the next window: floor(2 × 0.5) = 1 (not floor(7 × 0.5) = 3) → 1 admitted.
    time.set(T + MINUTE + 30_000)
    expect(drain(limit, 'a', 2, 3)).toStrictEqual([0])
  })

  it.each([
    ['two windows later', T + 2 * MINUTE],
    ['two windows later, near the end', T + 3 * MINUTE - 1],
    ['an hour later', T + 60 * MINUTE + 1_000],
  ])('should forget everything after a gap of %s', (_name, later) => {
    const time = clock(T + MINUTE - 1)
    const limit = slidingWindow(time.now)
    expect(drain(limit, 'a', 5, 5)).toHaveLength(5)
    time.set(later)
    expect(drain(limit, 'a', 5, 10)).toStrictEqual([4, 3, 2, 1, 0])
  })

  it('should keep live windows when it sweeps old identifiers', () => {
    const time = clock(T + 1_000)
    const limit = slidingWindow(time.now)
    for (let i = 0; i < 10_000; i++) limit(`id${i}`, 1)
    // One window later a new identifier triggers a sweep; every window is still live.
    time.set(T + MINUTE)
    expect(limit('new', 1).success).toBe(true)
    expect(limit('id0', 1).success).toBe(false) // floor(1 × 1) = 1 from the previous window
    expect(limit('id9999', 1).success).toBe(false)
  })
})

const request = (overrides: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  orgId: 'org_1',
  orgRpm: null,
  keyId: 'key_1',
  keyRpm: null,
  countsTowardQuota: true,
  month: '2025-01',
  monthlyLimit: null,
  counterTtlSeconds: 3_600,
  ...overrides,
})

describe('memoryState', () => {
  it('should have no key cache and epoch 0', async () => {
    const state = memoryState({ ipRpm: 10 })
    const name = { kind: 'key', keyHash: 'h'.repeat(64) } as const
    await state.writeCached(name, { epoch: 3, config: { any: 'thing' } })
    expect(await state.readCached(name)).toStrictEqual({
      cached: undefined,
      epoch: 0,
    })
  })

  it('should check no window when neither the organisation nor the key has a limit', async () => {
    const state = memoryState({ ipRpm: 10, now: clock(T).now })
    const admission = await state.admit(request())
    expect(admission.org).toBeUndefined()
    expect(admission.key).toBeUndefined()
    expect(admission.epoch).toBe(0)
  })

  it('should check the organisation window alone when only it has a limit', async () => {
    const state = memoryState({ ipRpm: 10, now: clock(T).now })
    const admission = await state.admit(request({ orgRpm: 3 }))
    expect(admission.org).toStrictEqual({
      success: true,
      limit: 3,
      remaining: 2,
      reset: T + MINUTE,
    })
    expect(admission.key).toBeUndefined()
  })

  it('should check the key window alone when only it has a limit', async () => {
    const state = memoryState({ ipRpm: 10, now: clock(T).now })
    const admission = await state.admit(request({ keyRpm: 4 }))
    expect(admission.org).toBeUndefined()
    expect(admission.key).toStrictEqual({
      success: true,
      limit: 4,
      remaining: 3,
      reset: T + MINUTE,
    })
  })

  it("should share the organisation's window across its keys and keep key windows apart", async () => {
    const state = memoryState({ ipRpm: 10, now: clock(T).now })
    const first = await state.admit(request({ orgRpm: 3, keyRpm: 2, keyId: 'key_1' }))
    const second = await state.admit(request({ orgRpm: 3, keyRpm: 2, keyId: 'key_2' }))
    const third = await state.admit(request({ orgRpm: 3, keyRpm: 2, keyId: 'key_1' }))
    const fourth = await state.admit(request({ orgRpm: 3, keyRpm: 2, keyId: 'key_2' }))
    expect([first, second, third, fourth].map((a) => a.org?.remaining)).toStrictEqual([2, 1, 0, 0])
    expect(fourth.org?.success).toBe(false)
    expect([first, second, third].map((a) => a.key?.remaining)).toStrictEqual([1, 1, 0])
    const other = await state.admit(request({ orgId: 'org_2', orgRpm: 3 }))
    expect(other.org).toMatchObject({ success: true, remaining: 2 })
  })

  it('should refuse the key window once its limit is spent', async () => {
    const state = memoryState({ ipRpm: 10, now: clock(T).now })
    await state.admit(request({ keyRpm: 1 }))
    const admission = await state.admit(request({ keyRpm: 1 }))
    expect(admission.key).toStrictEqual({
      success: false,
      limit: 1,
      remaining: 0,
      reset: T + MINUTE,
    })
  })

  it('should count requests toward the month, including the one admitted', async () => {
    const state = memoryState({ ipRpm: 10 })
    const used: number[] = []
    for (let i = 0; i < 3; i++) used.push((await state.admit(request())).quota.used)
    expect(used).toStrictEqual([1, 2, 3])
  })

  it('should count without limit when the monthly limit is null', async () => {
    const state = memoryState({ ipRpm: 10 })
    let last = await state.admit(request({ monthlyLimit: null }))
    for (let i = 0; i < 49; i++) last = await state.admit(request({ monthlyLimit: null }))
    expect(last.quota).toStrictEqual({ admitted: true, used: 50 })
  })

  it('should not count a request that does not count toward the quota', async () => {
    const state = memoryState({ ipRpm: 10 })
    await state.admit(request())
    await state.admit(request())
    const free = await state.admit(request({ countsTowardQuota: false }))
    expect(free.quota).toStrictEqual({ admitted: true, used: 2 })
    expect((await state.admit(request())).quota.used).toBe(3)
  })

  it('should refuse at the cap and leave the counter where it was', async () => {
    const state = memoryState({ ipRpm: 10 })
    const capped = request({ monthlyLimit: 2 })
    expect((await state.admit(capped)).quota).toStrictEqual({ admitted: true, used: 1 })
    expect((await state.admit(capped)).quota).toStrictEqual({ admitted: true, used: 2 })
    expect((await state.admit(capped)).quota).toStrictEqual({ admitted: false, used: 2 })
    expect((await state.admit(capped)).quota).toStrictEqual({ admitted: false, used: 2 })
    // Raising the cap shows the refusals were not counted.
    expect((await state.admit(request({ monthlyLimit: 3 }))).quota).toStrictEqual({
      admitted: true,
      used: 3,
    })
  })

  it('should refuse every counted request under a monthly limit of 0', async () => {
    const state = memoryState({ ipRpm: 10 })
    expect((await state.admit(request({ monthlyLimit: 0 }))).quota).toStrictEqual({
      admitted: false,
      used: 0,
    })
  })

  it('should keep one counter per organisation and month', async () => {
    const state = memoryState({ ipRpm: 10 })
    await state.admit(request({ orgId: 'org_1', month: '2025-01' }))
    await state.admit(request({ orgId: 'org_1', month: '2025-01' }))
    expect((await state.admit(request({ orgId: 'org_1', month: '2025-02' }))).quota.used).toBe(1)
    expect((await state.admit(request({ orgId: 'org_2', month: '2025-01' }))).quota.used).toBe(1)
    expect((await state.admit(request({ orgId: 'org_1', month: '2025-01' }))).quota.used).toBe(3)
  })

  it('should give a released request back to the month', async () => {
    const state = memoryState({ ipRpm: 10 })
    const capped = request({ monthlyLimit: 2 })
    await state.admit(capped)
    await state.admit(capped)
    expect((await state.admit(capped)).quota.admitted).toBe(false)
    await state.releaseQuota('org_1', '2025-01')
    expect((await state.admit(capped)).quota).toStrictEqual({ admitted: true, used: 2 })
  })

  it('should release only from the named organisation and month', async () => {
    const state = memoryState({ ipRpm: 10 })
    await state.admit(request())
    await state.releaseQuota('org_1', '2025-02')
    await state.releaseQuota('org_2', '2025-01')
    expect((await state.admit(request())).quota.used).toBe(2)
  })

  it('should never release below zero', async () => {
    const state = memoryState({ ipRpm: 10 })
    await state.releaseQuota('org_1', '2025-01') // nothing counted yet
    expect((await state.admit(request())).quota.used).toBe(1)
    await state.releaseQuota('org_1', '2025-01')
    await state.releaseQuota('org_1', '2025-01')
    await state.releaseQuota('org_1', '2025-01')
    expect((await state.admit(request())).quota.used).toBe(1)
  })

  it('should limit each client IP to ipRpm requests per window', async () => {
    const state = memoryState({ ipRpm: 3, now: clock(T + 5_000).now })
    const results = [
      await state.limitIp('192.0.2.1'),
      await state.limitIp('192.0.2.1'),
      await state.limitIp('192.0.2.1'),
      await state.limitIp('192.0.2.1'),
    ]
    expect(results.map((r) => [r.success, r.remaining])).toStrictEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ])
    expect(results.every((r) => r.limit === 3 && r.reset === T + MINUTE)).toBe(true)
    expect(await state.limitIp('192.0.2.2')).toMatchObject({ success: true, remaining: 2 })
  })

  it('should keep IP, organisation and key windows apart even for equal identifiers', async () => {
    const state = memoryState({ ipRpm: 1, now: clock(T).now })
    expect((await state.limitIp('x')).success).toBe(true)
    const admission = await state.admit(request({ orgId: 'x', orgRpm: 1, keyId: 'x', keyRpm: 1 }))
    expect(admission.org?.success).toBe(true)
    expect(admission.key?.success).toBe(true)
  })

  it('should slide the IP window like the others', async () => {
    const time = clock(T + 1_000)
    const state = memoryState({ ipRpm: 4, now: time.now })
    for (let i = 0; i < 4; i++) await state.limitIp('192.0.2.9')
    // 30 s into the next window: floor(4 × 0.5) = 2 used → remaining 4 - 2 - 1 = 1.
    time.set(T + MINUTE + 30_000)
    expect(await state.limitIp('192.0.2.9')).toMatchObject({ success: true, remaining: 1 })
  })
})
