/**
 * @module Relays an OpenAI-compatible chat stream to the client, event by event, with no buffering
 * beyond the event being assembled.
 *
 * What the client sees is exactly OpenAI's contract (specs/openai/STREAMING.md): usage only when it
 * asked (`stream_options.include_usage`), and then only in a trailing `choices: []` chunk, whatever
 * the provider does (Groq reports usage under `x_groq.usage`, Mistral on its final content chunk).
 * The gateway keeps for itself whatever usage the provider reports, and estimates it for a stream
 * nobody asked usage for (`ChatStreamPlan.estimatePrompt`). A stream that ends without
 * `data: [DONE]` — the provider cut it, or the connection broke — ends with an SSE `error` event
 * and no `[DONE]`, so no client mistakes a truncated answer for a complete one.
 */
import { isRecord, parseJson } from '../fields'
import { relaySse, type RelayResult, type StreamEnd, type StreamRelayOptions } from '../relay'
import type { SseEvent } from '../sse'
import { estimatedUsage, readUsage } from '../usage'
import type { Usage } from '../../types'

export type ChatStreamPlan = {
  /** The client asked for the usage chunk. */
  readonly showUsage: boolean
  /**
   * The provider reports usage in a trailing chunk of its own (`choices: []`) and nowhere else,
   * as OpenAI does (`OpenAIQuirks.ownUsageChunk`).
   */
  readonly ownUsageChunk?: boolean
  /**
   * Whether the gateway asked for the usage chunk the client did not (to hide it again): `false`
   * when it did not (`FLOOPY_STREAM_USAGE=asked`), so that, with `ownUsageChunk`, every event goes
   * to the client as received. Unset counts as asked.
   */
  readonly usageAsked?: boolean | undefined
  /**
   * Estimates the prompt's tokens from the request (`estimatePromptTokens`); set when nobody asked
   * the provider for usage. A stream that then reports none is logged with usage estimated from
   * it and its events (`estimatedUsage`), marked as estimated. Called only then.
   */
  readonly estimatePrompt?: (() => number) | undefined
}

/** Explicit translator state; `step` is a pure function over (state, event). */
export type ChatStreamState = {
  readonly plan: ChatStreamPlan
  usage: Usage | undefined
  /** The provider's usage object as sent, for the synthesised usage chunk. */
  rawUsage: unknown
  /** id/created/model of the stream, copied onto a synthesised usage chunk. */
  head: { id: unknown; created: unknown; model: unknown } | undefined
  usageChunkSent: boolean
  end: StreamEnd | undefined
}

export const initialState = (plan: ChatStreamPlan): ChatStreamState => ({
  plan,
  usage: undefined,
  rawUsage: undefined,
  head: undefined,
  usageChunkSent: false,
  end: undefined,
})

type Chunk = Record<string, unknown> & { choices?: unknown; usage?: unknown; x_groq?: unknown }

const frame = (data: string): string => `data: ${data}\n\n`

/**
 * Translates one upstream event into the text to send (possibly empty). `errorEvent` renders an
 * OpenAI error event for a provider's in-stream error.
 */
/** Whether `data` carries a usage value (OpenAI sends `"usage":null` on every chunk but the last). */
const hasUsage = (data: string): boolean => {
  for (let at = data.indexOf('"usage"'); at >= 0; at = data.indexOf('"usage"', at + 7)) {
    let i = at + 7
    while (data.charCodeAt(i) === 32) i++
    if (data.charCodeAt(i) !== 58) continue // not a key
    i++
    while (data.charCodeAt(i) === 32) i++
    if (!data.startsWith('null', i)) return true
  }
  return false
}

/**
 * Translates one upstream event into the text to send (possibly empty), or `null` when it goes to
 * the client as received. `errorEvent` renders an OpenAI error event for a provider's in-stream
 * error.
 */
export const step = (
  state: ChatStreamState,
  event: SseEvent,
  errorEvent: (providerError: unknown) => string,
): string | null => {
  const data = event.data
  // Comments (e.g. DeepSeek's `: keep-alive`) keep idle connections open: forward them.
  if (data === undefined) return null
  if (data === '[DONE]') {
    state.end = 'done'
    return `${usageChunk(state)}${event.raw}\n\n`
  }
  const needsLook =
    state.head === undefined ||
    event.event === 'error' ||
    hasUsage(data) ||
    data.includes('"x_groq"') ||
    data.includes('"error"')
  if (!needsLook) return null

  const parsed = parseJson(data)
  // Not JSON, or not a chunk object (a provider oddity): relay it untouched rather than guess.
  if (!isRecord(parsed)) return null
  const chunk = parsed as Chunk
  if (event.event === 'error' || ('error' in chunk && chunk.choices === undefined)) {
    state.end = 'provider_error'
    return errorEvent(chunk.error ?? chunk)
  }
  state.head ??= { id: chunk.id, created: chunk.created, model: chunk.model }

  const groq = chunk.x_groq as { usage?: unknown } | undefined
  const raw = chunk.usage ?? groq?.usage
  const usage = readUsage(raw)
  if (usage === undefined) return null
  state.usage = usage
  state.rawUsage = raw

  const hasChoices = Array.isArray(chunk.choices) && chunk.choices.length > 0
  if (!hasChoices && chunk.usage != null) {
    // OpenAI's own trailing usage chunk: shown only when the client asked for it.
    if (!state.plan.showUsage) return ''
    state.usageChunkSent = true
    return null
  }
  // Usage riding on a content chunk (Mistral, Groq, Together): keep the content, move the usage
  // to the trailing usage chunk emitted before [DONE].
  if (chunk.usage != null) {
    delete chunk.usage
    return frame(JSON.stringify(chunk))
  }
  return null
}

/** The trailing usage chunk, when the client asked and the provider did not send one itself. */
const usageChunk = (state: ChatStreamState): string => {
  if (!state.plan.showUsage || state.usageChunkSent || state.rawUsage === undefined) return ''
  state.usageChunkSent = true
  return frame(
    JSON.stringify({
      id: state.head?.id,
      object: 'chat.completion.chunk',
      created: state.head?.created,
      model: state.head?.model,
      choices: [],
      usage: state.rawUsage,
    }),
  )
}

export type { RelayResult }
export type RelayOptions = StreamRelayOptions<ChatStreamPlan>

/**
 * Pipes upstream bytes through `step`. Through `relaySse`:
 * backpressure reaches the provider, and a client that goes away cancels the upstream request.
 */
export const relayChatStream = (
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): ReadableStream<Uint8Array> => {
  const state = initialState(options.plan)
  // A stream that ends before `[DONE]`, however it ends, was cut short.
  const interrupted = (): string => {
    if (state.end !== undefined) return ''
    state.end = 'interrupted'
    return options.interruptedEvent()
  }
  return relaySse(
    upstream,
    {
      end: () => state.end,
      step: (event) => step(state, event, options.providerErrorEvent),
      finish: interrupted,
      broken: interrupted,
      usage: () => state.usage,
    },
    // Most events pass unchanged, so most reads can be relayed as the provider's own bytes. When
    // the provider sends a usage chunk of its own and the client asked for it, or nobody asked
    // for one, all of them do (but an in-stream error, which the gateway renders only while the
    // relay still reads it): a long stream then goes on natively.
    {
      passThrough: true,
      unchanged:
        options.plan.ownUsageChunk === true &&
        (options.plan.showUsage || options.plan.usageAsked === false),
      onEnd: options.onEnd,
      tap: options.tap,
      onFirstChunk: options.onFirstChunk,
      onRelease: options.onRelease,
      estimateUsage: estimateFrom(options.plan.estimatePrompt),
    },
  )
}

const estimateFrom = (
  prompt: (() => number) | undefined,
): ((events: number) => Usage) | undefined =>
  prompt === undefined ? undefined : (events) => estimatedUsage(prompt(), events)
