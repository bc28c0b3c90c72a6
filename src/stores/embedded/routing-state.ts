/**
 * @module Routing targets' health kept in the isolate's memory: the embedded default, and the
 * reference the Redis adapter is tested against. It applies the pure state machines directly.
 */
import type { RoutingState, TargetHealth } from '..'
import {
  applyOutcomes,
  canAttempt,
  DEFAULT_BREAKER,
  initialBreaker,
  type BreakerConfig,
} from '../../routing/breaker'
import { setBounded } from '../../routing/isolate-state'
import { DEFAULT_EWMA_ALPHA, foldLatency } from '../../routing/strategies'

export const memoryRoutingState = (
  config: BreakerConfig = DEFAULT_BREAKER,
  alpha = DEFAULT_EWMA_ALPHA,
): RoutingState => {
  const targets = new Map<string, TargetHealth>()
  const healthOf = (id: string): TargetHealth =>
    targets.get(id) ?? { breaker: initialBreaker(), latency: undefined }
  return {
    sync(reports, watch, now) {
      for (const report of reports) {
        const health = healthOf(report.id)
        setBounded(targets, report.id, {
          breaker: applyOutcomes(health.breaker, report.outcomes, now, config),
          latency: foldLatency(health.latency, report.latencyCount, report.latencyMeanMs, alpha),
        })
      }
      const answer = new Map<string, TargetHealth>()
      for (const id of [...reports.map((report) => report.id), ...watch]) {
        answer.set(id, healthOf(id))
      }
      return Promise.resolve(answer)
    },
    reserveProbe(id, now) {
      const health = healthOf(id)
      const { allowed, state } = canAttempt(health.breaker, now, config)
      const next = { ...health, breaker: state }
      setBounded(targets, id, next)
      return Promise.resolve({ allowed, health: next })
    },
  }
}
