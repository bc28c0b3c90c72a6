/**
 * @module What a cached answer is keyed and scoped by — pure.
 *
 * - **Exact key**: the organisation, the namespace, the cache's own scope (e.g. whether the
 *   firewall ran) and the canonical request after prompt resolution: object keys sorted, and the
 *   fields that only shape the transport or identify the caller left out (`stream`,
 *   `stream_options`, `user`, `metadata`, `store`), so a streamed and a non-streamed request share
 *   an entry. Everything else — model, every message, tools, sampling parameters, unknown fields —
 *   can change the answer and is kept.
 * - **Semantic scope**: for the similarity tiers only the last user message is embedded; the rest
 *   of the request (model, system and developer messages, all earlier turns, tools, tool choice,
 *   response format, sampling parameters, namespace) must match exactly, as a hash that is a
 *   payload filter — never text mixed into what is embedded.
 */
import type { ParsedRequest } from '../types'

/** Fields that do not change the answer (transport, caller identity, bookkeeping). */
const NOT_KEYED: ReadonlySet<string> = new Set([
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
])

/** `value` as JSON with every object's keys sorted, so equal requests give equal text. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, item]) => `${JSON.stringify(k)}:${canonicalJson(item)}`).join(',')}}`
  }
  // Body values are JSON: never `undefined`, functions or symbols (those were filtered above).
  return JSON.stringify(value)
}

/** The request's fields that can change the answer. */
const keyedBody = (body: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const kept: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(body)) if (!NOT_KEYED.has(name)) kept[name] = value
  return kept
}

/** Where an entry may be seen: the organisation, its namespace, and the cache's own scope. */
export type CacheScope = {
  readonly orgId: string
  readonly namespace: string
  /** Anything else that must match for an answer to be shared, e.g. `{ firewall: true }`. */
  readonly extra: Readonly<Record<string, unknown>>
}

/** The text the exact key is a hash of. */
export const exactKeyText = (scope: CacheScope, request: ParsedRequest): string =>
  canonicalJson({ scope, kind: request.kind, request: keyedBody(request.body) })

type Message = { role?: unknown; content?: unknown }

/** A message's text when it is all text (a string, or only `text` parts); else `undefined`. */
const textOf = (content: unknown): string | undefined => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content) || content.length === 0) return undefined
  let text = ''
  for (const part of content) {
    if (typeof part !== 'object' || part === null) return undefined
    const { type, text: partText } = part as { type?: unknown; text?: unknown }
    if (type !== 'text' || typeof partText !== 'string') return undefined
    text += text === '' ? partText : `\n${partText}`
  }
  return text
}

/** What the similarity tiers compare: the last user message's text, and the rest's scope. */
export type SemanticQuery = {
  /** The last message's text: what is embedded. */
  readonly text: string
  /** Everything else that shapes the answer, as canonical text to hash (`scopeHash`). */
  readonly scopeText: string
}

/**
 * The semantic query of a chat request, or `undefined` when the similarity tiers do not apply:
 * the last message is not a user message of text only, or its text is empty.
 */
export const semanticQuery = (
  scope: CacheScope,
  request: ParsedRequest,
): SemanticQuery | undefined => {
  if (request.kind !== 'chat') return undefined
  const messages = request.body.messages
  if (!Array.isArray(messages) || messages.length === 0) return undefined
  const last = messages.at(-1) as Message
  if (last.role !== 'user') return undefined
  const text = textOf(last.content)
  if (text === undefined || text.trim() === '') return undefined
  const body = keyedBody(request.body)
  // The last message's text is what is compared; anything else on it (a name) stays in scope.
  const lastRest: Record<string, unknown> = { ...last }
  delete lastRest.content
  body.messages = [...(messages.slice(0, -1) as unknown[]), lastRest]
  return { text, scopeText: canonicalJson({ scope, body }) }
}
