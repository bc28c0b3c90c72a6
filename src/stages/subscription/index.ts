/**
 * @module Refuses organisations whose subscription does not serve traffic (402
 * `SUBSCRIPTION_INACTIVE`; the statuses are listed in `tenancy/limits.ts`). Reads the key's config
 * only, and runs before the limits, so a suspended organisation spends no quota. Before refusing
 * a memoised config it checks the refusal is current (one shared-state read), so a reactivated
 * organisation is served on its next request rather than when the memo expires.
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { StageEnv } from '../../env'
import { subscriptionError } from '../../tenancy/limits'
import type { KeyResolver } from '../../tenancy/resolver'
import { scheduleAfterResponse } from '../after-response'
import { invalidKeyError, type AuthVariables } from '../authenticate'

export type SubscriptionOptions = { readonly resolver: KeyResolver }

export const subscription = ({
  resolver,
}: SubscriptionOptions): MiddlewareHandler<StageEnv<AuthVariables>> => {
  const revalidate = async (c: Context<StageEnv<AuthVariables>>, next: Next): Promise<void> => {
    const fresh = await resolver.resolve(c.get('apiKey'), scheduleAfterResponse(c), {
      revalidate: true,
    })
    if (fresh === undefined) {
      throw invalidKeyError()
    }
    const error = subscriptionError(fresh)
    if (error !== undefined) throw error
    c.set('tenant', fresh)
    await next()
  }
  // Not `async`: a subscription in good standing costs the request no promise of its own.
  return function subscription(c, next) {
    return subscriptionError(c.get('tenant')) === undefined ? next() : revalidate(c, next)
  }
}
