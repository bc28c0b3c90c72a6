/**
 * @module Organisation and key rate limits, and the monthly quota, decided on the first round trip.
 *
 * `admission` (a part of the first round trip, `stages/first-round-trip`) asks for the
 * organisation window, the key window and the month's counter; that round trip also brings back
 * the config epoch, and when it has moved the key is re-validated before anything else — that is
 * how a revocation or a suspension reaches every isolate on its next request. `limits` awaits the
 * answer and decides.
 *
 * - Over a window → 429 `RATE_LIMITED` with `Retry-After` and `x-ratelimit-*`; the request is
 *   taken back out of the month's count.
 * - At the monthly cap → 429 `MONTHLY_LIMIT_EXCEEDED` (`Retry-After`: the month's end).
 * - Admitted → `x-ratelimit-*` of the binding window on the response.
 *
 * What counts toward the monthly quota: every chat completion and embeddings request admitted
 * here, whatever the provider then answers. Requests the gateway refuses (401, 402, 429, a bad
 * body or model) and `GET /v1/models` do not count.
 *
 * Failure policy: shared state unreachable → limits and quota fail open (the request proceeds
 * with a loud, throttled log line); an outage must not take customers' traffic down with it.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { alarm, describeError } from '../../logging/alarm'
import type { Admission, AdmissionRequest, SharedState } from '../../stores'
import {
  bindingLimit,
  calendarMonth,
  counterTtlSeconds,
  monthlyLimitError,
  rateLimitHeaders,
  rateLimitedError,
  subscriptionError,
} from '../../tenancy/limits'
import type { KeyResolver } from '../../tenancy/resolver'
import { afterResponse, scheduleAfterResponse } from '../after-response'
import { invalidKeyError, type AuthVariables } from '../authenticate'
import type { RoundTripPart } from '../first-round-trip'

/** What the admission part sets: the question asked, and the pending answer. */
export type AdmissionVariables = {
  admission: {
    readonly asked: AdmissionRequest
    readonly at: number
    readonly answer: Promise<Admission>
  }
}

export type AdmissionOptions = {
  readonly state: SharedState
  readonly countsTowardQuota: boolean
}

/** The first round trip's admission command for the authenticated tenant. */
export const admission = ({
  state,
  countsTowardQuota,
}: AdmissionOptions): RoundTripPart<AuthVariables & AdmissionVariables> => ({
  contribute(c, batch) {
    const tenant = c.get('tenant')
    const at = Date.now()
    const asked: AdmissionRequest = {
      orgId: tenant.orgId,
      orgRpm: tenant.org.rpm,
      keyId: tenant.keyId,
      keyRpm: tenant.keyRpm,
      countsTowardQuota,
      month: calendarMonth(at),
      monthlyLimit: tenant.org.monthlyRequestLimit,
      counterTtlSeconds: counterTtlSeconds(at),
    }
    c.set('admission', { asked, at, answer: batch.add(() => state.admit(asked)) })
  },
})

export type LimitsOptions = {
  readonly state: SharedState
  readonly resolver: KeyResolver
}

export const limits = ({
  state,
  resolver,
}: LimitsOptions): MiddlewareHandler<StageEnv<AuthVariables & AdmissionVariables>> =>
  async function limits(c, next) {
    let tenant = c.get('tenant')
    const { asked, at: now, answer } = c.get('admission')
    let admission: Admission
    try {
      admission = await answer
    } catch (err) {
      alarm('shared state unreachable: rate limits and quota fail open', {
        error: describeError(err),
      })
      await next()
      return
    }
    const counted = asked.countsTowardQuota && admission.quota.admitted
    const release = (): void => {
      if (!counted) return
      afterResponse(
        c,
        state.releaseQuota(asked.orgId, asked.month).catch((err: unknown) => {
          alarm('quota release failed', { error: describeError(err) })
        }),
      )
    }

    if (resolver.observeEpoch(admission.epoch)) {
      // Configs changed somewhere since this key was memoised: check it again now.
      const fresh = await resolver.resolve(c.get('apiKey'), scheduleAfterResponse(c))
      const refusal = fresh === undefined ? invalidKeyError() : subscriptionError(fresh)
      if (refusal !== undefined) {
        release()
        throw refusal
      }
      tenant = fresh ?? tenant
      c.set('tenant', tenant)
    }

    // The organisation's limit first, then the key's; a refusal's text is made only when needed.
    if (admission.org !== undefined && !admission.org.success) {
      release()
      throw rateLimitedError(
        admission.org,
        now,
        `Organisation '${tenant.org.slug}' is over its rate limit`,
      )
    }
    if (admission.key !== undefined && !admission.key.success) {
      release()
      throw rateLimitedError(admission.key, now, 'This API key is over its rate limit')
    }
    if (asked.countsTowardQuota && !admission.quota.admitted) {
      throw monthlyLimitError(tenant.org.monthlyRequestLimit ?? 0, now)
    }

    await next()
    const binding = bindingLimit(admission.org, admission.key)
    if (binding !== undefined) {
      for (const [name, value] of Object.entries(rateLimitHeaders(binding, now))) {
        c.res.headers.set(name, value)
      }
    }
  }
