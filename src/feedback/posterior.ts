/**
 * @module What routing learns from feedback, as pure functions: each target's reward posterior,
 * updated with exponential forgetting, and Thompson sampling over the posteriors.
 *
 * A reward lies in [0, 1] (a feedback value mapped by its metric's range). A target's posterior is
 * Beta(1 + a, 1 + b), where `a` sums the rewards and `b` the shortfalls (1 − reward) it received,
 * each feedback first multiplying both by `gamma = 2^(−1 / halfLife)`: the evidence of `halfLife`
 * feedbacks ago counts half, so a target that degrades is noticed after a fraction of a half-life
 * of bad feedback, whatever its history. `n` counts the feedbacks undecayed (the exploration rule).
 *
 * Thompson sampling draws one value per target from its posterior, subtracts the target's penalty
 * (cost, latency) and orders the targets by the draws: the order is the failover order.
 */

export type Posterior = { readonly a: number; readonly b: number; readonly n: number }

export const EMPTY_POSTERIOR: Posterior = { a: 0, b: 0, n: 0 }

/**
 * A stats hash (`<target>|a`, `<target>|b`, `<target>|n` fields) as posteriors by target, as
 * `HGETALL` or a script answers it: a flat `[field, value, …]` array, or an object. Fields of
 * another shape and values that are not non-negative numbers are skipped. Shared by the Upstash
 * store and the admin CLI's `feedback stats`.
 */
export const posteriorsOfHash = (
  fields: readonly unknown[] | Record<string, unknown> | null,
): Map<string, Posterior> => {
  const entries: [string, unknown][] = Array.isArray(fields)
    ? Array.from({ length: Math.floor(fields.length / 2) }, (_, i) => [
        String(fields[2 * i]),
        fields[2 * i + 1],
      ])
    : Object.entries(fields ?? {})
  const byTarget = new Map<string, { a: number; b: number; n: number }>()
  for (const [field, raw] of entries) {
    const cut = field.lastIndexOf('|')
    const part = field.slice(cut + 1)
    if (cut < 1 || (part !== 'a' && part !== 'b' && part !== 'n')) continue
    const value = Number(raw)
    if (!Number.isFinite(value) || value < 0) continue
    const target = field.slice(0, cut)
    const p = byTarget.get(target) ?? { a: 0, b: 0, n: 0 }
    p[part] = value
    byTarget.set(target, p)
  }
  return byTarget
}

/** The factor each feedback multiplies the earlier evidence by. */
export const forgetting = (halfLife: number): number =>
  halfLife > 0 && Number.isFinite(halfLife) ? 2 ** (-1 / halfLife) : 1

/** The posterior after one more feedback (`reward` clamped to [0, 1]). */
export const withReward = (p: Posterior, reward: number, gamma: number): Posterior => {
  const r = Math.min(Math.max(Number.isFinite(reward) ? reward : 0, 0), 1)
  return { a: p.a * gamma + r, b: p.b * gamma + (1 - r), n: p.n + 1 }
}

/** The posterior after a feedback replaced an earlier one of the same request (counted once). */
export const withReplacedReward = (p: Posterior, previous: number, reward: number): Posterior => {
  const delta = Math.min(Math.max(reward, 0), 1) - Math.min(Math.max(previous, 0), 1)
  return { a: Math.max(0, p.a + delta), b: Math.max(0, p.b - delta), n: p.n }
}

/** The posterior mean reward. */
export const meanOf = (p: Posterior): number => (1 + p.a) / (2 + p.a + p.b)

/** A standard normal draw (Box–Muller). */
const normal = (random: () => number): number => {
  const u = Math.max(random(), Number.MIN_VALUE)
  const v = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 boosted). */
const gamma = (shape: number, random: () => number): number => {
  if (shape < 1)
    return gamma(shape + 1, random) * Math.max(random(), Number.MIN_VALUE) ** (1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = normal(random)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = random()
    if (u < 1 - 0.0331 * x ** 4) return d * v
    if (Math.log(Math.max(u, Number.MIN_VALUE)) < 0.5 * x * x + d * (1 - v + Math.log(v))) {
      return d * v
    }
  }
}

/** A Beta(alpha, beta) draw. */
export const sampleBeta = (alpha: number, beta: number, random: () => number): number => {
  const x = gamma(alpha, random)
  const y = gamma(beta, random)
  return x + y === 0 ? 0.5 : x / (x + y)
}

/** A central credible interval of the posterior mean, from `draws` samples. */
export const credibleInterval = (
  p: Posterior,
  random: () => number,
  level = 0.9,
  draws = 4_000,
): readonly [number, number] => {
  const samples = Array.from({ length: draws }, () => sampleBeta(1 + p.a, 1 + p.b, random)).sort(
    (x, y) => x - y,
  )
  const tail = (1 - level) / 2
  const at = (q: number): number =>
    samples[Math.min(draws - 1, Math.max(0, Math.floor(q * draws)))] ?? Number.NaN
  return [at(tail), at(1 - tail)]
}

export type ThompsonInput = {
  /** The posterior of each target, by index; a missing one is empty. */
  readonly posteriors: readonly (Posterior | undefined)[]
  /** What is subtracted from each target's draw (cost and latency), by index; default 0. */
  readonly penalties?: readonly number[]
  /** Below this many feedbacks a target is still being explored. */
  readonly minFeedback: number
  /** Probability of a uniformly random first target once every target is explored. */
  readonly floor: number
  readonly random: () => number
}

/**
 * The attempt order, as indexes: while a target has fewer than `minFeedback` feedbacks, one of
 * those is first, drawn uniformly (the rest by their draws); afterwards, with probability `floor`
 * a uniformly random target is first; otherwise every target's posterior is sampled once and the
 * order is by sample minus penalty, highest first.
 */
export const thompsonOrder = (input: ThompsonInput): number[] => {
  const { posteriors, random } = input
  const n = posteriors.length
  const score = posteriors.map((p, i) => {
    const q = p ?? EMPTY_POSTERIOR
    return sampleBeta(1 + q.a, 1 + q.b, random) - (input.penalties?.[i] ?? 0)
  })
  const order = [...score.keys()].sort((x, y) => (score[y] ?? 0) - (score[x] ?? 0) || x - y)
  const unexplored = order.filter((i) => (posteriors[i]?.n ?? 0) < input.minFeedback)
  let first: number | undefined
  if (unexplored.length > 0) {
    first = unexplored[Math.min(unexplored.length - 1, Math.floor(random() * unexplored.length))]
  } else if (random() < input.floor) {
    first = Math.min(n - 1, Math.floor(random() * n))
  }
  return first === undefined ? order : [first, ...order.filter((i) => i !== first)]
}

/**
 * Each target's share of first places under `thompsonOrder` (Monte Carlo with `draws` orders): the
 * traffic share the strategy gives it now.
 */
export const trafficShares = (
  input: Omit<ThompsonInput, 'random'>,
  random: () => number,
  draws = 4_000,
): number[] => {
  const firsts = input.posteriors.map(() => 0)
  for (let i = 0; i < draws; i++) {
    const first = thompsonOrder({ ...input, random })[0]
    if (first !== undefined) firsts[first] = (firsts[first] ?? 0) + 1
  }
  return firsts.map((count) => count / draws)
}
