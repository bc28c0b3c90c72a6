/**
 * @module The provider client: one call sends a canonical (OpenAI-shaped) request to one target
 * and answers in OpenAI's shape, JSON or stream. It needs no pipeline: dispatch calls it for each
 * attempt of the failover walk, the model list for each provider, and the gateway's own calls
 * (embeddings for the cache, a safety model for the firewall) use it the same way.
 *
 * A call, in order: the destination passes the egress policy (`security/ssrf.ts`); the request is
 * translated for the target's family; the outbound headers are the caller's (already sanitised,
 * `security/headers.ts`) plus what the family needs and the key, set last — by the family itself
 * when its credential is more than a header (Bedrock signs the final request, and its region may
 * pick the host, which then passes the egress policy in turn); it is sent with a time
 * limit on the response headers and no redirect followed; an error answer becomes a
 * `GatewayError` with secrets redacted; a 2xx answer is relayed by the family's adapter. Whoever
 * observes the answer registers a tap (`types.ts`): the taps get the answer's head bytes, usage
 * and end state once its body has ended, and adapters never know who is listening.
 */
import { GatewayError } from '../errors'
import { sanitizeResponseHeaders } from '../security/headers'
import { assertDestination } from '../security/ssrf'
import type { ParsedRequest, ProviderConfig, ResponseOutcome, ResponseTap, Target } from '../types'
import type { ListedModel } from './adapter'
import { adapterFor } from './families'
import { headSink } from './head'
import { providerError } from './upstream-error'

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

/** Sets the provider's auth header for `apiKey` (nothing when the endpoint needs no key). */
const authorize = (
  headers: Headers,
  provider: ProviderConfig,
  apiKey: string | undefined,
): void => {
  const { auth } = provider.spec
  if (apiKey !== undefined) headers.set(auth.header, `${auth.prefix}${apiKey}`)
}

export type CallOptions = {
  readonly requestId: string
  /** The provider key to send (`undefined`: the endpoint needs none). */
  readonly apiKey: string | undefined
  /** Time allowed for the provider's response headers. */
  readonly timeoutMs: number
  /** Client headers to forward, already sanitised; the call sets its own on this object. */
  readonly headers?: Headers | undefined
  /** Observers of the answer (read when the call starts). */
  readonly taps?: readonly ResponseTap[] | undefined
  /**
   * Hand a streamed answer over only once its first chunk is there: a stream that ended before
   * any content (the provider closed at once, or sent nothing but an error) is then a failure the
   * caller may still take elsewhere (dispatch sets this for a routing rule with several targets).
   */
  readonly commitOnFirstByte?: boolean | undefined
  /** Told the moment the provider's response headers arrive. */
  readonly onHeaders?: ((at: number) => void) | undefined
}

/** The failure a stream that ended before any content is: another target may well answer. */
const emptyStream = (provider: string): GatewayError =>
  new GatewayError('PROVIDER_ERROR', `${provider}: the stream ended before any content.`, {
    status: 502,
  })

/** `undefined` once a stream's first chunk is there with content; else why not. */
const firstChunkOrTimeout = async (
  started: Promise<boolean>,
  ms: number,
): Promise<'empty' | 'timeout' | undefined> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(
      () => {
        resolve('timeout')
      },
      Math.max(0, ms),
    )
  })
  try {
    return await Promise.race([started.then((failed) => (failed ? 'empty' : undefined)), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Sends `request` to `target` and answers in OpenAI's shape. Throws a `GatewayError` for anything
 * that goes wrong before the answer starts; after that, a stream that breaks ends with an SSE
 * error event (the adapter's relay), never a clean-looking end.
 */
export const callProvider = async (
  target: Target,
  request: ParsedRequest,
  options: CallOptions,
): Promise<Response> => {
  const { provider } = target
  const id = provider.spec.id
  assertDestination(provider, target.url)
  const adapter = adapterFor(provider.spec.family)
  const prepared = adapter.prepare(request, provider, target.model)

  const headers = options.headers ?? new Headers()
  headers.set('content-type', 'application/json')
  headers.set('accept', request.stream ? 'text/event-stream' : 'application/json')
  if (prepared.headers !== undefined) {
    for (const [name, value] of Object.entries(prepared.headers)) headers.set(name, value)
  }
  // The credential goes on last, over the request exactly as it leaves (a signature covers it).
  let url = target.url
  let knownSecrets: readonly string[] = options.apiKey === undefined ? [] : [options.apiKey]
  if (adapter.authorize === undefined) authorize(headers, provider, options.apiKey)
  else {
    const authorized = await adapter.authorize(
      { url, headers, body: prepared.body },
      provider,
      options.apiKey,
    )
    knownSecrets = authorized.secrets
    // The credential chose the host (Bedrock's region): that destination passes the policy too.
    if (authorized.url.href !== url.href) assertDestination(authorized.provider, authorized.url)
    url = authorized.url
  }

  const calledAt = Date.now()
  const taps = options.taps ?? []
  const wants = taps.map((tap) => tap.headBytes ?? 0)
  const most = Math.max(0, ...wants)
  const sink = most > 0 ? headSink(most) : undefined

  const upstream = await send(
    url,
    { method: 'POST', headers, body: prepared.body },
    { timeoutMs: options.timeoutMs, provider: id },
  )
  options.onHeaders?.(Date.now())
  if (upstream.status >= 300 && upstream.status < 400) {
    await upstream.body?.cancel()
    throw new GatewayError(
      'PROVIDER_ERROR',
      `${id}: the provider answered with a redirect, which the gateway does not follow.`,
    )
  }
  if (!upstream.ok) throw await providerError(id, upstream, knownSecrets)

  // The taps hear of an answer's end only once it was handed over, and exactly once.
  let outcome: ResponseOutcome | undefined
  let handedOver = false
  let told = false
  const tell = (): void => {
    if (!handedOver || outcome === undefined || told) return
    told = true
    const ended = outcome
    taps.forEach((tap, i) => {
      const bytes = wants[i] ?? 0
      tap.end({ outcome: ended, head: bytes > 0 ? sink?.head(bytes) : undefined })
    })
  }
  const commit = options.commitOnFirstByte === true && request.stream
  let firstChunk: ((failed: boolean) => void) | undefined
  /** Drops a relayed stream at once (`SseRelayOptions.onRelease`). */
  let release: (() => void) | undefined
  const started = commit
    ? new Promise<boolean>((resolve) => {
        firstChunk = resolve
      })
    : undefined

  const responded = await adapter.respond(upstream, request, provider, {
    requestId: options.requestId,
    provider: id,
    model: target.model,
    knownSecrets,
    head: sink,
    onEnd(ended) {
      outcome ??= ended
      tell()
    },
    onFirstChunk: firstChunk,
    // Only a stream committed to on its first chunk can be dropped before it is sent.
    onRelease:
      started === undefined
        ? undefined
        : (stop) => {
            release = stop
          },
  })
  const { body } = responded
  if (body instanceof ArrayBuffer) sink?.keep(new Uint8Array(body))
  else if (started !== undefined) {
    // The first chunk is due within what is left of the time allowed for the headers.
    const failure = await firstChunkOrTimeout(started, options.timeoutMs - (Date.now() - calledAt))
    if (failure !== undefined) {
      // The provider goes at once, not when it next writes; then the client's side.
      release?.()
      await body.cancel()
      throw failure === 'timeout'
        ? new GatewayError(
            'PROVIDER_TIMEOUT',
            `${id}: no content within ${String(options.timeoutMs)} ms.`,
          )
        : emptyStream(id)
    }
  }

  const out = sanitizeResponseHeaders(upstream.headers)
  out['content-type'] = responded.contentType
  out['floopy-provider'] = id
  out['floopy-model'] = target.model
  if (prepared.dropped.length > 0) out['floopy-dropped-params'] = prepared.dropped.join(', ')
  if (request.stream) {
    out['cache-control'] = 'no-cache'
    out['x-accel-buffering'] = 'no'
  }
  handedOver = true
  tell()
  return new Response(body, { status: upstream.status, headers: out })
}

/** The models `provider` serves, as its own API lists them (the operator's key). */
export const listModels = async (
  provider: ProviderConfig,
  timeoutMs: number,
): Promise<ListedModel[]> => {
  const { models } = adapterFor(provider.spec.family)
  if (models.fixed !== undefined) return [...models.fixed]
  const path = provider.spec.paths.models
  if (path === null) return []
  const url = new URL(provider.baseUrl + path)
  for (const [name, value] of Object.entries(models.query ?? {})) url.searchParams.set(name, value)
  assertDestination(provider, url)
  const headers = new Headers({ accept: 'application/json', ...models.headers })
  authorize(headers, provider, provider.apiKey)
  const res = await send(url, { headers }, { timeoutMs, provider: provider.spec.id })
  if (!res.ok) {
    await res.body?.cancel()
    throw new Error(`HTTP ${String(res.status)}`)
  }
  return models.parse(await res.json())
}
