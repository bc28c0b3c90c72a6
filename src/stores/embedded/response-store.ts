/**
 * @module Responses API items in the isolate's memory (the embedded default), with their expiry;
 * the oldest go first past a bound.
 */
import type { ResponseStore } from '..'
import { responseItemKey } from '../shared-keys'

const MAX_ENTRIES = 10_000

export const memoryResponseStore = (): ResponseStore => {
  const entries = new Map<string, { value: string; expiresAt: number }>()
  return {
    get(orgId, ids) {
      const now = Date.now()
      return Promise.resolve(
        ids.map((id) => {
          const found = entries.get(responseItemKey(orgId, id))
          if (found === undefined || found.expiresAt <= now) return undefined
          return JSON.parse(found.value) as unknown
        }),
      )
    },
    put(orgId, items, ttlSeconds) {
      for (const { id, value } of items) {
        const key = responseItemKey(orgId, id)
        entries.delete(key)
        if (entries.size >= MAX_ENTRIES) {
          const oldest = entries.keys().next()
          if (oldest.done !== true) entries.delete(oldest.value)
        }
        entries.set(key, {
          value: JSON.stringify(value),
          expiresAt: Date.now() + ttlSeconds * 1000,
        })
      }
      return Promise.resolve()
    },
  }
}
