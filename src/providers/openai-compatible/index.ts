/**
 * @module The adapter for the OpenAI-compatible family: OpenAI, Groq, Mistral, DeepSeek, Together
 * and operator-configured endpoints. Requests pass through with only the provider's quirks applied.
 */
import type { ProviderConfig } from '../../env'
import { GatewayError } from '../../errors'
import type { EndpointKind } from '../../stages/parse-request'
import type { ProviderAdapter } from '../adapter'
import { providerErrorFrom } from '../upstream-error'
import { prepareBody } from './request'
import type { Usage } from '../usage'
import { bufferedJsonResponse, normalizedChatResponse, relayJsonResponse } from './response'
import { relayChatStream } from './stream'

const sseError = (error: GatewayError, requestId: string): string =>
  `event: error\ndata: ${JSON.stringify(error.toBody(requestId))}\n\n`

/** The response body as bytes (the runtime types it loosely); an empty stream when absent. */
const bytesOf = (res: Response): ReadableStream<Uint8Array> =>
  (res.body as ReadableStream<Uint8Array> | null) ??
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.close()
    },
  })

/** Endpoint URLs per provider: they depend only on the configured base URL and the endpoint. */
const endpoints = new WeakMap<ProviderConfig, Partial<Record<EndpointKind, URL>>>()

export const openAICompatible: ProviderAdapter = {
  endpoint({ kind }, provider) {
    const memo = endpoints.get(provider)?.[kind]
    if (memo !== undefined) return memo
    const path = kind === 'chat' ? provider.spec.paths.chat : provider.spec.paths.embeddings
    if (path === null) {
      throw new GatewayError(
        'UNSUPPORTED_BY_PROVIDER',
        `The provider '${provider.spec.id}' does not offer ${kind === 'chat' ? 'chat completions' : 'embeddings'}.`,
        { param: 'model' },
      )
    }
    const url = new URL(provider.baseUrl + path)
    endpoints.set(provider, { ...endpoints.get(provider), [kind]: url })
    return url
  },

  prepare(request, provider, model) {
    return prepareBody(request, model, provider.spec.quirks)
  },

  async respond(upstream, request, provider, context) {
    const onUsage = (usage: Usage | undefined): void => {
      context.onEnd({ usage, end: 'done' })
    }
    if (!request.stream && request.kind === 'chat' && provider.spec.quirks.normalizeChatResponse) {
      return {
        body: await normalizedChatResponse(upstream, onUsage),
        contentType: 'application/json',
      }
    }
    if (!request.stream) {
      const buffered = await bufferedJsonResponse(upstream, onUsage)
      if (buffered !== undefined) {
        return {
          body: buffered,
          contentType: upstream.headers.get('content-type') ?? 'application/json',
        }
      }
      return {
        body: relayJsonResponse(bytesOf(upstream), onUsage),
        contentType: upstream.headers.get('content-type') ?? 'application/json',
      }
    }
    const relayed = relayChatStream(bytesOf(upstream), {
      plan: { showUsage: request.includeUsage },
      providerErrorEvent: (providerError) =>
        sseError(
          providerErrorFrom(
            context.provider,
            502,
            { error: providerError },
            undefined,
            context.knownSecrets,
          ),
          context.requestId,
        ),
      interruptedEvent: () =>
        sseError(
          new GatewayError(
            'STREAM_INTERRUPTED',
            `The stream from '${context.provider}' ended before it was complete.`,
          ),
          context.requestId,
        ),
      onEnd: context.onEnd,
    })
    return { body: relayed, contentType: 'text/event-stream; charset=utf-8' }
  },
}
