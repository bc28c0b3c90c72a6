/** @module Small helpers shared by the unit tests that run inside workerd (no Node imports). */
import type { Usage } from '../../src/types'

/** A seeded PRNG (mulberry32), so a failing random case can be replayed from its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A `Usage` value, positionally: prompt, completion, total, cached, reasoning. */
export const usage = (p: number, c: number, t: number, cached = 0, reasoning = 0): Usage => ({
  promptTokens: p,
  completionTokens: c,
  totalTokens: t,
  cachedTokens: cached,
  reasoningTokens: reasoning,
})
