/**
 * @module Sends the request to its target and streams the answer back.
 *
 * The provider key is added to the (already sanitised) headers here, at the last moment; redirects
 * are never followed; the time allowed for the provider's response headers is bounded, while an
 * answer that has started may stream for as long as it needs. A provider error before the first
 * byte becomes an OpenAI error with the mapped status; what happens after the first byte is the
 * adapter's stream relay's business (an SSE error event, never a clean-looking end).
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env'
import { GatewayError } from '../../errors'
import { adapterFor, type ResponseOutcome } from '../../providers/adapter'
import { providerError } from '../../providers/upstream-error'
import { sanitizeResponseHeaders } from '../../security/headers'
import { captureBody, captureSink, type Capture, type Captured } from '../../logging/capture'
import { openProviderKey } from '../../security/vault'
import { retryDelayMs, type Failure } from '../../routing/retry'
import { afterResponse } from '../after-response'
import type { Target } from '../route'

export type SendOptions = { readonly timeoutMs: number; readonly provider: string }

/** `fetch` with a time limit on the response headers only; network failures become 502/504. */
export const send = async (
  url: URL,
  init: RequestInit,
  { timeoutMs, provider }: SendOptions,
): Promise<Response> => {
  const controller = new AbortController()
  const timer = setTimeout(() => {
    controller.abort()
  }, timeoutMs)
  try {
    return await fetch(url, { ...init, redirect: 'manual', signal: controller.signal })
  } catch (err) {
    if (controller.signal.aborted) {
      throw new GatewayError('PROVIDER_TIMEOUT', `${provider}: no response within ${timeoutMs} ms.`)
    }
    throw new GatewayError('PROVIDER_ERROR', `${provider}: the provider could not be reached.`, {
      cause: err,
    })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The provider key for this request: the organisation's own (opened from the vault here, at the
 * last moment, and never kept beyond this request) or else the operator's.
 */
const providerKey = (c: Context<GatewayEnv>, target: Target): string | undefined => {
  if (target.key === 'operator') return target.provider.apiKey
  const tenant = c.get('tenant')
  const provider = target.provider.spec.id
  const sealed = tenant.providerKeys.get(provider)
  if (sealed === undefined) {
    throw new GatewayError('INTERNAL_ERROR', `No stored ${provider} key for this organisation.`)
  }
  const keyring = c.get('config').keyring
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

/** The sanitised client headers plus provider auth. Dispatch owns `forwardHeaders`: no copy. */
const outboundHeaders = (
  c: Context<GatewayEnv>,
  target: Target,
  apiKey: string | undefined,
  extra: Readonly<Record<string, string>> | undefined,
): Headers => {
  const headers = c.get('forwardHeaders')
  if (extra !== undefined)
    for (const [name, value] of Object.entries(extra)) headers.set(name, value)
  const { auth } = target.provider.spec
  if (apiKey !== undefined) headers.set(auth.header, `${auth.prefix}${apiKey}`)
  headers.set('content-type', 'application/json')
  headers.set('accept', c.get('request').stream ? 'text/event-stream' : 'application/json')
  return headers
}

/** What the request log needs of a provider exchange (`c.var.exchange`). */
export type Exchange = {
  readonly target: Target
  readonly startedAt: number
  headersAt?: number
  /** Resolves once the response body has ended (completely, cut, or cancelled). */
  readonly ended: Promise<{ outcome: ResponseOutcome; captured: Captured | undefined }>
}

/**
 * Whether a failure may go to the next target: the provider timed out, could not be reached, was
 * rate-limited or failed (5xx). Anything else (a 4xx) is the request's own fault and is answered
 * as is — another provider would refuse it too.
 */
export const failsOver = (err: unknown): err is GatewayError =>
  err instanceof GatewayError &&
  (err.code === 'PROVIDER_TIMEOUT' ||
    (err.code === 'PROVIDER_ERROR' && (err.status === 429 || err.status >= 500)))

/** A dispatch failure as the retry policy classifies it. */
const failureOf = (err: GatewayError): Failure =>
  err.code === 'PROVIDER_TIMEOUT'
    ? { kind: 'timeout' }
    : { kind: 'status', status: err.status, retryAfter: err.headers['retry-after'] ?? null }

/** Resolves after `ms`, or at once. */
const sleep = (ms: number): Promise<void> =>
  ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Tries the targets in order until one answers, skipping those whose circuit is open
 * (`routing/health.ts`: breakers and latency shared by all isolates, read from a per-isolate memo).
 *
 * With several targets (a routing rule), each target gets `retry.maxAttemptsPerTarget` (config)
 * tries, with jittered exponential backoff (a provider's `Retry-After` honoured up to 5 s). Each
 * try has `attemptTimeoutMs` to produce response headers, and the whole walk `routingDeadlineMs`:
 * no try or backoff outlasts it. A failure before the first byte of an answer (no response
 * headers, or a 429/5xx) moves on, invisibly to the client; once an answer has started it is the
 * client's (a stream that breaks later ends with an error event, never with a silent switch).
 * A 4xx is the request's own fault and is answered as is. All failing: 502
 * `NO_PROVIDER_AVAILABLE` naming each attempt's target and status, nothing more.
 *
 * A single target is not retried by the gateway (the OpenAI SDKs retry 429s and 5xx themselves,
 * and retrying twice over multiplies load); its error is answered as it is.
 */
export const dispatch = (): MiddlewareHandler<GatewayEnv> =>
  async function dispatch(c) {
    const targets = c.get('targets')
    const config = c.get('config')
    if (targets.length === 0) throw new GatewayError('INTERNAL_ERROR', 'No target was selected.')
    if (targets.length === 1 && targets[0] !== undefined) {
      c.set('attempts', 1)
      const response = await attempt(c, targets[0], config.upstreamTimeoutMs)
      response.headers.set('floopy-attempts', '1')
      return response
    }
    const health = c.get('stores').health
    const failures: string[] = []
    c.set('failedAttempts', failures) // for the request log: every attempt before the answer
    const deadline = Date.now() + config.routingDeadlineMs
    let attempts = 0
    try {
      walk: for (const target of targets) {
        const id = `${target.provider.spec.id}/${target.model}`
        for (let tryNumber = 1; tryNumber <= config.retry.maxAttemptsPerTarget; tryNumber++) {
          const remaining = deadline - Date.now()
          if (remaining <= 0) {
            failures.push('deadline reached')
            break walk
          }
          const admission = await health.admit(target.healthId, Date.now())
          if (!admission.allowed) {
            failures.push(`${id}: skipped, circuit open`)
            break
          }
          c.set('attempts', ++attempts)
          try {
            const response = await attempt(c, target, Math.min(config.attemptTimeoutMs, remaining))
            const exchange = c.get('exchange')
            health.record(
              target.healthId,
              {
                ok: true,
                probe: admission.probe,
                latencyMs: (exchange.headersAt ?? Date.now()) - exchange.startedAt,
              },
              Date.now(),
            )
            response.headers.set('floopy-attempts', String(attempts))
            return response
          } catch (err) {
            // A 4xx is the request's fault, not the target's: it counts as the target working.
            const closed = health.record(
              target.healthId,
              { ok: !failsOver(err), probe: admission.probe },
              Date.now(),
            )
            if (!failsOver(err)) throw err
            failures.push(`${id}: ${String(err.status)} ${err.code}`)
            // No backoff for a try the circuit (just opened, or re-opened by a failed probe) would
            // refuse anyway: on to the next target.
            if (!closed || tryNumber === config.retry.maxAttemptsPerTarget) break
            const delay = retryDelayMs(
              tryNumber,
              failureOf(err),
              config.retry,
              Math.random,
              Date.now(),
            )
            // A wait that would end past the deadline is not worth starting: try the next target.
            if (Date.now() + delay >= deadline) break
            await sleep(delay)
          }
        }
      }
    } finally {
      const synced = health.sync(Date.now())
      if (synced !== undefined) afterResponse(c, synced)
    }
    throw new GatewayError(
      'NO_PROVIDER_AVAILABLE',
      `None of the ${String(targets.length)} targets could answer: ${failures.join('; ')}.`,
      { headers: { 'floopy-attempts': String(attempts) } },
    )
  }

/** One target: send, check, and start relaying the answer. Throws before the first byte. */
const attempt = async (
  c: Context<GatewayEnv>,
  target: Target,
  timeoutMs: number,
): Promise<Response> => {
  const request = c.get('request')
  const requestId = c.get('requestId')
  const provider = target.provider.spec.id
  const adapter = adapterFor(target.provider.spec.family)
  const prepared = adapter.prepare(request, target.provider, target.model)
  const apiKey = providerKey(c, target)
  const knownSecrets = apiKey === undefined ? [] : [apiKey]
  let reportEnd: (outcome: ResponseOutcome) => void = () => undefined
  let capture: Capture | undefined
  const keepsBody =
    c.get('logBodies') && c.get('tenant').org.features['metadata_only_logging'] !== true
  const exchange: Exchange = {
    target,
    startedAt: Date.now(),
    ended: new Promise((resolve) => {
      reportEnd = (outcome) => {
        resolve({ outcome, captured: capture?.captured() })
      }
    }),
  }
  c.set('exchange', exchange)

  let upstream: Response
  let responded: Awaited<ReturnType<typeof adapter.respond>>
  try {
    upstream = await send(
      target.url,
      {
        method: 'POST',
        headers: outboundHeaders(c, target, apiKey, prepared.headers),
        body: prepared.body,
      },
      { timeoutMs, provider },
    )
    exchange.headersAt = Date.now()
    if (upstream.status >= 300 && upstream.status < 400) {
      await upstream.body?.cancel()
      throw new GatewayError(
        'PROVIDER_ERROR',
        `${provider}: the provider answered with a redirect, which the gateway does not follow.`,
      )
    }
    if (!upstream.ok) throw await providerError(provider, upstream, knownSecrets)

    responded = await adapter.respond(upstream, request, target.provider, {
      requestId,
      provider,
      knownSecrets,
      onEnd: (outcome) => {
        reportEnd(outcome)
      },
      capture: keepsBody ? captureSink() : undefined,
    })
  } catch (err) {
    // No body will be relayed: the log must not wait for one.
    reportEnd({ usage: undefined, end: 'provider_error' })
    throw err
  }
  const { body, contentType } = responded
  if (keepsBody) {
    capture =
      responded.captured === undefined ? captureBody(body) : { body, captured: responded.captured }
  }
  const headers = sanitizeResponseHeaders(upstream.headers)
  headers.set('content-type', contentType)
  headers.set('floopy-provider', provider)
  headers.set('floopy-model', target.model)
  if (prepared.dropped.length > 0) headers.set('floopy-dropped-params', prepared.dropped.join(', '))
  if (request.stream) {
    headers.set('cache-control', 'no-cache')
    headers.set('x-accel-buffering', 'no')
  }
  return new Response(capture?.body ?? body, { status: upstream.status, headers })
}
