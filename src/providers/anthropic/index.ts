/**
 * @module The adapter for Anthropic's Messages API (`POST /v1/messages`): OpenAI-shaped requests
 * are translated to Anthropic's (`request.ts`), and Anthropic's answers back to OpenAI
 * chat completions (`response.ts`) or chunk streams (`stream.ts`). Anthropic has no embeddings.
 *
 * Authentication (`x-api-key`) is added by dispatch from the registry; this adapter adds the
 * `anthropic-version` header every request needs (specs/anthropic/NOTES.md, "Endpoint and
 * headers"). Errors before the first byte are Anthropic's `{type: 'error', error: {type,
 * message}}`, which dispatch already maps (`upstream-error.ts`).
 */
import { GatewayError } from '../../errors'
import { recordOf, type ProviderAdapter, type RespondContext } from '../adapter'
import { jsonBody } from '../completion'
import { parseJson } from '../fields'
import { readWhole, bytesOf, interruptedEvent, streamed } from '../relay'
import { providerErrorFrom } from '../upstream-error'
import { ANTHROPIC_VERSION, responsePlan, toAnthropicRequest } from './request'
import { gatewayUsage, isAnthropicMessage, toChatCompletion } from './response'
import { relayAnthropicStream } from './stream'
import type { ParsedRequest, ProviderConfig } from '../../types'

const noEmbeddings = (provider: ProviderConfig): GatewayError =>
  new GatewayError(
    'UNSUPPORTED_BY_PROVIDER',
    `The provider '${provider.spec.id}' does not offer embeddings.`,
    { param: 'model' },
  )

/** Anthropic error type → the HTTP status Anthropic answers it with (decides the OpenAI type). */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
}

/** An in-stream `error` event (`{type: 'error', error: {type, message}}`) as a gateway error. */
const streamError = (event: unknown, context: RespondContext): GatewayError => {
  const error = (event as { error?: { type?: unknown } } | null)?.error
  const status = typeof error?.type === 'string' ? (ERROR_STATUS[error.type] ?? 502) : 502
  return providerErrorFrom(context.provider, status, event, undefined, context.knownSecrets)
}

const respondJson = async (
  upstream: Response,
  request: ParsedRequest,
  context: RespondContext,
): Promise<ArrayBuffer> => {
  const message = parseJson(await readWhole(upstream, (r) => r.text()))
  if (!isAnthropicMessage(message)) {
    throw providerErrorFrom(
      context.provider,
      502,
      message ?? { error: { message: 'The provider answered with something that is not JSON.' } },
      undefined,
      context.knownSecrets,
    )
  }
  const { completion, counts } = toChatCompletion(
    message,
    responsePlan(request.body),
    Math.floor(Date.now() / 1000),
  )
  context.onEnd({ usage: gatewayUsage(counts), end: 'done' })
  return jsonBody(completion)
}

export const anthropic: ProviderAdapter = {
  // `{ data: [{ id, created_at: RFC 3339 }] }` (Anthropic Models API).
  models: {
    headers: { 'anthropic-version': ANTHROPIC_VERSION },
    parse: (body) => {
      const items = recordOf(body)?.data
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = recordOf(item)
        if (typeof m?.id !== 'string') return []
        const created = typeof m.created_at === 'string' ? Date.parse(m.created_at) / 1000 : 0
        return [{ id: m.id, created: Number.isFinite(created) ? Math.floor(created) : 0 }]
      })
    },
  },

  endpoint({ kind }, provider) {
    if (kind !== 'chat') throw noEmbeddings(provider)
    return new URL(provider.baseUrl + provider.spec.paths.chat)
  },

  prepare(request, provider, model) {
    if (request.kind !== 'chat') throw noEmbeddings(provider)
    const { body, dropped } = toAnthropicRequest(request, model)
    return {
      body: JSON.stringify(body),
      dropped,
      headers: { 'anthropic-version': ANTHROPIC_VERSION },
    }
  },

  async respond(upstream, request, _provider, context) {
    if (!request.stream) {
      return {
        body: await respondJson(upstream, request, context),
        contentType: 'application/json',
      }
    }
    const relayed = relayAnthropicStream(bytesOf(upstream), {
      plan: {
        ...responsePlan(request.body),
        showUsage: request.includeUsage,
        created: Math.floor(Date.now() / 1000),
      },
      providerErrorEvent: (event) => streamError(event, context).toSseEvent(context.requestId),
      interruptedEvent: () => interruptedEvent(context.provider, context.requestId),
      onEnd: context.onEnd,
      tap: context.head?.take,
      onFirstChunk: context.onFirstChunk,
      onRelease: context.onRelease,
    })
    return streamed(relayed)
  },
}
