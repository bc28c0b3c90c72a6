/**
 * @module Egress guard: every target's destination passes the SSRF policy, and the headers that
 * will travel to the provider are the client's minus credentials, client-identifying and
 * hop-by-hop headers (see `security/`). Provider auth is added by dispatch, after this.
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env'
import { GatewayError } from '../../errors'
import { sanitizeRequestHeaders } from '../../security/headers'
import { checkDestination, type DestinationVerdict } from '../../security/ssrf'
import type { Target } from '../route'

const verdicts = new WeakMap<URL, DestinationVerdict>()

/** Throws `DESTINATION_REFUSED` when a target's URL is not an allowed destination. */
export const assertDestination = (target: Pick<Target, 'provider' | 'url'>): void => {
  // Endpoint URLs are memoised per configuration, so the verdict is too; a fresh URL is checked.
  let verdict = verdicts.get(target.url)
  if (verdict === undefined) {
    verdict = checkDestination(target.url, {
      operatorConfigured: target.provider.operatorConfigured,
      allowedOrigin: target.provider.origin,
    })
    verdicts.set(target.url, verdict)
  }
  if (!verdict.allowed) {
    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'destination refused',
        provider: target.provider.spec.id,
        reason: verdict.reason,
      }),
    )
    throw new GatewayError(
      'DESTINATION_REFUSED',
      `The destination configured for '${target.provider.spec.id}' is not allowed by the gateway's egress policy.`,
    )
  }
}

export const guard = (): MiddlewareHandler<GatewayEnv> =>
  async function guard(c, next) {
    for (const target of c.get('targets')) assertDestination(target)
    c.set('forwardHeaders', sanitizeRequestHeaders(c.req.raw.headers))
    await next()
  }
