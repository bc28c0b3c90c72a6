/**
 * @module The request id as an authenticated reference: what served a request travels inside the
 * id the gateway returns, signed, so `POST /v1/feedback` knows the organisation, routing rule,
 * target and cache entry of a request with no lookup, and serving a request writes nothing.
 *
 * `fr1.<time>.<nonce>.<rule>.<target>.<entry>.<mac>`, every part `[A-Za-z0-9_-]`:
 * - `time`: when the request was served, Unix seconds in base 36 (feedback is taken for 30 days);
 * - `nonce`: 16 random bytes, base64url: the id is unique;
 * - `rule`: the routing rule's tag (`ruleTag`), `-` when no rule routed the request;
 * - `target`: `provider/model` that answered, base64url, `-` when none did;
 * - `entry`: the response cache entry that answered (its key after `floopy:cache:<org>:`),
 *   base64url, `-` when the answer did not come from the cache;
 * - `mac`: HMAC-SHA-256 over the organisation's id and everything before it, cut to 16 bytes.
 *
 * The organisation is in the MAC, not in the id: a feedback is checked against the organisation of
 * the key that sends it, so another organisation's id, a forged one and an altered one all fail the
 * same way, and ids reveal no tenant. The key (`FLOOPY_FEEDBACK_KEY`) never leaves the gateway;
 * rotating it retires the ids issued before.
 */

const VERSION = 'fr1'

/** How long a request takes feedback. */
export const FEEDBACK_WINDOW_SECONDS = 30 * 24 * 3600

export type Served = {
  readonly orgId: string
  /** `ruleTag` of the rule that routed it; `''` for none. */
  readonly rule: string
  /** `provider/model` that answered; `''` for none. */
  readonly target: string
  /** The cache entry's key after `floopy:cache:<org>:`, for a cache hit; `''` otherwise. */
  readonly entry: string
  /** Unix seconds. */
  readonly at: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The base64url alphabet, as character codes. */
const ALPHABET = Array.from(
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  (char) => char.charCodeAt(0),
)
const at = (n: number): number => ALPHABET[n & 63] ?? 0

/**
 * Unpadded base64url, by table (a reference is made per served request: no `btoa`, no regex),
 * into one array of character codes made into one string.
 */
const base64url = (bytes: Uint8Array): string => {
  const codes: number[] = []
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    codes.push(at(n >>> 18), at(n >>> 12), at(n >>> 6), at(n))
  }
  const left = bytes.length - i
  if (left > 0) {
    const n = ((bytes[i] ?? 0) << 16) | (left === 2 ? (bytes[i + 1] ?? 0) << 8 : 0)
    codes.push(at(n >>> 18), at(n >>> 12))
    if (left === 2) codes.push(at(n >>> 6))
  }
  return String.fromCharCode(...codes)
}

const fromBase64url = (text: string): Uint8Array | undefined => {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
    return Uint8Array.from(binary, (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

/** Spellings of recent targets and entries: a gateway serves a few targets over and over. */
const spelled = new Map<string, string>()

const text64 = (value: string): string => {
  if (value === '') return '-'
  let text = spelled.get(value)
  if (text === undefined) {
    text = base64url(encoder.encode(value))
    if (spelled.size >= 1024) spelled.clear()
    spelled.set(value, text)
  }
  return text
}

const untext64 = (part: string): string | undefined => {
  if (part === '-') return ''
  const bytes = fromBase64url(part)
  return bytes === undefined ? undefined : decoder.decode(bytes)
}

/** The HMAC key for references, imported once per secret. */
export const referenceKey = (secret: Uint8Array<ArrayBuffer>): Promise<CryptoKey> =>
  crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ])

const macOf = async (key: CryptoKey, orgId: string, body: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`${orgId}\n${body}`)), 0, 16)

/** A rule's tag: stable while the rule's scope (key, model) is, short, and no secret. */
export const ruleTag = (rule: { apiKeyId: string | null; model: string | null }): string => {
  // FNV-1a, 32 bits, twice (two seeds): collisions within one organisation's rules are negligible.
  const text = `${rule.apiKeyId ?? '*'}|${rule.model ?? '*'}`
  const hash = (seed: number): string => {
    let h = seed
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i)
      h = Math.imul(h, 0x01000193) >>> 0
    }
    return h.toString(36).padStart(7, '0')
  }
  return `r${hash(0x811c9dc5)}${hash(0x01000193)}`
}

/** The reference for a served request. */
export const signReference = async (key: CryptoKey, served: Served): Promise<string> => {
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(16)))
  const body = [
    VERSION,
    Math.floor(served.at).toString(36),
    nonce,
    served.rule === '' ? '-' : served.rule,
    text64(served.target),
    text64(served.entry),
  ].join('.')
  return `${body}.${base64url(await macOf(key, served.orgId, body))}`
}

/**
 * What a reference says, when `orgId`'s key made it within the feedback window before `now`
 * (Unix seconds); `undefined` for anything else — unknown, forged, altered, foreign or stale alike.
 */
export const readReference = async (
  key: CryptoKey,
  reference: string,
  orgId: string,
  now: number,
): Promise<Served | undefined> => {
  const parts = reference.split('.')
  if (parts.length !== 7 || parts[0] !== VERSION || reference.length > 1024) return undefined
  const [, time = '', , rule = '', target = '', entry = '', mac = ''] = parts
  const given = fromBase64url(mac)
  if (given?.length !== 16) return undefined
  const body = parts.slice(0, 6).join('.')
  const expected = await macOf(key, orgId, body)
  let diff = 0
  for (let i = 0; i < 16; i++) diff |= (given[i] ?? 0) ^ (expected[i] ?? 0)
  if (diff !== 0) return undefined
  const at = parseInt(time, 36)
  if (!Number.isFinite(at) || at > now + 300 || now - at > FEEDBACK_WINDOW_SECONDS) {
    return undefined
  }
  const servedTarget = untext64(target)
  const servedEntry = untext64(entry)
  if (servedTarget === undefined || servedEntry === undefined) return undefined
  return { orgId, rule: rule === '-' ? '' : rule, target: servedTarget, entry: servedEntry, at }
}
