import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import {
  EMPTY_POSTERIOR,
  credibleInterval,
  forgetting,
  meanOf,
  posteriorsOfHash,
  sampleBeta,
  thompsonOrder,
  trafficShares,
  withReplacedReward,
  withReward,
  type Posterior,
} from './posterior'

/** The posterior after `count` feedbacks of which a share `good` were 1 and the rest 0. */
const rated = (count: number, good: number, gamma = 1): Posterior => {
  let p = EMPTY_POSTERIOR
  for (let i = 0; i < count; i++) p = withReward(p, i < good * count ? 1 : 0, gamma)
  return p
}

describe('updating a posterior', () => {
  it('should add a reward and its shortfall, and count the feedback', () => {
    expect(withReward(EMPTY_POSTERIOR, 0.75, 1)).toEqual({ a: 0.75, b: 0.25, n: 1 })
    expect(withReward({ a: 2, b: 2, n: 4 }, 1, 0.5)).toEqual({ a: 2, b: 1, n: 5 })
  })

  it('should clamp a reward to [0, 1]', () => {
    expect(withReward(EMPTY_POSTERIOR, 7, 1)).toEqual({ a: 1, b: 0, n: 1 })
    expect(withReward(EMPTY_POSTERIOR, Number.NaN, 1)).toEqual({ a: 0, b: 1, n: 1 })
  })

  it('should halve old evidence after a half-life of feedbacks', () => {
    const gamma = forgetting(100)
    let p: Posterior = { a: 100, b: 0, n: 100 }
    for (let i = 0; i < 100; i++) p = withReward(p, 0, gamma)
    // The old 100 good ones now weigh 50; the new 100 bad ones, forgotten along the way,
    // sum(gamma^k, k < 100) = 0.5 / (1 − gamma).
    expect(p.a).toBeCloseTo(50, 6)
    expect(p.b).toBeCloseTo(0.5 / (1 - gamma), 6)
    expect(forgetting(0)).toBe(1)
  })

  it('should replace a repeated reward without counting it again', () => {
    const p = withReward(EMPTY_POSTERIOR, 0.2, 1)
    const replaced = withReplacedReward(p, 0.2, 0.9)
    expect(replaced.a).toBeCloseTo(0.9, 9)
    expect(replaced.b).toBeCloseTo(0.1, 9)
    expect(replaced.n).toBe(1)
  })

  it('should notice a target that degrades within a fraction of a half-life', () => {
    const gamma = forgetting(100)
    let p = rated(1000, 0.8, gamma)
    let after = 0
    while (meanOf(p) >= 0.7) {
      p = withReward(p, after % 2 === 0 ? 1 : 0, gamma) // now 0.5
      after++
    }
    expect(after).toBeLessThan(100)
  })
})

describe('sampling', () => {
  it('should draw Beta samples with the right mean and spread', () => {
    const random = seededRandom(7)
    const draws = Array.from({ length: 20_000 }, () => sampleBeta(3, 7, random))
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length
    const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length
    expect(mean).toBeCloseTo(0.3, 2)
    expect(variance).toBeCloseTo((3 * 7) / (100 * 11), 3)
    expect(draws.every((x) => x >= 0 && x <= 1)).toBe(true)
    // Shapes below 1 take the boosted path.
    const small = Array.from({ length: 20_000 }, () => sampleBeta(0.5, 0.5, random))
    expect(small.reduce((s, x) => s + x, 0) / small.length).toBeCloseTo(0.5, 1)
  })

  it('should give a credible interval around the mean that narrows with evidence', () => {
    const random = seededRandom(3)
    const few = credibleInterval(rated(10, 0.7), random)
    const many = credibleInterval(rated(1000, 0.7), random)
    expect(few[0]).toBeLessThan(0.7)
    expect(few[1]).toBeGreaterThan(0.6)
    expect(many[0]).toBeGreaterThan(0.66)
    expect(many[1]).toBeLessThan(0.74)
    expect(many[1] - many[0]).toBeLessThan(few[1] - few[0])
  })
})

describe('Thompson sampling', () => {
  const learned = [rated(300, 0.6), rated(300, 0.8), rated(300, 0.7)]

  it('should order every target once, the best first almost always', () => {
    const random = seededRandom(11)
    let best = 0
    for (let i = 0; i < 2_000; i++) {
      const order = thompsonOrder({ posteriors: learned, minFeedback: 10, floor: 0, random })
      expect([...order].sort()).toEqual([0, 1, 2])
      if (order[0] === 1) best++
    }
    expect(best / 2_000).toBeGreaterThan(0.97)
  })

  it('should explore the targets short of the minimum first, uniformly', () => {
    const random = seededRandom(5)
    const posteriors = [rated(300, 0.9), rated(3, 0.1), undefined]
    const firsts = [0, 0, 0]
    for (let i = 0; i < 3_000; i++) {
      const first = thompsonOrder({ posteriors, minFeedback: 10, floor: 0, random })[0] ?? 0
      firsts[first] = (firsts[first] ?? 0) + 1
    }
    expect(firsts[0]).toBe(0)
    expect((firsts[1] ?? 0) / 3_000).toBeCloseTo(0.5, 1)
  })

  it('should keep a floor of exploration', () => {
    const shares = trafficShares(
      { posteriors: learned, minFeedback: 10, floor: 0.3 },
      seededRandom(2),
    )
    // A third of the floor lands on each target.
    expect(shares[0]).toBeGreaterThan(0.08)
    expect(shares[0]).toBeLessThan(0.13)
  })

  it('should let a penalty outweigh a small lead', () => {
    const shares = trafficShares(
      { posteriors: learned, penalties: [0, 0.3, 0], minFeedback: 10, floor: 0 },
      seededRandom(9),
    )
    expect(shares[2]).toBeGreaterThan(0.9)
  })
})

describe('posteriorsOfHash', () => {
  it('should read a flat HGETALL answer and an object alike', () => {
    const flat = ['openai/gpt-4o|a', '2.5', 'openai/gpt-4o|b', '0.5', 'openai/gpt-4o|n', '3']
    const expected = new Map([['openai/gpt-4o', { a: 2.5, b: 0.5, n: 3 }]])
    expect(posteriorsOfHash(flat)).toEqual(expected)
    expect(
      posteriorsOfHash({ 'openai/gpt-4o|a': '2.5', 'openai/gpt-4o|b': 0.5, 'openai/gpt-4o|n': 3 }),
    ).toEqual(expected)
  })

  it('should split at the last bar, so a target may hold one', () => {
    expect(posteriorsOfHash(['custom/a|b|a', '1'])).toEqual(
      new Map([['custom/a|b', { a: 1, b: 0, n: 0 }]]),
    )
  })

  it('should skip fields of another shape and values that are not non-negative numbers', () => {
    expect(
      posteriorsOfHash([
        '|a',
        '1',
        'x|c',
        '1',
        'x|a',
        '-1',
        'x|b',
        'NaN',
        'x|n',
        'oops',
        'odd-one-out',
      ]),
    ).toEqual(new Map())
    expect(posteriorsOfHash(null)).toEqual(new Map())
  })
})
