/**
 * @module The response cache in the isolate's memory: the embedded default (`npm run dev`), with
 * the same semantics as the Redis one (entries expire, bucket sets drop expired vectors), bounded
 * in size so a long-running dev gateway does not grow without end.
 */
import type { BucketCandidate, CacheEntry, CacheStore } from '..'

/** The most entries (and vectors) kept; the oldest go first. */
const MAX_ITEMS = 10_000

type Timed<T> = { value: T; expiresAt: number }

export const memoryCacheStore = (now: () => number = Date.now): CacheStore => {
  const entries = new Map<string, Timed<CacheEntry>>()
  const vectors = new Map<string, Timed<{ vector: Float32Array; entryKey: string }>>()
  const bands = new Map<string, Set<string>>()

  const bounded = <T>(map: Map<string, T>, key: string, value: T): void => {
    map.delete(key)
    if (map.size >= MAX_ITEMS) {
      const oldest = map.keys().next()
      if (oldest.done !== true) map.delete(oldest.value)
    }
    map.set(key, value)
  }
  const live = <T>(map: Map<string, Timed<T>>, key: string): T | undefined => {
    const item = map.get(key)
    if (item === undefined) return undefined
    if (item.expiresAt <= now()) {
      map.delete(key)
      return undefined
    }
    return item.value
  }

  return {
    get: (key) => Promise.resolve(live(entries, key)),
    put(key, entry, ttlSeconds) {
      bounded(entries, key, { value: entry, expiresAt: now() + ttlSeconds * 1000 })
      return Promise.resolve()
    },
    remove(key) {
      entries.delete(key)
      return Promise.resolve()
    },
    candidates(bandKeys, limit) {
      const out: BucketCandidate[] = []
      const seen = new Set<string>()
      for (const band of bandKeys) {
        for (const id of bands.get(band) ?? []) {
          if (seen.has(id) || out.length >= limit) continue
          seen.add(id)
          const record = live(vectors, id)
          if (record === undefined) {
            bands.get(band)?.delete(id)
            continue
          }
          out.push({ id, ...record, entry: live(entries, record.entryKey) })
        }
      }
      return Promise.resolve(out)
    },
    addToBuckets(id, bandKeys, vector, entryKey, ttlSeconds) {
      bounded(vectors, id, { value: { vector, entryKey }, expiresAt: now() + ttlSeconds * 1000 })
      for (const band of bandKeys) {
        let members = bands.get(band)
        if (members === undefined) {
          members = new Set()
          bounded(bands, band, members)
        }
        members.add(id)
      }
      return Promise.resolve()
    },
  }
}
