/**
 * @module Whether and how one request uses the response cache — pure, from its headers and the
 * organisation's and key's settings (`tenancy/schema.ts`, a key's over its organisation's).
 *
 * - Enabled by the settings (default off), or per request with `floopy-cache-enabled: true|false`.
 * - `Cache-Control: no-cache` skips the lookup (`BYPASS`), `no-store` skips storing;
 *   `floopy-cache-force-refresh: true` skips the lookup and stores the new answer (`REFRESH`).
 * - `floopy-cache-ttl: <seconds>` (60 … 2,592,000; default the settings', else 7 days).
 * - `floopy-cache-namespace: [a-z0-9._-]{1,64}` partitions further (default `default`).
 * - `floopy-cache-threshold: <x>` raises the semantic tier's threshold (default the settings',
 *   else 0.95); a lower value never lowers it.
 *
 * A malformed header is the client's mistake: 400 `INVALID_REQUEST` naming it, not a silent
 * default.
 */
import { GatewayError } from '../errors'
import { DEFAULT_CACHE_NAMESPACE } from '../stores/shared-keys'
import { CACHE_TTL_SECONDS, type Settings } from '../tenancy/schema'

/** The semantic tier's default threshold (cosine similarity). */
export const DEFAULT_THRESHOLD = 0.95

/** The bucketed tier's threshold: broader recall, still only through the guard. */
export const BUCKET_THRESHOLD = 0.9

const NAMESPACE = /^[a-z0-9._-]{1,64}$/

export type CachePolicy = {
  /** Look for a stored answer (false: `BYPASS` or `REFRESH`). */
  readonly lookup: boolean
  /** Store the answer if it is complete. */
  readonly store: boolean
  /** What `floopy-cache` says on a miss (a hit says `HIT`). */
  readonly status: 'MISS' | 'BYPASS' | 'REFRESH'
  readonly namespace: string
  readonly ttlSeconds: number
  readonly threshold: number
}

type Headers = { get(name: string): string | null }

const invalid = (header: string, rule: string): GatewayError =>
  new GatewayError('INVALID_REQUEST', `Invalid ${header}: ${rule}.`, { param: header })

const flag = (headers: Headers, name: string): boolean | undefined => {
  const value = headers.get(name)
  if (value === null) return undefined
  const lower = value.trim().toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  throw invalid(name, 'use true or false')
}

/** `Cache-Control` directives, lower-cased (RFC 9111 §5.2; only the names matter here). */
const directives = (headers: Headers): Set<string> =>
  new Set(
    (headers.get('cache-control') ?? '')
      .split(',')
      .map((part) => part.split('=')[0]?.trim().toLowerCase() ?? '')
      .filter((name) => name !== ''),
  )

/** The cache policy of a request, or `undefined` when the cache is off for it. */
export const cachePolicy = (
  headers: Headers,
  org: Settings,
  key: Settings,
): CachePolicy | undefined => {
  const settings = { ...org.cache, ...key.cache }
  const enabled = flag(headers, 'floopy-cache-enabled') ?? settings.enabled ?? false
  if (!enabled) return undefined

  const ttlHeader = headers.get('floopy-cache-ttl')
  let ttlSeconds: number = settings.ttl_seconds ?? CACHE_TTL_SECONDS.default
  if (ttlHeader !== null) {
    const ttl = /^\d{1,8}$/.test(ttlHeader.trim()) ? Number(ttlHeader.trim()) : Number.NaN
    if (!(ttl >= CACHE_TTL_SECONDS.min && ttl <= CACHE_TTL_SECONDS.max)) {
      throw invalid(
        'floopy-cache-ttl',
        `a whole number of seconds from ${String(CACHE_TTL_SECONDS.min)} to ${String(CACHE_TTL_SECONDS.max)}`,
      )
    }
    ttlSeconds = ttl
  }

  const namespace = headers.get('floopy-cache-namespace')?.trim() ?? DEFAULT_CACHE_NAMESPACE
  if (!NAMESPACE.test(namespace)) {
    throw invalid('floopy-cache-namespace', '1-64 lowercase letters, digits, ".", "_" or "-"')
  }

  let threshold = settings.threshold ?? DEFAULT_THRESHOLD
  const thresholdHeader = headers.get('floopy-cache-threshold')
  if (thresholdHeader !== null) {
    const asked = /^(?:0(?:\.\d{1,6})?|1(?:\.0{1,6})?)$/.test(thresholdHeader.trim())
      ? Number(thresholdHeader.trim())
      : Number.NaN
    if (!(asked > 0 && asked <= 1)) throw invalid('floopy-cache-threshold', 'a number in (0, 1]')
    threshold = Math.max(threshold, asked)
  }

  const control = directives(headers)
  const refresh = flag(headers, 'floopy-cache-force-refresh') ?? false
  const noCache = control.has('no-cache')
  return {
    lookup: !refresh && !noCache,
    store: !control.has('no-store'),
    status: refresh ? 'REFRESH' : noCache ? 'BYPASS' : 'MISS',
    namespace,
    ttlSeconds,
    threshold,
  }
}
