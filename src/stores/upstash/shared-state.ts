/**
 * @module Shared state in Upstash Redis, through `@upstash/redis` and `@upstash/ratelimit`.
 *
 * The hot path's checks leave together: `admit` issues the organisation window, the key window
 * and the admission script (monthly counter + config epoch) in the same tick, so the client's
 * auto-pipelining sends them as ONE `/pipeline` request. Everything here is a write command on
 * purpose: `@upstash/redis` pipelines reads and writes separately, so a read among them (say a
 * `GET` of the epoch) would cost a second request — the epoch is read inside the script instead.
 *
 * The client never retries and gives up after `timeoutMs`; callers decide what a failure means
 * (see the failure policy in `docs/tenancy.md`).
 */
import { Ratelimit } from '@upstash/ratelimit'
import { Redis } from '@upstash/redis/cloudflare'
import type { Admission, CachedConfig, LimitResult, SharedState } from '..'
import { CONFIG_EPOCH_KEY, RATELIMIT_PREFIX, cachedConfigKey, quotaKey } from '../shared-keys'

/** How long a config document stays in the shared cache (the epoch invalidates it sooner). */
export const CONFIG_CACHE_TTL_SECONDS = 300

/**
 * KEYS: month counter, config epoch. ARGV: monthly limit (-1 = none), counter TTL, 1 = count this
 * request. Counts the request unless the cap is reached (a refused request leaves the counter as
 * it was), and reads the epoch. Returns {admitted 0/1, used, epoch}.
 */
const ADMIT_SCRIPT = `
local used
local admitted = 1
if ARGV[3] == '1' then
  used = redis.call('INCR', KEYS[1])
  if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  local limit = tonumber(ARGV[1])
  if limit >= 0 and used > limit then
    redis.call('DECR', KEYS[1])
    used = used - 1
    admitted = 0
  end
else
  used = tonumber(redis.call('GET', KEYS[1]) or '0')
end
return {admitted, used, tonumber(redis.call('GET', KEYS[2]) or '0')}
`

/** KEYS: month counter. Decrements it, never below zero. */
const RELEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`

export type UpstashConfig = { readonly url: string; readonly token: string }

const WINDOW = '60 s'

const asLimit = (r: { success: boolean; limit: number; remaining: number; reset: number }) =>
  ({ success: r.success, limit: r.limit, remaining: r.remaining, reset: r.reset }) as LimitResult

const toNumber = (value: unknown): number => (typeof value === 'number' ? value : Number(value))

/** The one client per configuration: no retries, `timeoutMs` per request, auto-pipelining. */
export const upstashRedis = ({ url, token }: UpstashConfig, timeoutMs: number): Redis =>
  new Redis({
    url,
    token,
    retry: false,
    signal: () => AbortSignal.timeout(timeoutMs),
    enableTelemetry: false,
    enableAutoPipelining: true,
  })

export const upstashState = (redis: Redis, { ipRpm }: { ipRpm: number }): SharedState => {
  const limiter = (prefix: string, rpm: number): Ratelimit =>
    new Ratelimit({
      redis,
      prefix,
      limiter: Ratelimit.slidingWindow(rpm, WINDOW),
      // Our own time limit is the client's signal; the library's would fail open silently.
      timeout: 0,
      analytics: false,
    })
  // One limiter per distinct limit value (limits are per organisation or key, but few distinct).
  const limiters = { org: new Map<number, Ratelimit>(), key: new Map<number, Ratelimit>() }
  const limiterFor = (kind: 'org' | 'key', rpm: number): Ratelimit => {
    let found = limiters[kind].get(rpm)
    if (found === undefined) {
      found = limiter(RATELIMIT_PREFIX[kind], rpm)
      limiters[kind].set(rpm, found)
    }
    return found
  }
  const ipLimiter = limiter(RATELIMIT_PREFIX.ip, ipRpm)

  return {
    async readCached(name) {
      // Two reads in one tick: one pipeline request.
      const [cached, epoch] = await Promise.all([
        redis.get<CachedConfig>(cachedConfigKey(name)),
        redis.get<number>(CONFIG_EPOCH_KEY),
      ])
      return {
        cached: cached !== null && typeof cached === 'object' ? cached : undefined,
        epoch: epoch === null ? 0 : toNumber(epoch),
      }
    },
    async writeCached(name, entry) {
      await redis.set(cachedConfigKey(name), entry, { ex: CONFIG_CACHE_TTL_SECONDS })
    },
    async admit(request): Promise<Admission> {
      // Issued in the same tick, in this order, so they leave as one pipeline request.
      const script = redis.eval<string[], [number, number, number]>(
        ADMIT_SCRIPT,
        [quotaKey(request.orgId, request.month), CONFIG_EPOCH_KEY],
        [
          String(request.monthlyLimit ?? -1),
          String(request.counterTtlSeconds),
          request.countsTowardQuota ? '1' : '0',
        ],
      )
      const org = request.orgRpm === null ? undefined : limiterFor('org', request.orgRpm)
      const key = request.keyRpm === null ? undefined : limiterFor('key', request.keyRpm)
      const [[admitted, used, epoch], orgResult, keyResult] = await Promise.all([
        script,
        org?.limit(request.orgId),
        key?.limit(request.keyId),
      ])
      return {
        org: orgResult === undefined ? undefined : asLimit(orgResult),
        key: keyResult === undefined ? undefined : asLimit(keyResult),
        quota: { admitted: toNumber(admitted) === 1, used: toNumber(used) },
        epoch: toNumber(epoch),
      }
    },
    async releaseQuota(orgId, month) {
      await redis.eval(RELEASE_SCRIPT, [quotaKey(orgId, month)], [])
    },
    async limitIp(ip) {
      return asLimit(await ipLimiter.limit(ip))
    },
  }
}
