/**
 * @module Egress guard: every target's destination passes the SSRF policy before anything is
 * sent, and the headers that will travel to the provider are the client's minus credentials,
 * client-identifying and hop-by-hop headers (see `security/`). Provider auth is added by the
 * provider client, after this (which checks each destination again: it is also used outside the
 * pipeline, and the verdict is memoised per URL).
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { sanitizeRequestHeaders } from '../../security/headers'
import { assertDestination } from '../../security/ssrf'
import type { RouteVariables } from '../route'

/** What this stage sets. */
export type GuardVariables = {
  /** The client's headers as they may travel to a provider (dispatch owns them: no copy). */
  forwardHeaders: Headers
}

export const guard = (): MiddlewareHandler<StageEnv<RouteVariables & GuardVariables>> =>
  // Not `async`: nothing to do after `next`, so no promise of its own.
  function guard(c, next) {
    for (const target of c.get('targets')) assertDestination(target.provider, target.url)
    c.set('forwardHeaders', sanitizeRequestHeaders(c.req.raw.headers))
    return next()
  }
