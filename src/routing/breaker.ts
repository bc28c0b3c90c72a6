/**
 * @module A circuit breaker per target, as a pure state machine over plain JSON data.
 *
 * - **closed**: requests flow; outcomes are counted in a sliding window of `BUCKETS` time buckets
 *   (so memory is bounded whatever the traffic). Once the window holds at least `minRequests`
 *   outcomes and the share of failures reaches `failureRate`, the breaker opens.
 * - **open**: requests are refused until `coolDownMs` has passed since it opened.
 * - **half-open**: at most `halfOpenProbes` probe requests are let through. The breaker closes
 *   (with an empty window) once `halfOpenProbes` probes have succeeded, which is on the first
 *   success with the default of one probe; any probe failure re-opens it with a new cool-down.
 *
 * The window slides in bucket steps: it covers the current bucket and the `BUCKETS − 1` before it,
 * so an outcome leaves the window between `windowMs − windowMs / BUCKETS` and `windowMs` after it
 * was recorded.
 *
 * A probe whose result never arrives (its isolate was evicted, say) would hold its slot forever,
 * so a reservation older than `coolDownMs` is treated as lost and its slot is handed out again.
 * A result that arrives while no probe is outstanding (a request started before the breaker
 * opened) is not a probe and is ignored, as is any result arriving while open.
 *
 * Time is passed in (`now`, epoch ms) and every function returns a new state, so tests replay
 * exact sequences. Shared across isolates, the same machine runs inside Redis as a Lua script
 * (`stores/upstash/routing-state.ts`), atomically, and a test holds the two to the same answers.
 */

export type BreakerConfig = {
  /** Length of the sliding window over which the failure rate is measured. */
  windowMs: number
  /** Outcomes the window must hold before the breaker may open (no verdict on thin evidence). */
  minRequests: number
  /** Failure share, in [0, 1], at or above which the breaker opens. */
  failureRate: number
  /** How long the breaker stays open before it lets probes through. */
  coolDownMs: number
  /** How many probes may be in flight in half-open, and how many must succeed to close. */
  halfOpenProbes: number
}

export const DEFAULT_BREAKER: BreakerConfig = {
  windowMs: 30_000,
  minRequests: 10,
  failureRate: 0.5,
  coolDownMs: 15_000,
  halfOpenProbes: 1,
}

/** Buckets per window: the window's resolution, and the bound on a closed breaker's size. */
export const BUCKETS = 10

/** Outcomes in the bucket starting at `start` (epoch ms, a multiple of the bucket size). */
export type WindowBucket = { readonly start: number; readonly ok: number; readonly failed: number }

export type BreakerState =
  | { readonly status: 'closed'; readonly buckets: readonly WindowBucket[] }
  | { readonly status: 'open'; readonly openedAt: number }
  | {
      readonly status: 'half-open'
      /** Probes reserved and not yet reported. */
      readonly inFlight: number
      /** Probes reported successful since the breaker went half-open. */
      readonly succeeded: number
      /** When the latest probe was reserved; reservations older than `coolDownMs` are lost. */
      readonly probedAt: number
    }

export function initialBreaker(): BreakerState {
  return { status: 'closed', buckets: [] }
}

const bucketMs = (config: BreakerConfig): number =>
  Math.max(1, Math.floor(config.windowMs / BUCKETS))

const bucketStart = (now: number, config: BreakerConfig): number => {
  const size = bucketMs(config)
  return Math.floor(now / size) * size
}

/** The buckets still inside the window at `now`, newest last, at most `BUCKETS` of them. */
const live = (
  buckets: readonly WindowBucket[],
  now: number,
  config: BreakerConfig,
): WindowBucket[] => {
  const oldest = bucketStart(now, config) - (BUCKETS - 1) * bucketMs(config)
  return buckets
    .filter((bucket) => bucket.start >= oldest)
    .sort((a, b) => a.start - b.start)
    .slice(-BUCKETS)
}

/** Outcomes in the closed breaker's window at `now` (zero when not closed), for metrics too. */
export function windowCounts(
  state: BreakerState,
  now: number,
  config: BreakerConfig = DEFAULT_BREAKER,
): { requests: number; failures: number } {
  if (state.status !== 'closed') return { requests: 0, failures: 0 }
  let requests = 0
  let failures = 0
  for (const bucket of live(state.buckets, now, config)) {
    requests += bucket.ok + bucket.failed
    failures += bucket.failed
  }
  return { requests, failures }
}

const open = (now: number): BreakerState => ({ status: 'open', openedAt: now })

/**
 * Whether a request may be sent to the target now, and the state to store: an open breaker whose
 * cool-down has passed becomes half-open, and a half-open breaker's probe slot is reserved.
 * A refusal leaves the state unchanged.
 */
export function canAttempt(
  state: BreakerState,
  now: number,
  config: BreakerConfig = DEFAULT_BREAKER,
): { allowed: boolean; state: BreakerState } {
  switch (state.status) {
    case 'closed':
      return { allowed: true, state }
    case 'open': {
      if (now - state.openedAt < config.coolDownMs || config.halfOpenProbes < 1) {
        return { allowed: false, state }
      }
      return {
        allowed: true,
        state: { status: 'half-open', inFlight: 1, succeeded: 0, probedAt: now },
      }
    }
    case 'half-open': {
      const inFlight = now - state.probedAt >= config.coolDownMs ? 0 : state.inFlight
      if (inFlight + state.succeeded >= config.halfOpenProbes) return { allowed: false, state }
      return { allowed: true, state: { ...state, inFlight: inFlight + 1, probedAt: now } }
    }
  }
}

/**
 * Outcomes reported together (by one isolate, since its last report), applied at once: a closed
 * breaker adds them to the current bucket and then judges its window; a half-open breaker reads
 * only `probe`, the result of the probe the reporter held; an open breaker ignores them all.
 * Judging a batch once, rather than outcome by outcome, can differ from the one-by-one order only
 * when a batch first crosses the threshold and then falls back under it.
 */
export type Outcomes = {
  readonly ok: number
  readonly failed: number
  /** The result of a half-open probe this reporter held, if it held one. */
  readonly probe?: boolean | undefined
}

export function applyOutcomes(
  state: BreakerState,
  outcomes: Outcomes,
  now: number,
  config: BreakerConfig = DEFAULT_BREAKER,
): BreakerState {
  switch (state.status) {
    case 'closed': {
      const okCount = Math.max(0, outcomes.ok)
      const failedCount = Math.max(0, outcomes.failed)
      if (okCount + failedCount === 0) return state
      const start = bucketStart(now, config)
      const buckets = live(state.buckets, now, config)
      const current = buckets.find((bucket) => bucket.start === start)
      const updated: WindowBucket = {
        start,
        ok: (current?.ok ?? 0) + okCount,
        failed: (current?.failed ?? 0) + failedCount,
      }
      const next: BreakerState = {
        status: 'closed',
        buckets: live([...buckets.filter((bucket) => bucket !== current), updated], now, config),
      }
      const { requests, failures } = windowCounts(next, now, config)
      if (requests >= config.minRequests && failures / requests >= config.failureRate) {
        return open(now)
      }
      return next
    }
    case 'open':
      return state
    case 'half-open': {
      if (outcomes.probe === undefined || state.inFlight <= 0) return state
      if (!outcomes.probe) return open(now)
      const succeeded = state.succeeded + 1
      if (succeeded >= config.halfOpenProbes) return initialBreaker()
      return { ...state, inFlight: state.inFlight - 1, succeeded }
    }
  }
}

/**
 * The state after one request to the target finished, successfully (`ok`) or not. In half-open,
 * any result is taken as the probe's (the caller that reserved the probe is the one reporting).
 */
export function recordResult(
  state: BreakerState,
  ok: boolean,
  now: number,
  config: BreakerConfig = DEFAULT_BREAKER,
): BreakerState {
  return applyOutcomes(state, { ok: ok ? 1 : 0, failed: ok ? 0 : 1, probe: ok }, now, config)
}

/** The breaker's status as seen at `now`: an open breaker past its cool-down reads `half-open`. */
export function breakerStatus(
  state: BreakerState,
  now: number,
  config: BreakerConfig = DEFAULT_BREAKER,
): 'closed' | 'open' | 'half-open' {
  if (state.status === 'open' && now - state.openedAt >= config.coolDownMs) return 'half-open'
  return state.status
}
