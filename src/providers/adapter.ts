/**
 * @module The provider adapter contract and the family → adapter table.
 *
 * An adapter turns the canonical (OpenAI-shaped) request into a provider request and the
 * provider's 2xx answer back into an OpenAI-shaped response. Building the request is pure; the
 * response side works on streams so nothing buffers a whole answer.
 */
import type { ProviderConfig } from '../env'
import type { Captured, CaptureSink } from '../logging/capture'
import type { EndpointKind, ParsedRequest } from '../stages/parse-request'
import { anthropic } from './anthropic'
import { gemini } from './gemini'
import { openAICompatible } from './openai-compatible'
import type { ProviderFamily } from './registry'
import type { Usage } from './usage'

export type PreparedRequest = {
  readonly body: string
  /** Top-level request fields dropped because the provider rejects them. */
  readonly dropped: readonly string[]
  /** Headers the provider needs besides auth (e.g. `anthropic-version`); set after sanitising. */
  readonly headers?: Readonly<Record<string, string>>
}

export type ResponseOutcome = {
  readonly usage: Usage | undefined
  /** How the response body ended: completely, cut upstream, relayed provider error, or cancelled. */
  readonly end: 'done' | 'interrupted' | 'provider_error' | 'cancelled'
}

export type RespondContext = {
  readonly requestId: string
  readonly provider: string
  /** Secrets that must never appear in anything sent to the client. */
  readonly knownSecrets: readonly string[]
  readonly onEnd: (outcome: ResponseOutcome) => void
  /**
   * Set when the request log keeps the response body: an adapter that relays a stream itself
   * feeds it every chunk it sends (and returns its `captured`), so no second stream wraps its own.
   */
  readonly capture?: CaptureSink | undefined
}

export interface ProviderAdapter {
  /**
   * The provider URL for a request (Gemini's depends on the model and on streaming); throws
   * `UNSUPPORTED_BY_PROVIDER` when the provider has no such endpoint.
   */
  endpoint(
    request: { readonly kind: EndpointKind; readonly stream: boolean },
    provider: ProviderConfig,
    model: string,
  ): URL
  prepare(request: ParsedRequest, provider: ProviderConfig, model: string): PreparedRequest
  /** Turns the provider's 2xx response into the client's response body and content type. */
  respond(
    upstream: Response,
    request: ParsedRequest,
    provider: ProviderConfig,
    context: RespondContext,
  ): Promise<Responded>
}

export type Responded = {
  readonly body: ReadableStream<Uint8Array> | ArrayBuffer
  readonly contentType: string
  /**
   * The start of the body for the request log, when the adapter kept it itself (a body relayed
   * natively cannot be tapped again); otherwise the log copies it as it passes.
   */
  readonly captured?: (() => Captured) | undefined
}

const ADAPTERS: Readonly<Record<ProviderFamily, ProviderAdapter>> = {
  'openai-compatible': openAICompatible,
  anthropic,
  gemini,
}

export const adapterFor = (family: ProviderFamily): ProviderAdapter => ADAPTERS[family]
