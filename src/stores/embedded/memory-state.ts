/**
 * @module Shared state kept in the isolate's memory: the embedded default for `npm run dev` and a
 * single-instance deployment. Limits use the same sliding-window approximation as
 * `@upstash/ratelimit` (the previous window's count weighted by how much of it still overlaps, plus
 * the current window's), so behaviour matches production, minus sharing across isolates.
 * There is no key cache (the embedded key store is memory already) and the config epoch is 0.
 */
import type { Admission, LimitResult, SharedState } from '..'

const WINDOW_MS = 60_000
/** Identifiers whose windows are both over are dropped when the map grows past this. */
const SWEEP_AT = 10_000

type Window = { start: number; current: number; previous: number }

export const slidingWindow = (now: () => number = Date.now) => {
  const windows = new Map<string, Window>()
  const sweep = (at: number): void => {
    for (const [id, w] of windows) if (at - w.start >= 2 * WINDOW_MS) windows.delete(id)
  }
  return (id: string, limit: number): LimitResult => {
    const at = now()
    const start = at - (at % WINDOW_MS)
    let w = windows.get(id)
    if (w === undefined) {
      if (windows.size >= SWEEP_AT) sweep(at)
      w = { start, current: 0, previous: 0 }
      windows.set(id, w)
    } else if (w.start !== start) {
      w.previous = start - w.start === WINDOW_MS ? w.current : 0
      w.current = 0
      w.start = start
    }
    const overlap = 1 - (at - start) / WINDOW_MS
    const used = Math.floor(w.previous * overlap) + w.current
    const reset = start + WINDOW_MS
    if (used >= limit) return { success: false, limit, remaining: 0, reset }
    w.current++
    return { success: true, limit, remaining: limit - used - 1, reset }
  }
}

export const memoryState = ({
  ipRpm,
  now = Date.now,
}: {
  ipRpm: number
  now?: () => number
}): SharedState => {
  const limit = slidingWindow(now)
  const counters = new Map<string, number>()
  return {
    readCached: () => Promise.resolve({ cached: undefined, epoch: 0 }),
    // The embedded stores are in memory already: nothing to cache.
    writeCached: () => Promise.resolve(),
    admit(request): Promise<Admission> {
      const org =
        request.orgRpm === null ? undefined : limit(`org:${request.orgId}`, request.orgRpm)
      const key =
        request.keyRpm === null ? undefined : limit(`key:${request.keyId}`, request.keyRpm)
      const counter = `${request.orgId}:${request.month}`
      let used = counters.get(counter) ?? 0
      let admitted = true
      if (request.countsTowardQuota) {
        if (request.monthlyLimit !== null && used >= request.monthlyLimit) admitted = false
        else counters.set(counter, ++used)
      }
      return Promise.resolve({ org, key, quota: { admitted, used }, epoch: 0 })
    },
    releaseQuota(orgId, month) {
      const counter = `${orgId}:${month}`
      const used = counters.get(counter)
      if (used !== undefined && used > 0) counters.set(counter, used - 1)
      return Promise.resolve()
    },
    limitIp: (ip) => Promise.resolve(limit(`ip:${ip}`, ipRpm)),
  }
}
