/**
 * @module The response cache in Upstash Redis: entries as JSON under their exact key, and the
 * bucketed tier's LSH sets and vectors (`cache/lsh.ts`), each operation one command or one script.
 *
 * `get` is a script (a write-mode command, like everything on the first round trip), so the
 * exact lookup joins the admission's pipeline request instead of costing one of its own
 * (`@upstash/redis` pipelines reads and writes separately).
 */
import type { Redis } from '@upstash/redis/cloudflare'
import type { BucketCandidate, CacheEntry, CacheStore } from '..'
import { decodeVector, encodeVector } from '../../cache/vector-bytes'

/** KEYS: the entry. Returns it (JSON text) or nil. */
const GET_SCRIPT = `return redis.call('GET', KEYS[1])`

/**
 * KEYS: band sets. ARGV: the most candidates. For each vector key in the union of the sets:
 * {vector key, vector, entry key, entry or false}; a vector whose record has expired is dropped
 * from every given set on the way.
 */
const CANDIDATES_SCRIPT = `
local ids = redis.call('SUNION', unpack(KEYS))
local out = {}
local limit = tonumber(ARGV[1])
for _, id in ipairs(ids) do
  local record = redis.call('HMGET', id, 'v', 'e')
  if record[1] then
    local entry = redis.call('GET', record[2])
    out[#out + 1] = {id, record[1], record[2], entry or false}
    if #out >= limit then break end
  else
    for _, band in ipairs(KEYS) do redis.call('SREM', band, id) end
  end
end
return out
`

/**
 * KEYS: the vector key, then the band sets. ARGV: vector, entry key, TTL seconds. Stores the
 * vector beside its entry key and files it in every band, all expiring with the entry.
 */
const ADD_SCRIPT = `
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('TTL', KEYS[i]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return #KEYS - 1
`

const isEntry = (value: unknown): value is CacheEntry =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { body?: unknown }).body === 'string' &&
  typeof (value as { storedAt?: unknown }).storedAt === 'number'

/** An entry as Redis answers it: JSON text, or already parsed by the client. */
const entryOf = (value: unknown): CacheEntry | undefined => {
  let parsed = value
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown
    } catch {
      return undefined
    }
  }
  return isEntry(parsed) ? parsed : undefined
}

export const upstashCacheStore = (redis: Redis): CacheStore => ({
  async get(key) {
    return entryOf(await redis.eval<[]>(GET_SCRIPT, [key], []))
  },
  async put(key, entry, ttlSeconds) {
    await redis.set(key, JSON.stringify(entry), { ex: ttlSeconds })
  },
  async remove(key) {
    await redis.del(key)
  },
  async candidates(bandKeys, limit) {
    if (bandKeys.length === 0) return []
    const rows = await redis.eval<[string], unknown[]>(
      CANDIDATES_SCRIPT,
      [...bandKeys],
      [String(limit)],
    )
    const out: BucketCandidate[] = []
    for (const row of Array.isArray(rows) ? rows : []) {
      if (!Array.isArray(row)) continue
      const [id, vectorText, entryKey, entry] = row as unknown[]
      if (typeof id !== 'string' || typeof vectorText !== 'string' || typeof entryKey !== 'string')
        continue
      const vector = decodeVector(vectorText)
      if (vector === undefined) continue
      out.push({ id, vector, entryKey, entry: entry === false ? undefined : entryOf(entry) })
    }
    return out
  },
  async addToBuckets(id, bandKeys, vector, entryKey, ttlSeconds) {
    await redis.eval(
      ADD_SCRIPT,
      [id, ...bandKeys],
      [encodeVector(vector), entryKey, String(ttlSeconds)],
    )
  },
})
