/**
 * @module Sends the request to its targets and hands the answer back: the glue between the
 * pipeline, the provider client (`providers/client.ts`) and the failover walk
 * (`routing/failover.ts`).
 *
 * The provider key is chosen here, at the last moment: the organisation's own (opened from the
 * vault and never kept beyond this request) or the operator's. Each try is recorded in the
 * request trace (for the log row), and the answer's taps go to the client with the call.
 *
 * A single target is sent once: the gateway does not retry it (the OpenAI SDKs retry 429s and 5xx
 * themselves, and retrying twice over multiplies load), and its error is answered as it is. With
 * several targets (a routing rule) the failover walk tries them in order, and a streamed answer
 * is committed to only with its first chunk, so a provider that answers 200 and then closes
 * before any content is failed over like one that refused.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import type { callProvider } from '../../providers/client'
import { walkTargets } from '../../routing/failover'
import type { HealthTracker } from '../../routing/health'
import type { RetryPolicy } from '../../routing/retry'
import { openProviderKey, type Keyring } from '../../security/vault'
import type { Tenant } from '../../tenancy/tenant'
import type { Exchange, Target } from '../../types'
import { afterResponse } from '../after-response'
import type { AuthVariables } from '../authenticate'
import type { GuardVariables } from '../guard'
import type { ParsedVariables } from '../parse-request'
import type { RouteVariables } from '../route'

export type DispatchOptions = {
  /** The provider client (a stand-in in unit tests). */
  readonly call: typeof callProvider
  readonly health: HealthTracker
  readonly keyring: Keyring | undefined
  /** For a single target: the time allowed for the response headers. */
  readonly upstreamTimeoutMs: number
  /** For several targets: per try, and for all of them together. */
  readonly attemptTimeoutMs: number
  readonly routingDeadlineMs: number
  readonly retry: RetryPolicy
}

/**
 * The provider key for this request: the organisation's own (opened from the vault here, at the
 * last moment, and never kept beyond this request) or else the operator's.
 */
const providerKey = (
  tenant: Tenant,
  target: Target,
  keyring: Keyring | undefined,
): string | undefined => {
  if (target.key === 'operator') return target.provider.apiKey
  const provider = target.provider.spec.id
  const sealed = tenant.providerKeys.get(provider)
  if (sealed === undefined) {
    throw new GatewayError('INTERNAL_ERROR', `No stored ${provider} key for this organisation.`)
  }
  if (keyring === undefined) {
    throw new GatewayError(
      'CONFIG_INVALID',
      'Provider keys are stored for this organisation but FLOOPY_VAULT_KEKS is not set.',
    )
  }
  try {
    return openProviderKey(keyring, { orgId: tenant.orgId, provider }, sealed)
  } catch (err) {
    // The vault's messages name a missing key id at most, never key material.
    throw new GatewayError(
      'CONFIG_INVALID',
      `The organisation's ${provider} key could not be opened: ${err instanceof Error ? err.message : 'unknown error'}.`,
    )
  }
}

/** Resolves after `ms`, or at once. */
const sleep = (ms: number): Promise<void> =>
  ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))

type DispatchEnv = StageEnv<AuthVariables & ParsedVariables & RouteVariables & GuardVariables>

export const dispatch = (options: DispatchOptions): MiddlewareHandler<DispatchEnv> => {
  const { call, health, keyring } = options

  /** One try at `target`, recorded in the trace as the request's exchange. */
  const attempt = async (
    c: Context<DispatchEnv>,
    target: Target,
    timeoutMs: number,
    headers: Headers,
    commitOnFirstByte: boolean,
  ): Promise<{ response: Response; latencyMs: number }> => {
    const trace = c.get('trace')
    const exchange: Exchange = { target, startedAt: Date.now(), answered: false }
    trace.exchange = exchange
    trace.attempts++
    const response = await call(target, c.get('request'), {
      requestId: c.get('requestId'),
      apiKey: providerKey(c.get('tenant'), target, keyring),
      timeoutMs,
      headers,
      taps: c.get('taps'),
      commitOnFirstByte,
      onHeaders: (at) => {
        exchange.headersAt = at
      },
    })
    exchange.answered = true
    return { response, latencyMs: (exchange.headersAt ?? Date.now()) - exchange.startedAt }
  }

  return async function dispatch(c) {
    const targets = c.get('targets')
    const [only] = targets
    if (only === undefined) throw new GatewayError('INTERNAL_ERROR', 'No target was selected.')
    if (targets.length === 1) {
      const { response } = await attempt(
        c,
        only,
        options.upstreamTimeoutMs,
        c.get('forwardHeaders'),
        false,
      )
      response.headers.set('floopy-attempts', '1')
      return response
    }
    const trace = c.get('trace')
    const forward = c.get('forwardHeaders')
    try {
      const response = await walkTargets({
        targets,
        health,
        retry: options.retry,
        attemptTimeoutMs: options.attemptTimeoutMs,
        deadlineMs: options.routingDeadlineMs,
        // Each try gets its own copy: one provider's auth header must never reach the next.
        attempt: (target, timeoutMs) => attempt(c, target, timeoutMs, new Headers(forward), true),
        failures: trace.failedAttempts,
        now: Date.now,
        random: Math.random,
        sleep,
      })
      response.headers.set('floopy-attempts', String(trace.attempts))
      return response
    } finally {
      const synced = health.sync(Date.now())
      if (synced !== undefined) afterResponse(c, synced)
    }
  }
}
