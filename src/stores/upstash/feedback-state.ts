/**
 * @module The `feedback` strategy's posteriors in Upstash Redis: one hash per organisation, rule
 * and metric (`feedbackStatsKey`), fields `<target>|a`, `<target>|b`, `<target>|n`.
 *
 * Reading is a script (write-mode), so it rides the first round trip's pipeline. Recording is one
 * script, so feedback from any number of isolates folds in atomically: the request's earlier
 * reward on the metric, kept for the feedback window, is replaced rather than added (a repeat
 * counts once); otherwise the target's evidence is multiplied by the forgetting factor and the
 * reward added — `feedback/posterior.ts`'s `withReward` and `withReplacedReward`, in Lua.
 */
import type { Redis } from '@upstash/redis/cloudflare'
import type { FeedbackState, TargetPosteriors } from '..'
import type { Posterior } from '../../feedback/posterior'
import { FEEDBACK_WINDOW_SECONDS } from '../../feedback/reference'
import { feedbackLastKey } from '../shared-keys'

const READ_SCRIPT = `return redis.call('HGETALL', KEYS[1])`

/**
 * KEYS: the stats hash, the request's last-reward key. ARGV: target, reward, gamma, window
 * seconds. Returns 1 when a reward was replaced, 0 when one was added.
 */
const RECORD_SCRIPT = `
local target = ARGV[1]
local reward = tonumber(ARGV[2])
local gamma = tonumber(ARGV[3])
local a = tonumber(redis.call('HGET', KEYS[1], target .. '|a') or '0')
local b = tonumber(redis.call('HGET', KEYS[1], target .. '|b') or '0')
local n = tonumber(redis.call('HGET', KEYS[1], target .. '|n') or '0')
local previous = redis.call('GET', KEYS[2])
local replaced = 0
if previous then
  local delta = reward - tonumber(previous)
  a = math.max(0, a + delta)
  b = math.max(0, b - delta)
  replaced = 1
else
  a = a * gamma + reward
  b = b * gamma + (1 - reward)
  n = n + 1
end
redis.call('HSET', KEYS[1], target .. '|a', string.format('%.17g', a),
  target .. '|b', string.format('%.17g', b), target .. '|n', n)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('SET', KEYS[2], string.format('%.17g', reward), 'EX', tonumber(ARGV[4]))
return replaced
`

/** A stats hash's fields as posteriors by target. */
export const posteriorsOf = (fields: readonly unknown[] | Record<string, unknown> | null) => {
  const entries: [string, unknown][] = Array.isArray(fields)
    ? Array.from({ length: Math.floor(fields.length / 2) }, (_, i) => [
        String(fields[2 * i]),
        fields[2 * i + 1],
      ])
    : Object.entries(fields ?? {})
  const byTarget = new Map<string, { a: number; b: number; n: number }>()
  for (const [field, raw] of entries) {
    const cut = field.lastIndexOf('|')
    const part = field.slice(cut + 1)
    if (cut < 1 || (part !== 'a' && part !== 'b' && part !== 'n')) continue
    const value = Number(raw)
    if (!Number.isFinite(value) || value < 0) continue
    const target = field.slice(0, cut)
    const p = byTarget.get(target) ?? { a: 0, b: 0, n: 0 }
    p[part] = value
    byTarget.set(target, p)
  }
  return byTarget as Map<string, Posterior>
}

export const upstashFeedbackState = (redis: Redis): FeedbackState => ({
  async read(key): Promise<TargetPosteriors> {
    return posteriorsOf(await redis.eval<[], unknown[]>(READ_SCRIPT, [key], []))
  },
  async record(key, target, reward, replaces, gamma) {
    const orgId = key.split(':')[2] ?? ''
    await redis.eval(
      RECORD_SCRIPT,
      [key, feedbackLastKey(orgId, replaces)],
      [target, String(reward), String(gamma), String(FEEDBACK_WINDOW_SECONDS)],
    )
  },
})
