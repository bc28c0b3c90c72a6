/**
 * @module The names of the gateway's shared state in Redis, in one place: the gateway and the admin
 * CLI must agree on them. (No imports, so the CLI can load this module under plain Node.)
 */

/** Incremented by every admin change; an isolate that sees a new value re-validates its memo. */
export const CONFIG_EPOCH_KEY = 'floopy:config-epoch'

/** A key's config cached under the SHA-256 (lowercase hex) of the key. */
export const keyCacheKey = (keyHash: string): string => `floopy:key:${keyHash}`

/** Prefixes of the sliding-window limiters (`@upstash/ratelimit` appends the identifier). */
export const RATELIMIT_PREFIX = {
  ip: 'floopy:rl:ip',
  org: 'floopy:rl:org',
  key: 'floopy:rl:key',
} as const

/** The organisation's request counter for one calendar month (UTC), e.g. `2026-11`. */
export const quotaKey = (orgId: string, month: string): string => `floopy:quota:${orgId}:${month}`

/** A routing target's circuit breaker and latency average, by its health id (`stages/route`). */
export const targetHealthKey = (id: string): string => `floopy:target:${id}`

/**
 * A resolved prompt version cached for an organisation, by prompt id and version selector (`-`:
 * the default). Ids and labels cannot hold `:`, so the parts cannot run together.
 */
export const promptCacheKey = (orgId: string, promptId: string, selector: string | undefined) =>
  `floopy:prompt:${orgId}:${promptId}:${selector ?? '-'}`
