/**
 * @module The names of the gateway's shared state in Redis, in one place: the gateway and the admin
 * CLI must agree on them. (No imports but of types, so the CLI can load this module under plain
 * Node.)
 */
import type { CachedName } from '.'

/** Incremented by every admin change; an isolate that sees a new value re-validates its memo. */
export const CONFIG_EPOCH_KEY = 'floopy:config-epoch'

/** A key's config cached under the SHA-256 (lowercase hex) of the key. */
export const keyCacheKey = (keyHash: string): string => `floopy:key:${keyHash}`

/** Where a cached config document (`SharedState.readCached`) lives. */
export const cachedConfigKey = (name: CachedName): string =>
  name.kind === 'key'
    ? keyCacheKey(name.keyHash)
    : promptCacheKey(name.orgId, name.promptId, name.selector)

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

/**
 * Everything the response cache keeps for an organisation's namespace starts with this prefix
 * (`cache purge` deletes by it): entries `…:e:<hash>`, bucket sets `…:b:<scope>:<band key>`,
 * vectors `…:v:<id>`. Namespaces are `[a-z0-9._-]`, org ids have no `:`.
 */
export const cachePrefix = (orgId: string, namespace: string): string =>
  `floopy:cache:${orgId}:${namespace}:`

/** What every cache key of an organisation starts with (`cachePrefix` adds the namespace). */
export const cacheOrgPrefix = (orgId: string): string => `floopy:cache:${orgId}:`

/** The namespace a request without `floopy-cache-namespace` uses. */
export const DEFAULT_CACHE_NAMESPACE = 'default'

/** A cached answer, by the hash of its exact key (`cache/request.ts`). */
export const cacheEntryKey = (orgId: string, namespace: string, hash: string): string =>
  `${cachePrefix(orgId, namespace)}e:${hash}`

/** The set of vectors sharing one LSH band value within a scope (`cache/lsh.ts`). */
export const cacheBucketKey = (
  orgId: string,
  namespace: string,
  scope: string,
  band: string,
): string => `${cachePrefix(orgId, namespace)}b:${scope}:${band}`

/** A vector of the bucketed tier and the entry it answers with. */
export const cacheVectorKey = (orgId: string, namespace: string, id: string): string =>
  `${cachePrefix(orgId, namespace)}v:${id}`

/**
 * The Qdrant collection of the semantic cache for one embedding model and dimension (created on
 * first use, cosine distance): e.g. `floopy_cache_openai_text-embedding-3-small_1536`.
 */
export const cacheCollection = (embeddingModel: string, dimensions: number): string =>
  `floopy_cache_${embeddingModel.replace(/[^A-Za-z0-9_-]+/g, '_')}_${String(dimensions)}`

/** The firewall's verdict cache in Qdrant: one collection per embedding model and dimension. */
export const firewallCollection = (embeddingModel: string, dimensions: number): string =>
  `floopy_firewall_${embeddingModel.replace(/[^A-Za-z0-9_-]+/g, '_')}_${String(dimensions)}`

/**
 * The `feedback` strategy's posteriors for one organisation, rule (`ruleTag`) and metric: a hash
 * with `<target>|a`, `<target>|b`, `<target>|n` per target (`feedback/posterior.ts`).
 */
export const feedbackStatsKey = (orgId: string, rule: string, metric: string): string =>
  `floopy:fb:${orgId}:${rule}:${metric}`

/** The reward a request's feedback on one metric gave, kept for the feedback window. */
export const feedbackLastKey = (orgId: string, requestKey: string): string =>
  `floopy:fb-last:${orgId}:${requestKey}`

/** A stored Responses API item or response (`resp_…`, `msg_…`, `fc_…`), by its id. */
export const responseItemKey = (orgId: string, id: string): string => `floopy:resp:${orgId}:${id}`
