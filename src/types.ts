/**
 * @module The ground floor: the types every part of the gateway shares — the canonical request, a
 * provider and the place a request is sent, token usage, how an answer ended, the observers of an
 * answer (taps) and the request trace the log row is made from.
 *
 * This module imports nothing, so stages, providers, routing, stores and logging can all stand on
 * it without an import circle (`npm run lint` checks there is none anywhere in `src/`).
 */

// ---------------------------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------------------------

export type ProviderFamily = 'openai-compatible' | 'anthropic' | 'gemini' | 'bedrock'

/** How a provider reports token usage in a stream. */
export type StreamUsageStyle =
  /** Honours `stream_options.include_usage` and sends a trailing `choices: []` usage chunk. */
  | 'stream-options'
  /** Rejects `stream_options`; sends usage under `x_groq.usage` on its last chunk (Groq). */
  | 'x-groq'
  /** Rejects `stream_options`; always sends `usage` on its final chunk (Mistral). */
  | 'final-chunk'

export type OpenAIQuirks = {
  readonly streamUsage: StreamUsageStyle
  /**
   * Asked for usage (`stream_options.include_usage`), the provider sends it in a trailing chunk of
   * its own (`choices: []`, just before `[DONE]`) and on no other chunk, as OpenAI does. A stream
   * whose client asked for usage then goes out exactly as received, so a long one is handed to the
   * runtime to relay (`providers/relay.ts`).
   */
  readonly ownUsageChunk?: boolean
  /**
   * The provider rejects unknown fields (Mistral: `additionalProperties: false`), so only these
   * top-level request fields are sent; the rest are renamed (see `rename`) or dropped, and the
   * dropped names are reported in the `floopy-dropped-params` response header.
   */
  readonly acceptedChatParams?: ReadonlySet<string>
  readonly acceptedEmbeddingParams?: ReadonlySet<string>
  /** OpenAI field → provider field, applied when the provider field is not already set. */
  readonly rename?: Readonly<Record<string, string>>
  /** Per-role message keys the provider accepts (the rest are stripped from history). */
  readonly messageKeys?: Readonly<Record<string, ReadonlySet<string>>>
  /** The provider has no `developer` role; send it as this role instead. */
  readonly developerRole?: 'system'
  /** Tool-call ids must be 9 alphanumeric characters (Mistral). */
  readonly toolCallIds?: 'alnum9'
  /** Function tools must carry `parameters` (Mistral's `Function.parameters` is required). */
  readonly toolParametersRequired?: boolean
  /**
   * Non-streamed chat answers lack fields OpenAI's `CreateChatCompletionResponse` requires
   * (Mistral: no `logprobs`, no `refusal`, `tool_calls: null`, `finish_reason: model_length`), so
   * they are normalised (see `normalizeChatCompletion`) instead of passed through byte for byte.
   */
  readonly normalizeChatResponse?: boolean
}

/** A provider the gateway knows, as data (`providers/registry.ts`). */
export type ProviderSpec = {
  readonly id: string
  readonly family: ProviderFamily
  readonly defaultBaseUrl: string
  readonly paths: {
    readonly chat: string
    readonly embeddings: string | null
    readonly models: string | null
  }
  /** Header that carries the provider key, and the prefix before the key. */
  readonly auth: { readonly header: string; readonly prefix: string }
  readonly quirks: OpenAIQuirks
}

/** A provider the gateway can send to, resolved from the registry and operator config. */
export type ProviderConfig = {
  readonly spec: ProviderSpec
  /** Base URL without a trailing slash. */
  readonly baseUrl: string
  readonly origin: string
  readonly apiKey: string | undefined
  /** The operator set this endpoint explicitly, so private addresses are allowed for it. */
  readonly operatorConfigured: boolean
  /** Bare model names that resolve to this provider (custom endpoints only). */
  readonly models: readonly string[]
  /**
   * Ask for a stream's usage when the client did not, and hide the usage chunk again
   * (`FLOOPY_STREAM_USAGE=always`); `false` asks only when the client does
   * (`FLOOPY_STREAM_USAGE=asked`, the default, which `parseConfig` sets on every provider), so
   * that OpenAI's stream reaches the client unchanged and the log estimates what it reports.
   */
  readonly captureStreamUsage?: boolean
}

// ---------------------------------------------------------------------------------------------
// The canonical request and where it goes
// ---------------------------------------------------------------------------------------------

export type EndpointKind = 'chat' | 'embeddings'

/** A request in the canonical (OpenAI) shape, parsed once. */
export type ParsedRequest = {
  readonly kind: EndpointKind
  /** The body as sent by the client (unknown fields included). */
  readonly body: Readonly<Record<string, unknown>>
  readonly model: string
  readonly stream: boolean
  /** The client asked for the trailing usage chunk (`stream_options.include_usage`). */
  readonly includeUsage: boolean
}

/** Whose provider key a target is sent with: the organisation's own, or the operator's. */
export type KeyChoice = 'organization' | 'operator'

/** One place a request can be sent: a configured provider, the model name it knows, the URL. */
export type Target = {
  readonly provider: ProviderConfig
  readonly model: string
  readonly url: URL
  /** Whose key is sent: the organisation's (opened from the vault) or the operator's. */
  readonly key: KeyChoice
  /**
   * The target's identity for circuit breakers and latency (`routing/health.ts`):
   * `provider/model`, plus `#org:<id>` when the organisation's own key is used — one
   * organisation's exhausted key must not open the breaker for everyone on the operator's.
   */
  readonly healthId: string
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/** Token usage in one shape, whatever the provider reported (`providers/usage.ts`). */
export type Usage = {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly totalTokens: number
  readonly cachedTokens: number
  readonly reasoningTokens: number
  /**
   * The provider sent no usage (a stream nobody asked it for), so the gateway estimated it
   * (`providers/usage.ts`, `estimatedUsage`).
   */
  readonly estimated?: true | undefined
}

/** How an answer's body ended: completely, cut upstream, relayed provider error, or cancelled. */
export type AnswerEndState = 'done' | 'interrupted' | 'provider_error' | 'cancelled'

export type ResponseOutcome = {
  readonly usage: Usage | undefined
  readonly end: AnswerEndState
}

/** The first bytes of an answer as the client received them, decoded. */
export type Captured = { readonly text: string; readonly truncated: boolean }

/** What a tap is told once an answer has ended, however it ended. */
export type AnswerEnd = {
  readonly outcome: ResponseOutcome
  /** The answer's first `headBytes` bytes, when the tap asked for them. */
  readonly head: Captured | undefined
}

/**
 * An observer of an answer as it passes to the client: the request log keeps its head and usage,
 * the cache stores complete answers. Providers feed taps without knowing who registered them.
 */
export type ResponseTap = {
  /** How many bytes of the start of the answer (as sent to the client) this tap wants to see. */
  readonly headBytes?: number
  /** Called exactly once per answer handed to the client, when its body has ended. */
  readonly end: (ended: AnswerEnd) => void
}

// ---------------------------------------------------------------------------------------------
// The request trace
// ---------------------------------------------------------------------------------------------

/** One exchange with a provider: the answer, or the last attempt when none answered. */
export type Exchange = {
  readonly target: Target
  readonly startedAt: number
  /** When the provider's response headers arrived. */
  headersAt?: number
  /** The provider's answer was handed to the client (its taps will be told when it ends). */
  answered: boolean
}

/** `floopy-cache` as the log row records it (`NONE`: the cache did not run). */
export type CacheStatus = 'NONE' | 'HIT' | 'MISS' | 'BYPASS' | 'REFRESH'

/** The firewall's verdict as the log row records it (`NONE`: the firewall did not run). */
export type FirewallVerdict = 'NONE' | 'SAFE' | 'UNSAFE' | 'ERROR'

/** What the firewall's check was, for the log row (its verdict is `Trace.firewall`). */
export type FirewallCheck = {
  /** Where the verdict came from: the safety model, or the verdict cache. */
  readonly source: 'model' | 'cache'
  /** The violated categories' codes (`S1`…`S14`) of an unsafe verdict. */
  readonly categories: readonly string[]
  /** The backend that produced the verdict: `provider/model` (a cached verdict: the one that
   * stored it), `''` when none was reached. */
  readonly backend: string
  /** Which configured backend entry produced it (`FIREWALL_MODEL` text of that entry). */
  readonly modelRef: string
  /** How long the check took, in ms. */
  readonly latencyMs: number
  /** The model call's usage (the operator's tokens; not the organisation's quota). */
  readonly usage: Usage | undefined
  /** Why the check failed, for an `ERROR` verdict. */
  readonly error: string | undefined
}

/**
 * What the stages of one request record for its log row, in one place: each stage annotates what
 * it did, and the log reads it after the response (`logging/record.ts`).
 */
export type Trace = {
  /** The log row's id: the request id, or a fresh one when the client chose the request id; once
   * the request is served, its signed reference (`feedback/reference.ts`). */
  logId: string
  /** The `x-request-id` the client sent, when it was kept. */
  readonly clientRequestId: string | undefined
  /** The provider exchange that answered, or the last one tried. */
  exchange: Exchange | undefined
  /** Provider attempts made (0: none). */
  attempts: number
  /** Each failed attempt before the answer, as `provider/model: status code`. */
  readonly failedAttempts: string[]
  cache: CacheStatus
  /** Which cache tier answered a hit. */
  cacheTier: string | undefined
  /** What produced the answer a hit served, and what it cost then (what the hit saved). */
  cachedAnswer:
    | { readonly provider: string; readonly model: string; readonly usage: Usage | undefined }
    | undefined
  firewall: FirewallVerdict
  /** The firewall's check, when it ran. */
  firewallCheck: FirewallCheck | undefined
  /** The prompt template the request was resolved from. */
  prompt: { readonly id: string; readonly version: number } | undefined
  /** The tag of the routing rule that routed the request (`feedback/reference.ts`). */
  rule: string | undefined
  /** The response cache entry a hit was served from (its store key). */
  cacheEntry: string | undefined
}

/** A fresh trace for a request whose log row gets `logId`. */
export const newTrace = (logId: string, clientRequestId: string | undefined): Trace => ({
  logId,
  clientRequestId,
  exchange: undefined,
  attempts: 0,
  failedAttempts: [],
  cache: 'NONE',
  cacheTier: undefined,
  cachedAnswer: undefined,
  firewall: 'NONE',
  firewallCheck: undefined,
  prompt: undefined,
  rule: undefined,
  cacheEntry: undefined,
})
