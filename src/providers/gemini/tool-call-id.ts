/**
 * @module Tool-call ids that carry Gemini's thought signatures through an OpenAI client and back.
 *
 * Gemini's function calls have no id (specs/gemini/NOTES.md: absent in every recording), so the
 * gateway makes one up. Thinking models (Gemini 2.5 and 3) may attach a `thoughtSignature` to a
 * `functionCall` part, and Gemini 3 answers 400 when the signature of the current turn's calls is
 * not sent back with the history (https://ai.google.dev/gemini-api/docs/thought-signatures). The
 * OpenAI message format has no place for it, and the one field every client must send back
 * unchanged is the tool call's `id` (a `tool` message refers to it), so the signature travels in
 * the id:
 *
 *     call_<base>                                   a call without a signature
 *     call_<base>__thought__<signature, base64url>  a call with one
 *
 * `__thought__` is the separator LiteLLM uses for the same purpose, so histories produced by
 * either gateway read the same way. The signature is written in base64url without padding, so
 * the id stays within `[A-Za-z0-9_-]` (the alphabet other providers accept for ids); both
 * alphabets are read back. A signature in Google's own OpenAI-compatibility field
 * (`extra_content.google.thought_signature` on the tool call) is read too.
 *
 * History the model did not produce (another provider's turns, ids rewritten by a client) has no
 * signature; Google documents `skip_thought_signature_validator` as the value to send then, on
 * the first call of a step.
 */

export const SIGNATURE_SEPARATOR = '__thought__'

/** Google's documented stand-in for a function call whose signature is unknown. */
export const FOREIGN_SIGNATURE = 'skip_thought_signature_validator'

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/

const toBase64Url = (base64: string): string =>
  base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

const toBase64 = (encoded: string): string => {
  const standard = encoded.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')
  return standard + '='.repeat((4 - (standard.length % 4)) % 4)
}

/** The OpenAI tool-call id for a Gemini function call. */
export const toolCallId = (base: string, signature: string | undefined): string =>
  signature === undefined || signature === ''
    ? base
    : `${base}${SIGNATURE_SEPARATOR}${toBase64Url(signature)}`

/** The thought signature a tool-call id carries (standard base64), if any. */
export const signatureOf = (id: string): string | undefined => {
  const at = id.indexOf(SIGNATURE_SEPARATOR)
  if (at === -1) return undefined
  const encoded = id.slice(at + SIGNATURE_SEPARATOR.length)
  return BASE64.test(encoded) ? toBase64(encoded) : undefined
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A random `call_` prefix for the ids of one response (16 alphanumerics, ≈95 bits). */
export const randomCallPrefix = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let out = 'call_'
  for (const byte of bytes) out += ALPHANUMERIC.charAt(byte % ALPHANUMERIC.length)
  return out
}
