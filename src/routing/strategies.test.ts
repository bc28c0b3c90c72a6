import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import {
  attemptOrder,
  updateEwma,
  type LatencySample,
  type LatencyStats,
  type RouteTarget,
  type Strategy,
} from './strategies'

const targets = (...ids: string[]): RouteTarget[] => ids.map((id) => ({ id }))
const ids = (order: readonly RouteTarget[]): string[] => order.map((target) => target.id)
const stats = (entries: Record<string, number>): LatencyStats =>
  new Map(Object.entries(entries).map(([id, ewmaMs]) => [id, { ewmaMs, samples: 10 }]))

/**
 * How many times each id is picked first in `n` orders. Tolerances below are 4 standard deviations
 * of the binomial count, sqrt(n · p · (1 − p)): a correct implementation falls outside with
 * probability < 1e-4 per assertion for an arbitrary seed, while a share off by even 2 percentage
 * points (≥ 7 standard deviations at n = 20,000) fails. The seeds make each run reproducible.
 */
const firstCounts = (n: number, order: () => RouteTarget[]): Map<string, number> => {
  const counts = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const first = order()[0]?.id ?? 'none'
    counts.set(first, (counts.get(first) ?? 0) + 1)
  }
  return counts
}

const expectShare = (count: number | undefined, n: number, p: number): void => {
  const sd = Math.sqrt(n * p * (1 - p))
  expect(Math.abs((count ?? 0) - n * p)).toBeLessThanOrEqual(4 * sd)
}

describe('attemptOrder', () => {
  it.each<Strategy>(['fallback', 'round-robin', 'weighted', 'latency'])(
    'should return every target exactly once for %s',
    (strategy) => {
      const random = seededRandom(7)
      const declared = targets('a', 'b', 'c', 'd', 'e')
      for (let counter = 0; counter < 200; counter++) {
        const order = attemptOrder({ strategy, targets: declared, counter, random })
        expect(ids(order).sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
      }
    },
  )

  it.each<Strategy>(['fallback', 'round-robin', 'weighted', 'latency'])(
    'should handle zero and one target for %s',
    (strategy) => {
      const random = seededRandom(1)
      expect(attemptOrder({ strategy, targets: [], counter: 3, random })).toEqual([])
      expect(ids(attemptOrder({ strategy, targets: targets('a'), counter: 3, random }))).toEqual([
        'a',
      ])
    },
  )

  it('should keep the declared order for fallback whatever the counter and random source', () => {
    const order = attemptOrder({
      strategy: 'fallback',
      targets: targets('a', 'b', 'c'),
      counter: 5,
      random: () => 0.99,
    })
    expect(ids(order)).toEqual(['a', 'b', 'c'])
  })

  it.each([
    [0, ['a', 'b', 'c']],
    [1, ['b', 'c', 'a']],
    [2, ['c', 'a', 'b']],
    [3, ['a', 'b', 'c']],
    [1_000_000_001, ['c', 'a', 'b']],
    [-1, ['c', 'a', 'b']],
  ])('should rotate round-robin by counter %i', (counter, expected) => {
    const order = attemptOrder({
      strategy: 'round-robin',
      targets: targets('a', 'b', 'c'),
      counter,
      random: () => 0,
    })
    expect(ids(order)).toEqual(expected)
  })

  it('should spread round-robin evenly over consecutive counters', () => {
    const declared = targets('a', 'b', 'c', 'd')
    const firsts = Array.from({ length: 8 }, (_, counter) =>
      attemptOrder({ strategy: 'round-robin', targets: declared, counter, random: () => 0 }),
    ).map((order) => order[0]?.id)
    expect(firsts).toEqual(['a', 'b', 'c', 'd', 'a', 'b', 'c', 'd'])
  })

  it('should pick weighted targets in proportion to their weights over 20,000 picks', () => {
    const declared: RouteTarget[] = [
      { id: 'a', weight: 5 },
      { id: 'b', weight: 3 },
      { id: 'c' }, // missing weight counts as 1
      { id: 'd', weight: 1 },
      { id: 'off', weight: 0 },
    ]
    const random = seededRandom(20_000)
    const n = 20_000
    const counts = firstCounts(n, () =>
      attemptOrder({ strategy: 'weighted', targets: declared, counter: 0, random }),
    )
    expectShare(counts.get('a'), n, 0.5)
    expectShare(counts.get('b'), n, 0.3)
    expectShare(counts.get('c'), n, 0.1)
    expectShare(counts.get('d'), n, 0.1)
    expect(counts.get('off')).toBeUndefined()
  })

  it('should follow a weighted pick with the other targets in declared order', () => {
    const declared: RouteTarget[] = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
      { id: 'd', weight: 1 },
    ]
    // 0.6 · 4 = 2.4 falls in c's slice [2, 3).
    const order = attemptOrder({
      strategy: 'weighted',
      targets: declared,
      counter: 0,
      random: () => 0.6,
    })
    expect(ids(order)).toEqual(['c', 'a', 'b', 'd'])
  })

  it('should never put a weight-0 target first, even at the top of the random range', () => {
    const declared: RouteTarget[] = [
      { id: 'a', weight: 2 },
      { id: 'off', weight: 0 },
    ]
    for (const value of [0, 0.5, 0.999_999_999, 1]) {
      const order = attemptOrder({
        strategy: 'weighted',
        targets: declared,
        counter: 0,
        random: () => value,
      })
      expect(ids(order)).toEqual(['a', 'off'])
    }
  })

  it('should pick uniformly when every weight is 0 or invalid', () => {
    const declared: RouteTarget[] = [
      { id: 'a', weight: 0 },
      { id: 'b', weight: -3 },
      { id: 'c', weight: Number.NaN },
    ]
    const random = seededRandom(3)
    const n = 20_000
    const counts = firstCounts(n, () =>
      attemptOrder({ strategy: 'weighted', targets: declared, counter: 0, random }),
    )
    for (const id of ['a', 'b', 'c']) expectShare(counts.get(id), n, 1 / 3)
  })

  it('should put the faster of two sampled targets first at power-of-two-choices shares', () => {
    // Pairs are uniform over {a,b}, {a,c}, {b,c}: a wins two, b one, c none; exploration then gives
    // each target explore / 3 more.
    const latency = stats({ a: 100, b: 300, c: 900 })
    const declared = targets('c', 'b', 'a')
    const random = seededRandom(42)
    const n = 20_000
    const explore = 0.05
    const counts = firstCounts(n, () =>
      attemptOrder({
        strategy: 'latency',
        targets: declared,
        counter: 0,
        random,
        latency,
        explore,
      }),
    )
    expectShare(counts.get('a'), n, (1 - explore) * (2 / 3) + explore / 3)
    expectShare(counts.get('b'), n, (1 - explore) * (1 / 3) + explore / 3)
    expectShare(counts.get('c'), n, explore / 3)
  })

  it('should never put the slowest target first when exploration is off', () => {
    const latency = stats({ a: 100, b: 300, c: 900 })
    const random = seededRandom(9)
    const counts = firstCounts(5_000, () =>
      attemptOrder({
        strategy: 'latency',
        targets: targets('a', 'b', 'c'),
        counter: 0,
        random,
        latency,
        explore: 0,
      }),
    )
    expect(counts.get('c')).toBeUndefined()
  })

  it('should order the targets after the pick by EWMA ascending', () => {
    const latency = stats({ a: 500, b: 50, c: 900, d: 200 })
    const random = seededRandom(11)
    for (let i = 0; i < 200; i++) {
      const order = attemptOrder({
        strategy: 'latency',
        targets: targets('a', 'b', 'c', 'd'),
        counter: 0,
        random,
        latency,
      })
      const rest = order.slice(1).map((target) => latency.get(target.id)?.ewmaMs ?? -1)
      expect(rest).toEqual([...rest].sort((x, y) => x - y))
    }
  })

  it('should converge on the fastest target while still exploring every target', () => {
    const trueMs: Record<string, number> = { fast: 40, mid: 150, slow: 600 }
    const declared = targets('slow', 'mid', 'fast')
    const random = seededRandom(1234)
    const latency = new Map<string, LatencySample>()
    const explore = 0.05
    const warmUp = 2_000
    const n = 20_000
    const counts = new Map<string, number>()
    for (let i = 0; i < warmUp + n; i++) {
      const first = attemptOrder({
        strategy: 'latency',
        targets: declared,
        counter: i,
        random,
        latency,
        explore,
      })[0]
      if (first === undefined) throw new Error('empty order')
      // Observed latency: the target's true latency ± 20 %.
      const observed = (trueMs[first.id] ?? 0) * (0.8 + 0.4 * random())
      latency.set(first.id, updateEwma(latency.get(first.id), observed))
      if (i >= warmUp) counts.set(first.id, (counts.get(first.id) ?? 0) + 1)
    }
    const share = (id: string): number => (counts.get(id) ?? 0) / n
    expect(share('fast')).toBeGreaterThan(share('mid'))
    expect(share('mid')).toBeGreaterThan(share('slow'))
    expectShare(counts.get('fast'), n, (1 - explore) * (2 / 3) + explore / 3)
    // The slowest target is only ever first through exploration: explore / n of the time.
    expectShare(counts.get('slow'), n, explore / 3)
  })

  it('should try a target that has no samples yet', () => {
    const latency: LatencyStats = new Map([
      ['a', { ewmaMs: 80, samples: 50 }],
      ['b', { ewmaMs: 999, samples: 0 }], // samples 0: the EWMA is meaningless
    ])
    const order = attemptOrder({
      strategy: 'latency',
      targets: targets('a', 'b', 'fresh'),
      counter: 0,
      random: seededRandom(5),
      latency,
      explore: 0,
    })
    // Both unmeasured targets count as 0 ms, so they sort before the measured one.
    expect(ids(order.slice(1)).at(-1)).toBe('a')
    const random = seededRandom(6)
    const counts = firstCounts(3_000, () =>
      attemptOrder({
        strategy: 'latency',
        targets: targets('a', 'fresh'),
        counter: 0,
        random,
        latency,
        explore: 0,
      }),
    )
    expect(counts.get('fresh')).toBe(3_000)
  })

  it('should explore with the given probability, uniformly', () => {
    const latency = stats({ a: 10, b: 20, c: 30, d: 40 })
    const random = seededRandom(77)
    const n = 20_000
    const counts = firstCounts(n, () =>
      attemptOrder({
        strategy: 'latency',
        targets: targets('a', 'b', 'c', 'd'),
        counter: 0,
        random,
        latency,
        explore: 1,
      }),
    )
    for (const id of ['a', 'b', 'c', 'd']) expectShare(counts.get(id), n, 1 / 4)
  })
})

describe('updateEwma', () => {
  it('should take the first sample as-is', () => {
    expect(updateEwma(undefined, 250)).toEqual({ ewmaMs: 250, samples: 1 })
    expect(updateEwma({ ewmaMs: 9_999, samples: 0 }, 250)).toEqual({ ewmaMs: 250, samples: 1 })
  })

  it('should move the average alpha of the way towards each new sample', () => {
    const second = updateEwma({ ewmaMs: 100, samples: 1 }, 200)
    expect(second.ewmaMs).toBeCloseTo(120, 10) // 0.2 · 200 + 0.8 · 100
    expect(second.samples).toBe(2)
    const third = updateEwma(second, 200, 0.5)
    expect(third.ewmaMs).toBeCloseTo(160, 10) // 0.5 · 200 + 0.5 · 120
    expect(third.samples).toBe(3)
  })

  it('should converge geometrically on a constant latency', () => {
    let current = updateEwma(undefined, 1_000)
    for (let i = 0; i < 10; i++) current = updateEwma(current, 0)
    expect(current.ewmaMs).toBeCloseTo(1_000 * 0.8 ** 10, 6)
    expect(current.samples).toBe(11)
  })

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])(
    'should ignore the invalid sample %s',
    (ms) => {
      const previous = { ewmaMs: 100, samples: 3 }
      expect(updateEwma(previous, ms)).toBe(previous)
      expect(updateEwma(undefined, ms)).toEqual({ ewmaMs: 0, samples: 0 })
    },
  )

  it.each([0, -0.1, 1.5, Number.NaN])('should reject the smoothing factor %s', (alpha) => {
    expect(() => updateEwma(undefined, 10, alpha)).toThrow(/alpha/)
  })
})
