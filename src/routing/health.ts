/**
 * @module One isolate's view of its routing targets' health — circuit breakers and latency
 * averages — kept in step with every other isolate's through `RoutingState` (Redis in production).
 *
 * The hot path reads only this memo: `admit` asks the memoised breaker (`canAttempt`), `latency`
 * feeds the strategy, `record` folds an attempt's result in locally at once, so one isolate reacts
 * to its own failures without waiting for anyone. What it records is also kept as a pending report
 * per target; `sync` sends the reports and the ids it is watching in ONE round trip, at most once
 * per sync interval (`SYNC_INTERVAL_MS` unless `FLOOPY_SYNC_INTERVAL_MS` sets it) — sooner when a
 * breaker changed state here or a probe finished — and replaces the memo with the shared answer,
 * which is authoritative. It is started twice per routed request when due: by the limits stage in
 * the same tick as the admission (so it joins that pipeline request and costs no round trip of its
 * own), and after the response (`waitUntil`), so the request's own results leave at once. So an
 * isolate learns of a target another isolate found dead within about a sync interval (a second by
 * default) of its next routed request, and a target it skips is still watched, so it notices when
 * that target's breaker closes again.
 *
 * A sync in flight belongs to the request that started it and is never handed to another: in
 * workerd, a request waiting on I/O that another request started hangs if that request is
 * cancelled first. Requests arriving meanwhile go on with the memo.
 *
 * The one exception to "no I/O before dispatch" is the half-open probe: when the memo says a
 * breaker's cool-down is over, the probe slot is reserved in shared state (one round trip) so that
 * one probe goes out across all isolates, not one per isolate. Until that probe reports, the memo
 * says half-open and this isolate skips the target without asking again.
 *
 * When shared state cannot be reached, every decision is the isolate's own (the memo keeps the
 * local results), and a throttled line says so.
 */
import type { RoutingState, TargetHealth, TargetReport } from '../stores'
import {
  applyOutcomes,
  canAttempt,
  DEFAULT_BREAKER,
  initialBreaker,
  type BreakerConfig,
} from './breaker'
import { setBounded } from './isolate-state'
import { updateEwma, type LatencySample } from './strategies'

/** The most often an isolate syncs with shared state when nothing urgent happened (default). */
export const SYNC_INTERVAL_MS = 1_000

/** Targets consulted within this long are re-read by every sync, reported or not. */
export const WATCH_MS = 60_000

/** How often a failing shared state is complained about, per isolate. */
const WARN_EVERY_MS = 60_000

export type TargetAdmission = {
  readonly allowed: boolean
  /** The attempt is the breaker's half-open probe: its result decides the breaker. */
  readonly probe: boolean
}

export type AttemptResult = {
  /** The target worked (a 4xx counts as working: the request was at fault). */
  readonly ok: boolean
  /** Whether the attempt was the probe `admit` granted. */
  readonly probe: boolean
  /** Time to response headers, for a success. */
  readonly latencyMs?: number | undefined
}

export type HealthTracker = {
  /** Latency averages by target id, for the `latency` strategy. */
  readonly latency: ReadonlyMap<string, LatencySample>
  /** Whether `id` may be attempted now (I/O only to reserve a half-open probe). */
  admit(id: string, now: number): Promise<TargetAdmission>
  /**
   * Folds an attempt's result into the memo and the pending report; returns whether the target's
   * circuit is still closed (after a failure that opened it, or a failed probe, no retry is due).
   */
  record(id: string, result: AttemptResult, now: number): boolean
  /**
   * Syncs with shared state when due, returning the sync for the caller to await (or keep alive
   * with `waitUntil`); `undefined` when nothing is due or another request's sync is in flight.
   */
  sync(now: number): Promise<void> | undefined
}

type Entry = { health: TargetHealth; seenAt: number }

type Pending = {
  ok: number
  failed: number
  probe?: boolean
  latencyCount: number
  latencySum: number
}

export type HealthTrackerOptions = {
  /** The breaker's settings (`DEFAULT_BREAKER`). */
  readonly config?: BreakerConfig
  /** Where a failed sync with shared state is reported (the console). */
  readonly warn?: (message: string) => void
  /** How often the isolate syncs with shared state (`SYNC_INTERVAL_MS`). */
  readonly syncIntervalMs?: number
}

export const createHealthTracker = (
  shared: RoutingState,
  {
    config = DEFAULT_BREAKER,
    warn = (message) => {
      console.warn(message)
    },
    syncIntervalMs = SYNC_INTERVAL_MS,
  }: HealthTrackerOptions = {},
): HealthTracker => {
  const memo = new Map<string, Entry>()
  const latency = new Map<string, LatencySample>()
  const pending = new Map<string, Pending>()
  let lastSyncAt = Number.NEGATIVE_INFINITY
  let urgent = false
  let inFlight: Promise<void> | undefined
  let warnedAt = Number.NEGATIVE_INFINITY

  const entryOf = (id: string, now: number): Entry => {
    let entry = memo.get(id)
    if (entry === undefined) {
      entry = { health: { breaker: initialBreaker(), latency: undefined }, seenAt: now }
      setBounded(memo, id, entry)
    }
    return entry
  }

  const learn = (id: string, health: TargetHealth): void => {
    const entry = memo.get(id)
    if (entry === undefined) return
    entry.health = health
    if (health.latency === undefined) latency.delete(id)
    else setBounded(latency, id, health.latency)
  }

  const complain = (what: string, err: unknown): void => {
    const now = Date.now()
    if (now - warnedAt < WARN_EVERY_MS) return
    warnedAt = now
    const reason = err instanceof Error ? err.name : 'error'
    warn(
      `floopy: routing state unavailable (${what}: ${reason}); breakers are per isolate meanwhile`,
    )
  }

  const run = (now: number): Promise<void> => {
    const reports: TargetReport[] = [...pending].map(([id, p]) => ({
      id,
      outcomes: { ok: p.ok, failed: p.failed, probe: p.probe },
      latencyCount: p.latencyCount,
      latencyMeanMs: p.latencyCount > 0 ? p.latencySum / p.latencyCount : 0,
    }))
    const watch = [...memo]
      .filter(([id, entry]) => now - entry.seenAt <= WATCH_MS && !pending.has(id))
      .map(([id]) => id)
    pending.clear()
    urgent = false
    lastSyncAt = now
    return shared.sync(reports, watch, now).then(
      (answer) => {
        for (const [id, health] of answer) learn(id, health)
      },
      (err: unknown) => {
        complain('sync', err)
      },
    )
  }

  /** Runs a sync, and another straight after if something urgent happened meanwhile. */
  const start = (now: number): Promise<void> => {
    const done: Promise<void> = run(now).then(() => {
      inFlight = undefined
      return urgent ? start(Date.now()) : undefined
    })
    inFlight = done
    return done
  }

  return {
    latency,
    async admit(id, now) {
      const entry = entryOf(id, now)
      entry.seenAt = now
      const { breaker } = entry.health
      const local = canAttempt(breaker, now, config)
      if (!local.allowed) return { allowed: false, probe: false }
      if (breaker.status === 'closed') return { allowed: true, probe: false }
      // The cool-down is over: one probe across all isolates, reserved in shared state.
      try {
        const { allowed, health } = await shared.reserveProbe(id, now)
        learn(id, health)
        return { allowed, probe: allowed && health.breaker.status === 'half-open' }
      } catch (err) {
        complain('probe', err)
        entry.health = { ...entry.health, breaker: local.state }
        return { allowed: true, probe: true }
      }
    },
    record(id, { ok, probe, latencyMs }, now) {
      const entry = entryOf(id, now)
      const before = entry.health.breaker.status
      const outcomes = probe
        ? { ok: 0, failed: 0, probe: ok }
        : { ok: ok ? 1 : 0, failed: ok ? 0 : 1 }
      const breaker = applyOutcomes(entry.health.breaker, outcomes, now, config)
      const measured =
        latencyMs === undefined ? entry.health.latency : updateEwma(entry.health.latency, latencyMs)
      entry.health = { breaker, latency: measured }
      if (measured !== undefined) setBounded(latency, id, measured)
      const report = pending.get(id) ?? { ok: 0, failed: 0, latencyCount: 0, latencySum: 0 }
      if (probe) report.probe = ok
      else if (ok) report.ok++
      else report.failed++
      if (latencyMs !== undefined && Number.isFinite(latencyMs) && latencyMs >= 0) {
        report.latencyCount++
        report.latencySum += latencyMs
      }
      setBounded(pending, id, report)
      if (probe || breaker.status !== before) urgent = true
      return breaker.status === 'closed'
    },
    sync(now) {
      // Never hand one request's sync to another: in workerd a request awaiting I/O started by
      // another request hangs if that request is cancelled first (its I/O is cancelled with it).
      // The starter keeps its own sync alive (it awaits it, or `waitUntil`); others go on with
      // the memo, and their reports leave with the next sync.
      if (inFlight !== undefined) return undefined
      if (!urgent && now - lastSyncAt < syncIntervalMs) return undefined
      if (pending.size === 0 && ![...memo.values()].some((e) => now - e.seenAt <= WATCH_MS)) {
        return undefined
      }
      return start(now)
    },
  }
}
