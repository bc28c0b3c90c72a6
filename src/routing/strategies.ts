/**
 * @module Routing strategies: given a route's targets, the order in which to attempt them.
 *
 * Pure: the round-robin position, the random source and the latency statistics are passed in, so
 * the caller owns all state (and its sharing across isolates) and tests can replay a seed.
 *
 * Every strategy returns every target exactly once. The first is the strategy's pick; the rest are
 * the failover order, so a request whose first target fails always has somewhere else to go.
 *
 * - `fallback`: the declared order.
 * - `round-robin`: the declared order rotated by `counter % n`.
 * - `weighted`: the first target drawn with probability proportional to its weight; the others
 *   follow in declared order. A single draw keeps the failover order predictable (the operator
 *   wrote it) rather than re-randomising it with weighted sampling without replacement.
 * - `latency`: power-of-two-choices on the EWMA latency (Mitzenmacher, "The Power of Two Choices
 *   in Randomized Load Balancing", 2001): two distinct targets are sampled uniformly and the faster
 *   one goes first. Comparing two random targets rather than always taking the global minimum
 *   avoids sending every isolate's traffic to the same target at once on stale statistics. With
 *   probability `explore` a uniformly random target goes first instead, so a target whose EWMA is
 *   high from an old incident is still measured and its recovery noticed. The others follow by
 *   EWMA ascending.
 * - `feedback`: Thompson sampling on each target's reward posterior, less its cost and latency
 *   penalties (`feedback/posterior.ts`); the sampled order is the failover order. A request whose
 *   session already has a target keeps it first.
 */
import { thompsonOrder, type Posterior } from '../feedback/posterior'
import type { RoutingStrategy } from '../tenancy/schema'

/** One place a request may be sent, e.g. `openai/gpt-4o`; `weight` is used by `weighted` only. */
export type RouteTarget = { readonly id: string; readonly weight?: number }

/** The strategies a routing rule may name (the list is `tenancy/schema.ts`'s). */
export type Strategy = RoutingStrategy

/** An exponentially weighted moving average of a target's latency, and how many samples fed it. */
export type LatencySample = { readonly ewmaMs: number; readonly samples: number }

/** Latency statistics by target id. */
export type LatencyStats = ReadonlyMap<string, LatencySample>

export type OrderInput = {
  strategy: Strategy
  targets: readonly RouteTarget[]
  /** Round-robin position; the caller increments it per request. */
  counter: number
  /** Uniform in [0, 1), e.g. `Math.random` in production and a seeded PRNG in tests. */
  random: () => number
  /** Used by `latency` only. */
  latency?: LatencyStats
  /** Probability that `latency` puts a uniformly random target first; default 0.05. */
  explore?: number
  /** Used by `feedback` only: what routing learned from feedback (`feedback/posterior.ts`). */
  feedback?: FeedbackInput | undefined
}

export type FeedbackInput = {
  /** Each target's reward posterior, by target id. */
  readonly posteriors: ReadonlyMap<string, Posterior>
  /** What each target's draw loses for its cost and latency, by target id. */
  readonly penalties?: ReadonlyMap<string, number>
  readonly minFeedback: number
  readonly floor: number
  /** A target the request's session is kept on (while it is one of the targets). */
  readonly sticky?: string | undefined
}

/** How often `latency` explores when the caller does not say. */
export const DEFAULT_EXPLORE = 0.05

/** The default EWMA smoothing factor: each new sample moves the average 20 % of the way. */
export const DEFAULT_EWMA_ALPHA = 0.2

/** A draw from `random`, forced into [0, 1) so a misbehaving source cannot index out of range. */
const draw = (random: () => number): number => {
  const value = random()
  return Number.isFinite(value) && value > 0 ? Math.min(value, 1 - Number.EPSILON) : 0
}

/** A uniformly random index in [0, n). */
const randomIndex = (random: () => number, n: number): number => Math.floor(draw(random) * n)

/** `targets` with the element at `index` moved to the front, the rest in their order. */
const withFirst = (targets: readonly RouteTarget[], index: number): RouteTarget[] => {
  const first = targets[index]
  if (first === undefined) return [...targets]
  return [first, ...targets.slice(0, index), ...targets.slice(index + 1)]
}

/**
 * A target's effective weight: missing counts as 1; anything that is not a finite, non-negative
 * number counts as 0 (configuration is validated elsewhere; routing must not throw on it).
 */
const weightOf = (target: RouteTarget): number => {
  const weight = target.weight ?? 1
  return Number.isFinite(weight) && weight > 0 ? weight : 0
}

const rotate = (targets: readonly RouteTarget[], counter: number): RouteTarget[] => {
  const n = targets.length
  const shift = Number.isFinite(counter) ? ((Math.trunc(counter) % n) + n) % n : 0
  return [...targets.slice(shift), ...targets.slice(0, shift)]
}

const weightedFirst = (targets: readonly RouteTarget[], random: () => number): number => {
  const weights = targets.map(weightOf)
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  // All weights 0: nothing is preferred, so every target is equally likely.
  if (total === 0) return randomIndex(random, targets.length)
  const point = draw(random) * total
  let cumulative = 0
  let lastPositive = 0
  for (const [index, weight] of weights.entries()) {
    if (weight === 0) continue
    cumulative += weight
    lastPositive = index
    if (point < cumulative) return index
  }
  // Only reachable through floating-point rounding of the cumulative sum.
  return lastPositive
}

/** A target's EWMA; a target never measured counts as 0 ms, so it wins comparisons and is tried. */
const latencyOf = (target: RouteTarget, latency: LatencyStats | undefined): number => {
  const stats = latency?.get(target.id)
  return stats !== undefined && stats.samples > 0 ? stats.ewmaMs : 0
}

const latencyOrder = (
  targets: readonly RouteTarget[],
  random: () => number,
  latency: LatencyStats | undefined,
  explore: number,
): RouteTarget[] => {
  const n = targets.length
  const ms = targets.map((target) => latencyOf(target, latency))
  // Stable: equal latencies keep their declared order.
  const byLatency = [...targets.keys()].sort((a, b) => (ms[a] ?? 0) - (ms[b] ?? 0) || a - b)
  let first: number
  if (draw(random) < explore) {
    first = randomIndex(random, n)
  } else {
    const a = randomIndex(random, n)
    // A second index distinct from the first, uniformly among the other n − 1.
    const offset = 1 + randomIndex(random, n - 1)
    const b = (a + offset) % n
    const [low, high] = a < b ? [a, b] : [b, a]
    first = (ms[high] ?? 0) < (ms[low] ?? 0) ? high : low
  }
  const rest = byLatency.filter((index) => index !== first)
  return [first, ...rest].flatMap((index) => {
    const target = targets[index]
    return target === undefined ? [] : [target]
  })
}

const feedbackOrder = (
  targets: readonly RouteTarget[],
  random: () => number,
  feedback: FeedbackInput | undefined,
): RouteTarget[] => {
  const sticky = targets.findIndex((t) => t.id === feedback?.sticky)
  if (sticky >= 0) return withFirst(targets, sticky)
  const order = thompsonOrder({
    posteriors: targets.map((t) => feedback?.posteriors.get(t.id)),
    penalties: targets.map((t) => feedback?.penalties?.get(t.id) ?? 0),
    minFeedback: feedback?.minFeedback ?? 0,
    floor: feedback?.floor ?? 0,
    random: () => draw(random),
  })
  return order.flatMap((index) => {
    const target = targets[index]
    return target === undefined ? [] : [target]
  })
}

/** The full attempt order: every target exactly once, the first being the strategy's pick. */
export function attemptOrder(input: OrderInput): RouteTarget[] {
  const { strategy, targets, counter, random } = input
  if (targets.length <= 1) return [...targets]
  switch (strategy) {
    case 'fallback':
      return [...targets]
    case 'round-robin':
      return rotate(targets, counter)
    case 'weighted':
      return withFirst(targets, weightedFirst(targets, random))
    case 'latency': {
      const explore = Math.min(Math.max(input.explore ?? DEFAULT_EXPLORE, 0), 1)
      return latencyOrder(targets, random, input.latency, Number.isNaN(explore) ? 0 : explore)
    }
    case 'feedback':
      return feedbackOrder(targets, random, input.feedback)
  }
}

/**
 * Folds one latency sample into a target's EWMA: `alpha · sample + (1 − alpha) · previous`. The
 * first sample is taken as-is, so a new target is not dragged towards an arbitrary starting value.
 * A sample that is not a finite, non-negative number is ignored (the previous stats are returned,
 * or an empty record if there were none).
 */
export function updateEwma(
  previous: LatencySample | undefined,
  sampleMs: number,
  alpha = DEFAULT_EWMA_ALPHA,
): LatencySample {
  if (!(alpha > 0 && alpha <= 1)) throw new Error(`EWMA alpha must be in (0, 1], got ${alpha}`)
  if (!Number.isFinite(sampleMs) || sampleMs < 0) return previous ?? { ewmaMs: 0, samples: 0 }
  if (previous === undefined || previous.samples <= 0) return { ewmaMs: sampleMs, samples: 1 }
  return {
    ewmaMs: alpha * sampleMs + (1 - alpha) * previous.ewmaMs,
    samples: previous.samples + 1,
  }
}

/**
 * Folds `count` samples whose mean is `meanMs` into a target's EWMA at once, as one isolate reports
 * them together: the old average keeps weight `(1 − alpha)^count` and the batch's mean takes the
 * rest — what `count` calls of `updateEwma` would give if the samples were all equal to the mean.
 * No samples, or a mean that is not a finite non-negative number, leave `previous` as it was.
 */
export function foldLatency(
  previous: LatencySample | undefined,
  count: number,
  meanMs: number,
  alpha = DEFAULT_EWMA_ALPHA,
): LatencySample | undefined {
  if (!(alpha > 0 && alpha <= 1)) throw new Error(`EWMA alpha must be in (0, 1], got ${alpha}`)
  const n = Number.isFinite(count) ? Math.floor(count) : 0
  if (n <= 0 || !Number.isFinite(meanMs) || meanMs < 0) return previous
  if (previous === undefined || previous.samples <= 0) return { ewmaMs: meanMs, samples: n }
  const kept = (1 - alpha) ** n
  return { ewmaMs: kept * previous.ewmaMs + (1 - kept) * meanMs, samples: previous.samples + n }
}
