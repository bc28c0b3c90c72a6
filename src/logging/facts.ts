/**
 * @module The request log's raw facts as a Queue message: what the producer sends instead of a
 * built record. The serving isolate only gathers what it saw (`RequestFacts`: ids, statuses,
 * timings, usage, the trace's fields and the bodies' raw heads), frames it and seals it
 * (`seal.ts`); the consumer — and `npm run logs:replay` — open it and build the record
 * (`record.ts`: assemble, scrub, price, hash the IP, cut), so none of that work runs before or
 * beside a response.
 *
 * ## Payload (what is sealed)
 *
 * ```text
 * u32 n | n bytes: JSON {"v":1,"facts":{…every fact but the two heads' texts…}}
 * u32 n | n bytes: the request body's head, UTF-8
 * u32 n | n bytes: the response head's text, UTF-8 (n = 0 when there is none)
 * ```
 *
 * (u32: big-endian.) The heads travel as their own bytes, not as JSON strings inside the facts: a
 * body full of quotes, or a streamed answer (every event a JSON object), grows by a third or more
 * when escaped, and escaping it would cost the serving isolate about as much time as sealing.
 *
 * A message must fit the Queue (128 KB, Cloudflare Queues' limit, ~100 bytes of it internal
 * metadata). `encodeFacts` bounds the heads before sealing: the request body is cut to
 * `REQUEST_HEAD_LIMIT` characters first (a 10 MiB body is never encoded whole), and when the
 * message is still too big the two heads share what the rest leaves — the smaller keeps all of
 * itself if it needs no more than half, the larger takes the remainder — cut at a UTF-8 character
 * boundary. A head cut here is recorded in `cut`, and the record marks it `*_body_truncated`.
 * Metadata-only organisations send no body at all.
 *
 * `decodeFacts` checks the shape of what it reads (a message from another version of the producer
 * is refused, not half-read): authenticated bytes are ours, not necessarily this version's.
 */
import * as z from 'zod'
import { CAPTURE_LIMIT, type LogRecord, type RequestFacts } from './record'
import { openMessage, sealMessage, sealOverhead, type LogKeys } from './seal'

/** The largest sealed message the producer sends: under Cloudflare's 128 KB, with room to spare. */
export const MESSAGE_LIMIT = 126_000

/** The raw request body's head the producer keeps at most, in characters (as much as a response). */
export const REQUEST_HEAD_LIMIT = CAPTURE_LIMIT

/** The client's User-Agent kept at most, in characters (the record keeps 512 after scrubbing). */
export const USER_AGENT_LIMIT = 4096

/** The payload's format; a consumer refuses any other. */
const VERSION = 1

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `text` cut to `length` UTF-16 units, never between the two halves of a surrogate pair. */
const head = (text: string, length: number): string => {
  if (text.length <= length) return text
  const last = text.charCodeAt(length - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length)
}

/** UTF-8 `bytes` cut to at most `length` bytes, never inside a character. */
const cutBytes = (bytes: Uint8Array, length: number): Uint8Array => {
  if (bytes.length <= length) return bytes
  let end = Math.max(0, length)
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end-- // a continuation byte
  return bytes.subarray(0, end)
}

/**
 * How `room` bytes are shared by two heads of `first` and `second` bytes: the smaller keeps all
 * of itself if that is no more than half, the larger takes what is left. Answers the first's share.
 */
const firstShare = (room: number, first: number, second: number): number => {
  const half = Math.floor(room / 2)
  return first <= half ? first : second <= half ? room - second : half
}

/** The facts but their heads' texts, as the payload's JSON carries them. */
type Meta = Omit<RequestFacts, 'requestBody' | 'response'> & {
  /** Never set: the request's head travels as its own bytes (JSON leaves an `undefined` out). */
  readonly requestBody?: undefined
  readonly response: { readonly truncated: boolean } | undefined
}

const metaBytes = (meta: Meta): Uint8Array =>
  encoder.encode(JSON.stringify({ v: VERSION, facts: meta }))

/**
 * Each part as a u32 big-endian length and its bytes, one after the other, after `lead` bytes
 * left for the caller (a bundle's header).
 */
const frame = (parts: readonly Uint8Array[], lead = 0): Uint8Array => {
  const out = new Uint8Array(parts.reduce((total, part) => total + 4 + part.length, lead))
  const view = new DataView(out.buffer)
  let at = lead
  for (const part of parts) {
    view.setUint32(at, part.length)
    out.set(part, at + 4)
    at += 4 + part.length
  }
  return out
}

/**
 * `frame` of the three texts' UTF-8, written in place into one buffer (no array per part), when
 * the most bytes they could take (three per UTF-16 unit) fit `limit`; `undefined` otherwise, and
 * the caller measures them exactly. The payload is a view of the buffer's first bytes.
 */
const frameTexts = (
  meta: string,
  request: string,
  response: string,
  limit: number,
): Uint8Array | undefined => {
  const most = 12 + 3 * (meta.length + request.length + response.length)
  if (most > limit) return undefined
  const out = new Uint8Array(most)
  const view = new DataView(out.buffer)
  let at = 0
  for (const text of [meta, request, response]) {
    const { written } = encoder.encodeInto(text, out.subarray(at + 4))
    view.setUint32(at, written)
    at += 4 + written
  }
  return out.subarray(0, at)
}

/** The parts `frame` made; throws when `bytes` is not exactly that many parts. */
const unframe = (bytes: Uint8Array, count: number): Uint8Array[] => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const parts: Uint8Array[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw new Error('request log payload: cut short')
    const length = view.getUint32(at)
    if (at + 4 + length > bytes.length) throw new Error('request log payload: cut short')
    parts.push(bytes.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  if (at !== bytes.length) throw new Error('request log payload: trailing bytes')
  return parts
}

/**
 * The facts as a payload of at most `limit` bytes, their heads cut to fit. Throws when even the
 * facts without heads do not fit (they always do: every text but the heads is short or bounded).
 */
export const encodeFacts = (facts: RequestFacts, limit: number): Uint8Array => {
  const { requestBody } = facts
  const response = facts.bodies ? facts.response : undefined
  const requestHead = facts.bodies ? head(requestBody, REQUEST_HEAD_LIMIT) : ''
  const responseText = response?.text ?? ''
  // One copy of the facts, the heads' texts left out (undefined) rather than a rest and a spread.
  const base: Meta = {
    ...facts,
    requestBody: undefined,
    userAgent: head(facts.userAgent, USER_AGENT_LIMIT),
    response: response === undefined ? undefined : { truncated: response.truncated },
  }
  const cut = { request: requestHead.length < requestBody.length, response: false }
  // The usual case: everything fits as it is, and the facts are encoded once, in place.
  const json = cut.request ? undefined : JSON.stringify({ v: VERSION, facts: base })
  const framed = json === undefined ? undefined : frameTexts(json, requestHead, responseText, limit)
  if (framed !== undefined) return framed
  let request: Uint8Array = encoder.encode(requestHead)
  let text: Uint8Array = encoder.encode(responseText)
  if (json !== undefined) {
    // Too large to be sure by the characters' count: measured, it may still fit whole.
    const whole = encoder.encode(json)
    if (12 + whole.length + request.length + text.length <= limit) {
      return frame([whole, request, text])
    }
  }
  // Room for the heads beside the rest at its largest (the cut flags at their longest spelling).
  const room = limit - 12 - metaBytes({ ...base, cut: { request: false, response: false } }).length
  if (request.length + text.length > room) {
    const keptRequest = cutBytes(request, firstShare(room, request.length, text.length))
    const keptText = cutBytes(text, room - keptRequest.length)
    cut.request ||= keptRequest.length < request.length
    cut.response = keptText.length < text.length
    request = keptRequest
    text = keptText
  }
  const meta: Meta =
    cut.request || cut.response
      ? {
          ...base,
          response:
            base.response === undefined
              ? undefined
              : { truncated: base.response.truncated || cut.response },
          cut,
        }
      : base
  const payload = frame([metaBytes(meta), request, text])
  if (payload.length <= limit) return payload
  throw new Error(`request log facts of ${String(payload.length)} bytes do not fit a message`)
}

/**
 * A bundle's first four bytes: a single payload never starts so (its facts' length, u32, is far
 * below a message's size). A bundle is `u32 BUNDLE | u32 count | count × (u32 n | n bytes: one
 * payload)`; a message of one payload without the header — what producers sealed before bundles —
 * still opens.
 */
const BUNDLE = 0xffffffff
const BUNDLE_HEADER = 8

/** The bytes a payload adds to a bundle. */
export const BUNDLE_ENTRY_BYTES = 4

/** The bytes a sealed message under `keys` has for its bundle's payloads and their lengths. */
const bundleRoom = (keys: LogKeys): number => MESSAGE_LIMIT - sealOverhead(keys) - BUNDLE_HEADER

/** The largest payload `sealBundles` takes: a bundle of it alone fits a message. */
export const payloadLimit = (keys: LogKeys): number => bundleRoom(keys) - BUNDLE_ENTRY_BYTES

/** The payloads framed after the bundle's header. */
const bundle = (payloads: readonly Uint8Array[]): Uint8Array => {
  const out = frame(payloads, BUNDLE_HEADER)
  const view = new DataView(out.buffer)
  view.setUint32(0, BUNDLE)
  view.setUint32(4, payloads.length)
  return out
}

/**
 * Payloads (`encodeFacts`, each at most `payloadLimit`) as few sealed Queue messages as hold them
 * at `MESSAGE_LIMIT` bytes each, in order: one seal for the records of many requests, since a
 * seal's fixed cost (the XChaCha subkey, the Poly1305 key and tag, the nonce) is most of what
 * sealing one small record costs.
 */
export const sealBundles = (keys: LogKeys, payloads: readonly Uint8Array[]): Uint8Array[] => {
  const room = bundleRoom(keys)
  const messages: Uint8Array[] = []
  let group: Uint8Array[] = []
  let size = 0
  for (const payload of payloads) {
    if (payload.length + BUNDLE_ENTRY_BYTES > room) {
      throw new Error(`request log payload of ${String(payload.length)} bytes exceeds a message`)
    }
    if (size + BUNDLE_ENTRY_BYTES + payload.length > room) {
      messages.push(sealMessage(keys, bundle(group)))
      group = []
      size = 0
    }
    group.push(payload)
    size += BUNDLE_ENTRY_BYTES + payload.length
  }
  if (group.length > 0) messages.push(sealMessage(keys, bundle(group)))
  return messages
}

/** The facts as a sealed Queue message (`bytes`) of its own, at most `MESSAGE_LIMIT` bytes. */
export const sealFacts = (keys: LogKeys, facts: RequestFacts): Uint8Array => {
  const [message] = sealBundles(keys, [encodeFacts(facts, payloadLimit(keys))])
  if (message === undefined) throw new Error('request log: nothing sealed')
  return message
}

/** The bytes `text` takes as a JSON string: quoted, escaped, UTF-8. */
const jsonBytes = (text: string): number => encoder.encode(JSON.stringify(text)).byteLength

/** The longest head of `text`, near enough, whose JSON form takes at most `budget` bytes. */
const fitJson = (text: string, budget: number): string => {
  let kept = text
  let size = jsonBytes(kept)
  for (let round = 0; size > budget && kept.length > 0; round++) {
    // Aim by the ratio of sizes; late, or when escapes cluster at the end, shed the excess in
    // characters: each is at least one byte, so that head fits.
    const byExcess = kept.length - (size - budget)
    const byRatio = round < 8 ? Math.floor((kept.length * budget) / size) : 0
    kept = head(kept, Math.max(0, byExcess, Math.min(byRatio, kept.length - 1)))
    size = jsonBytes(kept)
  }
  return kept
}

/**
 * A record the producer built itself (no `FLOOPY_LOG_KEYS`), cut to fit a message of `limit` bytes
 * as JSON: its bodies, scrubbed already (a cut leaves no fragment of PII), share what the rest
 * leaves, and are marked truncated when cut.
 */
export const fitRecord = (record: LogRecord, limit: number = MESSAGE_LIMIT): LogRecord => {
  if (encoder.encode(JSON.stringify(record)).byteLength <= limit) return record
  const marked = { request_body_truncated: 'true', response_body_truncated: 'true' }
  const rest = encoder.encode(
    JSON.stringify({
      ...record,
      request_body: '',
      response_body: '',
      metadata: { ...record.metadata, ...marked },
    }),
  ).byteLength
  // Each body's share, counted with its quotes (the rest counted an empty body's two).
  const room = limit - rest + 4
  const requestSize = jsonBytes(record.request_body)
  const request = fitJson(
    record.request_body,
    firstShare(room, requestSize, jsonBytes(record.response_body)),
  )
  const response = fitJson(record.response_body, room - jsonBytes(request))
  const metadata = { ...record.metadata }
  if (request.length < record.request_body.length) metadata.request_body_truncated = 'true'
  if (response.length < record.response_body.length) metadata.response_body_truncated = 'true'
  return { ...record, request_body: request, response_body: response, metadata }
}

const Usage = z.object({
  promptTokens: z.number(),
  completionTokens: z.number(),
  totalTokens: z.number(),
  cachedTokens: z.number(),
  reasoningTokens: z.number(),
  estimated: z.literal(true).optional(),
})

const Payload = z.object({
  v: z.literal(VERSION),
  facts: z.object({
    requestId: z.string(),
    clientRequestId: z.string().optional(),
    startedAt: z.number(),
    endedAt: z.number(),
    orgId: z.string(),
    keyId: z.string(),
    endpoint: z.string(),
    provider: z.string(),
    modelRequested: z.string(),
    modelServed: z.string(),
    status: z.number(),
    errorCode: z.string(),
    stream: z.boolean(),
    upstreamStartedAt: z.number().optional(),
    upstreamHeadersAt: z.number().optional(),
    attempts: z.number(),
    usage: Usage.optional(),
    userAgent: z.string(),
    clientIp: z.string().optional(),
    response: z.object({ truncated: z.boolean() }).optional(),
    bodies: z.boolean(),
    end: z.string().optional(),
    failedAttempts: z.array(z.string()).optional(),
    cacheStatus: z.enum(['NONE', 'HIT', 'MISS', 'BYPASS', 'REFRESH']).optional(),
    firewallVerdict: z.enum(['NONE', 'SAFE', 'UNSAFE', 'ERROR']).optional(),
    firewallCheck: z
      .object({
        source: z.enum(['model', 'cache']),
        categories: z.array(z.string()),
        backend: z.string(),
        modelRef: z.string(),
        latencyMs: z.number(),
        usage: Usage.optional(),
        error: z.string().optional(),
      })
      .optional(),
    prompt: z.object({ id: z.string(), version: z.number() }).optional(),
    cacheHit: z.object({ tier: z.string(), savedUsage: Usage.optional() }).optional(),
    cut: z.object({ request: z.boolean(), response: z.boolean() }).optional(),
  }),
})

/** Reads a payload `encodeFacts` wrote; throws when it is not one (a message is never half-read). */
export const decodeFacts = (bytes: Uint8Array): RequestFacts => {
  const [meta = new Uint8Array(), request = new Uint8Array(), text = new Uint8Array()] = unframe(
    bytes,
    3,
  )
  const { facts } = Payload.parse(JSON.parse(decoder.decode(meta)))
  const check = facts.firewallCheck
  const hit = facts.cacheHit
  // JSON has no `undefined`: the keys it dropped come back, as RequestFacts spells them.
  return {
    ...facts,
    clientRequestId: facts.clientRequestId,
    upstreamStartedAt: facts.upstreamStartedAt,
    upstreamHeadersAt: facts.upstreamHeadersAt,
    usage: facts.usage,
    clientIp: facts.clientIp,
    requestBody: decoder.decode(request),
    response:
      facts.response === undefined
        ? undefined
        : { text: decoder.decode(text), truncated: facts.response.truncated },
    end: facts.end,
    firewallCheck:
      check === undefined ? undefined : { ...check, usage: check.usage, error: check.error },
    cacheHit: hit === undefined ? undefined : { ...hit, savedUsage: hit.savedUsage },
  }
}

/**
 * Opens a sealed message and reads every request's facts in it, in order; throws a `SealError`
 * when it does not open, and an error when any payload does not read (none is half-taken).
 */
export const openAllFacts = (keys: LogKeys, bytes: Uint8Array): RequestFacts[] => {
  const plain = openMessage(keys, bytes)
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength)
  if (plain.length < BUNDLE_HEADER || view.getUint32(0) !== BUNDLE) return [decodeFacts(plain)]
  return unframe(plain.subarray(BUNDLE_HEADER), view.getUint32(4)).map(decodeFacts)
}

/** Opens a sealed message of one request's facts; throws when it does not open or holds more. */
export const openFacts = (keys: LogKeys, bytes: Uint8Array): RequestFacts => {
  const [facts, ...more] = openAllFacts(keys, bytes)
  if (facts === undefined || more.length > 0) {
    throw new Error('request log message: not exactly one request')
  }
  return facts
}
