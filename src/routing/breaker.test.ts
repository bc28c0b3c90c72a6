import { describe, expect, it } from 'vitest'
import {
  BUCKETS,
  DEFAULT_BREAKER,
  breakerStatus,
  canAttempt,
  initialBreaker,
  recordResult,
  windowCounts,
  type BreakerConfig,
  type BreakerState,
} from './breaker'

/** 1 s buckets over a 10 s window; opens at ≥ 4 outcomes with ≥ 50 % failures; 5 s cool-down. */
const config: BreakerConfig = {
  windowMs: 10_000,
  minRequests: 4,
  failureRate: 0.5,
  coolDownMs: 5_000,
  halfOpenProbes: 1,
}

/** Records `outcomes` (true = ok) one after another at `now`. */
const record = (
  state: BreakerState,
  outcomes: readonly boolean[],
  now: number,
  cfg: BreakerConfig = config,
): BreakerState => outcomes.reduce((current, ok) => recordResult(current, ok, now, cfg), state)

const failures = (n: number): boolean[] => Array.from({ length: n }, () => false)
const successes = (n: number): boolean[] => Array.from({ length: n }, () => true)

/** A breaker opened at `openedAt` by four failures. */
const opened = (openedAt: number, cfg: BreakerConfig = config): BreakerState =>
  record(initialBreaker(), failures(cfg.minRequests), openedAt, cfg)

describe('circuit breaker', () => {
  it('should start closed with an empty window and allow requests', () => {
    const state = initialBreaker()
    expect(breakerStatus(state, 0, config)).toBe('closed')
    expect(canAttempt(state, 0, config)).toEqual({ allowed: true, state })
    expect(windowCounts(state, 0, config)).toEqual({ requests: 0, failures: 0 })
  })

  it('should have sensible defaults', () => {
    expect(DEFAULT_BREAKER).toEqual({
      windowMs: 30_000,
      minRequests: 10,
      failureRate: 0.5,
      coolDownMs: 15_000,
      halfOpenProbes: 1,
    })
  })

  it('should stay closed below minRequests even when every request fails', () => {
    const state = record(initialBreaker(), failures(3), 1_000)
    expect(breakerStatus(state, 1_000, config)).toBe('closed')
    expect(windowCounts(state, 1_000, config)).toEqual({ requests: 3, failures: 3 })
  })

  it('should open once minRequests is reached at exactly the failure rate', () => {
    const state = record(initialBreaker(), [true, false, true, false], 1_000)
    expect(state).toEqual({ status: 'open', openedAt: 1_000 })
    expect(breakerStatus(state, 1_000, config)).toBe('open')
  })

  it('should stay closed below the failure rate and open when it is reached', () => {
    let state = record(initialBreaker(), [...successes(5), ...failures(4)], 1_000) // 4 / 9
    expect(breakerStatus(state, 1_000, config)).toBe('closed')
    state = recordResult(state, false, 1_500, config) // 5 / 10
    expect(state).toEqual({ status: 'open', openedAt: 1_500 })
  })

  it('should count outcomes across buckets within the window', () => {
    let state = initialBreaker()
    state = record(state, [false], 0)
    state = record(state, [true], 3_000)
    state = record(state, [false], 6_000)
    expect(breakerStatus(state, 6_000, config)).toBe('closed')
    expect(windowCounts(state, 6_000, config)).toEqual({ requests: 3, failures: 2 })
    state = record(state, [false], 9_999)
    expect(state).toEqual({ status: 'open', openedAt: 9_999 })
  })

  it('should expire old buckets from the window', () => {
    const old = record(initialBreaker(), failures(3), 0)
    // At 9,999 ms the bucket [0, 1,000) is still the oldest of the ten: the fourth failure opens.
    expect(recordResult(old, false, 9_999, config).status).toBe('open')
    // At 10,000 ms it has slid out: one failure in the window, below minRequests.
    const later = recordResult(old, false, 10_000, config)
    expect(later.status).toBe('closed')
    expect(windowCounts(later, 10_000, config)).toEqual({ requests: 1, failures: 1 })
    expect(windowCounts(old, 10_000, config)).toEqual({ requests: 0, failures: 0 })
  })

  it('should keep at most one bucket per window slice however long it runs', () => {
    let state = initialBreaker()
    for (let now = 0; now < 120_000; now += 100)
      state = recordResult(state, now % 1_000 !== 0, now, config)
    expect(state.status).toBe('closed')
    if (state.status !== 'closed') return
    expect(state.buckets.length).toBeLessThanOrEqual(BUCKETS)
    expect(windowCounts(state, 119_900, config).requests).toBe(100)
  })

  it('should be plain JSON that survives a round trip', () => {
    const closed = record(initialBreaker(), [true, false, true], 2_500)
    const open = opened(3_000)
    const halfOpen = canAttempt(open, 8_000, config).state
    for (const state of [closed, open, halfOpen]) {
      expect(JSON.parse(JSON.stringify(state))).toEqual(state)
    }
  })

  it('should refuse requests while open and leave the state unchanged', () => {
    const state = opened(1_000)
    const verdict = canAttempt(state, 5_999, config)
    expect(verdict).toEqual({ allowed: false, state })
    expect(breakerStatus(state, 5_999, config)).toBe('open')
  })

  it('should go half-open after the cool-down and reserve the probe', () => {
    const state = opened(1_000)
    expect(breakerStatus(state, 6_000, config)).toBe('half-open')
    const verdict = canAttempt(state, 6_000, config)
    expect(verdict.allowed).toBe(true)
    expect(verdict.state).toEqual({
      status: 'half-open',
      inFlight: 1,
      succeeded: 0,
      probedAt: 6_000,
    })
    expect(breakerStatus(verdict.state, 6_000, config)).toBe('half-open')
  })

  it('should allow only halfOpenProbes probes at once', () => {
    const probe = canAttempt(opened(0), 5_000, config)
    expect(probe.allowed).toBe(true)
    const second = canAttempt(probe.state, 5_100, config)
    expect(second).toEqual({ allowed: false, state: probe.state })

    const two = { ...config, halfOpenProbes: 2 }
    let state = opened(0, two)
    const verdicts: boolean[] = []
    for (let i = 0; i < 4; i++) {
      const verdict = canAttempt(state, 5_000 + i, two)
      verdicts.push(verdict.allowed)
      state = verdict.state
    }
    expect(verdicts).toEqual([true, true, false, false])
  })

  it('should close with an empty window when the probe succeeds', () => {
    const probe = canAttempt(opened(0), 5_000, config)
    const state = recordResult(probe.state, true, 5_200, config)
    expect(state).toEqual(initialBreaker())
    expect(breakerStatus(state, 5_200, config)).toBe('closed')
    // The failures that opened it are gone: three more do not reach minRequests.
    expect(record(state, failures(3), 5_300).status).toBe('closed')
  })

  it('should re-open with a new cool-down when the probe fails', () => {
    const probe = canAttempt(opened(0), 5_000, config)
    const state = recordResult(probe.state, false, 5_200, config)
    expect(state).toEqual({ status: 'open', openedAt: 5_200 })
    expect(canAttempt(state, 10_199, config).allowed).toBe(false)
    expect(canAttempt(state, 10_200, config).allowed).toBe(true)
  })

  it('should need every one of halfOpenProbes probes to succeed before closing', () => {
    const two = { ...config, halfOpenProbes: 2 }
    const first = canAttempt(opened(0, two), 5_000, two)
    const second = canAttempt(first.state, 5_001, two)
    let state = recordResult(second.state, true, 5_100, two)
    expect(state).toMatchObject({ status: 'half-open', inFlight: 1, succeeded: 1 })
    // A success does not free a slot: the episode has had its two probes.
    expect(canAttempt(state, 5_150, two).allowed).toBe(false)
    state = recordResult(state, true, 5_200, two)
    expect(state).toEqual(initialBreaker())
  })

  it('should re-open when any probe fails after others succeeded', () => {
    const two = { ...config, halfOpenProbes: 2 }
    const first = canAttempt(opened(0, two), 5_000, two)
    const second = canAttempt(first.state, 5_001, two)
    const state = recordResult(recordResult(second.state, true, 5_100, two), false, 5_200, two)
    expect(state).toEqual({ status: 'open', openedAt: 5_200 })
  })

  it('should hand out a lost probe slot again after the cool-down', () => {
    const probe = canAttempt(opened(0), 5_000, config)
    expect(canAttempt(probe.state, 9_999, config).allowed).toBe(false)
    const retry = canAttempt(probe.state, 10_000, config)
    expect(retry.allowed).toBe(true)
    expect(retry.state).toMatchObject({ status: 'half-open', inFlight: 1, probedAt: 10_000 })
  })

  it('should ignore results that arrive while open', () => {
    const state = opened(1_000)
    expect(recordResult(state, true, 2_000, config)).toBe(state)
    expect(recordResult(state, false, 2_000, config)).toBe(state)
  })

  it('should ignore a result in half-open when no probe is outstanding', () => {
    const halfOpen: BreakerState = { status: 'half-open', inFlight: 0, succeeded: 0, probedAt: 0 }
    expect(recordResult(halfOpen, true, 100, config)).toBe(halfOpen)
    expect(recordResult(halfOpen, false, 100, config)).toBe(halfOpen)
  })

  it('should use the default configuration when none is given', () => {
    let state = record(initialBreaker(), failures(9), 0, DEFAULT_BREAKER)
    expect(breakerStatus(state, 0)).toBe('closed') // 9 < minRequests of 10
    state = recordResult(state, false, 0)
    expect(state.status).toBe('open')
    expect(canAttempt(state, 14_999).allowed).toBe(false)
    expect(canAttempt(state, 15_000).allowed).toBe(true)
  })
})
