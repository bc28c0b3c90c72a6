/**
 * @module Routing targets' health in Upstash Redis, shared by every isolate.
 *
 * A target's circuit breaker and latency average live in one hash, `floopy:target:<id>`:
 *
 * | field                 | meaning                                                       |
 * |-----------------------|---------------------------------------------------------------|
 * | `s`                   | `open` or `half-open`; absent while closed                    |
 * | `o<start>`/`f<start>` | closed: successes/failures in the bucket starting at `start`  |
 * | `oa`                  | open: when it opened (epoch ms)                               |
 * | `if`, `sc`, `pa`      | half-open: probes in flight, probes succeeded, last probe at  |
 * | `ew`, `n`             | latency EWMA (ms) and how many samples fed it                 |
 *
 * The transitions are `routing/breaker.ts`'s (`applyOutcomes`, `canAttempt`) and
 * `routing/strategies.ts`'s `foldLatency`, written again in Lua so that a report from any isolate
 * applies atomically: two isolates reporting at once both count, which a read-modify-write from
 * the Worker could not promise. `test/e2e/routing-state.test.ts` runs both versions on the same
 * random histories and requires the same states.
 *
 * Isolates call this off the hot path (`routing/health.ts` syncs at most about once a second,
 * riding the admission's pipeline request or after the response) except to reserve a half-open
 * probe, which is rare by construction. A hash no report touched for an hour expires: an idle
 * target starts closed and unmeasured.
 */
import { bytesToHex } from '@noble/ciphers/utils.js'
import type { Redis } from '@upstash/redis/cloudflare'
import type { RoutingState, TargetHealth } from '..'
import {
  BUCKETS,
  DEFAULT_BREAKER,
  initialBreaker,
  type BreakerConfig,
  type BreakerState,
} from '../../routing/breaker'
import { DEFAULT_EWMA_ALPHA } from '../../routing/strategies'
import { targetHealthKey } from '../shared-keys'

/** How long a target's hash outlives its last report. */
export const TARGET_TTL_MS = 3_600_000

const LOAD = `
local function load(key)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end
`

/**
 * KEYS: the targets' hashes. ARGV: now, windowMs, buckets, minRequests, failureRate, coolDownMs,
 * halfOpenProbes, alpha, ttlMs, then five per key: ok, failed, probe ('' none, '1' ok, '0'
 * failed), latency sample count, latency mean. Returns each hash's HGETALL after the update.
 */
const SYNC_SCRIPT = `${LOAD}
local now = tonumber(ARGV[1])
local size = math.max(1, math.floor(tonumber(ARGV[2]) / tonumber(ARGV[3])))
local minRequests = tonumber(ARGV[4])
local failureRate = tonumber(ARGV[5])
local probes = tonumber(ARGV[7])
local alpha = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
local current = math.floor(now / size) * size
local oldest = current - (tonumber(ARGV[3]) - 1) * size
local answer = {}
for i, key in ipairs(KEYS) do
  local at = 9 + (i - 1) * 5
  local ok = tonumber(ARGV[at + 1])
  local failed = tonumber(ARGV[at + 2])
  local probe = ARGV[at + 3]
  local count = tonumber(ARGV[at + 4])
  local mean = tonumber(ARGV[at + 5])
  local h = load(key)
  local wrote = false
  local status = h['s'] or 'closed'
  if status == 'closed' and ok + failed > 0 then
    local requests = ok + failed
    local failures = failed
    local stale = {}
    local window = {}
    for field, value in pairs(h) do
      local kind, start = string.match(field, '^([of])(%-?%d+)$')
      if kind then
        table.insert(window, field)
        if tonumber(start) < oldest then
          table.insert(stale, field)
        else
          requests = requests + tonumber(value)
          if kind == 'f' then failures = failures + tonumber(value) end
        end
      end
    end
    if requests >= minRequests and failures / requests >= failureRate then
      if #window > 0 then redis.call('HDEL', key, unpack(window)) end
      redis.call('HSET', key, 's', 'open', 'oa', now)
    else
      if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
      if ok > 0 then redis.call('HINCRBY', key, 'o' .. current, ok) end
      if failed > 0 then redis.call('HINCRBY', key, 'f' .. current, failed) end
    end
    wrote = true
  elseif status == 'half-open' and probe ~= '' and tonumber(h['if'] or '0') > 0 then
    if probe == '0' then
      redis.call('HDEL', key, 'if', 'sc', 'pa')
      redis.call('HSET', key, 's', 'open', 'oa', now)
    else
      local succeeded = tonumber(h['sc'] or '0') + 1
      if succeeded >= probes then
        redis.call('HDEL', key, 's', 'if', 'sc', 'pa')
      else
        redis.call('HSET', key, 'if', tonumber(h['if']) - 1, 'sc', succeeded)
      end
    end
    wrote = true
  end
  if count > 0 and mean >= 0 then
    local samples = tonumber(h['n'] or '0')
    local ewma = mean
    if samples > 0 then
      local kept = (1 - alpha) ^ count
      ewma = kept * tonumber(h['ew']) + (1 - kept) * mean
    end
    redis.call('HSET', key, 'ew', string.format('%.17g', ewma), 'n', samples + count)
    wrote = true
  end
  if wrote then redis.call('PEXPIRE', key, ttl) end
  answer[i] = redis.call('HGETALL', key)
end
return answer
`

/**
 * KEYS: one target's hash. ARGV: now, coolDownMs, halfOpenProbes, ttlMs. `canAttempt`: returns
 * {1 if the caller may send, the hash after the decision}.
 */
const RESERVE_SCRIPT = `${LOAD}
local now = tonumber(ARGV[1])
local coolDown = tonumber(ARGV[2])
local probes = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local key = KEYS[1]
local h = load(key)
local status = h['s'] or 'closed'
local allowed = 0
if status == 'closed' then
  allowed = 1
elseif status == 'open' then
  if now - tonumber(h['oa']) >= coolDown and probes >= 1 then
    redis.call('HDEL', key, 'oa')
    redis.call('HSET', key, 's', 'half-open', 'if', 1, 'sc', 0, 'pa', now)
    redis.call('PEXPIRE', key, ttl)
    allowed = 1
  end
else
  local inFlight = tonumber(h['if'])
  if now - tonumber(h['pa']) >= coolDown then inFlight = 0 end
  if inFlight + tonumber(h['sc']) < probes then
    redis.call('HSET', key, 'if', inFlight + 1, 'pa', now)
    redis.call('PEXPIRE', key, ttl)
    allowed = 1
  end
end
return {allowed, redis.call('HGETALL', key)}
`

/**
 * Runs a script by its SHA-1 (`EVALSHA`, falling back to `EVAL` when the server has not seen it),
 * issuing the command synchronously: called in the same tick as the limits' commands, it leaves in
 * the same auto-pipelined request (`@upstash/redis`'s `createScript` awaits first, so it would not).
 */
const scriptRunner = <T>(redis: Redis, script: string) => {
  let sha: string | undefined
  crypto.subtle
    .digest('SHA-1', new TextEncoder().encode(script))
    .then((digest) => {
      sha = bytesToHex(new Uint8Array(digest))
    })
    .catch(() => undefined) // without a hash, every call sends the script itself
  return async (keys: string[], args: string[]): Promise<T> => {
    if (sha === undefined) return await redis.eval<string[], T>(script, keys, args)
    try {
      return await redis.evalsha<string[], T>(sha, keys, args)
    } catch (err) {
      if (!(err instanceof Error && err.message.includes('NOSCRIPT'))) throw err
      return await redis.eval<string[], T>(script, keys, args)
    }
  }
}

/** A number, or a numeric string; anything else (even an object from a JSON reply) is NaN. */
const num = (value: unknown): number =>
  typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN

/**
 * A target's hash (HGETALL's flat field/value list) as `TargetHealth`. The client may have turned
 * numeric strings into numbers; anything unreadable reads as a closed, unmeasured target.
 */
export const parseTargetHash = (flat: unknown): TargetHealth => {
  const fields = new Map<string, unknown>()
  if (Array.isArray(flat)) {
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field: unknown = flat[i]
      if (typeof field === 'string' || typeof field === 'number') {
        fields.set(String(field), flat[i + 1])
      }
    }
  }
  const samples = num(fields.get('n') ?? 0)
  const ewmaMs = num(fields.get('ew'))
  const latency =
    samples > 0 && Number.isFinite(ewmaMs) ? { ewmaMs, samples: Math.floor(samples) } : undefined
  const status = fields.get('s')
  let breaker: BreakerState
  if (status === 'open') {
    breaker = { status: 'open', openedAt: num(fields.get('oa')) }
  } else if (status === 'half-open') {
    breaker = {
      status: 'half-open',
      inFlight: num(fields.get('if')),
      succeeded: num(fields.get('sc')),
      probedAt: num(fields.get('pa')),
    }
  } else {
    const counts = new Map<number, { ok: number; failed: number }>()
    for (const [field, value] of fields) {
      const kind = field[0]
      if ((kind !== 'o' && kind !== 'f') || !/^-?\d+$/.test(field.slice(1))) continue
      const start = Number(field.slice(1))
      const bucket = counts.get(start) ?? { ok: 0, failed: 0 }
      if (kind === 'o') bucket.ok += num(value)
      else bucket.failed += num(value)
      counts.set(start, bucket)
    }
    breaker = {
      status: 'closed',
      buckets: [...counts]
        .map(([start, c]) => ({ start, ok: c.ok, failed: c.failed }))
        .sort((a, b) => a.start - b.start)
        .slice(-BUCKETS),
    }
  }
  const valid =
    breaker.status === 'closed' ||
    Object.values(breaker).every((value) => typeof value === 'string' || Number.isFinite(value))
  return { breaker: valid ? breaker : initialBreaker(), latency }
}

export const upstashRoutingState = (
  redis: Redis,
  config: BreakerConfig = DEFAULT_BREAKER,
  alpha = DEFAULT_EWMA_ALPHA,
): RoutingState => {
  const sync = scriptRunner<unknown[]>(redis, SYNC_SCRIPT)
  const reserve = scriptRunner<[number, unknown]>(redis, RESERVE_SCRIPT)
  return {
    async sync(reports, watch, now) {
      const reported = new Set(reports.map((report) => report.id))
      // One key per report, in order, even for a target reported twice: each report's five
      // arguments stay beside its key, and the reports apply one after the other, as in memory.
      const ids = [
        ...reports.map((report) => report.id),
        ...watch.filter((id) => !reported.has(id)),
      ]
      const answer = new Map<string, TargetHealth>()
      if (ids.length === 0) return answer
      const args = [
        String(now),
        String(config.windowMs),
        String(BUCKETS),
        String(config.minRequests),
        String(config.failureRate),
        String(config.coolDownMs),
        String(config.halfOpenProbes),
        String(alpha),
        String(TARGET_TTL_MS),
      ]
      for (const report of reports) {
        const { ok, failed, probe } = report.outcomes
        args.push(
          String(Math.max(0, Math.floor(ok))),
          String(Math.max(0, Math.floor(failed))),
          probe === undefined ? '' : probe ? '1' : '0',
          String(Math.max(0, Math.floor(report.latencyCount))),
          String(Number.isFinite(report.latencyMeanMs) ? report.latencyMeanMs : -1),
        )
      }
      for (let i = reports.length; i < ids.length; i++) args.push('0', '0', '', '0', '-1')
      const hashes = await sync(ids.map(targetHealthKey), args)
      ids.forEach((id, index) => answer.set(id, parseTargetHash(hashes[index])))
      return answer
    },
    async reserveProbe(id, now) {
      const [allowed, hash] = await reserve(
        [targetHealthKey(id)],
        [
          String(now),
          String(config.coolDownMs),
          String(config.halfOpenProbes),
          String(TARGET_TTL_MS),
        ],
      )
      return { allowed: num(allowed) === 1, health: parseTargetHash(hash) }
    },
  }
}
