/**
 * @module The provider adapter contract (the table of adapters by family is `families.ts`).
 *
 * An adapter turns the canonical (OpenAI-shaped) request into a provider request and the
 * provider's 2xx answer back into an OpenAI-shaped response. Building the request is pure; the
 * response side works on streams so nothing buffers a whole answer. Adapters know nothing of who
 * observes an answer: the provider client (`client.ts`) hands them a head sink to feed and an
 * end callback, and tells the answer's taps.
 */
import type { EndpointKind, ParsedRequest, ProviderConfig, ResponseOutcome } from '../types'
import { isRecord, type Json } from './fields'
import type { HeadSink } from './head'

export type PreparedRequest = {
  readonly body: string
  /** Top-level request fields dropped because the provider rejects them. */
  readonly dropped: readonly string[]
  /** Headers the provider needs besides auth (e.g. `anthropic-version`); set after sanitising. */
  readonly headers?: Readonly<Record<string, string>>
}

/** A request as it leaves for the provider: final URL, headers and body. */
export type OutboundRequest = {
  readonly url: URL
  /** The outbound headers (sanitised client headers plus the family's); set in place. */
  readonly headers: Headers
  readonly body: string
}

/** Where an authorised request goes, and what in its credential must never be echoed. */
export type Authorized = {
  /** The final URL: the request's own, or one the credential decides (Bedrock's region). */
  readonly url: URL
  /** The provider the destination is checked against (`security/ssrf.ts`) when `url` changed. */
  readonly provider: ProviderConfig
  /** The secrets within the credential, redacted from anything sent to the client. */
  readonly secrets: readonly string[]
}

export type RespondContext = {
  readonly requestId: string
  readonly provider: string
  /** The model the request was sent to (the target's), for answers that do not name one. */
  readonly model?: string | undefined
  /** Secrets that must never appear in anything sent to the client. */
  readonly knownSecrets: readonly string[]
  /** Called once, when the answer's body has ended (completely, cut, or cancelled). */
  readonly onEnd: (outcome: ResponseOutcome) => void
  /**
   * Present when the answer's taps want its first bytes: an adapter that returns a stream feeds
   * it every chunk it sends (a body returned as an `ArrayBuffer` is copied by the client).
   */
  readonly head?: HeadSink | undefined
  /**
   * Told when a relayed stream's first chunk is ready for the client: `true` when the stream
   * also ended in that chunk without completing (nothing but an error reached it).
   */
  readonly onFirstChunk?: ((failed: boolean) => void) | undefined
  /** Handed the way to drop a relayed stream before it is sent (`SseRelayOptions.onRelease`). */
  readonly onRelease?: ((release: () => void) => void) | undefined
}

/** A model as a provider lists it. */
export type ListedModel = {
  readonly id: string
  readonly created: number
  readonly ownedBy?: string
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
  /**
   * For a provider whose credential is not a static header (Bedrock's AWS Signature Version 4 or
   * API key). Called last, on the request exactly as it will be sent — the URL, the sanitised
   * headers with the family's own, `content-type` and `accept` set, and the body — it sets its
   * auth headers on `request.headers` and answers where the request goes. Without it, the
   * registry's auth header carries the key (`client.ts`).
   */
  authorize?(
    request: OutboundRequest,
    provider: ProviderConfig,
    credential: string | undefined,
  ): Promise<Authorized>
  /** How the provider lists its models: extra headers, query, and where the ids are. */
  readonly models: {
    readonly headers: Readonly<Record<string, string>>
    readonly query?: Readonly<Record<string, string>>
    parse(body: unknown): ListedModel[]
    /**
     * A fixed list, for a provider whose own listing is not on the host it serves from (Bedrock's
     * `ListFoundationModels` is on the control-plane host): answered without a call.
     */
    readonly fixed?: readonly ListedModel[]
  }
}

export type Responded = {
  /** A stream has fed `context.head` as it passed; a buffer is copied by the client. */
  readonly body: ReadableStream<Uint8Array> | ArrayBuffer
  readonly contentType: string
}

/** A JSON value, if `value` is a plain object. */
export const recordOf = (value: unknown): Json | undefined => (isRecord(value) ? value : undefined)
