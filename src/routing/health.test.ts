/**
 * @module The health tracker (`routing/health.ts`) against the embedded `memoryRoutingState`, a
 * real adapter, observed through a thin wrapper that counts calls, can hold a sync open and can
 * make every call fail. What is proven:
 *
 * - one isolate reacts to its own failures at once, with no I/O at all;
 * - `sync` runs at most once per `SYNC_INTERVAL_MS`, sooner after a breaker changed state or a
 *   probe finished, not at all when there is nothing to report or watch; a sync in flight is
 *   never handed to another caller (no request waits on another's I/O), and an urgent change
 *   during it causes exactly one more sync straight after, within the first caller's promise;
 * - two isolates sharing one `RoutingState` agree: a breaker one opened is refused by the other
 *   without a probe reservation, one probe goes out across both after the cool-down, its result
 *   closes or re-opens the breaker for both, and latency samples reach the other's `latency` map
 *   as `foldLatency` folds them;
 * - a shared state that throws leaves every decision local, and is complained about at most once
 *   a minute, naming the error's class only.
 *
 * Time is passed in explicitly; `Date.now` is pinned only where the tracker reads it itself (the
 * chained urgent sync and the warning throttle).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RoutingState, TargetReport } from '../stores'
import { memoryRoutingState } from '../stores/embedded/routing-state'
import type { BreakerConfig } from './breaker'
import { createHealthTracker, SYNC_INTERVAL_MS, WATCH_MS, type HealthTracker } from './health'
import { foldLatency, updateEwma, type LatencySample } from './strategies'

/** 1 s buckets over 10 s; opens at ≥ 4 outcomes with ≥ 50 % failures; 5 s cool-down; 1 probe. */
const config: BreakerConfig = {
  windowMs: 10_000,
  minRequests: 4,
  failureRate: 0.5,
  coolDownMs: 5_000,
  halfOpenProbes: 1,
}

const T0 = 1_700_000_000_000
const ID = 'openai/gpt-4o'

type SyncCall = { reports: TargetReport[]; watch: string[]; now: number }

/** A `RoutingState` that records its calls and forwards them to `inner`. */
type Observed = {
  readonly state: RoutingState
  readonly syncs: SyncCall[]
  readonly probes: { id: string; now: number }[]
  /** While set, every call rejects with it (after being recorded). */
  failure: Error | undefined
  /** While set, a sync waits for it before reaching `inner`. */
  gate: Promise<void> | undefined
}

const observe = (inner: RoutingState): Observed => {
  const observed: Observed = {
    syncs: [],
    probes: [],
    failure: undefined,
    gate: undefined,
    state: {
      async sync(reports, watch, now) {
        observed.syncs.push({ reports: [...reports], watch: [...watch], now })
        if (observed.gate !== undefined) await observed.gate
        if (observed.failure !== undefined) throw observed.failure
        return inner.sync(reports, watch, now)
      },
      async reserveProbe(id, now) {
        observed.probes.push({ id, now })
        if (observed.failure !== undefined) throw observed.failure
        return inner.reserveProbe(id, now)
      },
    },
  }
  return observed
}

/** A promise that stays pending until `open` is called. */
const gate = (): { promise: Promise<void>; open: () => void } => {
  let open = (): void => undefined
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

type Isolate = Observed & { readonly tracker: HealthTracker; readonly warn: (m: string) => void }

/** One isolate: a tracker over an observed view of `shared`. */
const isolate = (shared: RoutingState, cfg: BreakerConfig = config): Isolate => {
  const observed = observe(shared)
  const warn = vi.fn<(message: string) => void>()
  return Object.assign(observed, {
    tracker: createHealthTracker(observed.state, { config: cfg, warn }),
    warn,
  })
}

/** Records `n` failed (non-probe) attempts at `now`. */
const fail = (tracker: HealthTracker, n: number, now: number): void => {
  for (let i = 0; i < n; i++) tracker.record(ID, { ok: false, probe: false }, now)
}

/** Awaits `sync(now)`, failing the test if it was not due. */
const synced = async (tracker: HealthTracker, now: number): Promise<void> => {
  const running = tracker.sync(now)
  expect(running).toBeInstanceOf(Promise)
  await running
}

const report = (outcomes: TargetReport['outcomes'], latency: number[] = []): TargetReport => ({
  id: ID,
  outcomes: { probe: undefined, ...outcomes },
  latencyCount: latency.length,
  latencyMeanMs: latency.length > 0 ? latency.reduce((sum, ms) => sum + ms, 0) / latency.length : 0,
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('health tracker, one isolate', () => {
  it('should say from record whether the circuit is still closed, so a retry is not waited for', async () => {
    const one = isolate(memoryRoutingState(config))
    for (let i = 1; i < config.minRequests; i++) {
      expect(one.tracker.record(ID, { ok: false, probe: false }, T0 + i)).toBe(true)
    }
    // The failure that opens the circuit.
    expect(one.tracker.record(ID, { ok: false, probe: false }, T0 + 10)).toBe(false)
    await synced(one.tracker, T0 + 20)
    const probeAt = T0 + 20 + config.coolDownMs // shared state opened it when told, at T0 + 20
    expect(await one.tracker.admit(ID, probeAt)).toEqual({ allowed: true, probe: true })
    // A failed probe re-opens it; a successful one closes it.
    expect(one.tracker.record(ID, { ok: false, probe: true }, probeAt + 1)).toBe(false)
    await synced(one.tracker, probeAt + 2)
    const again = probeAt + 2 + config.coolDownMs
    expect(await one.tracker.admit(ID, again)).toEqual({ allowed: true, probe: true })
    expect(one.tracker.record(ID, { ok: true, probe: true }, again + 1)).toBe(true)
  })

  it('should open a target locally after enough failures, with no sync at all', async () => {
    const one = isolate(memoryRoutingState(config))
    expect(await one.tracker.admit(ID, T0)).toEqual({ allowed: true, probe: false })
    fail(one.tracker, config.minRequests - 1, T0 + 10)
    expect(await one.tracker.admit(ID, T0 + 20)).toEqual({ allowed: true, probe: false })
    fail(one.tracker, 1, T0 + 30)
    expect(await one.tracker.admit(ID, T0 + 40)).toEqual({ allowed: false, probe: false })
    expect(await one.tracker.admit(ID, T0 + config.coolDownMs)).toEqual({
      allowed: false,
      probe: false,
    })
    expect(one.syncs).toEqual([])
    expect(one.probes).toEqual([])
  })

  it('should not sync when nothing is pending, and watch only recently consulted targets', async () => {
    const one = isolate(memoryRoutingState(config))
    expect(one.tracker.sync(T0)).toBeUndefined()
    await one.tracker.admit(ID, T0)
    await synced(one.tracker, T0)
    expect(one.syncs).toEqual([{ reports: [], watch: [ID], now: T0 }])
    // Not consulted for longer than WATCH_MS: no longer watched, so nothing to do.
    await synced(one.tracker, T0 + WATCH_MS)
    expect(one.tracker.sync(T0 + WATCH_MS + SYNC_INTERVAL_MS)).toBeUndefined()
    expect(one.syncs).toHaveLength(2)
    // A target consulted recently is watched; the stale one is left out of the watch list.
    await one.tracker.admit('anthropic/claude', T0 + WATCH_MS + SYNC_INTERVAL_MS)
    await synced(one.tracker, T0 + WATCH_MS + SYNC_INTERVAL_MS)
    expect(one.syncs.map((call) => call.watch)).toEqual([[ID], [ID], ['anthropic/claude']])
  })

  it('should sync at most once per SYNC_INTERVAL_MS when nothing urgent happened', async () => {
    const one = isolate(memoryRoutingState(config))
    await one.tracker.admit(ID, T0)
    one.tracker.record(ID, { ok: true, probe: false, latencyMs: 120 }, T0)
    await synced(one.tracker, T0)
    one.tracker.record(ID, { ok: true, probe: false, latencyMs: 80 }, T0 + 100)
    one.tracker.record(ID, { ok: false, probe: false }, T0 + 200)
    expect(one.tracker.sync(T0 + 300)).toBeUndefined()
    expect(one.tracker.sync(T0 + SYNC_INTERVAL_MS - 1)).toBeUndefined()
    await synced(one.tracker, T0 + SYNC_INTERVAL_MS)
    expect(one.syncs).toEqual([
      { reports: [report({ ok: 1, failed: 0 }, [120])], watch: [], now: T0 },
      { reports: [report({ ok: 1, failed: 1 }, [80])], watch: [], now: T0 + SYNC_INTERVAL_MS },
    ])
  })

  it('should take its sync interval from the caller', async () => {
    const observed = observe(memoryRoutingState(config))
    const tracker = createHealthTracker(observed.state, {
      config,
      warn: vi.fn(),
      syncIntervalMs: 5 * SYNC_INTERVAL_MS,
    })
    await tracker.admit(ID, T0)
    tracker.record(ID, { ok: true, probe: false, latencyMs: 120 }, T0)
    await synced(tracker, T0)
    tracker.record(ID, { ok: true, probe: false, latencyMs: 80 }, T0 + 100)
    expect(tracker.sync(T0 + SYNC_INTERVAL_MS)).toBeUndefined()
    expect(tracker.sync(T0 + 5 * SYNC_INTERVAL_MS - 1)).toBeUndefined()
    await synced(tracker, T0 + 5 * SYNC_INTERVAL_MS)
    expect(observed.syncs.map((call) => call.now)).toEqual([T0, T0 + 5 * SYNC_INTERVAL_MS])
  })

  it('should sync at once after a breaker changed state here', async () => {
    const shared = memoryRoutingState(config)
    const one = isolate(shared)
    await one.tracker.admit(ID, T0)
    await synced(one.tracker, T0)
    fail(one.tracker, config.minRequests - 1, T0 + 100)
    expect(one.tracker.sync(T0 + 150)).toBeUndefined() // counted, but the breaker is still closed
    fail(one.tracker, 1, T0 + 200)
    await synced(one.tracker, T0 + 250)
    expect(one.syncs[1]).toEqual({
      reports: [report({ ok: 0, failed: config.minRequests })],
      watch: [],
      now: T0 + 250,
    })
    const answer = await shared.sync([], [ID], T0 + 300)
    expect(answer.get(ID)?.breaker).toEqual({ status: 'open', openedAt: T0 + 250 })
  })

  it('should sync at once after a probe result, even with no change of state', async () => {
    // Two probes needed to close: the first success leaves the breaker half-open.
    const cfg = { ...config, halfOpenProbes: 2 }
    const shared = memoryRoutingState(cfg)
    const one = isolate(shared, cfg)
    await one.tracker.admit(ID, T0)
    fail(one.tracker, cfg.minRequests, T0)
    await synced(one.tracker, T0)
    const probeAt = T0 + cfg.coolDownMs
    expect(await one.tracker.admit(ID, probeAt)).toEqual({ allowed: true, probe: true })
    await synced(one.tracker, probeAt)
    one.tracker.record(ID, { ok: true, probe: true, latencyMs: 50 }, probeAt + 100)
    await synced(one.tracker, probeAt + 200)
    expect(one.syncs.map((call) => call.now)).toEqual([T0, probeAt, probeAt + 200])
    expect(one.syncs[2]?.reports).toEqual([report({ ok: 0, failed: 0, probe: true }, [50])])
    const answer = await shared.sync([], [ID], probeAt + 300)
    expect(answer.get(ID)?.breaker).toEqual({
      status: 'half-open',
      inFlight: 0,
      succeeded: 1,
      probedAt: probeAt,
    })
  })

  it('should not hand a sync in flight to another caller, and run exactly one more after an urgent change', async () => {
    const one = isolate(memoryRoutingState(config))
    const held = gate()
    one.gate = held.promise
    await one.tracker.admit(ID, T0)
    one.tracker.record(ID, { ok: true, probe: false }, T0)
    const running = one.tracker.sync(T0)
    expect(running).toBeInstanceOf(Promise)
    expect(one.tracker.sync(T0 + 1)).toBeUndefined()
    expect(one.tracker.sync(T0 + 5 * SYNC_INTERVAL_MS)).toBeUndefined()
    fail(one.tracker, config.minRequests, T0 + 10) // opens the breaker here: urgent
    vi.spyOn(Date, 'now').mockReturnValue(T0 + 20)
    held.open()
    await running
    expect(one.syncs).toEqual([
      { reports: [report({ ok: 1, failed: 0 })], watch: [], now: T0 },
      { reports: [report({ ok: 0, failed: config.minRequests })], watch: [], now: T0 + 20 },
    ])
    expect(one.tracker.sync(T0 + 30)).toBeUndefined()
    expect(await one.tracker.admit(ID, T0 + 40)).toEqual({ allowed: false, probe: false })
  })

  it('should not chain another sync after a change that is not urgent', async () => {
    const one = isolate(memoryRoutingState(config))
    const held = gate()
    one.gate = held.promise
    await one.tracker.admit(ID, T0)
    const running = one.tracker.sync(T0)
    one.tracker.record(ID, { ok: true, probe: false }, T0 + 10)
    const now = vi.spyOn(Date, 'now').mockReturnValue(T0 + 20)
    held.open()
    await running
    expect(one.syncs).toHaveLength(1)
    expect(now).not.toHaveBeenCalled()
    // The success is still pending and goes with the next sync that is due.
    expect(one.tracker.sync(T0 + 30)).toBeUndefined()
    await synced(one.tracker, T0 + SYNC_INTERVAL_MS)
    expect(one.syncs[1]?.reports).toEqual([report({ ok: 1, failed: 0 })])
  })
})

describe('health tracker, two isolates sharing one RoutingState', () => {
  /** A and B have both admitted ID; A's failures opened it at T0 + 20; both have synced. */
  const openedByA = async (): Promise<{ a: Isolate; b: Isolate; openedAt: number }> => {
    const shared = memoryRoutingState(config)
    const a = isolate(shared)
    const b = isolate(shared)
    await a.tracker.admit(ID, T0)
    await b.tracker.admit(ID, T0)
    fail(a.tracker, config.minRequests, T0 + 10)
    await synced(a.tracker, T0 + 20)
    await synced(b.tracker, T0 + 30)
    expect(b.syncs).toEqual([{ reports: [], watch: [ID], now: T0 + 30 }])
    return { a, b, openedAt: T0 + 20 }
  }

  /** After the cool-down both ask at once: exactly one gets the probe. */
  const probeRace = async (
    a: Isolate,
    b: Isolate,
    at: number,
  ): Promise<{ winner: Isolate; loser: Isolate }> => {
    const probesBefore = [a.probes.length, b.probes.length]
    const answers = await Promise.all([a.tracker.admit(ID, at), b.tracker.admit(ID, at)])
    expect([a.probes.length, b.probes.length]).toEqual(probesBefore.map((n) => n + 1))
    expect(answers.filter((answer) => answer.allowed)).toEqual([{ allowed: true, probe: true }])
    expect(answers.filter((answer) => !answer.allowed)).toEqual([{ allowed: false, probe: false }])
    return answers[0].allowed ? { winner: a, loser: b } : { winner: b, loser: a }
  }

  it("should refuse in B, without reserving a probe, a target A's failures opened", async () => {
    const { a, b } = await openedByA()
    expect(await b.tracker.admit(ID, T0 + 100)).toEqual({ allowed: false, probe: false })
    expect(await a.tracker.admit(ID, T0 + 100)).toEqual({ allowed: false, probe: false })
    expect(a.probes).toEqual([])
    expect(b.probes).toEqual([])
  })

  it('should give the probe to exactly one of A and B after the cool-down', async () => {
    const { a, b, openedAt } = await openedByA()
    const before = openedAt + config.coolDownMs - 1
    expect(await a.tracker.admit(ID, before)).toEqual({ allowed: false, probe: false })
    expect(await b.tracker.admit(ID, before)).toEqual({ allowed: false, probe: false })
    expect([a.probes.length, b.probes.length]).toEqual([0, 0])
    const { winner, loser } = await probeRace(a, b, openedAt + config.coolDownMs)
    // The loser learned the breaker is half-open and does not ask again; neither does the winner.
    expect(await loser.tracker.admit(ID, openedAt + config.coolDownMs + 100)).toEqual({
      allowed: false,
      probe: false,
    })
    expect(await winner.tracker.admit(ID, openedAt + config.coolDownMs + 100)).toEqual({
      allowed: false,
      probe: false,
    })
    expect([loser.probes.length, winner.probes.length]).toEqual([1, 1])
  })

  it("should close the breaker for both once the probe's success is synced", async () => {
    const { a, b, openedAt } = await openedByA()
    const at = openedAt + config.coolDownMs
    const { winner, loser } = await probeRace(a, b, at)
    winner.tracker.record(ID, { ok: true, probe: true, latencyMs: 90 }, at + 100)
    await synced(winner.tracker, at + 200)
    expect(winner.syncs.at(-1)?.reports).toEqual([report({ ok: 0, failed: 0, probe: true }, [90])])
    await synced(loser.tracker, at + 300)
    for (const one of [a, b]) {
      expect(await one.tracker.admit(ID, at + 400)).toEqual({ allowed: true, probe: false })
      expect(one.probes).toHaveLength(1)
    }
  })

  it('should re-open the breaker for both when the probe fails', async () => {
    const { a, b, openedAt } = await openedByA()
    const at = openedAt + config.coolDownMs
    const { winner, loser } = await probeRace(a, b, at)
    winner.tracker.record(ID, { ok: false, probe: true }, at + 100)
    await synced(winner.tracker, at + 200) // urgent: re-opened in shared state at at + 200
    await synced(loser.tracker, at + 300)
    const reopenedAt = at + 200
    for (const one of [a, b]) {
      expect(await one.tracker.admit(ID, reopenedAt + config.coolDownMs - 1)).toEqual({
        allowed: false,
        probe: false,
      })
      expect(one.probes).toHaveLength(1)
    }
    await probeRace(a, b, reopenedAt + config.coolDownMs)
  })

  it("should bring latency recorded in A to B's latency map, folded by foldLatency", async () => {
    const shared = memoryRoutingState(config)
    const a = isolate(shared)
    const b = isolate(shared)
    await a.tracker.admit(ID, T0)
    await b.tracker.admit(ID, T0)
    const first = [100, 200, 300]
    first.forEach((ms, i) => {
      a.tracker.record(ID, { ok: true, probe: false, latencyMs: ms }, T0 + i)
    })
    // Locally, each sample is folded in as it comes.
    const local = first.reduce<LatencySample | undefined>(
      (ewma, ms) => updateEwma(ewma, ms),
      undefined,
    )
    expect(a.tracker.latency.get(ID)).toEqual(local)
    expect(b.tracker.latency.has(ID)).toBe(false)
    await synced(a.tracker, T0 + 10)
    await synced(b.tracker, T0 + 20)
    const afterFirst = foldLatency(undefined, 3, 200)
    expect(afterFirst).toEqual({ ewmaMs: 200, samples: 3 })
    expect(a.tracker.latency.get(ID)).toEqual(afterFirst)
    expect(b.tracker.latency.get(ID)).toEqual(afterFirst)

    a.tracker.record(ID, { ok: true, probe: false, latencyMs: 400 }, T0 + 1_100)
    a.tracker.record(ID, { ok: true, probe: false, latencyMs: 600 }, T0 + 1_200)
    await synced(a.tracker, T0 + 1_300)
    await synced(b.tracker, T0 + 1_400)
    const afterSecond = foldLatency(afterFirst, 2, 500)
    expect(afterSecond?.samples).toBe(5)
    expect(afterSecond?.ewmaMs).toBeCloseTo(0.64 * 200 + 0.36 * 500, 9)
    expect(b.tracker.latency.get(ID)).toEqual(afterSecond)
    expect(a.tracker.latency.get(ID)).toEqual(afterSecond)
  })
})

describe('health tracker, shared state unavailable', () => {
  const SECRET = 'AXk9-secret-token'
  class UpstashError extends Error {
    override name = 'UpstashError'
  }
  const failure = new UpstashError(
    `fetch https://default:${SECRET}@eu1-fine-cat.upstash.io failed: connection reset by peer`,
  )

  it('should decide locally and warn at most once a minute, naming only the error', async () => {
    const one = isolate(memoryRoutingState(config))
    one.failure = failure
    const wall = vi.spyOn(Date, 'now').mockReturnValue(T0)
    await one.tracker.admit(ID, T0)
    fail(one.tracker, config.minRequests, T0)
    await expect(one.tracker.sync(T0)).resolves.toBeUndefined()
    expect(one.syncs).toHaveLength(1)
    expect(one.warn).toHaveBeenCalledTimes(1)
    expect(await one.tracker.admit(ID, T0 + 100)).toEqual({ allowed: false, probe: false })

    // The cool-down is over: the reservation fails, so this isolate probes on its own.
    const probeAt = T0 + config.coolDownMs
    expect(await one.tracker.admit(ID, probeAt)).toEqual({ allowed: true, probe: true })
    expect(one.probes).toHaveLength(1)
    expect(await one.tracker.admit(ID, probeAt + 1)).toEqual({ allowed: false, probe: false })
    expect(one.probes).toHaveLength(1)
    one.tracker.record(ID, { ok: true, probe: true }, probeAt + 2)
    expect(await one.tracker.admit(ID, probeAt + 3)).toEqual({ allowed: true, probe: false })
    await synced(one.tracker, probeAt + 4) // urgent after the probe; fails again
    expect(one.warn).toHaveBeenCalledTimes(1)

    wall.mockReturnValue(T0 + 59_999)
    await synced(one.tracker, probeAt + 2_000)
    expect(one.warn).toHaveBeenCalledTimes(1)
    wall.mockReturnValue(T0 + 60_000)
    await synced(one.tracker, probeAt + 4_000)
    expect(one.warn).toHaveBeenCalledTimes(2)
    expect(one.syncs).toHaveLength(4)

    for (const [message] of vi.mocked(one.warn).mock.calls) {
      expect(message).toContain('UpstashError')
      expect(message).not.toContain(SECRET)
      expect(message).not.toContain('upstash.io')
      expect(message).not.toContain('connection reset')
    }
  })

  it('should take the shared answer again once shared state is back', async () => {
    const shared = memoryRoutingState(config)
    const one = isolate(shared)
    const other = isolate(shared)
    vi.spyOn(Date, 'now').mockReturnValue(T0)
    await one.tracker.admit(ID, T0)
    one.failure = failure
    await synced(one.tracker, T0)
    // Meanwhile another isolate opened the breaker in shared state.
    await other.tracker.admit(ID, T0)
    fail(other.tracker, config.minRequests, T0 + 10)
    await synced(other.tracker, T0 + 20)
    expect(await one.tracker.admit(ID, T0 + 30)).toEqual({ allowed: true, probe: false })
    one.failure = undefined
    await synced(one.tracker, T0 + SYNC_INTERVAL_MS)
    expect(await one.tracker.admit(ID, T0 + SYNC_INTERVAL_MS + 1)).toEqual({
      allowed: false,
      probe: false,
    })
  })
})
