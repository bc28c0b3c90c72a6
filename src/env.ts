/**
 * @module The Worker's bindings (vars and secrets) and the variables every stage may read.
 *
 * The configuration these bindings make is parsed in `config.ts`; each stage declares the
 * variables it sets and reads in its own module, so a variable set late in the pipeline is
 * optional for a stage that runs before it (see `app.ts`, where they are put together).
 */
import type { LogRecord } from './logging/record'
import type { FeedbackRecord } from './feedback/record'
import type { ResponseTap, Trace } from './types'

export const PROVIDER_ENV_PREFIXES = [
  'OPENAI',
  'ANTHROPIC',
  'GEMINI',
  'GROQ',
  'MISTRAL',
  'DEEPSEEK',
  'TOGETHER',
] as const

/**
 * `<PROVIDER>_API_KEY` and `<PROVIDER>_BASE_URL`, and for Amazon Bedrock AWS's own variable names
 * (`providers/bedrock/credentials.ts`): the Region and either an access key pair (SigV4; a session
 * token for temporary credentials) or a Bedrock API key; `BEDROCK_BASE_URL` for an
 * operator-configured endpoint (a VPC endpoint, a proxy).
 */
type ProviderBindings = {
  [P in (typeof PROVIDER_ENV_PREFIXES)[number] as `${P}_API_KEY` | `${P}_BASE_URL`]?: string
} & {
  AWS_REGION?: string
  AWS_ACCESS_KEY_ID?: string
  AWS_SECRET_ACCESS_KEY?: string
  AWS_SESSION_TOKEN?: string
  AWS_BEARER_TOKEN_BEDROCK?: string
  BEDROCK_BASE_URL?: string
}

/** Everything the Worker reads from its environment. All optional: the embedded default needs none. */
export type Bindings = ProviderBindings & {
  /**
   * The key of the built-in dev organisation, a `flo_sk_test_…`/`flo_sk_live_…` key (embedded store
   * only; ignored once `SUPABASE_URL` is set).
   */
  FLOOPY_DEV_API_KEY?: string
  /** The embedded store's tenants (JSON written by `npm run admin` with the local store). */
  FLOOPY_TENANTS?: string
  /** Config store: Supabase project URL and service-role key (set both or neither). */
  SUPABASE_URL?: string
  SUPABASE_SERVICE_ROLE_KEY?: string
  /** Shared state: Upstash Redis REST URL and token (set both or neither). */
  UPSTASH_REDIS_REST_URL?: string
  UPSTASH_REDIS_REST_TOKEN?: string
  /** Key-encryption keys for provider keys: `{"current":"k1","keys":{"k1":"<base64>"}}`. */
  FLOOPY_VAULT_KEKS?: string
  /** Requests per minute per client IP for traffic without a valid key (default 20). */
  FLOOPY_IP_RPM?: string
  /**
   * `always` (default): ask for every stream's usage, hiding the usage chunk from a client that
   * did not ask; `asked`: only when the client asks, so OpenAI's stream reaches it unchanged.
   */
  FLOOPY_STREAM_USAGE?: string
  /** Time limit for one Redis or Supabase request, in ms (default 2000). */
  FLOOPY_STORE_TIMEOUT_MS?: string
  /**
   * The request log's Queue (producer binding; see wrangler.toml): the part of it we use. It
   * carries sealed raw facts (`bytes`, several requests to a message, `logging/facts.ts`), records built by a producer without
   * `FLOOPY_LOG_KEYS`, and feedback (`feedback/record.ts`) to the same consumer.
   */
  LOG_QUEUE?: {
    sendBatch(
      messages: Iterable<
        | { body: LogRecord | FeedbackRecord; contentType?: 'json' }
        | { body: Uint8Array; contentType: 'bytes' }
      >,
    ): Promise<unknown>
  }
  /**
   * Keys that seal the request log's messages (`logging/seal.ts`), in the vault's keyring format:
   * `{"current":"k1","keys":{"k1":"<base64 32 bytes>"}}`. Unset: records are built and scrubbed
   * in the serving isolate instead of the consumer.
   */
  FLOOPY_LOG_KEYS?: string
  /** Secret for the keyed hash of client IPs in the request log (none: IPs are not logged). */
  FLOOPY_LOG_IP_HASH_KEY?: string
  /** The request log's ClickHouse (HTTP interface), used by the Queue consumer. */
  CLICKHOUSE_URL?: string
  CLICKHOUSE_USER?: string
  CLICKHOUSE_PASSWORD?: string
  /** Database of the request log tables (default `floopy`). */
  CLICKHOUSE_DATABASE?: string
  /** JSON array of operator-configured OpenAI-compatible endpoints; see README. */
  FLOOPY_CUSTOM_PROVIDERS?: string
  /**
   * Time allowed for a provider to send response headers, in ms (default 600000: the OpenAI SDK's
   * own default timeout, since a non-streamed answer's headers come only once it is complete).
   */
  FLOOPY_UPSTREAM_TIMEOUT_MS?: string
  /**
   * For a request with several targets (a routing rule): the time one try has to produce response
   * headers before the gateway moves on, in ms (default 120000; at most the upstream timeout).
   */
  FLOOPY_ATTEMPT_TIMEOUT_MS?: string
  /** For a request with several targets: the time all tries together may take (default 300000). */
  FLOOPY_ROUTING_DEADLINE_MS?: string
  /** How long an open circuit keeps a routing target out before one probe, in ms (default 15000). */
  FLOOPY_BREAKER_COOLDOWN_MS?: string
  /** The sliding window a routing target's failure rate is measured over, in ms (default 30000). */
  FLOOPY_BREAKER_WINDOW_MS?: string
  /** Outcomes the window must hold before a circuit may open (default 10). */
  FLOOPY_BREAKER_MIN_REQUESTS?: string
  /** Failure share in (0, 1] at or above which a circuit opens (default 0.5). */
  FLOOPY_BREAKER_FAILURE_RATE?: string
  /**
   * The most often an isolate syncs routing health and feedback posteriors with shared state
   * when nothing urgent happened, in ms, 100-60000 (default 1000).
   */
  FLOOPY_SYNC_INTERVAL_MS?: string
  /** For a request with several targets: tries per target before the next, 1-5 (default 2). */
  FLOOPY_TRIES_PER_TARGET?: string
  /** Maximum request body in bytes (default 10 MiB). */
  FLOOPY_MAX_BODY_BYTES?: string
  /** `true` logs one JSON line per request (ids, provider, model, status, usage — no bodies). */
  FLOOPY_ACCESS_LOG?: string
  /**
   * The response cache's embedding model, `<provider>/<model>` (e.g.
   * `openai/text-embedding-3-small`), called with the operator's key. Unset: the semantic and
   * bucketed tiers are off, except with the embedded stores (`npm run dev`), which use a local
   * embedder.
   */
  FLOOPY_EMBEDDING_MODEL?: string
  /** Qdrant, for the semantic cache tier (and the firewall's verdict cache). */
  QDRANT_URL?: string
  QDRANT_API_KEY?: string
  /** Time allowed for the request's embedding, in ms (default 2000). */
  FLOOPY_EMBEDDING_TIMEOUT_MS?: string
  /** Time allowed for the similarity tiers' lookups together, in ms (default 1000). */
  FLOOPY_CACHE_LOOKUP_TIMEOUT_MS?: string
  /**
   * The LLM firewall's safety models, `[<provider>](<model>):<weight>,…` (default
   * `[together](meta-llama/Llama-Guard-4-12B)`), called with the operator's keys.
   */
  FIREWALL_MODEL?: string
  /** Time allowed for the firewall's check (verdict cache and model), in ms (default 3000). */
  FIREWALL_TIMEOUT_MS?: string
  /** Cosine similarity at which a stored unsafe verdict blocks a new prompt (default 0.95). */
  FIREWALL_CACHE_THRESHOLD?: string
  /** How long a stored unsafe verdict blocks, in seconds (default 2592000: 30 days). */
  FIREWALL_CACHE_TTL_SECONDS?: string
  /**
   * The secret request ids are signed with, for `POST /v1/feedback` (at least 32 characters).
   * Unset: derived from the deployment's other secrets (`docs/feedback.md`).
   */
  FLOOPY_FEEDBACK_KEY?: string
  /** Feedbacks after which a target's earlier evidence counts half (default 100). */
  FLOOPY_FEEDBACK_HALF_LIFE?: string
  /** Feedbacks per target before the `feedback` strategy stops exploring uniformly (default 10). */
  FLOOPY_FEEDBACK_MIN_SAMPLES?: string
  /** The `feedback` strategy's floor of exploration, a probability (default 0.03). */
  FLOOPY_FEEDBACK_EXPLORATION?: string
}

/** What the first stage sets for every request (`stages/request-id`). */
export type RequestVariables = {
  requestId: string
  /** What the stages record for the request log (`types.ts`). */
  trace: Trace
  /** Observers of the provider's answer: the request log's, the cache's (`types.ts`). */
  taps: ResponseTap[]
}

/** A stage's Hono environment: the bindings, the request variables and the stage's own `V`. */
export type StageEnv<V extends object = object> = {
  Bindings: Bindings
  Variables: RequestVariables & V
}
