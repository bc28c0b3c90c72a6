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
  /**
   * One round trip: the config document cached under `cacheKey` (`stores/shared-keys.ts`), if
   * any, and the current config epoch.
   */
  readCached(cacheKey: string): Promise<{ cached: CachedConfig | undefined; epoch: number }>
  /** Caches a config document under `cacheKey` (for `CONFIG_CACHE_TTL_SECONDS`). */
  writeCached(cacheKey: string, entry: CachedConfig): Promise<void>
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
