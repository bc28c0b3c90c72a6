/**
 * @module The adapter for Amazon Bedrock through its Converse API: one translation for every model
 * family Bedrock serves (Anthropic, Amazon Nova, Meta Llama, Mistral, …).
 *
 * Chat goes to `POST {base}/model/{modelId}/converse`, or `/converse-stream` for a stream, the
 * model id passing unchanged but percent-encoded (`:` of `…-v1:0` → `%3A`, `/` of an ARN → `%2F`;
 * Amazon Bedrock API Reference, Bedrock Runtime). The request is translated by `request.ts`,
 * answers by `response.ts`, and the binary event stream by `eventstream.ts` and `stream.ts`.
 * Bedrock's chat has no OpenAI embeddings counterpart here: embeddings answer
 * `UNSUPPORTED_BY_PROVIDER`, as for Anthropic.
 *
 * Unlike the other families, the credential is not a header the client sets: `authorize`
 * (`auth.ts`) signs the final request with SigV4, or sends the Bedrock API key, and picks the
 * regional host for the credential's Region (`credentials.ts`). Errors before the first byte are
 * AWS JSON errors (`x-amzn-ErrorType` and a `message`), which `upstream-error.ts` maps by kind;
 * an `exception` message in the stream is mapped the same way.
 */
import { GatewayError } from '../../errors'
import type { ProviderAdapter, RespondContext } from '../adapter'
import { jsonBody } from '../completion'
import { parseJson } from '../fields'
import { bytesOf, interruptedEvent, readWhole, streamed } from '../relay'
import { awsErrorStatus, awsErrorType, providerErrorFrom } from '../upstream-error'
import { authorize } from './auth'
import { BEDROCK_MODELS } from './models'
import { responsePlan, toConverseRequest } from './request'
import { gatewayUsage, isConverseResponse, toChatCompletion, type ReplyPlan } from './response'
import { relayBedrockStream, type StreamFailure } from './stream'
import type { ParsedRequest, ProviderConfig } from '../../types'

const noEmbeddings = (provider: ProviderConfig): GatewayError =>
  new GatewayError(
    'UNSUPPORTED_BY_PROVIDER',
    `The provider '${provider.spec.id}' does not offer embeddings through this gateway.`,
    { param: 'model' },
  )

/**
 * A model id as Bedrock takes it in the path: a model id, an inference profile id or an ARN
 * (letters, digits, `.`, `-`, `_`, `:`, `/`), starting with a letter or digit so that it can never
 * be a `.` or `..` path segment.
 */
const MODEL_ID = /^[A-Za-z0-9][\w.:/-]{0,2047}$/

/** The model's path segment; a 400 for anything that is not a Bedrock model id. */
export const modelPath = (model: string): string => {
  if (!MODEL_ID.test(model)) {
    throw new GatewayError(
      'INVALID_REQUEST',
      `'${model.slice(0, 200)}' is not a Bedrock model id: use the id Bedrock lists (e.g. ` +
        `'anthropic.claude-3-haiku-20240307-v1:0'), an inference profile or an ARN.`,
      { param: 'model' },
    )
  }
  return encodeURIComponent(model)
}

/** A failure in the stream as the gateway's error (status by its AWS kind, else 502). */
const streamError = (failure: StreamFailure, context: RespondContext): GatewayError => {
  const type = awsErrorType(failure.type)
  const status = awsErrorStatus(type) ?? 502
  const message = type === undefined ? failure.message : `${type}: ${failure.message}`
  return providerErrorFrom(context.provider, status, { message }, undefined, context.knownSecrets)
}

const replyPlan = (request: ParsedRequest, context: RespondContext): ReplyPlan => ({
  ...responsePlan(request.body),
  id: `chatcmpl-${crypto.randomUUID().replace(/-/g, '')}`,
  created: Math.floor(Date.now() / 1000),
  model: context.model ?? request.model,
})

const respondJson = async (
  upstream: Response,
  request: ParsedRequest,
  context: RespondContext,
): Promise<ArrayBuffer> => {
  const answer = parseJson(await readWhole(upstream, (r) => r.text()))
  if (!isConverseResponse(answer)) {
    throw providerErrorFrom(
      context.provider,
      502,
      { message: 'The provider answered with something that is not a Converse response.' },
      undefined,
      context.knownSecrets,
    )
  }
  const { completion, counts } = toChatCompletion(answer, replyPlan(request, context))
  context.onEnd({ usage: gatewayUsage(counts), end: 'done' })
  return jsonBody(completion)
}

export const bedrock: ProviderAdapter = {
  models: {
    headers: {},
    parse: () => [...BEDROCK_MODELS],
    fixed: BEDROCK_MODELS,
  },

  endpoint({ kind, stream }, provider, model) {
    if (kind !== 'chat') throw noEmbeddings(provider)
    const action = stream ? 'converse-stream' : 'converse'
    return new URL(`${provider.baseUrl}${provider.spec.paths.chat}/${modelPath(model)}/${action}`)
  },

  prepare(request, provider, model) {
    if (request.kind !== 'chat') throw noEmbeddings(provider)
    const { body, dropped } = toConverseRequest(request, model)
    return {
      body: JSON.stringify(body),
      dropped,
      headers: {
        accept: request.stream ? 'application/vnd.amazon.eventstream' : 'application/json',
      },
    }
  },

  authorize,

  async respond(upstream, request, _provider, context) {
    if (!request.stream) {
      return {
        body: await respondJson(upstream, request, context),
        contentType: 'application/json',
      }
    }
    const relayed = relayBedrockStream(bytesOf(upstream), {
      plan: { ...replyPlan(request, context), showUsage: request.includeUsage },
      providerErrorEvent: (failure) => streamError(failure, context).toSseEvent(context.requestId),
      interruptedEvent: () => interruptedEvent(context.provider, context.requestId),
      onEnd: context.onEnd,
      tap: context.head?.take,
      onFirstChunk: context.onFirstChunk,
      onRelease: context.onRelease,
    })
    return streamed(relayed)
  },
}
