/**
 * @module Deleting an organisation's response cache where the gateways share it: the entries,
 * bucket sets and vectors under `cachePrefix(orgId, namespace)` in Redis, and the semantic tier's
 * points in Qdrant (payload `org`, `namespace`) in every cache collection (`cacheCollection`).
 *
 * Redis is walked with `SCAN … MATCH` and each batch removed with `UNLINK` (freed in the
 * background); never `KEYS`, which blocks Redis for as long as it takes to go through every key.
 * A key written during the walk may survive it, as may a point upserted between Qdrant's count
 * and its delete: the purge removes what was there when it ran, as a flush of a live cache does.
 */
import type { QdrantClient } from '@qdrant/js-client-rest'
import type { Redis } from '@upstash/redis'
import * as z from 'zod'
import { cachePrefix } from '../../src/stores/shared-keys.ts'

/** Every cache collection's name starts so (`cacheCollection` in `src/stores/shared-keys.ts`). */
export const CACHE_COLLECTION_PREFIX = 'floopy_cache_'

/** How many keys one `SCAN` step looks at (a hint to Redis), and so at most one `UNLINK` frees. */
const SCAN_COUNT = 500

/** `text` as a literal in a Redis glob pattern. */
const globLiteral = (text: string): string => text.replace(/[\\*?[\]]/g, '\\$&')

/**
 * The `MATCH` pattern of an organisation's cache keys: one namespace's
 * (`floopy:cache:<org>:<ns>:*`), or every namespace's (`floopy:cache:<org>:*`).
 */
export const cachePattern = (orgId: string, namespace: string | undefined): string => {
  // cachePrefix(org, '') is `floopy:cache:<org>::`; without its last `:`, every namespace follows.
  const prefix =
    namespace === undefined ? cachePrefix(orgId, '').slice(0, -1) : cachePrefix(orgId, namespace)
  return `${globLiteral(prefix)}*`
}

/** Removes the organisation's cache keys from Redis; how many were removed. */
export const purgeRedis = async (
  redis: Redis,
  orgId: string,
  namespace: string | undefined,
): Promise<number> => {
  const match = cachePattern(orgId, namespace)
  let cursor = '0'
  let removed = 0
  do {
    const [next, keys] = await redis.scan(cursor, { match, count: SCAN_COUNT })
    // SCAN may return a key twice; UNLINK counts only the keys it found.
    if (keys.length > 0) removed += await redis.unlink(...keys)
    cursor = next
    // Whatever the reply's type, the walk ends where Redis says 0 (a cursor is any other number).
  } while (Number(cursor) !== 0)
  return removed
}

export type QdrantPurge = {
  /** Points removed, over every cache collection. */
  points: number
  /** Points removed per cache collection (every one looked at, 0 included). */
  collections: Record<string, number>
}

/**
 * Removes the organisation's points from every cache collection of Qdrant, counting them first
 * (a delete does not say how many it removed). The delete runs even where the count was 0.
 */
export const purgeQdrant = async (
  client: QdrantClient,
  orgId: string,
  namespace: string | undefined,
): Promise<QdrantPurge> => {
  const must = [{ key: 'org', match: { value: orgId } }]
  if (namespace !== undefined) must.push({ key: 'namespace', match: { value: namespace } })
  const filter = { must }
  const { collections } = await client.getCollections()
  const names = collections
    .map((c) => c.name)
    .filter((name) => name.startsWith(CACHE_COLLECTION_PREFIX))
    .sort()
  const result: QdrantPurge = { points: 0, collections: {} }
  for (const name of names) {
    const { count } = await client.count(name, { filter, exact: true })
    await client.delete(name, { filter, wait: true })
    result.collections[name] = count
    result.points += count
  }
  return result
}

/** What `@qdrant/js-client-rest` throws for an error answer (its `ApiError`). */
const QdrantAnswer = z.object({
  status: z.number(),
  data: z.unknown(),
})
const QdrantErrorBody = z.object({ status: z.object({ error: z.string() }) })

/** `HTTP <status>: <Qdrant's error text>` for an error answer, else the failure's first line. */
export const qdrantReason = (error: unknown): string => {
  const answer = QdrantAnswer.safeParse(error)
  const firstLine = (text: string): string => text.split('\n', 1)[0] ?? ''
  if (!answer.success) return firstLine(error instanceof Error ? error.message : String(error))
  const body = QdrantErrorBody.safeParse(answer.data.data)
  const detail = body.success
    ? body.data.status.error
    : typeof answer.data.data === 'string'
      ? answer.data.data
      : ''
  return firstLine(`HTTP ${String(answer.data.status)}${detail === '' ? '' : `: ${detail}`}`)
}
