/**
 * @module Loud, throttled log lines for degraded operation (a store unreachable, a limit failing
 * open): one JSON line per event kind at most every 10 seconds per isolate, carrying how many
 * occurrences the pause swallowed. Loud enough to alert on, without a line per request during an
 * outage. Lines never carry keys or bodies: error details go through `describeError`, which
 * redacts anything credential-shaped.
 */
import { redactSecrets } from '../providers/upstream-error'

const INTERVAL_MS = 10_000

type Pending = { last: number; suppressed: number }

const pending = new Map<string, Pending>()

/** Logs `event` now, or counts it until the next line for the same event may be written. */
export const alarm = (event: string, detail: Readonly<Record<string, unknown>> = {}): void => {
  const now = Date.now()
  const state = pending.get(event)
  if (state !== undefined && now - state.last < INTERVAL_MS) {
    state.suppressed++
    return
  }
  const suppressed = state?.suppressed ?? 0
  pending.set(event, { last: now, suppressed: 0 })
  console.error(JSON.stringify({ level: 'error', msg: event, ...detail, suppressed }))
}

/** A short, secret-free description of a thrown value for a log line. */
export const describeError = (err: unknown): string =>
  err instanceof Error
    ? redactSecrets(`${err.name}: ${err.message}`).slice(0, 300)
    : 'non-error thrown'
