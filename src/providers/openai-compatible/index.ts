/**
 * @module The adapter for the OpenAI-compatible family: OpenAI, Groq, Mistral, DeepSeek, Together
 * and operator-configured endpoints. Requests pass through with only the provider's quirks applied.
 */
import { GatewayError } from '../../errors'
import { bytesOf, interruptedEvent, streamed } from '../relay'
import { recordOf, type ProviderAdapter } from '../adapter'
import { providerErrorFrom } from '../upstream-error'
import { addsUsageAsk, prepareBody } from './request'
import { bufferedJsonResponse, normalizedChatResponse, relayJsonResponse } from './response'
import { relayChatStream } from './stream'
import { estimatePromptTokens } from '../usage'
import type { EndpointKind, ProviderConfig, Usage } from '../../types'

/** Endpoint URLs per provider: they depend only on the configured base URL and the endpoint. */
const endpoints = new WeakMap<ProviderConfig, Partial<Record<EndpointKind, URL>>>()

export const openAICompatible: ProviderAdapter = {
  // OpenAI's `{ object: 'list', data: [...] }`; Together answers the bare array.
  models: {
    headers: {},
    parse: (body) => {
      const items = Array.isArray(body) ? body : recordOf(body)?.data
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = recordOf(item)
        if (typeof m?.id !== 'string') return []
        const ownedBy = typeof m.owned_by === 'string' ? { ownedBy: m.owned_by } : {}
        return [{ id: m.id, created: typeof m.created === 'number' ? m.created : 0, ...ownedBy }]
      })
    },
  },

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
    return prepareBody(request, model, provider.spec.quirks, provider.captureStreamUsage)
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
        body: relayJsonResponse(bytesOf(upstream), context.onEnd, context.head),
        contentType: upstream.headers.get('content-type') ?? 'application/json',
      }
    }
    const usageAsked = addsUsageAsk(request, provider.spec.quirks, provider.captureStreamUsage)
    const relayed = relayChatStream(bytesOf(upstream), {
      plan: {
        showUsage: request.includeUsage,
        ownUsageChunk: provider.spec.quirks.ownUsageChunk === true,
        usageAsked,
        estimatePrompt:
          usageAsked || request.includeUsage ? undefined : () => estimatePromptTokens(request.body),
      },
      providerErrorEvent: (providerError) =>
        providerErrorFrom(
          context.provider,
          502,
          { error: providerError },
          undefined,
          context.knownSecrets,
        ).toSseEvent(context.requestId),
      interruptedEvent: () => interruptedEvent(context.provider, context.requestId),
      onEnd: context.onEnd,
      tap: context.head?.take,
      onFirstChunk: context.onFirstChunk,
      onRelease: context.onRelease,
    })
    return streamed(relayed)
  },
}
