/**
 * @module One error envelope for the whole gateway: OpenAI's `{ error: { message, type, code, param } }`.
 *
 * Every failure a client can see is a `GatewayError` carrying a code from a closed table; the table
 * alone decides the HTTP status and the OpenAI error `type`. Anything else that escapes a stage is
 * an internal error and becomes an opaque 500 — its message is logged, never echoed.
 */

/** OpenAI's error `type` values (see `Error` in the OpenAI spec and the SDK's error classes). */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'

type CodeSpec = { readonly status: number; readonly type: OpenAIErrorType }

/** The closed code table: code → HTTP status and OpenAI error type. */
export const ERROR_CODES = {
  INVALID_REQUEST: { status: 400, type: 'invalid_request_error' },
  INVALID_JSON: { status: 400, type: 'invalid_request_error' },
  UNKNOWN_MODEL: { status: 400, type: 'invalid_request_error' },
  PROVIDER_NOT_CONFIGURED: { status: 400, type: 'invalid_request_error' },
  UNSUPPORTED_BY_PROVIDER: { status: 400, type: 'invalid_request_error' },
  INVALID_API_KEY: { status: 401, type: 'authentication_error' },
  /** The organisation's subscription does not allow traffic (see `tenancy/subscription.ts`). */
  SUBSCRIPTION_INACTIVE: { status: 402, type: 'permission_error' },
  NOT_FOUND: { status: 404, type: 'not_found_error' },
  /** `floopy-prompt-id` (or its version) names no prompt of the caller's organisation. */
  PROMPT_NOT_FOUND: { status: 404, type: 'not_found_error' },
  /** The prompt template uses variables the request's `inputs` do not supply. */
  PROMPT_VARIABLE_MISSING: { status: 400, type: 'invalid_request_error' },
  METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error' },
  /** Feedback names a request that cannot take it (unknown, another organisation's, too old). */
  REQUEST_NOT_FOUND: { status: 404, type: 'not_found_error' },
  /** The LLM firewall judged the prompt unsafe; no provider was called. */
  PROMPT_THREAT_DETECTED: { status: 400, type: 'invalid_request_error' },
  PAYLOAD_TOO_LARGE: { status: 413, type: 'invalid_request_error' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error' },
  /** A sliding-window limit (client IP, organisation or key) is exhausted. */
  RATE_LIMITED: { status: 429, type: 'rate_limit_error' },
  /** The organisation's requests for this calendar month reached its cap. */
  MONTHLY_LIMIT_EXCEEDED: { status: 429, type: 'rate_limit_error' },
  /** The provider answered with an error; `status` is overridden by the mapped upstream status. */
  PROVIDER_ERROR: { status: 502, type: 'api_error' },
  PROVIDER_TIMEOUT: { status: 504, type: 'api_error' },
  /** Every target of a routing rule failed (the message summarises each attempt). */
  NO_PROVIDER_AVAILABLE: { status: 502, type: 'api_error' },
  /** The SSRF guard refused the configured destination. */
  DESTINATION_REFUSED: { status: 502, type: 'api_error' },
  /** A stream broke after its first byte; only ever sent as an SSE error event. */
  STREAM_INTERRUPTED: { status: 502, type: 'api_error' },
  CONFIG_INVALID: { status: 500, type: 'api_error' },
  /** The key could not be checked: its cache and the config store are both unreachable. */
  AUTH_UNAVAILABLE: { status: 503, type: 'api_error' },
  /** A prompt never seen here could not be loaded: its cache and the config store are down. */
  PROMPT_UNAVAILABLE: { status: 503, type: 'api_error' },
  INTERNAL_ERROR: { status: 500, type: 'api_error' },
} as const satisfies Record<string, CodeSpec>

export type ErrorCode = keyof typeof ERROR_CODES

export type GatewayErrorOptions = {
  /** Overrides the table's status (provider errors keep their mapped upstream status). */
  status?: number
  /** Overrides the table's type (provider errors keep the upstream kind). */
  type?: OpenAIErrorType
  param?: string | null
  headers?: Record<string, string>
  cause?: unknown
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly code: ErrorCode
  readonly status: number
  readonly type: OpenAIErrorType
  readonly param: string | null
  readonly headers: Readonly<Record<string, string>>

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    const spec: CodeSpec = ERROR_CODES[code]
    this.code = code
    this.status = options.status ?? spec.status
    this.type = options.type ?? spec.type
    this.param = options.param ?? null
    this.headers = options.headers ?? {}
  }

  /** The OpenAI-shaped body, as sent to clients (also used for SSE error events). */
  toBody(requestId: string | undefined): ErrorBody {
    return errorBody(this.message, this.type, this.code, this.param, requestId)
  }

  /** The envelope as an SSE `error` event, for failures after a stream's first byte. */
  toSseEvent(requestId: string | undefined): string {
    return `event: error\ndata: ${JSON.stringify(this.toBody(requestId))}\n\n`
  }

  toResponse(requestId: string | undefined): Response {
    const headers = new Headers(this.headers)
    headers.set('content-type', 'application/json')
    if (requestId !== undefined) headers.set('x-request-id', requestId)
    return new Response(JSON.stringify(this.toBody(requestId)), { status: this.status, headers })
  }
}

export type ErrorBody = {
  error: { message: string; type: OpenAIErrorType; code: ErrorCode; param: string | null }
  request_id?: string
}

const errorBody = (
  message: string,
  type: OpenAIErrorType,
  code: ErrorCode,
  param: string | null,
  requestId: string | undefined,
): ErrorBody =>
  requestId === undefined
    ? { error: { message, type, code, param } }
    : { error: { message, type, code, param }, request_id: requestId }

/** Turns anything thrown into a `GatewayError`; unknown errors become an opaque 500. */
export const toGatewayError = (err: unknown): GatewayError =>
  err instanceof GatewayError
    ? err
    : new GatewayError('INTERNAL_ERROR', 'The gateway failed to process the request.', {
        cause: err,
      })
