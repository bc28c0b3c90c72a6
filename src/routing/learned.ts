/**
 * @module What this isolate knows of the `feedback` strategy's posteriors: a memo by statistics
 * key, refreshed from shared state at most once per sync interval (a second unless
 * `FLOOPY_SYNC_INTERVAL_MS` sets it) per key, within the first round trip
 * (`stages/route`'s `feedbackSync`) — so choosing a target never waits for Redis of its own.
 * A read that fails keeps the memo as it was; a rule never read routes on empty posteriors
 * (uniform exploration) until its first read lands.
 */
import type { FeedbackState, TargetPosteriors } from '../stores'
import { setBounded } from './isolate-state'
import { SYNC_INTERVAL_MS } from './health'

export type LearnedRouting = {
  /** The memoised posteriors under `key` (empty when never read). */
  posteriors(key: string): TargetPosteriors
  /** A read of `key` when one is due (none in flight, the last older than the sync interval). */
  refresh(key: string, now: number): Promise<void> | undefined
  /** The session's target under `rule`, and keeping one (`floopy-session-id`). */
  sessionTarget(session: string): string | undefined
  keepSession(session: string, target: string, now: number): void
}

/** How long a session keeps its target without a request. */
export const SESSION_IDLE_MS = 30 * 60_000

export const createLearnedRouting = (
  state: FeedbackState,
  syncIntervalMs: number = SYNC_INTERVAL_MS,
): LearnedRouting => {
  const memo = new Map<string, { posteriors: TargetPosteriors; readAt: number }>()
  const inFlight = new Map<string, Promise<void>>()
  const sessions = new Map<string, { target: string; seenAt: number }>()
  return {
    posteriors: (key) => memo.get(key)?.posteriors ?? new Map(),
    refresh(key, now) {
      if (inFlight.has(key)) return undefined
      const known = memo.get(key)
      if (known !== undefined && now - known.readAt < syncIntervalMs) return undefined
      const read = state
        .read(key)
        .then((posteriors) => {
          setBounded(memo, key, { posteriors, readAt: Date.now() })
        })
        .catch(() => {
          // Shared state unavailable: route on what this isolate knew; try again next interval.
          if (known !== undefined) setBounded(memo, key, { ...known, readAt: Date.now() })
        })
        .finally(() => inFlight.delete(key))
      inFlight.set(key, read)
      return read
    },
    sessionTarget(session) {
      const kept = sessions.get(session)
      if (kept === undefined) return undefined
      if (Date.now() - kept.seenAt > SESSION_IDLE_MS) {
        sessions.delete(session)
        return undefined
      }
      return kept.target
    },
    keepSession(session, target, now) {
      setBounded(sessions, session, { target, seenAt: now })
    },
  }
}
