/**
 * @module The `feedback` strategy's posteriors in the isolate's memory: the embedded default,
 * folding rewards exactly as the Redis script does (`stores/upstash/feedback-state.ts`).
 */
import type { FeedbackState, TargetPosteriors } from '..'
import {
  EMPTY_POSTERIOR,
  withReplacedReward,
  withReward,
  type Posterior,
} from '../../feedback/posterior'
import { setBounded } from '../../routing/isolate-state'

export const memoryFeedbackState = (): FeedbackState => {
  const stats = new Map<string, Map<string, Posterior>>()
  const last = new Map<string, number>()
  return {
    read(key): Promise<TargetPosteriors> {
      return Promise.resolve(new Map(stats.get(key) ?? []))
    },
    record(key, target, reward, replaces, gamma) {
      let rule = stats.get(key)
      if (rule === undefined) {
        rule = new Map()
        setBounded(stats, key, rule)
      }
      const previous = last.get(replaces)
      const posterior = rule.get(target) ?? EMPTY_POSTERIOR
      rule.set(
        target,
        previous === undefined
          ? withReward(posterior, reward, gamma)
          : withReplacedReward(posterior, previous, reward),
      )
      setBounded(last, replaces, reward)
      return Promise.resolve()
    },
  }
}
