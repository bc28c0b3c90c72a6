/**
 * @module The failover walk: tries a request's targets in order until one answers, with the
 * retry policy (`retry.ts`) and the targets' circuit breakers (`health.ts`).
 *
 * Each target gets `retry.maxAttemptsPerTarget` tries, with jittered exponential backoff (a
 * provider's `Retry-After` honoured up to its cap). Each try has `attemptTimeoutMs` to produce its
 * answer's start, and the whole walk `deadlineMs`: no try or backoff outlasts it. A failure before
 * the answer starts (no response, a 429/5xx) moves on, invisibly to the client; once an answer has
 * started it is the client's. A 4xx is the request's own fault and is answered as is — another
 * target would refuse it too. A try the deadline cut short that runs out of time is not held
 * against its target's breaker. A target whose circuit is open is skipped; a failure that opens it
 * (or a failed probe) moves on at once, with no backoff. All failing: 502 `NO_PROVIDER_AVAILABLE`
 * naming each attempt's target and status, nothing more.
 *
 * No I/O of its own and no clock or randomness of its own: the caller passes the try, the health
 * memo, the clock and the random source, so the walk is the same in the pipeline and in a test.
 */
import { GatewayError } from '../errors'
import type { Target } from '../types'
import type { HealthTracker } from './health'
import { retryDelayMs, type Failure, type RetryPolicy } from './retry'

/**
 * Whether a failure may go to the next target: the provider timed out, could not be reached, was
 * rate-limited or failed (5xx). Anything else (a 4xx) is the request's own fault.
 */
export const failsOver = (err: unknown): err is GatewayError =>
  err instanceof GatewayError &&
  (err.code === 'PROVIDER_TIMEOUT' ||
    (err.code === 'PROVIDER_ERROR' && (err.status === 429 || err.status >= 500)))

/** A failure as the retry policy classifies it. */
const failureOf = (err: GatewayError): Failure =>
  err.code === 'PROVIDER_TIMEOUT'
    ? { kind: 'timeout' }
    : { kind: 'status', status: err.status, retryAfter: err.headers['retry-after'] ?? null }

/** One try's answer, and how long its response headers took. */
export type Answered = { readonly response: Response; readonly latencyMs: number }

export type Walk = {
  readonly targets: readonly Target[]
  readonly health: Pick<HealthTracker, 'admit' | 'record'>
  readonly retry: RetryPolicy
  readonly attemptTimeoutMs: number
  readonly deadlineMs: number
  /** One try at `target`: its answer, or a thrown `GatewayError`. */
  readonly attempt: (target: Target, timeoutMs: number) => Promise<Answered>
  /** Each failed try is appended here, as `provider/model: status CODE` (or why it was skipped). */
  readonly failures: string[]
  readonly now: () => number
  readonly random: () => number
  readonly sleep: (ms: number) => Promise<void>
}

/** Walks the targets; resolves with the first answer, or throws (see the module comment). */
export const walkTargets = async (walk: Walk): Promise<Response> => {
  const { health, retry, failures, now } = walk
  const deadline = now() + walk.deadlineMs
  let attempts = 0
  walk: for (const target of walk.targets) {
    const id = `${target.provider.spec.id}/${target.model}`
    for (let tryNumber = 1; tryNumber <= retry.maxAttemptsPerTarget; tryNumber++) {
      const remaining = deadline - now()
      if (remaining <= 0) {
        failures.push('deadline reached')
        break walk
      }
      const admission = await health.admit(target.healthId, now())
      if (!admission.allowed) {
        failures.push(`${id}: skipped, circuit open`)
        break
      }
      attempts++
      const timeoutMs = Math.min(walk.attemptTimeoutMs, remaining)
      try {
        const { response, latencyMs } = await walk.attempt(target, timeoutMs)
        health.record(target.healthId, { ok: true, probe: admission.probe, latencyMs }, now())
        return response
      } catch (err) {
        // A try the deadline cut below its time limit that then ran out of time says nothing of
        // the target: it is not held against its breaker (a probe's slot lapses after the
        // cool-down, as an unreported probe's does).
        const cut =
          timeoutMs < walk.attemptTimeoutMs &&
          err instanceof GatewayError &&
          err.code === 'PROVIDER_TIMEOUT'
        // A 4xx is the request's fault, not the target's: it counts as the target working.
        const closed =
          cut ||
          health.record(target.healthId, { ok: !failsOver(err), probe: admission.probe }, now())
        if (!failsOver(err)) throw err
        failures.push(
          `${id}: ${String(err.status)} ${err.code}${cut ? ' (cut short by the routing deadline)' : ''}`,
        )
        // No backoff for a try the circuit (just opened, or re-opened by a failed probe) would
        // refuse anyway: on to the next target.
        if (!closed || tryNumber === retry.maxAttemptsPerTarget) break
        const delay = retryDelayMs(tryNumber, failureOf(err), retry, walk.random, now())
        // A wait that would end past the deadline is not worth starting: try the next target.
        if (now() + delay >= deadline) break
        await walk.sleep(delay)
      }
    }
  }
  throw new GatewayError(
    'NO_PROVIDER_AVAILABLE',
    `None of the ${String(walk.targets.length)} targets could answer: ${failures.join('; ')}.`,
    { headers: { 'floopy-attempts': String(attempts) } },
  )
}
