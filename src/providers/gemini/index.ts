/**
 * @module The adapter for Google's Gemini API (Generative Language API, v1beta).
 *
 * Chat goes to `:generateContent` or `:streamGenerateContent?alt=sse`, embeddings to
 * `:batchEmbedContents`, all under `{baseUrl}/v1beta/models/{model}` (`model.ts`); dispatch adds
 * the `x-goog-api-key` header from the registry. Translation is pure (`request.ts`,
 * `response.ts`, `stream.ts`, `embeddings.ts`); reading the upstream body happens here only.
 */
import { GatewayError } from '../../errors'
import { recordOf, type ProviderAdapter, type RespondContext } from '../adapter'
import { jsonBody } from '../completion'
import { readWhole, bytesOf, interruptedEvent, streamed } from '../relay'
import { providerErrorFrom } from '../upstream-error'
import { readUsage } from '../usage'
import { toBatchEmbedRequest, toEmbeddingResponse } from './embeddings'
import { endpointUrl } from './model'
import { toGenerateContentRequest, wantsReasoning } from './request'
import { toChatCompletion, type ReplyContext } from './response'
import { relayGeminiStream } from './stream'
import { randomCallPrefix } from './tool-call-id'
import { isRecord, parseJson } from '../fields'
import type { BatchEmbedContentsResponse, GeminiResponse } from './types'
import type { ParsedRequest, ProviderConfig } from '../../types'

/** A Gemini error object as the gateway's provider error (its `code` is an HTTP status). */
const geminiError = (error: unknown, context: RespondContext, headers?: Headers): GatewayError => {
  const code = isRecord(error) ? error.code : undefined
  const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502
  return providerErrorFrom(context.provider, status, { error }, headers, context.knownSecrets)
}

/**
 * Reads a whole (small) JSON answer. A connection that breaks mid-body is still an error the
 * client can be told about with a status: 502, never a truncated 200.
 */
const readJson = async (upstream: Response, context: RespondContext): Promise<unknown> => {
  const parsed = parseJson(await readWhole(upstream, (r) => r.text()))
  if (!isRecord(parsed)) {
    throw new GatewayError(
      'PROVIDER_ERROR',
      `${context.provider}: the answer is not a JSON object.`,
    )
  }
  if (parsed.error !== undefined) throw geminiError(parsed.error, context, upstream.headers)
  return parsed
}

/** The model name to report when Gemini names none: the client's, without a `provider/` prefix. */
const requestedModel = (request: ParsedRequest, provider: ProviderConfig): string => {
  const prefix = `${provider.spec.id}/`
  return request.model.startsWith(prefix) ? request.model.slice(prefix.length) : request.model
}

/** Ids, time and options of one chat answer; the translators themselves stay pure. */
const replyContext = (request: ParsedRequest, model: string): ReplyContext => {
  const { n } = request.body
  return {
    id: `chatcmpl-${crypto.randomUUID().replace(/-/g, '')}`,
    created: Math.floor(Date.now() / 1000),
    model,
    showReasoning: wantsReasoning(request.body),
    callPrefix: randomCallPrefix(),
    choices: typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1,
  }
}

export const gemini: ProviderAdapter = {
  // `{ models: [{ name: 'models/gemini-…', supportedGenerationMethods }] }` (ListModels).
  models: {
    headers: {},
    query: { pageSize: '1000' },
    parse: (body) => {
      const items = recordOf(body)?.models
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = recordOf(item)
        if (typeof m?.name !== 'string') return []
        return [{ id: m.name.replace(/^models\//, ''), created: 0 }]
      })
    },
  },

  endpoint(request, provider, model) {
    return endpointUrl(provider.baseUrl, request, model)
  },

  prepare(request, _provider, model) {
    const { request: body, dropped } =
      request.kind === 'chat'
        ? toGenerateContentRequest(request.body, model)
        : toBatchEmbedRequest(request.body, model)
    return { body: JSON.stringify(body), dropped }
  },

  async respond(upstream, request, provider, context) {
    const model = requestedModel(request, provider)
    if (request.kind === 'embeddings') {
      const answer = (await readJson(upstream, context)) as BatchEmbedContentsResponse
      const body = toEmbeddingResponse(answer, {
        model,
        base64: request.body.encoding_format === 'base64',
      })
      const counted = answer.usageMetadata !== undefined
      context.onEnd({ usage: counted ? readUsage(body.usage) : undefined, end: 'done' })
      return { body: jsonBody(body), contentType: 'application/json' }
    }
    const reply: ReplyContext = replyContext(request, model)
    if (!request.stream) {
      const answer = (await readJson(upstream, context)) as GeminiResponse
      const body = toChatCompletion(answer, reply)
      context.onEnd({ usage: readUsage(body.usage), end: 'done' })
      return { body: jsonBody(body), contentType: 'application/json' }
    }
    const relayed = relayGeminiStream(bytesOf(upstream), {
      plan: { ...reply, showUsage: request.includeUsage },
      events: {
        providerError: (error) => geminiError(error, context).toSseEvent(context.requestId),
        interrupted: () => interruptedEvent(context.provider, context.requestId),
      },
      onEnd: context.onEnd,
      tap: context.head?.take,
      onFirstChunk: context.onFirstChunk,
      onRelease: context.onRelease,
    })
    return streamed(relayed)
  },
}
