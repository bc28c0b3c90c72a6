/**
 * @module Responses API items in Upstash Redis: one JSON string per item or response
 * (`responseItemKey`), read with one `MGET`, written in one pipeline with their expiry.
 */
import type { Redis } from '@upstash/redis/cloudflare'
import type { ResponseStore } from '..'
import { responseItemKey } from '../shared-keys'

export const upstashResponseStore = (redis: Redis): ResponseStore => ({
  async get(orgId, ids) {
    if (ids.length === 0) return []
    const values = await redis.mget<unknown[]>(...ids.map((id) => responseItemKey(orgId, id)))
    return values.map((value) => (value === null ? undefined : value))
  },
  async put(orgId, entries, ttlSeconds) {
    if (entries.length === 0) return
    const pipeline = redis.pipeline()
    for (const { id, value } of entries) {
      pipeline.set(responseItemKey(orgId, id), JSON.stringify(value), { ex: ttlSeconds })
    }
    await pipeline.exec()
  },
})
