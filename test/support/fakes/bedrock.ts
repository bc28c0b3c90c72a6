/**
 * @module Fake Amazon Bedrock Runtime, served by `../fake-providers.ts` under `${url}/bedrock` (the
 * gateway is configured with `BEDROCK_BASE_URL=${url}/bedrock` and appends the runtime's paths).
 * Sources (copied beside the fixtures, see `test/fixtures/bedrock/README.md`): the service model
 * (`bedrock-runtime-2023-09-30.service-2.json`, botocore's copy of AWS's model), AWS's SigV4 test
 * suite (`aws4_testsuite/`), smithy's event-stream test vectors, and live error messages quoted in
 * public issue threads.
 *
 * Routes (the model's `requestUri`s, below the base):
 * - `POST /model/{modelId}/converse`: a `ConverseResponse` (JSON).
 * - `POST /model/{modelId}/converse-stream`: `200`, `content-type: application/vnd.amazon.eventstream`
 *   and binary event-stream messages: prelude (total length u32, headers length u32, CRC-32 of those
 *   8 bytes), headers (string-typed `:event-type`, `:content-type: application/json`,
 *   `:message-type: event`; exceptions carry `:exception-type` and `:message-type: exception`), the
 *   JSON payload, and the CRC-32 of everything before it. Events: `messageStart`,
 *   `contentBlockStart` (for tool use only), `contentBlockDelta` (`{text}` or
 *   `{toolUse: {input: fragment}}`), `contentBlockStop`, `messageStop`, `metadata`. Each payload
 *   carries a `p` padding field of varying length, as live streams do according to third-party
 *   decoders (it is not in the model; clients must ignore it).
 * `{modelId}` arrives percent-encoded (`anthropic.claude-3-haiku-20240307-v1%3A0`); a raw `:` is
 * accepted too, as AWS does when the signature was computed over it. Anything else is a 404
 * `UnknownOperationException`, recorded as a violation.
 *
 * Authentication, checked before anything else (a failure is recorded and answered 403 with the
 * AWS error shape: `x-amzn-ErrorType` and `{"message": …}`):
 * - `Authorization: Bearer <key>`: a Bedrock API key, equal to {@link BEDROCK_API_KEY} (another
 *   key gets the reported live answer, `{"Message": "Authentication failed: …"}`).
 * - SigV4 (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`), verified here with
 *   `node:crypto` ({@link verifySigV4}): credential scope `<date>/us-east-1/bedrock/aws4_request`
 *   (the signing name is `bedrock`, never the host's `bedrock-runtime`), a known access key
 *   ({@link BEDROCK_CREDENTIALS}, or {@link BEDROCK_SESSION_CREDENTIALS} with its token in
 *   `x-amz-security-token`), `x-amz-date` within 5 minutes, `host` signed, `x-amz-content-sha256`
 *   (when sent) equal to the body's hash, and the signature over the canonical request. The
 *   canonical URI is the path as sent, normalized and URI-encoded once more per segment, so
 *   `%3A` on the wire is `%253A` in the signed path; query parameters are decoded and encoded once.
 *   Errors as AWS words them: `MissingAuthenticationTokenException`, `IncompleteSignatureException`,
 *   `UnrecognizedClientException` (unknown key or token), `InvalidSignatureException` (scope,
 *   date, or the signature itself: the message then shows the canonical request and string to sign
 *   the fake expected, as AWS does).
 *
 * Request bodies are validated against the model's `ConverseRequest` / `ConverseStreamRequest`
 * shapes (structure members and `required`, unions with exactly one member, lists, maps, enums,
 * lengths, ranges, patterns, base64 blobs, documents), stricter than AWS in one way: unknown
 * members are violations (a misspelt `toolUseID` must not pass silently). Then the conversation
 * rules the service enforces, in its own words where a live message is on record: the first message
 * is `user`, roles alternate, no blank text blocks, `toolConfig` whenever `toolUse`/`toolResult`
 * blocks appear, each user turn after tool use answers exactly those `toolUseId`s, `toolUse.input`
 * and `inputSchema.json` are JSON objects, an `error` tool result has content; and (the fake's
 * wording) no `system` role in `messages`, unique tool names, a `toolChoice.tool` that names a tool.
 * Violations are recorded and answered 400 `ValidationException`.
 *
 * Replies replay the recorded OpenAI streams the other fakes replay
 * (`test/fixtures/openai/fixtures`), reshaped: the answer is a tool call (the request's first tool,
 * or the `toolChoice.tool`; call `i` gets tool `i` when there are several) when the request has
 * tools and its last message holds no `toolResult`, text otherwise; `x-fake-fixture: <prefix>` picks
 * a recording by file-name prefix. Stop reasons map `stop` → `end_turn`, `tool_calls` → `tool_use`,
 * `length` → `max_tokens`; usage comes from the recording (`inputTokens`, `outputTokens`,
 * `totalTokens`; a request with a `cachePoint` block also gets `cacheReadInputTokens`, half the
 * input, and `cacheWriteInputTokens: 0`). A model id holding `guard` answers as the fake safety
 * model (`guard.ts`; its `slow` rule answers at once here).
 *
 * Fault headers: the shared ones (`x-fake-status` → the AWS error for that status, e.g. 429
 * `ThrottlingException`, 503 `ServiceUnavailableException`; `x-fake-retry-after`;
 * `x-fake-latency-ms`; `x-fake-chunk-delay-ms`; `x-fake-cut-after: N` → N whole frames (or body
 * bytes), then the socket is destroyed; `x-fake-error-event: 1` → a `modelStreamErrorException`
 * frame after two events) plus:
 * - `x-fake-cut-mid-frame: 1` (with `x-fake-cut-after: N`): half of frame N+1 is written before the
 *   socket is destroyed.
 * - `x-fake-bad-crc: N`: frame N (1-based) goes out with a corrupted message CRC; the stream goes on.
 * - `x-fake-exception: <type>`: after two events, an exception frame of that type
 *   (`throttlingException`, `modelStreamErrorException`, `internalServerException`,
 *   `serviceUnavailableException`, `validationException`), then the stream ends.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import {
  BEDROCK_API_KEY,
  BEDROCK_CREDENTIALS,
  BEDROCK_REGION,
  BEDROCK_SESSION_CREDENTIALS,
} from '../bindings.ts'
import type {
  FrameStream,
  NativeFake,
  NativeRequest,
  Reply,
  StreamFrame,
} from '../fake-providers.ts'
import { arrayAt, isObject, objectAt, stringAt, type Json, type JsonObject } from '../json.ts'
import { guardRule, guardUsage, isGuardModel, judgedText } from './guard.ts'

export { BEDROCK_API_KEY, BEDROCK_CREDENTIALS, BEDROCK_REGION, BEDROCK_SESSION_CREDENTIALS }

/** The SigV4 signing name of Bedrock Runtime (the model's `signingName`). */
export const BEDROCK_SIGNING_SERVICE = 'bedrock'

const MODEL_FILE = new URL(
  '../../fixtures/bedrock/bedrock-runtime-2023-09-30.service-2.json',
  import.meta.url,
)
const OPENAI_FIXTURES = new URL('../../fixtures/openai/fixtures/', import.meta.url)
const DEFAULT_TEXT_FIXTURE = 'stream_text_with_usage'
const DEFAULT_TOOL_FIXTURE = 'stream_single_tool_call_with_usage'
/** Events written before `x-fake-exception` / `x-fake-error-event` interrupt a stream. */
const EXCEPTION_AFTER = 2
const MAX_SKEW_MS = 5 * 60 * 1000
const EVENTSTREAM = 'application/vnd.amazon.eventstream'
/** `x-amzn-ErrorType` carries a namespace after `:`, which clients must strip (SDK rule). */
const BEDROCK_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.bedrock/'
const CORAL_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.coral.service/'

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

const randomAlphanumeric = (length: number): string =>
  [...randomBytes(length)].map((byte) => ALPHANUMERIC.charAt(byte % ALPHANUMERIC.length)).join('')

/** Tool-use ids as Bedrock mints them: `tooluse_` and 22 URL-safe characters. */
const toolUseId = (): string => `tooluse_${randomAlphanumeric(22)}`

const sha256Hex = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex')

// ================================================================================================
// SigV4
// ================================================================================================

export type SigV4Credentials = {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

/** A request as it arrived: nothing decoded, re-encoded or merged. */
export type SignedRequest = {
  method: string
  /** The request-target: path (percent-encoding untouched) and query. */
  target: string
  /** Header lines in wire order, names as sent; a header sent twice appears twice. */
  headers: ReadonlyArray<readonly [string, string]>
  body: string | Uint8Array
}

export type SigV4Options = {
  credentials: readonly SigV4Credentials[]
  region: string
  service: string
  now: Date
  /** Remove `.`/`..` and empty path segments, as for every service but S3 (default true). */
  normalizePath?: boolean
}

export type SigV4Outcome =
  | { ok: true; accessKeyId: string; canonicalRequest: string; stringToSign: string }
  | {
      ok: false
      errorType: string
      message: string
      canonicalRequest?: string
      stringToSign?: string
    }

/** RFC 3986 percent-encoding of every UTF-8 byte but the unreserved characters. */
export const uriEncode = (text: string): string => {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-._~]/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * The canonical URI of a path as sent: normalized (empty, `.` and `..` segments resolved, a
 * trailing slash kept) and each segment URI-encoded, which encodes the sender's escapes again.
 */
export const canonicalUri = (path: string, normalize = true): string => {
  if (path === '') return '/'
  const segments = path.split('/').slice(1)
  if (!normalize) return `/${segments.map(uriEncode).join('/')}`
  const kept: string[] = []
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') kept.pop()
    else kept.push(segment)
  }
  const trailing = kept.length > 0 && path.endsWith('/') ? '/' : ''
  return `/${kept.map(uriEncode).join('/')}${trailing}`
}

const decodeComponent = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Query parameters decoded, encoded once, sorted by name then value. */
export const canonicalQuery = (query: string): string =>
  query
    .split('&')
    .filter((part) => part !== '')
    .map((part): [string, string] => {
      const equals = part.indexOf('=')
      const name = equals < 0 ? part : part.slice(0, equals)
      const value = equals < 0 ? '' : part.slice(equals + 1)
      return [uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))]
    })
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')

/** Every value of header `name` (trimmed, inner whitespace runs made one space), joined by `,`. */
const canonicalHeaderValue = (
  headers: ReadonlyArray<readonly [string, string]>,
  name: string,
): string | undefined => {
  const values = headers
    .filter(([header]) => header.toLowerCase() === name)
    .map(([, value]) => value.trim().replace(/\s+/g, ' '))
  return values.length === 0 ? undefined : values.join(',')
}

const hmac = (key: string | Buffer, data: string): Buffer =>
  createHmac('sha256', key).update(data, 'utf8').digest()

/** The SigV4 signing key: HMAC-SHA256 chained over date, region, service and `aws4_request`. */
export const signingKey = (secret: string, date: string, region: string, service: string): Buffer =>
  hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request')

type AuthorizationParts = {
  credential: string
  signedHeaders: string
  signature: string
}

const parseAuthorization = (value: string): AuthorizationParts | string => {
  const algorithm = 'AWS4-HMAC-SHA256'
  if (!value.startsWith(`${algorithm} `)) {
    return `Unsupported Authorization Type: ${value.split(/\s/)[0] ?? ''}`
  }
  const params = new Map<string, string>()
  for (const part of value.slice(algorithm.length + 1).split(',')) {
    const equals = part.indexOf('=')
    if (equals > 0) params.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim())
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders'].filter((name) => !params.has(name))
  if (missing.length > 0) {
    const required = missing.map((name) => `Authorization header requires '${name}' parameter.`)
    return `${required.join(' ')} Authorization=${value}`
  }
  return {
    credential: params.get('Credential') ?? '',
    signedHeaders: params.get('SignedHeaders') ?? '',
    signature: params.get('Signature') ?? '',
  }
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

const parseAmzDate = (value: string): Date | undefined => {
  const match = AMZ_DATE.exec(value)
  if (!match) return undefined
  const [, y, mo, d, h, mi, s] = match.map(Number)
  return new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s))
}

const formatAmzDate = (date: Date): string => date.toISOString().replace(/[:-]|\.\d{3}/g, '')

const fail = (errorType: string, message: string): SigV4Outcome => ({
  ok: false,
  errorType,
  message,
})

/** The canonical request and string to sign of `request` under `signedHeaders` and `scope`. */
export const canonicalRequestOf = (
  request: SignedRequest,
  signedHeaders: string,
  amzDate: string,
  scope: string,
  normalize = true,
): { canonicalRequest: string; stringToSign: string } => {
  const query = request.target.indexOf('?')
  const path = query < 0 ? request.target : request.target.slice(0, query)
  const names = signedHeaders.split(';')
  const canonicalHeaders = names
    .map((name) => `${name}:${canonicalHeaderValue(request.headers, name) ?? ''}\n`)
    .join('')
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(path, normalize),
    query < 0 ? '' : canonicalQuery(request.target.slice(query + 1)),
    canonicalHeaders,
    signedHeaders,
    sha256Hex(request.body),
  ].join('\n')
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
  return { canonicalRequest, stringToSign }
}

/**
 * Verifies the SigV4 `Authorization` header of `request` as an AWS service front end does, with
 * AWS's error types and wording. Independent of any signer: only `node:crypto`.
 */
export const verifySigV4 = (request: SignedRequest, options: SigV4Options): SigV4Outcome => {
  const authorization = canonicalHeaderValue(request.headers, 'authorization')
  if (authorization === undefined) {
    return fail('MissingAuthenticationTokenException', 'Missing Authentication Token')
  }
  const parts = parseAuthorization(authorization)
  if (typeof parts === 'string') return fail('IncompleteSignatureException', parts)

  const amzDateHeader = canonicalHeaderValue(request.headers, 'x-amz-date')
  const dateHeader = canonicalHeaderValue(request.headers, 'date')
  const requestDate =
    amzDateHeader !== undefined
      ? parseAmzDate(amzDateHeader)
      : dateHeader !== undefined && !Number.isNaN(Date.parse(dateHeader))
        ? new Date(Date.parse(dateHeader))
        : undefined
  if (requestDate === undefined) {
    return fail(
      'IncompleteSignatureException',
      `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`,
    )
  }
  const amzDate = amzDateHeader ?? formatAmzDate(requestDate)

  const scopeParts = parts.credential.split('/')
  if (scopeParts.length !== 5) {
    return fail(
      'IncompleteSignatureException',
      `Credential should have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${parts.credential}'`,
    )
  }
  const [accessKeyId = '', scopeDate = '', region = '', service = '', terminator = ''] = scopeParts
  const credentials = options.credentials.find((known) => known.accessKeyId === accessKeyId)
  const token = canonicalHeaderValue(request.headers, 'x-amz-security-token')
  if (!credentials || token !== credentials.sessionToken) {
    return fail(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    )
  }
  if (scopeDate !== amzDate.slice(0, 8)) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    )
  }
  if (region !== options.region) {
    return fail('InvalidSignatureException', 'Credential should be scoped to a valid region. ')
  }
  if (service !== options.service) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${options.service}'. `,
    )
  }
  if (terminator !== 'aws4_request') {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `,
    )
  }

  const skew = requestDate.getTime() - options.now.getTime()
  if (Math.abs(skew) > MAX_SKEW_MS) {
    const now = formatAmzDate(options.now)
    const bound = formatAmzDate(new Date(options.now.getTime() + Math.sign(skew) * MAX_SKEW_MS))
    return fail(
      'InvalidSignatureException',
      skew < 0
        ? `Signature expired: ${amzDate} is now earlier than ${bound} (${now} - 5 min.)`
        : `Signature not yet current: ${amzDate} is still later than ${bound} (${now} + 5 min.)`,
    )
  }

  const signed = parts.signedHeaders.split(';')
  if (!signed.includes('host') && !signed.includes(':authority')) {
    return fail(
      'InvalidSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    )
  }
  const contentSha = canonicalHeaderValue(request.headers, 'x-amz-content-sha256')
  if (contentSha !== undefined && contentSha !== sha256Hex(request.body)) {
    return fail(
      'InvalidSignatureException',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
  }

  const scope = [scopeDate, region, service, terminator].join('/')
  const { canonicalRequest, stringToSign } = canonicalRequestOf(
    request,
    parts.signedHeaders,
    amzDate,
    scope,
    options.normalizePath ?? true,
  )
  const key = signingKey(credentials.secretAccessKey, scopeDate, region, service)
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'))
  const provided = Buffer.from(parts.signature)
  if (expected.length !== provided.length || !timingSafeEqual(expected, provided)) {
    return {
      ok: false,
      errorType: 'InvalidSignatureException',
      message: `The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'${canonicalRequest}'\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`,
      canonicalRequest,
      stringToSign,
    }
  }
  return { ok: true, accessKeyId, canonicalRequest, stringToSign }
}

// ================================================================================================
// Event stream
// ================================================================================================

const STRING_HEADER = 7

/** One event-stream message with string-typed headers (all Bedrock sends), CRCs included. */
export const encodeEventStreamMessage = (
  headers: ReadonlyArray<readonly [string, string]>,
  payload: Uint8Array,
): Buffer => {
  const headerBytes = Buffer.concat(
    headers.map(([name, value]) => {
      const nameBytes = Buffer.from(name, 'utf8')
      const valueBytes = Buffer.from(value, 'utf8')
      const head = Buffer.alloc(4)
      head.writeUInt8(STRING_HEADER, 0)
      head.writeUInt16BE(valueBytes.length, 1)
      return Buffer.concat([
        Buffer.from([nameBytes.length]),
        nameBytes,
        head.subarray(0, 3),
        valueBytes,
      ])
    }),
  )
  const total = 12 + headerBytes.length + payload.length + 4
  const message = Buffer.alloc(total)
  message.writeUInt32BE(total, 0)
  message.writeUInt32BE(headerBytes.length, 4)
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8)
  headerBytes.copy(message, 12)
  Buffer.from(payload).copy(message, 12 + headerBytes.length)
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4)
  return message
}

/** A padding value like the `p` field live streams carry (its length varies per event). */
const padding = (index: number): string => ALPHANUMERIC.slice(0, 1 + ((index * 7) % 40))

const eventMessage = (type: string, payload: JsonObject, index: number): Buffer =>
  encodeEventStreamMessage(
    [
      [':event-type', type],
      [':content-type', 'application/json'],
      [':message-type', 'event'],
    ],
    Buffer.from(JSON.stringify({ ...payload, p: padding(index) }), 'utf8'),
  )

const exceptionMessage = (type: string, payload: JsonObject): Buffer =>
  encodeEventStreamMessage(
    [
      [':exception-type', type],
      [':content-type', 'application/json'],
      [':message-type', 'exception'],
    ],
    Buffer.from(JSON.stringify(payload), 'utf8'),
  )

const modelStreamError = (): JsonObject => ({
  message: 'Received error from the model while streaming the response.',
  originalStatusCode: 500,
  originalMessage: 'Internal server error',
})

/** The `ConverseStreamOutput` exception members, with the payload each carries. */
const STREAM_EXCEPTIONS: Record<string, () => JsonObject> = {
  internalServerException: () => ({
    message:
      'The system encountered an unexpected error during processing. Try your request again.',
  }),
  modelStreamErrorException: () => modelStreamError(),
  validationException: () => ({
    message: 'The model returned an invalid response while streaming.',
  }),
  throttlingException: () => ({ message: 'Too many requests, please wait before trying again.' }),
  serviceUnavailableException: () => ({ message: 'Bedrock is unable to process your request.' }),
}

/** Names `x-fake-exception` accepts. */
export const bedrockStreamExceptionTypes = (): string[] => Object.keys(STREAM_EXCEPTIONS)

// ================================================================================================
// Errors
// ================================================================================================

const requestIdHeader = (): Record<string, string> => ({ 'x-amzn-RequestId': randomUUID() })

const awsError = (
  status: number,
  type: string,
  message: string,
  namespace = BEDROCK_NAMESPACE,
): Reply => ({
  status,
  body: { message },
  headers: { 'x-amzn-ErrorType': `${type}:${namespace}` },
})

/** The modeled error for each status `x-fake-status` may pick (the model's `httpError`s). */
const STATUS_ERRORS: Record<number, [type: string, message: string]> = {
  400: ['ValidationException', 'The provided request is not valid.'],
  403: ['AccessDeniedException', "You don't have access to the model with the specified model ID."],
  404: ['ResourceNotFoundException', 'The requested resource could not be found.'],
  408: ['ModelTimeoutException', 'The request took too long to process.'],
  424: ['ModelErrorException', 'The model returned an error while processing the request.'],
  429: ['ThrottlingException', 'Too many requests, please wait before trying again.'],
  500: [
    'InternalServerException',
    'The system encountered an unexpected error during processing. Try your request again.',
  ],
  503: ['ServiceUnavailableException', 'Bedrock is unable to process your request.'],
}

const statusError = (status: number): Reply => {
  const [type, message] = STATUS_ERRORS[status] ?? [
    status >= 500 ? 'InternalServerException' : 'ValidationException',
    `Error (status ${status}).`,
  ]
  return awsError(status, type, message)
}

const invalid = (request: NativeRequest, violations: string[], message: string): Reply => {
  request.violations.push(...violations)
  return awsError(400, 'ValidationException', message)
}

// ================================================================================================
// Request validation (driven by the service model)
// ================================================================================================

type MemberRef = { shape: string; location?: string }
type Shape = {
  type: string
  members?: Record<string, MemberRef>
  required?: string[]
  member?: MemberRef
  key?: MemberRef
  value?: MemberRef
  enum?: string[]
  min?: number
  max?: number
  pattern?: string
  union?: boolean
  document?: boolean
}
type ServiceModel = {
  operations: Record<string, { http: { method: string; requestUri: string }; input?: MemberRef }>
  shapes: Record<string, Shape>
}

let modelCache: ServiceModel | undefined

const serviceModel = (): ServiceModel => {
  if (modelCache) return modelCache
  const parsed: unknown = JSON.parse(readFileSync(MODEL_FILE, 'utf8'))
  if (!isObject(parsed) || !isObject(parsed['shapes']) || !isObject(parsed['operations'])) {
    throw new Error('bedrock fake: the service model has no shapes/operations')
  }
  modelCache = parsed as unknown as ServiceModel
  return modelCache
}

const shapeOf = (name: string): Shape => {
  const shape = serviceModel().shapes[name]
  if (!shape) throw new Error(`bedrock fake: no shape ${name} in the service model`)
  return shape
}

/** One constraint a value fails, in the Coral validator's terms. */
export type ShapeViolation = { path: string; value: unknown; constraint: string }

const render = (value: unknown): string => {
  if (value === undefined || value === null) return 'null'
  if (typeof value === 'string') return `'${value.length > 80 ? `${value.slice(0, 80)}…` : value}'`
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}

/** `Value 'x' at 'a.b' failed to satisfy constraint: …`, as AWS's validator words it. */
export const coralText = (violation: ShapeViolation): string =>
  `Value ${render(violation.value)} at '${violation.path}' failed to satisfy constraint: ${violation.constraint}`

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const patternCache = new Map<string, RegExp | undefined>()

/**
 * A model pattern as a full match: botocore's copy of the model drops the `^…$` anchors the Smithy
 * model has (`ToolName` is `^[a-zA-Z0-9_-]+$` in aws-sdk-js-v3's `bedrock-runtime.json`), so they
 * are put back. `undefined` if the pattern does not compile as an ECMA-262 regex.
 */
const compiledPattern = (pattern: string): RegExp | undefined => {
  if (!patternCache.has(pattern)) {
    let compiled: RegExp | undefined
    try {
      compiled = new RegExp(`^(?:${pattern})$`)
    } catch {
      compiled = undefined
    }
    patternCache.set(pattern, compiled)
  }
  return patternCache.get(pattern)
}

const join = (path: string, key: string | number): string =>
  path === '' ? String(key) : `${path}.${key}`

const checkLength = (
  length: number,
  shape: Shape,
  path: string,
  value: unknown,
  out: ShapeViolation[],
): void => {
  if (shape.min !== undefined && length < shape.min) {
    out.push({
      path,
      value,
      constraint: `Member must have length greater than or equal to ${shape.min}`,
    })
  }
  if (shape.max !== undefined && length > shape.max) {
    out.push({
      path,
      value,
      constraint: `Member must have length less than or equal to ${shape.max}`,
    })
  }
}

const checkRange = (value: number, shape: Shape, path: string, out: ShapeViolation[]): void => {
  if (shape.min !== undefined && value < shape.min) {
    out.push({
      path,
      value,
      constraint: `Member must have value greater than or equal to ${shape.min}`,
    })
  }
  if (shape.max !== undefined && value > shape.max) {
    out.push({
      path,
      value,
      constraint: `Member must have value less than or equal to ${shape.max}`,
    })
  }
}

const validateStructure = (
  name: string,
  shape: Shape,
  value: unknown,
  path: string,
  out: ShapeViolation[],
): void => {
  if (!isObject(value)) {
    out.push({ path, value, constraint: `Member must be a structure (${name})` })
    return
  }
  const members = shape.members ?? {}
  for (const [key, inner] of Object.entries(value)) {
    const member = members[key]
    if (!member) {
      out.push({ path: join(path, key), value: inner, constraint: `Member is not part of ${name}` })
      continue
    }
    if (member.location !== undefined) {
      out.push({
        path: join(path, key),
        value: inner,
        constraint: `Member belongs in the request's ${member.location}, not its body`,
      })
      continue
    }
    if (inner !== null) validateValue(member.shape, inner, join(path, key), out)
  }
  for (const key of shape.required ?? []) {
    const member = members[key]
    if (member?.location !== undefined) continue
    if (value[key] === undefined || value[key] === null) {
      out.push({ path: join(path, key), value: null, constraint: 'Member must not be null' })
    }
  }
  if (shape.union === true) {
    const set = Object.keys(members).filter(
      (key) => value[key] !== undefined && value[key] !== null,
    )
    if (set.length !== 1) {
      out.push({
        path,
        value,
        constraint: `Exactly one member of union ${name} must be set (${Object.keys(members).join(', ')}), found ${set.length === 0 ? 'none' : set.join(', ')}`,
      })
    }
  }
}

const validateValue = (name: string, value: unknown, path: string, out: ShapeViolation[]): void => {
  const shape = shapeOf(name)
  switch (shape.type) {
    case 'structure':
      if (shape.document === true) return
      validateStructure(name, shape, value, path, out)
      return
    case 'list':
      if (!Array.isArray(value)) {
        out.push({ path, value, constraint: 'Member must be a list' })
        return
      }
      checkLength(value.length, shape, path, value, out)
      value.forEach((item: unknown, index) => {
        if (item === null) {
          out.push({ path: join(path, index), value: null, constraint: 'Member must not be null' })
        } else if (shape.member) validateValue(shape.member.shape, item, join(path, index), out)
      })
      return
    case 'map':
      if (!isObject(value)) {
        out.push({ path, value, constraint: 'Member must be a map' })
        return
      }
      checkLength(Object.keys(value).length, shape, path, value, out)
      for (const [key, inner] of Object.entries(value)) {
        if (shape.key) validateValue(shape.key.shape, key, join(path, key), out)
        if (shape.value) validateValue(shape.value.shape, inner, join(path, key), out)
      }
      return
    case 'string': {
      if (typeof value !== 'string') {
        out.push({ path, value, constraint: 'Member must be a string' })
        return
      }
      if (shape.enum && !shape.enum.includes(value)) {
        out.push({
          path,
          value,
          constraint: `Member must satisfy enum value set: [${shape.enum.join(', ')}]`,
        })
      }
      checkLength(Array.from(value).length, shape, path, value, out)
      const pattern = shape.pattern === undefined ? undefined : compiledPattern(shape.pattern)
      if (pattern && !pattern.test(value)) {
        out.push({
          path,
          value,
          constraint: `Member must satisfy regular expression pattern: ${shape.pattern ?? ''}`,
        })
      }
      return
    }
    case 'blob':
      if (typeof value !== 'string' || !BASE64.test(value)) {
        out.push({ path, value, constraint: 'Member must be base64-encoded bytes' })
        return
      }
      checkLength(Buffer.from(value, 'base64').length, shape, path, value, out)
      return
    case 'boolean':
      if (typeof value !== 'boolean')
        out.push({ path, value, constraint: 'Member must be a boolean' })
      return
    case 'integer':
    case 'long':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        out.push({ path, value, constraint: 'Member must be an integer' })
        return
      }
      checkRange(value, shape, path, out)
      return
    case 'float':
    case 'double':
      if (typeof value !== 'number') {
        out.push({ path, value, constraint: 'Member must be a number' })
        return
      }
      checkRange(value, shape, path, out)
      return
    case 'timestamp':
      if (typeof value !== 'number' && typeof value !== 'string') {
        out.push({ path, value, constraint: 'Member must be a timestamp' })
      }
      return
    default:
      return
  }
}

/**
 * What `value` breaks of shape `name` of the Bedrock Runtime model (e.g. `ConverseRequest`,
 * `ConverseResponse`, `ContentBlockDeltaEvent`). Empty when it fits.
 */
export const bedrockShapeViolations = (name: string, value: unknown): ShapeViolation[] => {
  const out: ShapeViolation[] = []
  validateValue(name, value, '', out)
  return out
}

const blocksOf = (message: Json | undefined): JsonObject[] =>
  arrayAt(message, 'content').filter(isObject)

const toolUseIds = (message: Json | undefined): string[] =>
  blocksOf(message).flatMap((block) => {
    const id = stringAt(objectAt(block, 'toolUse'), 'toolUseId')
    return id === undefined ? [] : [id]
  })

/** The conversation rules of the Converse API (see the module doc for their sources). */
export const bedrockConversationViolations = (body: JsonObject): string[] => {
  const errors: string[] = []
  const messages = arrayAt(body, 'messages')
  if (messages.length === 0 || stringAt(messages[0], 'role') !== 'user') {
    errors.push(
      'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
    )
  }
  const alternates = messages.every(
    (message, index) =>
      index === 0 || stringAt(message, 'role') !== stringAt(messages[index - 1], 'role'),
  )
  if (!alternates) {
    errors.push(
      'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.',
    )
  }
  messages.forEach((message, index) => {
    if (stringAt(message, 'role') === 'system') {
      errors.push(
        `messages.${index}.role: the system prompt goes in the top-level \`system\` field, not in messages`,
      )
    }
    blocksOf(message).forEach((block, blockIndex) => {
      const at = `messages.${index}.content.${blockIndex}`
      const text = block['text']
      if (typeof text === 'string' && text.trim() === '') {
        errors.push(
          `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`,
        )
      }
      const toolUse = objectAt(block, 'toolUse')
      const toolResult = objectAt(block, 'toolResult')
      if (toolUse && toolUse['input'] !== undefined && !isObject(toolUse['input'])) {
        errors.push(
          `The format of the value at ${at}.toolUse.input is invalid. Provide a json object for the field and try again.`,
        )
      }
      if (
        toolResult &&
        stringAt(toolResult, 'status') === 'error' &&
        arrayAt(toolResult, 'content').length === 0
      ) {
        errors.push(
          `The content field at ${at}.toolResult cannot be empty when status value is error.`,
        )
      }
    })
    if (stringAt(message, 'role') !== 'user') return
    const previous = index > 0 ? messages[index - 1] : undefined
    const offered = stringAt(previous, 'role') === 'assistant' ? toolUseIds(previous) : []
    const answered = blocksOf(message).flatMap((block) => {
      const result = objectAt(block, 'toolResult')
      return result ? [stringAt(result, 'toolUseId') ?? ''] : []
    })
    if (answered.length > offered.length) {
      errors.push(
        `The number of toolResult blocks at messages.${index}.content exceeds the number of toolUse blocks of previous turn.`,
      )
      return
    }
    const missing = offered.filter((id) => !answered.includes(id))
    if (missing.length > 0) {
      errors.push(
        `Expected toolResult blocks at messages.${index}.content for the following Ids: ${missing.join(', ')}`,
      )
    }
  })

  const toolConfig = objectAt(body, 'toolConfig')
  const usesTools = messages.some((message) =>
    blocksOf(message).some((block) => 'toolUse' in block || 'toolResult' in block),
  )
  if (usesTools && !toolConfig) {
    errors.push(
      'The toolConfig field must be defined when using toolUse and toolResult content blocks.',
    )
  }
  const names: string[] = []
  arrayAt(toolConfig, 'tools').forEach((tool, index) => {
    const spec = objectAt(tool, 'toolSpec')
    if (!spec) return
    const name = stringAt(spec, 'name')
    if (name !== undefined) names.push(name)
    const schema = objectAt(spec, 'inputSchema')
    if (schema && schema['json'] !== undefined && !isObject(schema['json'])) {
      errors.push(
        `The format of the value at toolConfig.tools.${index}.toolSpec.inputSchema.json is invalid. Provide a json object for the field and try again.`,
      )
    }
  })
  const duplicate = names.find((name, index) => names.indexOf(name) !== index)
  if (duplicate !== undefined) {
    errors.push(`toolConfig.tools: tool names must be unique, ${duplicate} appears twice`)
  }
  const chosen = stringAt(objectAt(objectAt(toolConfig, 'toolChoice'), 'tool'), 'name')
  if (chosen !== undefined && !names.includes(chosen)) {
    errors.push(`toolConfig.toolChoice.tool.name: ${chosen} is not one of toolConfig.tools`)
  }
  return errors
}

type Operation = 'Converse' | 'ConverseStream'

/**
 * Everything wrong with a Converse / ConverseStream body, as recorded violations and as the
 * message of the `ValidationException` that answers it: the shape first (AWS parses before it
 * checks the conversation), then the conversation rules. Empty when valid.
 */
export const bedrockRequestViolations = (
  body: unknown,
  operation: Operation = 'Converse',
): { violations: string[]; message: string } => {
  const input = operation === 'Converse' ? 'ConverseRequest' : 'ConverseStreamRequest'
  const shape = bedrockShapeViolations(input, body)
  if (shape.length > 0) {
    const count = `${shape.length} validation error${shape.length === 1 ? '' : 's'} detected`
    return {
      violations: shape.map((violation) => `${violation.path || '/'}: ${violation.constraint}`),
      message: `${count}: ${shape.map(coralText).join('; ')}`,
    }
  }
  const conversation = isObject(body) ? bedrockConversationViolations(body) : []
  return { violations: conversation, message: conversation.join(' ') }
}

// ================================================================================================
// Replies
// ================================================================================================

type Recording = { name: string; chunks: JsonObject[] }

let recordingCache: Recording[] | undefined

/** The recorded OpenAI streams the other fakes replay (`fake-providers.ts` reads the same files). */
const recordings = (): Recording[] => {
  if (recordingCache) return recordingCache
  recordingCache = readdirSync(OPENAI_FIXTURES)
    .filter((name) => name.endsWith('.sse'))
    .sort()
    .map((name) => ({
      name,
      chunks: readFileSync(new URL(name, OPENAI_FIXTURES), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
        .map((line): unknown => JSON.parse(line.slice('data: '.length)))
        .filter(isObject),
    }))
  return recordingCache
}

/** Names `x-fake-fixture` accepts (prefixes of these). */
export const bedrockFixtureNames = (): string[] => recordings().map((recording) => recording.name)

/** What a recording says, in provider-neutral pieces, in the order it says it. */
type Piece =
  | { kind: 'text'; text: string }
  | { kind: 'toolStart'; call: number; id: string; name: string }
  | { kind: 'toolInput'; call: number; input: string }

export type BedrockAnswer = {
  pieces: Piece[]
  stopReason: string
  usage: { inputTokens: number; outputTokens: number }
}

const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  length: 'max_tokens',
  content_filter: 'content_filtered',
}

const numberAt = (value: unknown, key: string): number => {
  const inner = isObject(value) ? value[key] : undefined
  return typeof inner === 'number' ? inner : 0
}

/** A recorded OpenAI stream as Converse content: text, tool starts (renamed) and input fragments. */
export const answerFromRecording = (chunks: JsonObject[], toolNames: string[]): BedrockAnswer => {
  const pieces: Piece[] = []
  let stopReason = 'end_turn'
  let usage = { inputTokens: 10, outputTokens: 10 }
  for (const chunk of chunks) {
    const recordedUsage = objectAt(chunk, 'usage')
    if (recordedUsage) {
      usage = {
        inputTokens: numberAt(recordedUsage, 'prompt_tokens'),
        outputTokens: numberAt(recordedUsage, 'completion_tokens'),
      }
    }
    for (const choice of arrayAt(chunk, 'choices')) {
      const delta = objectAt(choice, 'delta')
      const text = stringAt(delta, 'content')
      if (text !== undefined && text !== '') pieces.push({ kind: 'text', text })
      for (const call of arrayAt(delta, 'tool_calls')) {
        const index = numberAt(call, 'index')
        const fn = objectAt(call, 'function')
        if (stringAt(call, 'id') !== undefined) {
          const name = toolNames[index] ?? toolNames[0] ?? stringAt(fn, 'name') ?? 'tool'
          pieces.push({ kind: 'toolStart', call: index, id: toolUseId(), name })
        }
        const input = stringAt(fn, 'arguments')
        if (input !== undefined && input !== '')
          pieces.push({ kind: 'toolInput', call: index, input })
      }
      const finish = stringAt(choice, 'finish_reason')
      if (finish !== undefined) stopReason = STOP_REASONS[finish] ?? 'end_turn'
    }
  }
  return { pieces, stopReason, usage }
}

const parseInput = (text: string): Json => {
  try {
    const parsed: unknown = JSON.parse(text === '' ? '{}' : text)
    return isObject(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

type Usage = {
  inputTokens: number
  outputTokens: number
  totalTokens: number
  cacheReadInputTokens?: number
  cacheWriteInputTokens?: number
}

const usageOf = (answer: BedrockAnswer, cached: boolean): Usage => {
  const { inputTokens, outputTokens } = answer.usage
  if (!cached) return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
  const read = Math.floor(inputTokens / 2)
  return {
    inputTokens: inputTokens - read,
    outputTokens,
    totalTokens: inputTokens + outputTokens,
    cacheReadInputTokens: read,
    cacheWriteInputTokens: 0,
  }
}

const latencyMs = (answer: BedrockAnswer): number => 180 + 12 * answer.usage.outputTokens

/** The `ConverseResponse` the pieces add up to. */
export const converseResponse = (answer: BedrockAnswer, cached = false): JsonObject => {
  const content: JsonObject[] = []
  const calls = new Map<number, { block: JsonObject; input: string }>()
  for (const piece of answer.pieces) {
    if (piece.kind === 'text') {
      const last = content.at(-1)
      if (last && typeof last['text'] === 'string') last['text'] += piece.text
      else content.push({ text: piece.text })
    } else if (piece.kind === 'toolStart') {
      const block: JsonObject = { toolUseId: piece.id, name: piece.name, input: {} }
      calls.set(piece.call, { block, input: '' })
      content.push({ toolUse: block })
    } else {
      const call = calls.get(piece.call)
      if (call) call.input += piece.input
    }
  }
  for (const { block, input } of calls.values()) block['input'] = parseInput(input)
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: answer.stopReason,
    usage: usageOf(answer, cached),
    metrics: { latencyMs: latencyMs(answer) },
  }
}

/** The `ConverseStreamOutput` events (`[:event-type, payload]`) the pieces stream as. */
export const converseStreamEvents = (
  answer: BedrockAnswer,
  cached = false,
): Array<[type: string, payload: JsonObject]> => {
  const events: Array<[string, JsonObject]> = [['messageStart', { role: 'assistant' }]]
  let index = -1
  let open: 'text' | number | undefined
  const blockOfCall = new Map<number, number>()
  const close = (): void => {
    if (open !== undefined) events.push(['contentBlockStop', { contentBlockIndex: index }])
    open = undefined
  }
  for (const piece of answer.pieces) {
    if (piece.kind === 'text') {
      if (open !== 'text') {
        close()
        index++
        open = 'text'
      }
      events.push(['contentBlockDelta', { contentBlockIndex: index, delta: { text: piece.text } }])
    } else if (piece.kind === 'toolStart') {
      close()
      index++
      open = piece.call
      blockOfCall.set(piece.call, index)
      events.push([
        'contentBlockStart',
        { contentBlockIndex: index, start: { toolUse: { toolUseId: piece.id, name: piece.name } } },
      ])
    } else {
      const block = blockOfCall.get(piece.call) ?? index
      events.push([
        'contentBlockDelta',
        { contentBlockIndex: block, delta: { toolUse: { input: piece.input } } },
      ])
    }
  }
  close()
  events.push(['messageStop', { stopReason: answer.stopReason }])
  events.push([
    'metadata',
    { usage: usageOf(answer, cached), metrics: { latencyMs: latencyMs(answer) } },
  ])
  return events
}

const toolNamesOf = (body: JsonObject): string[] => {
  const toolConfig = objectAt(body, 'toolConfig')
  const names = arrayAt(toolConfig, 'tools').flatMap((tool) => {
    const name = stringAt(objectAt(tool, 'toolSpec'), 'name')
    return name === undefined ? [] : [name]
  })
  const chosen = stringAt(objectAt(objectAt(toolConfig, 'toolChoice'), 'tool'), 'name')
  return chosen === undefined ? names : [chosen, ...names.filter((name) => name !== chosen)]
}

/** A tool call when the request offers tools and its last message answers none. */
const wantsToolCall = (body: JsonObject): boolean => {
  const last = arrayAt(body, 'messages').at(-1)
  const answersTool = blocksOf(last).some((block) => objectAt(block, 'toolResult') !== undefined)
  return toolNamesOf(body).length > 0 && !answersTool
}

const hasCachePoint = (body: JsonObject): boolean => JSON.stringify(body).includes('"cachePoint"')

const intHeader = (headers: Record<string, string>, name: string): number | undefined => {
  const value = headers[name]
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined
  return Number(value)
}

/** The frames of a ConverseStream answer with this request's fault headers applied. */
const streamFrames = (
  events: Array<[string, JsonObject]>,
  headers: Record<string, string>,
  exception: string | undefined,
): StreamFrame[] => {
  const messages = events.map(([type, payload], index) => eventMessage(type, payload, index))
  const badCrc = intHeader(headers, 'x-fake-bad-crc')
  const target = badCrc === undefined ? undefined : messages[badCrc - 1]
  if (target)
    target.writeUInt32BE(
      (target.readUInt32BE(target.length - 4) ^ 0xffffffff) >>> 0,
      target.length - 4,
    )
  let sent = messages
  if (exception !== undefined) {
    const build = STREAM_EXCEPTIONS[exception]
    if (build) sent = [...messages.slice(0, EXCEPTION_AFTER), exceptionMessage(exception, build())]
  }
  const frames: StreamFrame[] = sent.map((bytes) => ({ text: bytes, counted: true }))
  const cutAfter = intHeader(headers, 'x-fake-cut-after')
  const next = cutAfter === undefined ? undefined : sent[cutAfter]
  if (headers['x-fake-cut-mid-frame'] === '1' && cutAfter !== undefined && next) {
    // Not counted: written after the N counted frames, just before the socket is destroyed.
    frames.splice(cutAfter, 0, {
      text: next.subarray(0, Math.ceil(next.length / 2)),
      counted: false,
    })
  }
  return frames
}

const reply = (
  request: NativeRequest,
  operation: Operation,
  body: JsonObject,
  answer: BedrockAnswer,
): Reply | FrameStream => {
  const cached = hasCachePoint(body)
  if (operation === 'Converse') return { status: 200, body: converseResponse(answer, cached) }
  const exception = request.headers['x-fake-exception']
  if (exception !== undefined && !(exception in STREAM_EXCEPTIONS)) {
    const known = bedrockStreamExceptionTypes().join(', ')
    return awsError(
      400,
      'ValidationException',
      `x-fake-exception: no stream exception ${exception} (${known})`,
    )
  }
  return {
    frames: streamFrames(converseStreamEvents(answer, cached), request.headers, exception),
    errorFrame: exceptionMessage('modelStreamErrorException', modelStreamError()),
    headers: { 'content-type': EVENTSTREAM, ...requestIdHeader() },
  }
}

/** A safety model's verdict (`guard.ts`) as a Converse answer. */
const guardAnswer = (body: JsonObject): Reply | BedrockAnswer => {
  const rule = guardRule(judgedText(body), body)
  if (rule.kind === 'status') return statusError(rule.status)
  const usage = guardUsage(body, rule.text)
  return {
    pieces: [{ kind: 'text', text: rule.text }],
    stopReason: 'end_turn',
    usage: { inputTokens: usage.input, outputTokens: usage.output },
  }
}

const ROUTE = /^\/model\/([^/]+)\/(converse|converse-stream)$/

const answer = (request: NativeRequest): Reply | FrameStream => {
  const match = ROUTE.exec(request.path)
  if (request.method !== 'POST' || !match) {
    request.violations.push(`no such endpoint: ${request.method} ${request.path}`)
    return awsError(
      404,
      'UnknownOperationException',
      `Unknown operation ${request.method} ${request.path}`,
      CORAL_NAMESPACE,
    )
  }
  const operation: Operation = match[2] === 'converse' ? 'Converse' : 'ConverseStream'
  const modelId = decodeComponent(match[1] ?? '')
  const modelViolations = bedrockShapeViolations('ConversationalModelId', modelId)
  if (modelViolations.length > 0) {
    const texts = modelViolations.map((violation) => coralText({ ...violation, path: 'modelId' }))
    return invalid(request, texts, `${texts.length} validation error detected: ${texts.join('; ')}`)
  }
  if (!request.json || !isObject(request.body)) {
    return invalid(
      request,
      ['body: not a JSON object'],
      'Malformed input request, please reformat your input and try again.',
    )
  }
  const body = request.body
  const { violations, message } = bedrockRequestViolations(body, operation)
  if (violations.length > 0) return invalid(request, violations, message)

  if (isGuardModel(modelId)) {
    const verdict = guardAnswer(body)
    return 'pieces' in verdict ? reply(request, operation, body, verdict) : verdict
  }
  const requested = request.headers['x-fake-fixture']
  const toolCall = wantsToolCall(body)
  const prefix = requested ?? (toolCall ? DEFAULT_TOOL_FIXTURE : DEFAULT_TEXT_FIXTURE)
  const recording = recordings().find((candidate) => candidate.name.startsWith(prefix))
  if (!recording) {
    const known = bedrockFixtureNames().join(', ')
    return awsError(
      400,
      'ValidationException',
      `x-fake-fixture: no recorded stream named ${prefix}* (${known})`,
    )
  }
  return reply(request, operation, body, answerFromRecording(recording.chunks, toolNamesOf(body)))
}

// ================================================================================================
// Authentication
// ================================================================================================

const headerPairs = (rawHeaders: readonly string[]): Array<[string, string]> => {
  const pairs: Array<[string, string]> = []
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    pairs.push([rawHeaders[index] ?? '', rawHeaders[index + 1] ?? ''])
  }
  return pairs
}

const unauthorized = (request: NativeRequest): Reply | undefined => {
  const authorization = request.headers['authorization'] ?? ''
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)
  if (bearer) {
    if (bearer[1] === BEDROCK_API_KEY) return undefined
    request.violations.push('Authorization: Bearer: not the fake Bedrock API key')
    return {
      status: 403,
      body: { Message: 'Authentication failed: Please make sure your API Key is valid.' },
      headers: { 'x-amzn-ErrorType': `UnrecognizedClientException:${CORAL_NAMESPACE}` },
    }
  }
  const outcome = verifySigV4(
    {
      method: request.method,
      target: request.target,
      headers: headerPairs(request.rawHeaders),
      body: request.raw,
    },
    {
      credentials: [BEDROCK_CREDENTIALS, BEDROCK_SESSION_CREDENTIALS],
      region: BEDROCK_REGION,
      service: BEDROCK_SIGNING_SERVICE,
      now: new Date(),
    },
  )
  if (outcome.ok) return undefined
  request.violations.push(`sigv4 ${outcome.errorType}: ${outcome.message}`)
  return awsError(403, outcome.errorType, outcome.message, CORAL_NAMESPACE)
}

/** The Bedrock Runtime fake, registered by `../fake-providers.ts`. */
export const bedrockFake: NativeFake = {
  id: 'bedrock',
  base: '/bedrock',
  requestId: requestIdHeader,
  unauthorized,
  error: (status) => statusError(status),
  answer,
}
