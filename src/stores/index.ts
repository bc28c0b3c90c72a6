/**
 * @module Ports for shared state: the interfaces stages, tenancy and routing get their I/O through,
 * so a unit test needs no binding and a production adapter (Upstash, Supabase) replaces an
 * embedded one without touching them. The adapters are chosen once per configuration in the
 * composition root (`gateway.ts`).
 *
 * | port        | production                           | embedded default (`npm run dev`)        |
 * |-------------|--------------------------------------|-----------------------------------------|
 * | KeyStore    | Supabase RPC `gateway_resolve_key`   | `FLOOPY_TENANTS` + `FLOOPY_DEV_API_KEY` |
 * | PromptStore | Supabase RPC `gateway_resolve_prompt`| `FLOOPY_TENANTS`                        |
 * | SharedState | Upstash Redis + `@upstash/ratelimit` | in-isolate memory                       |
 * | RoutingState| Upstash Redis (Lua scripts)          | in-isolate memory                       |
 */
import type { BreakerState, Outcomes } from '../routing/breaker'
import type { LatencySample } from '../routing/strategies'
import type { Usage } from '../types'
import type { Posterior } from '../feedback/posterior'

/** The source of truth for keys: a key hash → its config document (`tenancy/tenant.ts`). */
export interface KeyStore {
  /**
   * The config document of the active key with this SHA-256 hash (lowercase hex), or `null` when
   * there is none (unknown or revoked). Throws when the store cannot be reached.
   */
  lookup(keyHash: string): Promise<unknown>
}

/** Prompt templates: the resolved version of one organisation's prompt. */
export interface PromptStore {
  /**
   * The version `selector` picks of the organisation's prompt `promptId` — a version number, a
   * label, or `undefined` for the `production` label, else the latest version — as the document
   * `{ prompt_id, version, template }` (`prompts/template.ts`, `ResolvedPromptSchema`); `null` when
   * there is no such prompt or version. Throws when the store cannot be reached.
   */
  resolve(orgId: string, promptId: string, selector: string | undefined): Promise<unknown>
}

/** A sliding-window decision, as `@upstash/ratelimit` reports it. */
export type LimitResult = {
  readonly success: boolean
  readonly limit: number
  readonly remaining: number
  /** When the window frees up, in Unix milliseconds. */
  readonly reset: number
}

/**
 * A config document (a key's, a prompt version's) as cached in shared state, tagged with the
 * config epoch it was read under: it is current only while that epoch is.
 */
export type CachedConfig = { readonly epoch: number; readonly config: unknown }

/**
 * Which config document a cache entry holds: an API key's config, by the key's SHA-256
 * (lowercase hex), or one prompt version's, by organisation, prompt id and version selector
 * (`undefined`: the default). The adapter names the entry in its store (`stores/shared-keys.ts`).
 */
export type CachedName =
  | { readonly kind: 'key'; readonly keyHash: string }
  | {
      readonly kind: 'prompt'
      readonly orgId: string
      readonly promptId: string
      readonly selector: string | undefined
    }

/** What the admission round trip checks for one request. */
export type AdmissionRequest = {
  readonly orgId: string
  /** `null`: no organisation limit. */
  readonly orgRpm: number | null
  readonly keyId: string
  /** `null`: no key limit. */
  readonly keyRpm: number | null
  /** Whether this request counts toward the monthly quota. */
  readonly countsTowardQuota: boolean
  /** Calendar month (UTC) `YYYY-MM`. */
  readonly month: string
  /** `null`: unlimited (the request is still counted). */
  readonly monthlyLimit: number | null
  /** Seconds the month's counter is kept (past the month's end). */
  readonly counterTtlSeconds: number
}

export type Admission = {
  readonly org: LimitResult | undefined
  readonly key: LimitResult | undefined
  /** `admitted: false` only when the cap is reached; `used` includes this request when admitted. */
  readonly quota: { readonly admitted: boolean; readonly used: number }
  /** The config epoch at the time of the round trip. */
  readonly epoch: number
}

/** Counters, limits and the key cache: state every isolate shares. */
export interface SharedState {
  /** One round trip: the config document cached as `name`, if any, and the current config epoch. */
  readCached(name: CachedName): Promise<{ cached: CachedConfig | undefined; epoch: number }>
  /** Caches a config document as `name` (for `CONFIG_CACHE_TTL_SECONDS`). */
  writeCached(name: CachedName, entry: CachedConfig): Promise<void>
  /** One round trip: organisation and key windows, the monthly counter and the config epoch. */
  admit(request: AdmissionRequest): Promise<Admission>
  /** Undoes an admitted request's count (it was refused by a limit after all). */
  releaseQuota(orgId: string, month: string): Promise<void>
  /** The window for traffic that presented no valid key, per client IP. */
  limitIp(ip: string): Promise<LimitResult>
}

/** What one isolate saw of a routing target since its last report (`routing/health.ts`). */
export type TargetReport = {
  /** The target's health id, e.g. `openai/gpt-4o` (see `stages/route`). */
  readonly id: string
  readonly outcomes: Outcomes
  /** Latency samples (time to response headers) since the last report: how many, their mean. */
  readonly latencyCount: number
  readonly latencyMeanMs: number
}

/** A routing target's health: its circuit breaker and its latency average. */
export type TargetHealth = {
  readonly breaker: BreakerState
  readonly latency: LatencySample | undefined
}

/** Circuit breakers and latency averages of routing targets, as every isolate sees them. */
export interface RoutingState {
  /**
   * One round trip: folds `reports` into the shared breakers (`applyOutcomes`) and latency averages
   * (`foldLatency`), and answers the health of the reported targets and of `watch`.
   */
  sync(
    reports: readonly TargetReport[],
    watch: readonly string[],
    now: number,
  ): Promise<Map<string, TargetHealth>>
  /** One round trip: `canAttempt` on the shared breaker, i.e. reserves a half-open probe. */
  reserveProbe(id: string, now: number): Promise<{ allowed: boolean; health: TargetHealth }>
}

/** A cached answer as stored (`cache/entry.ts` builds and reads it). */
export type CacheEntry = {
  /** The answer: a `chat.completion` or embeddings response, as JSON text. */
  readonly body: string
  /** When it was stored, in Unix milliseconds (the `Age` of a hit). */
  readonly storedAt: number
  /** The last user message it answered, for the contradiction guard of the similarity tiers. */
  readonly prompt: string | undefined
  /** Who produced it and what it cost then (the cost a hit saves). */
  readonly provider: string
  readonly model: string
  readonly usage: Usage | undefined
}

/** A vector stored beside its entry for the bucketed tier, as a candidate comes back. */
export type BucketCandidate = {
  /** The vector's key (`cacheVectorKey`). */
  readonly id: string
  readonly vector: Float32Array
  readonly entryKey: string
  /** `undefined` when the entry has expired (the candidate is then no answer). */
  readonly entry: CacheEntry | undefined
}

/** Cached answers and the bucketed (LSH) tier, in Redis (or isolate memory). */
export interface CacheStore {
  /** One command: the entry under `key` (write-mode, so it joins the first round trip). */
  get(key: string): Promise<CacheEntry | undefined>
  /** Stores `entry` under `key` for `ttlSeconds`. */
  put(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void>
  /** Removes an entry (a stale one, or one a negative feedback condemned). */
  remove(key: string): Promise<void>
  /** One script: every vector sharing a band with `bandKeys`, with its entry (at most `limit`). */
  candidates(bandKeys: readonly string[], limit: number): Promise<BucketCandidate[]>
  /** One script: files `vector` under each band key, beside `entryKey`, for `ttlSeconds`. */
  addToBuckets(
    id: string,
    bandKeys: readonly string[],
    vector: Float32Array,
    entryKey: string,
    ttlSeconds: number,
  ): Promise<void>
}

/** A point of the semantic tier: a prompt's vector and where its answer is. */
export type VectorPoint = {
  readonly id: string
  readonly vector: Float32Array
  readonly payload: {
    readonly org: string
    readonly namespace: string
    /** Hash of everything but the last user message (`cache/request.ts`). */
    readonly scope: string
    /** Unix seconds after which the answer has expired. */
    readonly expires_at: number
    /** The entry's key in the cache store (the firewall: the stored verdict, as JSON). */
    readonly entry: string
    /** More fields kept for whoever reads the collection (the firewall's verdict); never the
     * prompt's text. */
    readonly [field: string]: unknown
  }
}

/** The semantic tier's vectors (Qdrant, or brute force in memory). */
export interface VectorStore {
  /**
   * The nearest point of this organisation and scope, unexpired at `now`, with cosine similarity
   * at least `threshold`; `undefined` when none.
   */
  nearest(
    vector: Float32Array,
    filter: { readonly org: string; readonly scope: string; readonly now: number },
    threshold: number,
  ): Promise<{ readonly id: string; readonly score: number; readonly entry: string } | undefined>
  upsert(point: VectorPoint): Promise<void>
  remove(id: string): Promise<void>
}

/** What routing learned from feedback: each target's reward posterior (`feedback/posterior.ts`). */
export type TargetPosteriors = ReadonlyMap<string, Posterior>

/** The `feedback` strategy's shared statistics, per organisation, rule and metric. */
export interface FeedbackState {
  /** One command (write-mode, so it joins the first round trip): the rule's posteriors. */
  read(key: string): Promise<TargetPosteriors>
  /**
   * One script, atomically: folds `reward` into `target`'s posterior under `key` with forgetting
   * `gamma` — or, when `replaces` (the request and metric) already gave a reward within the
   * feedback window, replaces that reward instead (last write wins, counted once).
   */
  record(
    key: string,
    target: string,
    reward: number,
    replaces: string,
    gamma: number,
  ): Promise<void>
}

/** Responses API items and responses kept for later references (`item_reference`,
 * `previous_response_id`), per organisation, as JSON. */
export interface ResponseStore {
  /** The stored values of `ids` (`undefined` for an unknown or expired id), in order. */
  get(orgId: string, ids: readonly string[]): Promise<unknown[]>
  /** Keeps each value under its id for `ttlSeconds`. */
  put(
    orgId: string,
    entries: readonly { readonly id: string; readonly value: unknown }[],
    ttlSeconds: number,
  ): Promise<void>
}
