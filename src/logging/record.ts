/**
 * @module The request log record: one row of `floopy.request_logs` (`migrations/clickhouse`), built
 * from what the pipeline saw (`RequestFacts`).
 *
 * It is built by the Queue consumer (`consumer.ts`) from the raw facts the producer sealed
 * (`facts.ts`), or by `npm run logs:replay` from the dead-letter queue — never before a response,
 * and with `FLOOPY_LOG_KEYS` set never in the serving isolate (without it, the producer builds it
 * in `waitUntil`, and only a scrubbed record crosses the Queue). Bodies are parsed, PII is
 * replaced (`security/pii.ts`), streamed answers are assembled into the `chat.completion` a
 * non-streamed request would have got, embedding vectors are reduced to their length, and each
 * body is cut to `BODY_LIMIT` bytes. A text whose raw head the producer had to cut loses its
 * last, possibly partial, word after scrubbing: a cut through an email or a card number leaves a
 * fragment no scrubber can recognise. The client IP is stored only as a keyed hash (HMAC-SHA-256
 * with `FLOOPY_LOG_IP_HASH_KEY`; without that secret it is not stored at all). An organisation
 * with the feature flag `metadata_only_logging` gets no bodies.
 */
import { scrubIdentifier, scrubJson, scrubText } from '../security/pii'
import { assembleChatStream } from '../providers/assemble'
import { PRICE_VERSION, costOf } from './prices'
import type { CacheStatus, Captured, FirewallCheck, FirewallVerdict, Usage } from '../types'

/** A row of `floopy.request_logs`, as JSONEachRow inserts it. */
export type LogRecord = {
  request_id: string
  /** `YYYY-MM-DD hh:mm:ss.mmm`, UTC. */
  timestamp: string
  org_id: string
  key_id: string
  endpoint: string
  provider: string
  model_requested: string
  model_served: string
  status: number
  error_code: string
  stream: boolean
  latency_ms: number
  ttfb_ms: number | null
  upstream_latency_ms: number | null
  attempts: number
  prompt_tokens: number
  completion_tokens: number
  cached_tokens: number
  reasoning_tokens: number
  /** Decimal string; `null` when the model has no price (unknown, not zero). */
  cost_usd: string | null
  price_version: string
  cache_status: string
  firewall_verdict: string
  /** The prompt template the request was resolved from (`''`: none), and its version (0: none). */
  prompt_id: string
  prompt_version: number
  user_agent: string
  client_ip_hash: string
  request_body: string
  response_body: string
  metadata: Record<string, string>
}

/** What the pipeline knows about a finished request. */
export type RequestFacts = {
  readonly requestId: string
  /** The `x-request-id` the client sent, when the gateway kept it. */
  readonly clientRequestId: string | undefined
  readonly startedAt: number
  readonly endedAt: number
  readonly orgId: string
  readonly keyId: string
  readonly endpoint: string
  readonly provider: string
  readonly modelRequested: string
  readonly modelServed: string
  readonly status: number
  readonly errorCode: string
  readonly stream: boolean
  readonly upstreamStartedAt: number | undefined
  readonly upstreamHeadersAt: number | undefined
  readonly attempts: number
  readonly usage: Usage | undefined
  readonly userAgent: string
  readonly clientIp: string | undefined
  readonly requestBody: string
  readonly response: Captured | undefined
  /** `false` for organisations that log metadata only. */
  readonly bodies: boolean
  readonly end: string | undefined
  /** Failed attempts before the answer (routing rules), as `provider/model: status code`. */
  readonly failedAttempts?: readonly string[] | undefined
  /** What the cache did (`NONE`: it did not run). */
  readonly cacheStatus?: CacheStatus | undefined
  /** The firewall's verdict (`NONE`: it did not run). */
  readonly firewallVerdict?: FirewallVerdict | undefined
  /** The firewall's check, when it ran: recorded in `metadata.firewall_*`. */
  readonly firewallCheck?: FirewallCheck | undefined
  /** The prompt template the request was resolved from. */
  readonly prompt?: { readonly id: string; readonly version: number } | undefined
  /**
   * A cache hit: the tier that answered and the usage the stored answer once cost. The row bills
   * zero tokens at zero cost, and records what the hit saved (`metadata.cost_saved_usd`).
   */
  readonly cacheHit?: { readonly tier: string; readonly savedUsage: Usage | undefined } | undefined
  /**
   * Raw heads the producer cut to fit a Queue message (`facts.ts`): the record marks them
   * truncated, and a cut text loses its last word.
   */
  readonly cut?: { readonly request: boolean; readonly response: boolean } | undefined
}

/**
 * How much of a response the log asks its tap for (64 KiB): a long chat answer in full, with
 * memory per request bounded whatever the response's size. What crosses the Queue is bounded
 * again to fit a message (`facts.ts`).
 */
export const CAPTURE_LIMIT = 64 * 1024

/** Each body is cut to this many bytes (UTF-8) after scrubbing. */
export const BODY_LIMIT = 48 * 1024

const encoder = new TextEncoder()

/** `YYYY-MM-DD hh:mm:ss.sss` (UTC), as ClickHouse's DateTime64(3) columns take it. */
export const timestamp = (ms: number): string =>
  new Date(ms).toISOString().replace('T', ' ').slice(0, 23)

/** Cuts `text` to at most `limit` UTF-8 bytes without splitting a character. */
const cut = (text: string, limit: number): { text: string; cut: boolean } => {
  if (text.length <= limit / 3 || encoder.encode(text).byteLength <= limit) {
    return { text, cut: false }
  }
  const bytes = encoder.encode(text).slice(0, limit)
  return { text: new TextDecoder().decode(bytes).replace(/\uFFFD+$/, ''), cut: true }
}

const parse = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false }
  }
}

/** Embedding vectors carry no PII and no insight: each becomes its length. */
const withoutVectors = (value: unknown): unknown => {
  if (typeof value !== 'object' || value === null || !('data' in value)) return value
  const data = value.data
  if (!Array.isArray(data)) return value
  return {
    ...value,
    data: data.map((item: unknown) =>
      typeof item === 'object' && item !== null && 'embedding' in item
        ? {
            ...item,
            embedding: Array.isArray(item.embedding)
              ? `[${String(item.embedding.length)} dimensions]`
              : '[base64 vector]',
          }
        : item,
    ),
  }
}

/** At least this many characters leave the end of a text that was cut mid-way… */
const TAIL_MIN = 32
/** …and then back to the last separator, at most this many in all. */
const TAIL_MAX = 256
const SEPARATOR = /[\s"'`,;:(){}[\]<>]/

/**
 * A scrubbed text whose source was cut anywhere, without its end: the longest finding a cut can
 * leave unrecognisable is a digit kind (at most 19 digits and their separators, under
 * `TAIL_MIN`), or a run without separators (an email, a key), which goes whole.
 */
const withoutTail = (text: string): string => {
  let end = Math.max(0, text.length - TAIL_MIN)
  const floor = Math.max(0, text.length - TAIL_MAX)
  while (end > floor && !SEPARATOR.test(text.charAt(end - 1))) end--
  return text.slice(0, end)
}

/**
 * A scrubbed body as text: JSON re-serialised after scrubbing, anything else (a cut head among
 * them) scrubbed as text, and without its tail when its source was `cut`.
 */
const scrubBody = (
  text: string,
  cut: boolean,
  shape: (value: unknown) => unknown = (v) => v,
): string => {
  const parsed = parse(text)
  if (parsed.ok) return JSON.stringify(scrubJson(shape(parsed.value)))
  return cut ? withoutTail(scrubText(text)) : scrubText(text)
}

const responseBody = (facts: RequestFacts): string => {
  const { response } = facts
  if (response === undefined || response.text === '') return ''
  if (facts.stream && facts.endpoint === 'chat') {
    // The assembler drops a cut last event: no partial text reaches the record.
    return JSON.stringify(scrubJson(assembleChatStream(response.text)))
  }
  return scrubBody(
    response.text,
    facts.cut?.response === true,
    facts.endpoint === 'embeddings' ? withoutVectors : undefined,
  )
}

const hmacHex = async (key: CryptoKey, text: string): Promise<string> => {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(text)))
  let hex = ''
  for (const byte of mac) hex += byte.toString(16).padStart(2, '0')
  return hex
}

/** The HMAC key for client IPs. */
export const ipHashKey = (secret: string): Promise<CryptoKey> =>
  crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ])

const ipHashKeys = new Map<string, Promise<CryptoKey>>()

/** `ipHashKey`, imported once per secret and isolate; `undefined` without a secret. */
export const ipHashKeyFor = (secret: string | undefined): Promise<CryptoKey> | undefined => {
  if (secret === undefined) return undefined
  let key = ipHashKeys.get(secret)
  if (key === undefined) {
    key = ipHashKey(secret)
    ipHashKeys.set(secret, key)
  }
  return key
}

const ms = (value: number): number => Math.round(value * 1000) / 1000

export const buildRecord = async (
  facts: RequestFacts,
  ipKey: CryptoKey | undefined,
): Promise<LogRecord> => {
  const metadata: Record<string, string> = {}
  // Every text the log keeps is scrubbed: a client's own id may carry an SSN, a CPF or a key.
  if (facts.clientRequestId !== undefined) {
    metadata.client_request_id = scrubIdentifier(facts.clientRequestId)
  }
  if (facts.end !== undefined) metadata.end = facts.end
  // The provider reported no usage (a stream nobody asked it for): the tokens are estimated.
  if (facts.usage?.estimated === true) metadata.usage_estimated = 'true'
  if (facts.failedAttempts !== undefined && facts.failedAttempts.length > 0) {
    metadata.failed_attempts = facts.failedAttempts.join('; ')
  }
  const hit = facts.cacheHit
  if (hit !== undefined) {
    metadata.cache_tier = hit.tier
    metadata.cost_saved_usd = costOf(facts.provider, facts.modelServed, hit.savedUsage) ?? 'unknown'
    if (hit.savedUsage?.estimated === true) metadata.usage_estimated = 'true'
  }
  const check = facts.firewallCheck
  if (check !== undefined) {
    metadata.firewall_source = check.source
    if (check.categories.length > 0) metadata.firewall_categories = check.categories.join(',')
    if (check.backend !== '') metadata.firewall_backend = check.backend
    if (check.modelRef !== '') metadata.firewall_model_ref = check.modelRef
    metadata.firewall_latency_ms = String(ms(check.latencyMs))
    if (check.usage !== undefined) {
      metadata.firewall_prompt_tokens = String(check.usage.promptTokens)
      metadata.firewall_completion_tokens = String(check.usage.completionTokens)
      const [provider = '', ...model] = check.backend.split('/')
      metadata.firewall_cost_usd = costOf(provider, model.join('/'), check.usage) ?? 'unknown'
    }
    if (check.error !== undefined) metadata.firewall_error = scrubText(check.error)
  }
  let requestBody = ''
  let response = ''
  if (facts.bodies) {
    const request = cut(scrubBody(facts.requestBody, facts.cut?.request === true), BODY_LIMIT)
    const answer = cut(responseBody(facts), BODY_LIMIT)
    requestBody = request.text
    response = answer.text
    if (request.cut || facts.cut?.request === true) metadata.request_body_truncated = 'true'
    if (answer.cut || facts.response?.truncated === true || facts.cut?.response === true) {
      metadata.response_body_truncated = 'true'
    }
  }
  const usage = facts.usage
  return {
    request_id: facts.requestId,
    timestamp: timestamp(facts.startedAt),
    org_id: facts.orgId,
    key_id: facts.keyId,
    endpoint: facts.endpoint,
    provider: facts.provider,
    model_requested: facts.modelRequested,
    model_served: facts.modelServed,
    status: facts.status,
    error_code: facts.errorCode,
    stream: facts.stream,
    latency_ms: ms(facts.endedAt - facts.startedAt),
    ttfb_ms:
      facts.upstreamHeadersAt === undefined ? null : ms(facts.upstreamHeadersAt - facts.startedAt),
    upstream_latency_ms:
      facts.upstreamHeadersAt === undefined || facts.upstreamStartedAt === undefined
        ? null
        : ms(facts.upstreamHeadersAt - facts.upstreamStartedAt),
    attempts: facts.attempts,
    prompt_tokens: usage?.promptTokens ?? 0,
    completion_tokens: usage?.completionTokens ?? 0,
    cached_tokens: usage?.cachedTokens ?? 0,
    reasoning_tokens: usage?.reasoningTokens ?? 0,
    cost_usd:
      hit !== undefined
        ? (0).toFixed(9)
        : facts.provider === ''
          ? null
          : costOf(facts.provider, facts.modelServed, usage),
    price_version: PRICE_VERSION,
    cache_status: facts.cacheStatus ?? 'NONE',
    firewall_verdict: facts.firewallVerdict ?? 'NONE',
    prompt_id: facts.prompt?.id ?? '',
    prompt_version: facts.prompt?.version ?? 0,
    user_agent: scrubText(facts.userAgent).slice(0, 512),
    client_ip_hash:
      ipKey === undefined || facts.clientIp === undefined
        ? ''
        : await hmacHex(ipKey, facts.clientIp),
    request_body: requestBody,
    response_body: response,
    metadata,
  }
}

/** A record as one console line, without its bodies (the embedded default's log). */
export const metadataLine = (record: LogRecord): string => {
  const line: Partial<LogRecord> = { ...record }
  delete line.request_body
  delete line.response_body
  return JSON.stringify({ level: 'info', msg: 'request', ...line })
}
