/**
 * @module What the cache stores of an answer, and how a stored answer is served — pure.
 *
 * Only complete successful answers are stored: the answer ended normally, every choice finished
 * with `stop`, `length` or `tool_calls` (no `content_filter`, no error), and it fits
 * `MAX_ENTRY_BYTES` (1 MiB). A stream is stored as the `chat.completion` it assembles into, so a
 * streamed and a non-streamed request share entries. The usage the provider reported is kept: it
 * is what a hit saves (the log bills a hit zero tokens and records the saving). A hit serves the
 * stored body as the first client got it — usage included, as OpenAI's shape has it — or, for a
 * streamed request, that body as a stream (`replay.ts`).
 */
import { assembleChatStream } from '../providers/assemble'
import { isRecord, parseJson, type Json } from '../providers/fields'
import type { CacheEntry } from '../stores'
import type { AnswerEnd, EndpointKind, Usage } from '../types'
import { completionAsSse } from './replay'

/** Entries over this size are not stored. */
export const MAX_ENTRY_BYTES = 1024 * 1024

/** Finish reasons of a complete answer worth serving again. */
const COMPLETE = new Set(['stop', 'length', 'tool_calls'])

/** OpenAI's usage object for a gateway `Usage`. */
const usageJson = (usage: Usage): Json => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.totalTokens,
  prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
})

/**
 * A chat completion made whole as OpenAI's schema wants it (an assembled stream lacks
 * `logprobs` and `refusal`; an answer with only tool calls has `content: null`).
 */
const completeChat = (completion: Json, usage: Usage | undefined): Json => {
  const choices: unknown[] = Array.isArray(completion.choices) ? completion.choices : []
  return {
    ...completion,
    object: 'chat.completion',
    choices: choices.map((raw): unknown => {
      if (!isRecord(raw)) return raw
      const message = isRecord(raw.message) ? raw.message : {}
      const calls = Array.isArray(message.tool_calls) ? message.tool_calls : []
      return {
        ...raw,
        logprobs: raw.logprobs ?? null,
        message: {
          ...message,
          content: message.content === '' && calls.length > 0 ? null : (message.content ?? null),
          refusal: message.refusal ?? null,
        },
      }
    }),
    ...(completion.usage === undefined && usage !== undefined ? { usage: usageJson(usage) } : {}),
  }
}

export type StoredAnswer = { readonly body: string; readonly usage: Usage | undefined }

/**
 * The body worth storing for an answer that ended as `ended`, or `undefined` when it is not a
 * complete successful answer (or too large).
 */
export const storableAnswer = (
  kind: EndpointKind,
  streamed: boolean,
  ended: AnswerEnd,
): StoredAnswer | undefined => {
  const { outcome, head } = ended
  if (outcome.end !== 'done' || head === undefined || head.truncated) return undefined
  if (head.text.length === 0 || head.text.length > MAX_ENTRY_BYTES) return undefined
  if (kind === 'embeddings') {
    const body = parseJson(head.text)
    return isRecord(body) && Array.isArray(body.data)
      ? { body: head.text, usage: outcome.usage }
      : undefined
  }
  const raw = streamed ? assembleChatStream(head.text) : parseJson(head.text)
  if (!isRecord(raw) || raw.error !== undefined || !Array.isArray(raw.choices)) return undefined
  if (raw.choices.length === 0) return undefined
  const finished = raw.choices.every(
    (choice) =>
      isRecord(choice) &&
      typeof choice.finish_reason === 'string' &&
      COMPLETE.has(choice.finish_reason),
  )
  if (!finished) return undefined
  // A usage the gateway estimated (the provider reported none) fills the body too: a non-streamed
  // answer always has `usage` for the clients that read it, and a hit is billed nothing anyway.
  return { body: JSON.stringify(completeChat(raw, outcome.usage)), usage: outcome.usage }
}

export type Served = { readonly body: string; readonly contentType: string }

/** A stored entry as the answer to a request: JSON, or an OpenAI SSE stream. */
export const servedFrom = (
  entry: CacheEntry,
  request: {
    readonly kind: EndpointKind
    readonly stream: boolean
    readonly includeUsage: boolean
  },
): Served | undefined => {
  if (!request.stream || request.kind !== 'chat') {
    return { body: entry.body, contentType: 'application/json' }
  }
  const completion = parseJson(entry.body)
  if (!isRecord(completion)) return undefined
  return {
    body: completionAsSse(completion, request.includeUsage),
    contentType: 'text/event-stream; charset=utf-8',
  }
}
