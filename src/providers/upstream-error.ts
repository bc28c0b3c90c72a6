/**
 * @module Turns a provider's error answer into the gateway's OpenAI-shaped error.
 *
 * The provider's message is kept (it is usually what the user needs), minus anything that looks
 * like a credential; the status is mapped so the client's retry logic does the right thing: the
 * OpenAI SDK retries 408/409/429/5xx, so a provider's 500 must not become a 400 and vice versa.
 */
import { GatewayError, type OpenAIErrorType } from '../errors'

const MAX_ERROR_BODY = 64 * 1024

/** Provider status → client status. Unlisted 4xx keep their status; unlisted 5xx become 502. */
const STATUS_MAP: Readonly<Record<number, number>> = {
  408: 504,
  422: 400, // Mistral's FastAPI validation errors
  500: 502,
  529: 503, // "overloaded"
}

const typeFor = (status: number): OpenAIErrorType => {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 429) return 'rate_limit_error'
  return status < 500 ? 'invalid_request_error' : 'api_error'
}

export const mapStatus = (status: number): number => {
  const mapped = STATUS_MAP[status]
  if (mapped !== undefined) return mapped
  if (status >= 400 && status < 500) return status
  return status === 503 || status === 504 ? status : 502
}

/**
 * AWS JSON-protocol errors (Bedrock) name their kind in the `x-amzn-ErrorType` header
 * (`ThrottlingException:http://internal.amazon.com/…`), in the body's `__type`
 * (`com.amazon.coral.service#UnrecognizedClientException`) or, inside an event stream, in
 * `:exception-type` (`throttlingException`). The kind decides the status the client gets, so its
 * retry logic does the right thing whatever HTTP status carried it: a model still loading
 * (`ModelNotReadyException`, which Bedrock answers with 429) is a 503 to retry later, a model that
 * timed out a 504. Sources: Amazon Bedrock API Reference, `Converse` and `ConverseStream`
 * "Errors", and AWS's common errors.
 */
const AWS_ERROR_STATUS: Readonly<Record<string, number>> = {
  AccessDeniedException: 403,
  ExpiredTokenException: 401,
  IncompleteSignatureException: 401,
  InternalServerException: 502,
  InvalidSignatureException: 401,
  MissingAuthenticationTokenException: 401,
  ModelErrorException: 502,
  ModelNotReadyException: 503,
  ModelStreamErrorException: 502,
  ModelTimeoutException: 504,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 429,
  ServiceUnavailableException: 503,
  ThrottlingException: 429,
  UnrecognizedClientException: 401,
  ValidationException: 400,
}

/** An AWS error kind in any of its spellings (`ThrottlingException`), when it is one. */
export const awsErrorType = (text: string | null | undefined): string | undefined => {
  if (text === null || text === undefined) return undefined
  const name = text.split(':')[0]?.split('#').at(-1)?.trim() ?? ''
  if (!/^[A-Za-z]+$/.test(name)) return undefined
  return name.charAt(0).toUpperCase() + name.slice(1)
}

/** The client status for an AWS error kind, when the kind is one Bedrock documents. */
export const awsErrorStatus = (type: string | undefined): number | undefined =>
  type === undefined ? undefined : AWS_ERROR_STATUS[type]

/** Credential shapes that must never be echoed, even if a provider puts one in a message. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /\b(?:sk|gsk|rk|pk|xai|flo_sk)[-_][A-Za-z0-9_*-]{8,}/g,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  // AWS access key ids (long-term and temporary) and Bedrock API keys (long- and short-term).
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  /\b(?:ABSK[A-Za-z0-9+/=]{20,}|bedrock-api-key-[A-Za-z0-9+/=._-]{20,})/g,
]

export const redactSecrets = (text: string, knownSecrets: readonly string[] = []): string => {
  let out = text
  for (const secret of knownSecrets)
    if (secret.length >= 6) out = out.split(secret).join('[REDACTED]')
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[REDACTED]')
  return out
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined

/** Finds the human message in the error shapes providers use. */
export const errorMessage = (body: unknown): { message?: string; param?: string } => {
  if (typeof body !== 'object' || body === null) return {}
  const record = body as Record<string, unknown>
  const error = record.error
  if (typeof error === 'object' && error !== null) {
    const inner = error as Record<string, unknown>
    const message = str(inner.message)
    const param = str(inner.param)
    return { ...(message && { message }), ...(param && { param }) }
  }
  // `Message`: AWS's capitalised spelling in some JSON-protocol errors.
  const direct = str(error) ?? str(record.message) ?? str(record.Message)
  if (direct !== undefined) return { message: direct }
  // FastAPI (Mistral 422): { detail: [{ loc, msg }] } or { detail: "…" }
  const detail = record.detail
  if (typeof detail === 'string') return { message: detail }
  if (Array.isArray(detail)) {
    const parts = detail.flatMap((d: unknown) => {
      if (typeof d !== 'object' || d === null) return []
      const { loc, msg } = d as { loc?: unknown; msg?: unknown }
      const where = Array.isArray(loc) ? loc.map(String).join('.') : ''
      return typeof msg === 'string' ? [where ? `${where}: ${msg}` : msg] : []
    })
    if (parts.length > 0) return { message: parts.join('; ') }
  }
  return {}
}

const readCapped = async (res: Response): Promise<string> => {
  const body = res.body as ReadableStream<Uint8Array> | null
  if (body === null) return ''
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    if (text.length > MAX_ERROR_BODY) {
      await reader.cancel()
      break
    }
  }
  return text
}

/** Builds the client-facing error for a provider's non-2xx response. */
export const providerError = async (
  provider: string,
  res: Response,
  knownSecrets: readonly string[],
): Promise<GatewayError> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readCapped(res))
  } catch {
    parsed = undefined
  }
  return providerErrorFrom(provider, res.status, parsed, res.headers, knownSecrets)
}

export const providerErrorFrom = (
  provider: string,
  upstreamStatus: number,
  body: unknown,
  upstreamHeaders: Headers | undefined,
  knownSecrets: readonly string[],
): GatewayError => {
  const { message, param } = errorMessage(body)
  const awsType =
    awsErrorType(upstreamHeaders?.get('x-amzn-errortype')) ??
    (typeof body === 'object' &&
    body !== null &&
    '__type' in body &&
    typeof body.__type === 'string'
      ? awsErrorType(body.__type)
      : undefined)
  const status = awsErrorStatus(awsType) ?? mapStatus(upstreamStatus)
  const headers: Record<string, string> = {}
  const retryAfter = upstreamHeaders?.get('retry-after')
  if (retryAfter && /^[\w ,:+-]{1,64}$/.test(retryAfter)) headers['retry-after'] = retryAfter
  const said = message ?? `The provider answered HTTP ${upstreamStatus}.`
  const text = awsType === undefined ? said : `${awsType}: ${said}`
  return new GatewayError(
    'PROVIDER_ERROR',
    `${provider}: ${redactSecrets(text, knownSecrets)}`.slice(0, 4096),
    { status, type: typeFor(status), param: param ?? null, headers },
  )
}
