/**
 * @module Organisation and key rate limits, and the monthly quota: one shared-state round trip.
 *
 * `admit` sends the organisation window, the key window and the month's counter together (one
 * Upstash pipeline request); the same round trip brings back the config epoch, and when it has
 * moved the key is re-validated before anything else — that is how a revocation or a suspension
 * reaches every isolate on its next request. For a tenant with routing rules, a due routing-health
 * sync (`routing/health.ts`) is issued in the same tick and so rides the same pipeline request.
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
import type { GatewayEnv } from '../../env'
import { alarm, describeError } from '../../logging/alarm'
import type { Admission } from '../../stores'
import {
  bindingLimit,
  calendarMonth,
  counterTtlSeconds,
  monthlyLimitError,
  rateLimitHeaders,
  rateLimitedError,
  subscriptionError,
} from '../../tenancy/limits'
import { afterResponse, scheduleAfterResponse } from '../after-response'
import { invalidKeyError } from '../authenticate'

export type LimitsOptions = { readonly countsTowardQuota: boolean }

export const limits = ({ countsTowardQuota }: LimitsOptions): MiddlewareHandler<GatewayEnv> =>
  async function limits(c, next) {
    const { state, resolver, health } = c.get('stores')
    let tenant = c.get('tenant')
    const now = Date.now()
    const month = calendarMonth(now)
    // Issued in this tick, a due routing-health sync leaves in the same pipeline request as the
    // admission below, so a routed request starts with fresh breakers at no extra round trip.
    const refreshing = tenant.routingRules.length > 0 ? health.sync(now) : undefined
    let admission: Admission
    try {
      admission = await state.admit({
        orgId: tenant.orgId,
        orgRpm: tenant.org.rpm,
        keyId: tenant.keyId,
        keyRpm: tenant.keyRpm,
        countsTowardQuota,
        month,
        monthlyLimit: tenant.org.monthlyRequestLimit,
        counterTtlSeconds: counterTtlSeconds(now),
      })
    } catch (err) {
      alarm('shared state unreachable: rate limits and quota fail open', {
        error: describeError(err),
      })
      await next()
      return
    }
    await refreshing // settles with the admission (it never rejects)
    const counted = countsTowardQuota && admission.quota.admitted
    const release = (): void => {
      if (!counted) return
      afterResponse(
        c,
        state.releaseQuota(tenant.orgId, month).catch((err: unknown) => {
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

    for (const [result, what] of [
      [admission.org, `Organisation '${tenant.org.slug}' is over its rate limit`],
      [admission.key, 'This API key is over its rate limit'],
    ] as const) {
      if (result !== undefined && !result.success) {
        release()
        throw rateLimitedError(result, now, what)
      }
    }
    if (countsTowardQuota && !admission.quota.admitted) {
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
