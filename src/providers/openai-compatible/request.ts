/**
 * @module Builds the body an OpenAI-compatible provider receives from the client's body.
 *
 * The client's body is copied as is — unknown fields included — and only what the provider's
 * quirks (see `registry.ts`) require is changed: the model name, `stream_options` for usage
 * capture, and for strict providers (Mistral) renamed or dropped fields, message keys, tool-call
 * ids. Dropped field names are returned so the client can be told (`floopy-dropped-params`).
 */
import type { OpenAIQuirks, ParsedRequest } from '../../types'
import { isRecord, type Json } from '../fields'

export type PreparedBody = {
  readonly body: string
  /** Top-level fields removed because the provider rejects them. */
  readonly dropped: readonly string[]
}

/** Whether the gateway adds the usage ask to a stream whose client did not make it. */
export const addsUsageAsk = (
  request: ParsedRequest,
  quirks: OpenAIQuirks,
  captureStreamUsage = true,
): boolean =>
  request.kind === 'chat' &&
  request.stream &&
  !request.includeUsage &&
  quirks.streamUsage === 'stream-options' &&
  captureStreamUsage

/**
 * `captureStreamUsage` (`ProviderConfig.captureStreamUsage`): ask for the usage chunk on every
 * stream, to hide it again when the client did not ask; `false`: only when the client asks.
 */
export const prepareBody = (
  request: ParsedRequest,
  model: string,
  quirks: OpenAIQuirks,
  captureStreamUsage = true,
): PreparedBody => {
  const out: Json = { ...request.body, model }
  const dropped: string[] = []

  if (request.kind === 'chat') {
    if (quirks.streamUsage === 'stream-options') {
      // Ask for the usage chunk on every stream; it is hidden again if the client did not ask.
      if (addsUsageAsk(request, quirks, captureStreamUsage)) {
        const options = isRecord(out.stream_options) ? out.stream_options : {}
        out.stream_options = { ...options, include_usage: true }
      }
    } else if ('stream_options' in out) {
      // The provider rejects it; usage arrives its own way and the usage chunk is emulated.
      delete out.stream_options
    }
  }

  /** Provider field name → the name the client sent it under, for reporting drops. */
  const sentAs = new Map<string, string>()
  if (quirks.rename) {
    for (const [from, to] of Object.entries(quirks.rename)) {
      if (!(from in out)) continue
      if (!(to in out)) {
        out[to] = out[from]
        sentAs.set(to, from)
      }
      Reflect.deleteProperty(out, from)
    }
  }

  const accepted =
    request.kind === 'chat' ? quirks.acceptedChatParams : quirks.acceptedEmbeddingParams
  if (accepted) {
    for (const key of Object.keys(out)) {
      if (!accepted.has(key)) {
        Reflect.deleteProperty(out, key)
        dropped.push(sentAs.get(key) ?? key)
      }
    }
  }

  if (request.kind === 'chat') {
    if (Array.isArray(out.messages) && needsMessageRewrite(quirks)) {
      out.messages = out.messages.map((message: unknown) => rewriteMessage(message, quirks))
    }
    if (quirks.toolParametersRequired && Array.isArray(out.tools)) {
      out.tools = out.tools.map(withParameters)
    }
  }
  return { body: JSON.stringify(out), dropped }
}

const needsMessageRewrite = (quirks: OpenAIQuirks): boolean =>
  quirks.messageKeys !== undefined ||
  quirks.developerRole !== undefined ||
  quirks.toolCallIds !== undefined

const rewriteMessage = (message: unknown, quirks: OpenAIQuirks): unknown => {
  if (!isRecord(message)) return message
  let out: Json = { ...message }
  if (out.role === 'developer' && quirks.developerRole) out.role = quirks.developerRole
  const keys = typeof out.role === 'string' ? quirks.messageKeys?.[out.role] : undefined
  if (keys) out = Object.fromEntries(Object.entries(out).filter(([key]) => keys.has(key)))
  if (quirks.toolCallIds === 'alnum9') {
    if (typeof out.tool_call_id === 'string') out.tool_call_id = alnum9(out.tool_call_id)
    if (Array.isArray(out.tool_calls)) {
      out.tool_calls = out.tool_calls.map((call: unknown) =>
        isRecord(call) && typeof call.id === 'string' ? { ...call, id: alnum9(call.id) } : call,
      )
    }
  }
  return out
}

const withParameters = (tool: unknown): unknown => {
  if (!isRecord(tool) || !isRecord(tool.function) || 'parameters' in tool.function) return tool
  return { ...tool, function: { ...tool.function, parameters: { type: 'object', properties: {} } } }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const ALNUM9 = /^[A-Za-z0-9]{9}$/

/**
 * Maps any tool-call id to 9 alphanumeric characters (Mistral's rule, mistral-common
 * `MistralRequestValidatorV3`). Deterministic, so an assistant's `tool_calls[].id` and the
 * matching `tool_call_id` map to the same value without any stored mapping; ids that already
 * conform are kept, so Mistral's own ids round-trip unchanged.
 */
export const alnum9 = (id: string): string => {
  if (ALNUM9.test(id)) return id
  // Two FNV-1a 32-bit hashes with different offsets give 64 bits, enough for 9 base-62 digits.
  let h1 = 0x811c9dc5
  let h2 = 0x01000193 ^ 0x5bd1e995
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0
    h2 = Math.imul(h2 ^ c, 0x01000193) >>> 0
  }
  let n = (BigInt(h1) << 32n) | BigInt(h2)
  let out = ''
  for (let i = 0; i < 9; i++) {
    out += ALNUM.charAt(Number(n % 62n))
    n /= 62n
  }
  return out
}
