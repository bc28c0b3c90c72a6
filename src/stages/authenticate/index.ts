/**
 * @module Authenticates the caller from `Authorization: Bearer <gateway key>`, and limits what
 * arrives without a valid key.
 *
 * The key is checked for shape and checksum before any I/O, then resolved through the memo →
 * Redis → config store chain (`tenancy/resolver.ts`). Traffic that presents no valid key is
 * limited per client IP (`cf-connecting-ip`, `FLOOPY_IP_RPM`, 20 per minute by default), charged
 * only on this failure path, so valid traffic never pays for the IP window and many users behind
 * one corporate NAT are limited by their organisation's limits instead:
 *
 * - a well-formed key that the stores refuse: the shared window in Redis (these cost lookups);
 * - no key, or a malformed one: refused with no I/O at all, limited by an in-isolate window of the
 *   same size (they cost nothing but the isolate's own time, so they get no Redis call either).
 *
 * Over the limit the answer is 429 `RATE_LIMITED` instead of 401. If the shared limiter is
 * unreachable it fails open (the 401 stands, with a loud log line).
 *
 * The client's `authorization` header itself is stripped before dispatch (`security/headers.ts`).
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { alarm, describeError } from '../../logging/alarm'
import { parseApiKey } from '../../security/api-key'
import type { LimitResult } from '../../stores'
import { slidingWindow } from '../../stores/embedded/memory-state'
import { rateLimitedError } from '../../tenancy/limits'
import type { KeyResolver } from '../../tenancy/resolver'
import type { Tenant } from '../../tenancy/tenant'
import { scheduleAfterResponse } from '../after-response'

/** What this stage sets. */
export type AuthVariables = {
  /** The presented API key (kept for re-validation when the config epoch moves). */
  apiKey: string
  tenant: Tenant
}

export type AuthenticateOptions = {
  readonly resolver: KeyResolver
  /** The shared per-IP window for well-formed keys that fail lookup (`SharedState.limitIp`). */
  readonly limitIp: (ip: string) => Promise<LimitResult>
  /** `FLOOPY_IP_RPM`: the in-isolate window's size for keyless and malformed traffic. */
  readonly ipRpm: number
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

/** The presented key, or `undefined` when the header is missing or not a Bearer credential. */
export const bearerToken = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : BEARER.exec(header)?.[1]

/** 401 for a key that is not (or no longer) valid. */
export const invalidKeyError = (): GatewayError =>
  new GatewayError('INVALID_API_KEY', 'Invalid API key.', {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  })

/** The client's address as Cloudflare's edge reports it (not spoofable behind Cloudflare). */
const clientIp = (c: Context): string => c.req.header('cf-connecting-ip') ?? 'unknown'

const limitUnauthenticated = async (
  c: Context,
  presented: string | undefined,
  { limitIp, ipRpm }: AuthenticateOptions,
  local: (id: string, limit: number) => LimitResult,
): Promise<void> => {
  let result
  if (presented === undefined || !parseApiKey(presented).ok) {
    result = local(clientIp(c), ipRpm)
  } else {
    try {
      result = await limitIp(clientIp(c))
    } catch (err) {
      alarm('IP rate limiter unreachable: failing open', { error: describeError(err) })
      return
    }
  }
  if (!result.success) {
    throw rateLimitedError(result, Date.now(), 'Too many requests without a valid API key')
  }
}

export const authenticate = (
  options: AuthenticateOptions,
): MiddlewareHandler<StageEnv<AuthVariables>> => {
  const local = slidingWindow()
  return async function authenticate(c, next) {
    const presented = bearerToken(c.req.header('authorization'))
    const tenant =
      presented === undefined
        ? undefined
        : await options.resolver.resolve(presented, scheduleAfterResponse(c))
    if (presented === undefined || tenant === undefined) {
      await limitUnauthenticated(c, presented, options, local)
      throw presented === undefined
        ? new GatewayError(
            'INVALID_API_KEY',
            'Missing API key. Send it as "Authorization: Bearer <your gateway key>".',
            { headers: { 'www-authenticate': 'Bearer' } },
          )
        : invalidKeyError()
    }
    c.set('apiKey', presented)
    c.set('tenant', tenant)
    await next()
  }
}
