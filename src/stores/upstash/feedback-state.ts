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
import { posteriorsOfHash } from '../../feedback/posterior'
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

export const upstashFeedbackState = (redis: Redis): FeedbackState => ({
  async read(key): Promise<TargetPosteriors> {
    return posteriorsOfHash(await redis.eval<[], unknown[]>(READ_SCRIPT, [key], []))
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
