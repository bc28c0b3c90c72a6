/**
 * @module Translates Gemini's SSE stream (`:streamGenerateContent?alt=sse`) into OpenAI's
 * `chat.completion.chunk` stream, event by event.
 *
 * Gemini sends one `data: <GenerateContentResponse>` per event, each holding only the new parts,
 * with usage repeated (cumulative) on every event, `finishReason` on the last, no `[DONE]`, and on
 * a failure mid-stream possibly a bare `{"error": …}` object with no `data:` prefix
 * (specs/gemini/NOTES.md). The client gets OpenAI's contract (specs/openai/STREAMING.md):
 *
 * 1. per choice, a first chunk with `delta: { role: 'assistant', content: '' }`;
 * 2. one chunk per Gemini event and choice with what it added: `content` (text parts),
 *    `reasoning_content` (thought parts, when the client asked for reasoning) and `tool_calls` —
 *    Gemini sends each function call whole, so each arrives complete: `index`, a synthesised `id`
 *    (`tool-call-id.ts`), `type`, `function.name` and the full JSON `arguments`;
 * 3. when the body ends: per choice, a chunk with an empty delta and the mapped `finish_reason`
 *    (`response.ts`) — held until the end because older streams repeat `finishReason` on every
 *    event — then the `choices: []` usage chunk when the client asked (`include_usage`), then
 *    `data: [DONE]`.
 *
 * A prompt blocked before any candidate (`promptFeedback.blockReason`) ends the same way, with
 * `finish_reason: content_filter` and no content. A Gemini error object inside the stream becomes
 * an OpenAI error event and ends it; a body that ends before every choice has a `finishReason`, or
 * a connection that breaks, ends with a `STREAM_INTERRUPTED` error event — never `[DONE]`, so no
 * client mistakes a truncated answer for a complete one. Gemini's last usage is reported to
 * `onEnd` however the stream ends.
 */
import type { ChatCompletionChunk } from 'openai/resources/chat/completions'
import { relaySse, type StreamEnd } from '../relay'
import { SseSplitter, type SseEvent } from '../sse'
import { readUsage } from '../usage'
import { chunkEvent, type AnswerHead, type ChunkDelta, type FinishReason } from '../completion'
import { candidatesOf, finishReasonOf, openAIUsage, readParts, type ReplyContext } from './response'
import { toolCallId } from './tool-call-id'
import { isRecord, parseJson } from '../fields'
import type { GeminiResponse, GeminiUsage } from './types'
import type { ResponseOutcome } from '../../types'

export type StreamPlan = ReplyContext & {
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly showUsage: boolean
}

type ChoiceState = {
  /** Gemini's last `finishReason` for this candidate. */
  finish: string | undefined
  calledFunction: boolean
  toolCalls: number
}

/** Explicit translator state; `step` and `finish` are pure functions over it. */
export type GeminiStreamState = {
  readonly plan: StreamPlan
  /**
   * What every chunk carries: the answer's response id and model version, from Gemini's first
   * response (the plan's own until then).
   */
  head: AnswerHead | undefined
  readonly choices: Map<number, ChoiceState>
  blocked: boolean
  /** The last (cumulative) usage Gemini sent. */
  usage: GeminiUsage | undefined
  /** Tool calls numbered so far, across choices (for their ids). */
  calls: number
  end: StreamEnd | undefined
}

/** Renders the error events: a Gemini error object, and the stream breaking off. */
export type StreamEvents = {
  readonly providerError: (error: unknown) => string
  readonly interrupted: () => string
}

export const initialState = (plan: StreamPlan): GeminiStreamState => ({
  plan,
  head: undefined,
  choices: new Map(),
  blocked: false,
  usage: undefined,
  calls: 0,
  end: undefined,
})

type ChunkChoice = Omit<ChatCompletionChunk.Choice, 'delta'> & { delta: ChunkDelta }

const frame = (
  state: GeminiStreamState,
  choices: ChunkChoice[],
  usage?: ChatCompletionChunk['usage'],
): string => chunkEvent(state.head ?? state.plan, choices, usage)

const choice = (
  index: number,
  delta: ChunkDelta,
  finish: FinishReason | null = null,
): ChunkChoice => ({
  index,
  delta,
  logprobs: null,
  finish_reason: finish,
})

const ROLE: ChunkDelta = { role: 'assistant', content: '' }

/** The JSON text of an event: its data, or the event itself when it is a bare JSON object. */
const payloadOf = (event: SseEvent): string | undefined => {
  if (event.data !== undefined) return event.data
  const raw = event.raw.trim()
  return raw.startsWith('{') ? raw : undefined
}

const translate = (state: GeminiStreamState, response: GeminiResponse): string => {
  const { plan } = state
  state.head ??= {
    id: response.responseId ?? plan.id,
    created: plan.created,
    model: response.modelVersion ?? plan.model,
  }
  if (response.usageMetadata !== undefined) state.usage = response.usageMetadata
  const candidates = candidatesOf(response)
  if (candidates.length === 0 && response.promptFeedback?.blockReason !== undefined) {
    state.blocked = true
  }
  let out = ''
  for (const { index, candidate } of candidates) {
    let current = state.choices.get(index)
    if (current === undefined) {
      current = { finish: undefined, calledFunction: false, toolCalls: 0 }
      state.choices.set(index, current)
      out += frame(state, [choice(index, ROLE)])
    }
    const parts = readParts(candidate.content?.parts, plan.showReasoning)
    const delta: ChunkDelta = {}
    if (parts.reasoning !== undefined && parts.reasoning !== '') {
      delta.reasoning_content = parts.reasoning
    }
    if (parts.content !== undefined && parts.content !== '') delta.content = parts.content
    if (parts.calls.length > 0) {
      const calls = current
      calls.calledFunction = true
      delta.tool_calls = parts.calls.map((call) => ({
        index: calls.toolCalls++,
        id: toolCallId(`${plan.callPrefix}${state.calls++}`, call.signature),
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
      }))
    }
    if (Object.keys(delta).length > 0) out += frame(state, [choice(index, delta)])
    if (candidate.finishReason !== undefined) current.finish = candidate.finishReason
  }
  return out
}

/** Translates one upstream event into the text to send (possibly empty). */
export const step = (state: GeminiStreamState, event: SseEvent, events: StreamEvents): string => {
  if (state.end !== undefined) return ''
  const payload = payloadOf(event)
  if (payload === undefined) return '' // a comment or an event without data
  const parsed = parseJson(payload)
  if (!isRecord(parsed)) {
    state.end = 'provider_error'
    return events.providerError({ message: 'The provider sent a stream event that is not JSON.' })
  }
  if (parsed.error !== undefined && parsed.candidates === undefined) {
    state.end = 'provider_error'
    return events.providerError(parsed.error)
  }
  return translate(state, parsed)
}

/** Read through a call, as `step` may have ended the stream (control flow cannot tell). */
const ended = (state: GeminiStreamState): boolean => state.end !== undefined

const usageChunk = (state: GeminiStreamState): string =>
  state.plan.showUsage && state.usage !== undefined
    ? frame(state, [], openAIUsage(state.usage))
    : ''

/**
 * The text that ends the stream once the upstream body has ended; `rest` is an unterminated
 * final event, if any (a bare error object may arrive without the blank line after it).
 */
export const finish = (state: GeminiStreamState, rest: string, events: StreamEvents): string => {
  if (state.end !== undefined) return ''
  let out = ''
  if (rest.trim() !== '') {
    const [event] = new SseSplitter().push(`${rest}\n\n`)
    const payload = event === undefined ? undefined : payloadOf(event)
    // Not JSON: a cut event, the stream is incomplete.
    const parsed = payload === undefined ? undefined : parseJson(payload)
    if (event === undefined || !isRecord(parsed)) {
      state.end = 'interrupted'
      return events.interrupted()
    }
    out += step(state, event, events)
    if (ended(state)) return out
  }
  const choices = [...state.choices].sort(([a], [b]) => a - b)
  if (choices.length === 0 && state.blocked) {
    for (let index = 0; index < Math.max(1, state.plan.choices); index++) {
      out += frame(state, [choice(index, ROLE)])
      out += frame(state, [choice(index, {}, 'content_filter')])
    }
  } else if (choices.length > 0 && choices.every(([, c]) => c.finish !== undefined)) {
    for (const [index, c] of choices) {
      out += frame(state, [choice(index, {}, finishReasonOf(c.finish ?? 'STOP', c.calledFunction))])
    }
  } else {
    state.end = 'interrupted'
    return out + events.interrupted()
  }
  state.end = 'done'
  return `${out}${usageChunk(state)}data: [DONE]\n\n`
}

export type GeminiRelayOptions = {
  readonly plan: StreamPlan
  readonly events: StreamEvents
  readonly onEnd: (outcome: ResponseOutcome) => void
  /** Sees every chunk sent to the client (`SseRelayOptions.tap`). */
  readonly tap?: ((chunk: Uint8Array) => void) | undefined
  /** `SseRelayOptions.onFirstChunk`. */
  readonly onFirstChunk?: ((failed: boolean) => void) | undefined
  /** `SseRelayOptions.onRelease`. */
  readonly onRelease?: ((release: () => void) => void) | undefined
}

/**
 * Pipes Gemini's SSE bytes through `step`/`finish`. Through `relaySse`:
 * backpressure reaches the provider, and a client that goes away cancels the upstream request.
 */
export const relayGeminiStream = (
  upstream: ReadableStream<Uint8Array>,
  options: GeminiRelayOptions,
): ReadableStream<Uint8Array> => {
  const state = initialState(options.plan)
  return relaySse(
    upstream,
    {
      end: () => state.end,
      step: (event) => step(state, event, options.events),
      finish: (rest) => finish(state, rest, options.events),
      broken: () => {
        state.end = 'interrupted'
        return options.events.interrupted()
      },
      // Gemini's usage is reported as the client would see it, read back into the gateway's shape.
      usage: () => (state.usage === undefined ? undefined : readUsage(openAIUsage(state.usage))),
    },
    {
      onEnd: options.onEnd,
      tap: options.tap,
      onFirstChunk: options.onFirstChunk,
      onRelease: options.onRelease,
    },
  )
}
